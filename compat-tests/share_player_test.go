package compat

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/chromedp/chromedp"
)

// shareAPI sends a share API request to the endpoint, signed by its key.
func shareAPI(t *testing.T, e *Endpoint, method, path string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	ph := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", ph)
	req.Header.Set("Content-Type", "application/json")
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: e.AccessKey, SecretAccessKey: e.SecretKey},
		req, ph, "s3", e.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestSharePlayerHLS makes an HLS and a DASH stream with ffmpeg, uploads
// them with the aws CLI, makes a share link through the API, and plays the
// HLS stream in headless Chromium with hls.js (vendored from npm in
// testdata/hlsjs) on a page of another origin: playback advances, a seek
// into the middle plays on, every segment came through the token, and
// revoking the link fails the playing viewer's next segment with 403. The
// DASH manifest and a segment resolve through the same link.
func TestSharePlayerHLS(t *testing.T) {
	e := endpoint(t)
	if e.Kind != "tnv up" {
		t.Skip("share links are this gateway's own API; the endpoint is external")
	}
	chromium := tool(t, "Debian's chromium (apt chromium)", "/usr/bin/chromium", "chromium")
	ffmpeg := tool(t, "ffmpeg (apt ffmpeg)", "/usr/bin/ffmpeg", "ffmpeg")
	awsBin := tool(t, "aws CLI", "/usr/bin/aws", "/root/.pyenv/shims/aws", "aws")
	hlsJS, err := os.ReadFile("testdata/hlsjs/hls.light.min.js")
	if err != nil {
		t.Fatal(err)
	}

	// 20 s of video: HLS in 2 s segments, DASH likewise.
	dir := t.TempDir()
	src := []string{"-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc=duration=20:size=320x240:rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:duration=20",
		"-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "50", "-keyint_min", "50", "-sc_threshold", "0",
		"-c:a", "aac", "-b:a", "64k", "-shortest"}
	os.MkdirAll(filepath.Join(dir, "hls"), 0o755)
	os.MkdirAll(filepath.Join(dir, "dash"), 0o755)
	mustRun(t, baseEnv(), dir, 3*time.Minute, ffmpeg, append(src, "-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod",
		"-hls_segment_filename", filepath.Join(dir, "hls", "seg%03d.ts"), filepath.Join(dir, "hls", "index.m3u8"))...)
	mustRun(t, baseEnv(), dir, 3*time.Minute, ffmpeg, append(src, "-f", "dash", "-seg_duration", "2",
		filepath.Join(dir, "dash", "manifest.mpd"))...)

	bucket := newBucket(t, "share")
	a := newAWSCLI(t, awsBin)
	a.run("s3", "cp", "--recursive", "--only-show-errors", dir, "s3://"+bucket+"/film/")

	st, out := shareAPI(t, e, "POST", "/_tnv/share", []byte(`{"bucket": "`+bucket+`", "prefix": "film/", "expires_in": 600}`))
	if st != 201 {
		t.Fatalf("POST /_tnv/share: %d %s", st, out)
	}
	var link struct{ URL, Token, Expires string }
	if err := json.Unmarshal(out, &link); err != nil {
		t.Fatal(err)
	}
	t.Logf("share link %s (expires %s)", link.URL, link.Expires)

	// DASH: the manifest and the segments it names resolve under the link.
	for _, p := range []string{"dash/manifest.mpd", "dash/init-stream0.m4s", "dash/chunk-stream0-00001.m4s"} {
		resp, err := http.Get(link.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(b) == 0 {
			t.Errorf("DASH %s through the link: %d, %d bytes", p, resp.StatusCode, len(b))
		}
	}

	// The page and hls.js, from another origin.
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, `<!doctype html><html><head><title>tnv share player</title><script src="/hls.js"></script></head>
<body style="margin:0;background:#222"><video id="v" muted playsinline width="320" height="240"></video>
<script>
window.frags = []; window.hlsErrors = [];
const v = document.getElementById('v');
const hls = new Hls({maxBufferLength: 2, maxMaxBufferLength: 3, backBufferLength: 0, fragLoadingMaxRetry: 1});
hls.on(Hls.Events.FRAG_LOADED, (ev, d) => window.frags.push(d.frag.url));
hls.on(Hls.Events.ERROR, (ev, d) => window.hlsErrors.push(d.details + ' fatal=' + d.fatal + ' code=' + (d.response ? d.response.code : '')));
hls.loadSource(`+jsString(link.URL+"hls/index.m3u8")+`);
hls.attachMedia(v);
</script></body></html>`)
		case "/hls.js":
			w.Header().Set("Content-Type", "text/javascript")
			w.Write(hlsJS)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer page.Close()

	profile := chromiumProfile(t)
	chromeOut := &syncWriter{w: &bytes.Buffer{}}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(profile), chromedp.WindowSize(400, 300),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("mute-audio", true), chromedp.CombinedOutput(chromeOut),
	)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelT()
	defer func() {
		if t.Failed() {
			t.Logf("chromium output:\n%s", tail(chromeOut.String(), 4000))
		}
	}()
	if err := chromedp.Do(ctx, chromedp.Navigate(page.URL+"/")); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	state := func() string {
		s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const v = document.getElementById('v');
			return 't=' + v.currentTime.toFixed(2) + ' readyState=' + v.readyState + ' paused=' + v.paused +
				' error=' + (v.error ? v.error.code : 'none') + ' frags=' + window.frags.length + ' hlsErrors=' + window.hlsErrors.join('|'); })()`))
		return s
	}
	wait := func(what, cond string, timeout time.Duration) {
		t.Helper()
		res, err := chromedp.Run(ctx, chromedp.Poll[string](`(() => { const v = document.getElementById('v');
			return (`+cond+`) ? 'ok' : false; })()`, chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(100*time.Millisecond)))
		if err != nil || res != "ok" {
			t.Fatalf("%s: %q, %v; %s", what, res, err, state())
		}
		t.Logf("%s: %s", what, state())
	}
	played, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`document.getElementById('v').play().then(() => 'playing', e => 'play() failed: ' + e)`, chromedp.EvalAwaitPromise))
	if err != nil || played != "playing" {
		t.Fatalf("play(): %q, %v; %s", played, err, state())
	}
	wait("playback passes 2 s", `v.currentTime > 2 && !v.paused`, 30*time.Second)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.getElementById('v').currentTime = 10`)); err != nil {
		t.Fatal(err)
	}
	wait("after a seek to 10 s, playback passes 11 s", `!v.seeking && v.currentTime > 11 && !v.paused`, 30*time.Second)

	// The network log: every segment came through the token.
	frags, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.frags`))
	if err != nil {
		t.Fatal(err)
	}
	res, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`performance.getEntriesByType('resource').map(e => e.name)`))
	var viaToken int
	for _, u := range res {
		if strings.HasPrefix(u, link.URL+"hls/seg") {
			viaToken++
		}
	}
	t.Logf("segments loaded by hls.js: %d; resource entries through the token: %d", len(frags), viaToken)
	if len(frags) < 3 || viaToken < 3 {
		t.Fatalf("want at least 3 segments through the link; frags %v, resources %v", frags, res)
	}
	for _, f := range frags {
		if !strings.HasPrefix(f, link.URL+"hls/seg") {
			t.Errorf("segment %s did not come through the link", f)
		}
	}

	// Revocation stops the playing viewer at its next segment.
	if st, out := shareAPI(t, e, "DELETE", "/_tnv/share/"+link.Token, nil); st != 204 {
		t.Fatalf("revoke: %d %s", st, out)
	}
	wait("after revocation the next segment is refused", `window.hlsErrors.some(s => s.includes('code=403'))`, 30*time.Second)

	// A link for two viewers that expires in 2 s: 127.0.0.2 and .3 play,
	// .4 is refused, and after the expiry .2 is refused too.
	st, out = shareAPI(t, e, "POST", "/_tnv/share", []byte(`{"bucket": "`+bucket+`", "prefix": "film/", "expires_in": 2, "max_viewers": 2}`))
	if st != 201 {
		t.Fatalf("POST /_tnv/share: %d %s", st, out)
	}
	var short struct{ URL, Expires string }
	json.Unmarshal(out, &short)
	from := func(addr string) int {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(addr)}, Timeout: 10 * time.Second}
		hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
		resp, err := hc.Get(short.URL + "hls/index.m3u8")
		if err != nil {
			t.Fatalf("GET from %s: %v", addr, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for addr, want := range map[string]int{"127.0.0.2": 200, "127.0.0.3": 200} {
		if got := from(addr); got != want {
			t.Errorf("viewer %s: %d, want %d", addr, got, want)
		}
	}
	if got := from("127.0.0.4"); got != 403 {
		t.Errorf("third viewer 127.0.0.4: %d, want 403", got)
	}
	exp, _ := time.Parse(time.RFC3339, short.Expires)
	time.Sleep(time.Until(exp) + 100*time.Millisecond)
	if got := from("127.0.0.2"); got != 403 {
		t.Errorf("viewer 127.0.0.2 after the expiry: %d, want 403", got)
	}
}
