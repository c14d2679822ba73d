package compat

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/chromedp/chromedp"
)

// TestBrowserVideo plays the test MP4 from a presigned URL in headless
// Chromium, on a page of another origin (CORS: crossorigin="anonymous"),
// seeks to the middle, and fetches a range from script to read the exposed
// headers.
func TestBrowserVideo(t *testing.T) {
	chromium := tool(t, "Debian's chromium (apt chromium)", "/usr/bin/chromium", "chromium")
	videos := testVideos(t)
	e := endpoint(t)
	bucket := newBucket(t, "browser")

	// The page, served from another origin (another port).
	var pageMu sync.Mutex
	pageHTML := ""
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			w.WriteHeader(http.StatusNoContent) // favicon.ico
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		pageMu.Lock()
		defer pageMu.Unlock()
		fmt.Fprint(w, pageHTML)
	}))
	defer page.Close()
	origin := page.URL

	_, err := e.client().PutBucketCors(context.Background(), &s3.PutBucketCorsInput{
		Bucket: &bucket,
		CORSConfiguration: &types.CORSConfiguration{CORSRules: []types.CORSRule{{
			AllowedOrigins: []string{origin},
			AllowedMethods: []string{"GET", "HEAD"},
			AllowedHeaders: []string{"*"},
			ExposeHeaders:  []string{"Content-Range", "Accept-Ranges", "Content-Length", "ETag"},
			MaxAgeSeconds:  aws.Int32(600),
		}}},
	})
	if err != nil {
		// MinIO has no per-bucket CORS (it allows every origin); ours must.
		if e.Kind == "tnv up" || !strings.Contains(err.Error(), "NotImplemented") {
			t.Fatalf("PutBucketCors: %v", err)
		}
		t.Logf("PutBucketCors not implemented by this external endpoint; relying on its default CORS: %v", err)
	}
	url := uploadPresigned(t, bucket, "video/test.mp4", videos["faststart"], "video/mp4")
	fi, _ := os.Stat(videos["faststart"])
	size := fi.Size()

	// The preflight a script's suffix-range fetch causes, done by curl.
	pre := curl(t, url, "-X", "OPTIONS", "-H", "Origin: "+origin,
		"-H", "Access-Control-Request-Method: GET", "-H", "Access-Control-Request-Headers: range")
	if pre.Status != 200 && pre.Status != 204 {
		t.Errorf("CORS preflight: status %d, body %.300s", pre.Status, pre.Body)
	}
	checkHeader(t, "CORS preflight", pre.Header, "Access-Control-Allow-Origin", origin)
	if m := pre.Header.Get("Access-Control-Allow-Methods"); !strings.Contains(m, "GET") {
		t.Errorf("CORS preflight: Access-Control-Allow-Methods %q lacks GET", m)
	}
	if h := strings.ToLower(pre.Header.Get("Access-Control-Allow-Headers")); !strings.Contains(h, "range") && h != "*" {
		t.Errorf("CORS preflight: Access-Control-Allow-Headers %q lacks range", h)
	}
	// A GET from that origin carries the CORS headers too.
	get := curl(t, url, "-H", "Origin: "+origin, "-H", "Range: bytes=0-99")
	checkHeader(t, "GET with Origin", get.Header, "Access-Control-Allow-Origin", origin)
	exposed := strings.ToLower(get.Header.Get("Access-Control-Expose-Headers"))
	for _, h := range []string{"content-range", "accept-ranges", "content-length", "etag"} {
		if !strings.Contains(exposed, h) {
			t.Errorf("GET with Origin: Access-Control-Expose-Headers %q lacks %s", exposed, h)
		}
	}

	pageMu.Lock()
	pageHTML = `<!doctype html>
<html><head><title>tnv compat video</title></head>
<body style="margin:0;background:#222;color:#eee;font:14px sans-serif">
<video id="v" crossorigin="anonymous" muted playsinline preload="auto" width="640" height="360" src="` + htmlEscape(url) + `"></video>
<pre id="log"></pre>
<script>
window.videoEvents = [];
const v = document.getElementById('v');
for (const ev of ['loadedmetadata', 'canplay', 'playing', 'seeking', 'seeked', 'waiting', 'stalled', 'error']) {
  v.addEventListener(ev, () => {
    window.videoEvents.push(ev + '@' + v.currentTime.toFixed(2));
    document.getElementById('log').textContent = window.videoEvents.join(' ');
  });
}
</script>
</body></html>`
	pageMu.Unlock()

	// Chromium with a fresh profile.
	profile := chromiumProfile(t)
	chromeOut := &syncWriter{w: &bytes.Buffer{}}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(800, 600),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("mute-audio", true),
		chromedp.CombinedOutput(chromeOut),
	)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelT()
	defer func() {
		if t.Failed() {
			t.Logf("chromium output:\n%s", tail(chromeOut.String(), 6000))
		}
	}()

	// Every console message, exception and browser log entry (CORS and
	// media errors land there).
	var consoleMu sync.Mutex
	var console []chromedp.ConsoleMessage
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			consoleMu.Lock()
			console = append(console, m)
			consoleMu.Unlock()
		}
	}()

	version, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.userAgent`))
	if err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	t.Logf("chromium: %s", version)
	if err := chromedp.Do(ctx, chromedp.Navigate(origin+"/")); err != nil {
		t.Fatalf("navigate to the page: %v", err)
	}
	canPlay, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('v').canPlayType('video/mp4; codecs="avc1.640015, mp4a.40.2"')`))
	t.Logf("canPlayType(H.264/AAC MP4) = %q", canPlay)
	if canPlay == "" {
		t.Fatalf("this chromium cannot play H.264/AAC MP4")
	}

	state := func() string {
		s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const v = document.getElementById('v');
			return 't=' + v.currentTime.toFixed(2) + ' readyState=' + v.readyState + ' networkState=' + v.networkState +
				' paused=' + v.paused + ' error=' + (v.error ? v.error.code + ' ' + v.error.message : 'none') +
				' events=' + window.videoEvents.join(','); })()`))
		return s
	}
	played, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`document.getElementById('v').play().then(() => 'playing', e => 'play() failed: ' + e)`, chromedp.EvalAwaitPromise))
	if err != nil || played != "playing" {
		t.Fatalf("play(): %q, %v; %s", played, err, state())
	}
	// Playback starts and passes 2 s; any media error ends the wait.
	waitVideo := func(what, cond string, timeout time.Duration) {
		t.Helper()
		res, err := chromedp.Run(ctx, chromedp.Poll[string](`(() => { const v = document.getElementById('v');
			if (v.error) return 'media error ' + v.error.code + ': ' + v.error.message;
			return (`+cond+`) ? 'ok' : false; })()`, chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(100*time.Millisecond)))
		if err != nil || res != "ok" {
			t.Fatalf("%s: %q, %v; %s", what, res, err, state())
		}
		t.Logf("%s: %s", what, state())
	}
	start := time.Now()
	waitVideo("playback passes 2 s", `v.currentTime > 2 && !v.paused`, 30*time.Second)
	t.Logf("2 s of video played in %v", time.Since(start).Round(time.Millisecond))

	// Seek to the middle; playback goes on past 6 s.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.getElementById('v').currentTime = 5`)); err != nil {
		t.Fatal(err)
	}
	waitVideo("after a seek to 5 s, playback passes 6 s", `!v.seeking && v.currentTime > 6 && !v.paused`, 30*time.Second)

	// Screenshot of the playing video, kept as an artifact.
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Errorf("screenshot: %v", err)
	} else {
		art, _ := filepath.Abs("artifacts")
		os.MkdirAll(art, 0o755)
		p := filepath.Join(art, "browser-video.png")
		if err := os.WriteFile(p, shot, 0o644); err != nil {
			t.Errorf("screenshot: %v", err)
		}
		t.Logf("screenshot artifact: %s (%d bytes)", p, len(shot))
	}

	// A script's cross-origin suffix-range fetch (preflighted): 206 and the
	// exposed headers readable.
	type fetched struct {
		Status       int    `json:"status"`
		ContentRange string `json:"contentRange"`
		ETag         string `json:"etag"`
		AcceptRanges string `json:"acceptRanges"`
		Length       int    `json:"length"`
		Err          string `json:"err"`
	}
	f, err := chromedp.Run(ctx, chromedp.Evaluate[fetched](`(async () => {
		try {
			const r = await fetch(`+jsString(url)+`, {headers: {Range: 'bytes=-100'}});
			const b = await r.arrayBuffer();
			return {status: r.status, contentRange: r.headers.get('Content-Range') || '', etag: r.headers.get('ETag') || '',
				acceptRanges: r.headers.get('Accept-Ranges') || '', length: b.byteLength, err: ''};
		} catch (e) { return {status: 0, contentRange: '', etag: '', acceptRanges: '', length: 0, err: String(e)}; }
	})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("fetch from the page: %v", err)
	}
	t.Logf("fetch Range bytes=-100 from the page: %+v", f)
	if f.Status != 206 || f.Length != 100 || f.ContentRange != fmt.Sprintf("bytes %d-%d/%d", size-100, size-1, size) ||
		!quotedETag.MatchString(f.ETag) || f.AcceptRanges != "bytes" {
		t.Errorf("cross-origin fetch of the last 100 bytes: %+v; want 206, 100 bytes, Content-Range bytes %d-%d/%d, a quoted ETag and Accept-Ranges bytes readable",
			f, size-100, size-1, size)
	}

	// The console: no CORS or media error, no error at all.
	time.Sleep(200 * time.Millisecond)
	consoleMu.Lock()
	defer consoleMu.Unlock()
	bad := regexp.MustCompile(`(?i)cors|cross-origin|access-control|media|video|blocked|failed`)
	for _, m := range console {
		t.Logf("console: %s", m)
		if m.Type == chromedp.ConsoleError || m.IsException() || bad.MatchString(m.Text) {
			t.Errorf("console shows an error: %s", m)
		}
	}
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", `"`, "&quot;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`).Replace(s) + "'"
}

// syncWriter serialises writes to w.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// chromiumProfile is a fresh Chromium profile directory, removed after the
// test (retrying: Chromium's helpers may still write in it for a moment).
func chromiumProfile(t *testing.T) string {
	t.Helper()
	profile, err := os.MkdirTemp(workDir, "chromium-profile-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	return profile
}
