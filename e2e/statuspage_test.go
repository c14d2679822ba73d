package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium returns Debian's Chromium; under CI=true a missing browser fails
// the test (scripts/ensure-clients.sh installs it).
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true: chromium not installed; run scripts/ensure-clients.sh as root")
	}
	t.Skip("chromium not installed; run scripts/ensure-clients.sh as root")
	return ""
}

// screenshotStatus opens url in headless Chromium, waits until the page
// shows want node rows, and saves a screenshot as artifacts/name.
func screenshotStatus(t *testing.T, url string, want int, name string) {
	t.Helper()
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 800),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	defer cancelT()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("status page in Chromium: %v", err)
	}
	rows, err := chromedp.Run(ctx, chromedp.Poll[int](`document.querySelectorAll('tr.node').length || false`,
		chromedp.WithPollingTimeout(30*time.Second), chromedp.WithPollingInterval(100*time.Millisecond)))
	if err != nil {
		t.Fatalf("status page shows no node: %v", err)
	}
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("artifacts")
	os.MkdirAll(dir, 0o755)
	path, _ := filepath.Abs(filepath.Join(dir, name))
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("status page screenshot: %s", path)
	if rows != want {
		t.Fatalf("status page shows %d nodes, want %d:\n%s", rows, want, text)
	}
	if strings.Count(text, "ACTIVE") < want {
		t.Fatalf("status page does not show every node ACTIVE:\n%s", text)
	}
}
