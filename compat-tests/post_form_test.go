package compat

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/chromedp/chromedp"
)

// postForm is a form boto3 made: the URL and the fields in boto3's order.
type postForm struct {
	URL    string      `json:"url"`
	Fields [][2]string `json:"fields"`
}

// presignedPosts runs testdata/presigned_post.py once (python and boto3
// take seconds to start): boto3's generate_presigned_post for each spec.
func presignedPosts(t *testing.T, py string, specs ...map[string]any) []postForm {
	t.Helper()
	e := endpoint(t)
	script, err := filepath.Abs("testdata/presigned_post.py")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(specs)
	env := baseEnv("AWS_ACCESS_KEY_ID="+e.AccessKey, "AWS_SECRET_ACCESS_KEY="+e.SecretKey, "AWS_DEFAULT_REGION="+e.Region,
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true")
	o := mustRun(t, env, "", time.Minute, py, script, e.URL, string(b))
	var out []postForm
	if err := json.Unmarshal([]byte(o.Stdout), &out); err != nil || len(out) != len(specs) {
		t.Fatalf("presigned_post.py printed %q: %v", o.Stdout, err)
	}
	return out
}

// pollPage evaluates a script until it returns a non-empty string (at most
// timeout). Unlike chromedp.Poll it goes on across navigations, which
// cancel a script in flight.
func pollPage(ctx context.Context, script string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](script))
		if err == nil && s != "" {
			return s, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("nothing after %v (last error %v)", timeout, err)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// boto3Python is Debian's python3 with boto3 (the test fails under CI and
// is skipped elsewhere without it).
func boto3Python(t *testing.T) string {
	py := tool(t, "Debian's python3", "/usr/bin/python3")
	if o := runCmd(t, baseEnv(), "", time.Minute, py, "-c", "import boto3"); o.Err != nil {
		msg := "Debian's python3-boto3 not installed (apt python3-boto3): " + o.Stderr
		if inCI() {
			t.Fatal("CI=true: " + msg)
		}
		t.Skip(msg)
	}
	return py
}

// formPage is an HTML page holding one upload form as S3's documentation
// writes it: the signed fields hidden, the file input, and a submit
// button after it (S3 ignores fields after the file).
func formPage(action string, fields [][2]string) string {
	var b strings.Builder
	b.WriteString(`<!doctype html><html><head><meta charset="utf-8"><title>upload</title></head><body>` + "\n")
	b.WriteString(`<form id="f" action="` + htmlEscape(action) + `" method="post" enctype="multipart/form-data">` + "\n")
	for _, f := range fields {
		fmt.Fprintf(&b, `<input type="hidden" name="%s" value="%s">`+"\n", htmlEscape(f[0]), htmlEscape(f[1]))
	}
	b.WriteString(`<input id="file" type="file" name="file">` + "\n")
	b.WriteString(`<input id="go" type="submit" name="submit" value="Upload">` + "\n")
	b.WriteString(`</form></body></html>`)
	return b.String()
}

// browser starts headless Chromium with a fresh profile and returns its
// context (cancelled at the end of the test).
func browser(t *testing.T) context.Context {
	t.Helper()
	chromium := tool(t, "Debian's chromium (apt chromium)", "/usr/bin/chromium", "chromium")
	out := &syncWriter{w: &bytes.Buffer{}}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(chromiumProfile(t)),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.CombinedOutput(out),
	)
	ctx, cancel := chromedp.NewContext(alloc)
	ctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() {
		cancelT()
		cancel()
		cancelAlloc()
		if t.Failed() {
			t.Logf("chromium output:\n%s", tail(out.String(), 4000))
		}
	})
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.userAgent`)); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// TestBrowserPostForm: headless Chromium submits real HTML forms made by
// boto3's generate_presigned_post, from a page on another origin (another
// loopback port), to the bucket's URL: with success_action_redirect (the
// browser lands on the page's /done with bucket, key and etag), with
// success_action_status 201 (the browser shows the PostResponse), signed
// with SigV2, and refused: an expired policy and broken conditions.
func TestBrowserPostForm(t *testing.T) {
	py := boto3Python(t)
	e := endpoint(t)
	bucket := newBucket(t, "postform")

	var mu sync.Mutex
	pageHTML := ""
	var doneQuery url.Values
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch r.URL.Path {
		case "/":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			io.WriteString(w, pageHTML)
		case "/done":
			doneQuery = r.URL.Query()
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			io.WriteString(w, `<!doctype html><p id="done">stored</p>`)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer page.Close()
	origin := page.URL

	dir := t.TempDir()
	small := filepath.Join(dir, "photo one.txt")
	content := []byte(strings.Repeat("a browser upload\n", 600))
	if err := os.WriteFile(small, content, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(content)
	etag := `"` + hex.EncodeToString(sum[:]) + `"`

	ctx := browser(t)
	// submit loads a page with the form, picks the file and submits it,
	// then waits until the browser has left the page.
	submit := func(what, action string, fields [][2]string, file string) string {
		t.Helper()
		mu.Lock()
		pageHTML = formPage(action, fields)
		mu.Unlock()
		if err := chromedp.Do(ctx, chromedp.Navigate(origin+"/")); err != nil {
			t.Fatalf("%s: navigate: %v", what, err)
		}
		if err := chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.ID("file"), []string{file})); err != nil {
			t.Fatalf("%s: choose the file: %v", what, err)
		}
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("go"))); err != nil {
			t.Fatalf("%s: submit: %v", what, err)
		}
		href, err := pollPage(ctx, `(location.href !== `+jsString(origin+"/")+` && document.readyState === 'complete') ? location.href : ''`, time.Minute)
		if err != nil {
			t.Fatalf("%s: the browser did not leave the form page: %v", what, err)
		}
		t.Logf("%s: the browser is at %s", what, href)
		return href
	}
	// xmlText reads an element of the XML document the browser shows.
	xmlText := func(name string) string {
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const e = document.getElementsByTagName(`+jsString(name)+`)[0]; return e ? e.textContent : '<none>'; })()`))
		if err != nil {
			t.Fatalf("reading <%s>: %v", name, err)
		}
		return s
	}
	head := func(key string) *s3.HeadObjectOutput {
		t.Helper()
		h, err := e.client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
		if err != nil {
			t.Fatalf("HeadObject %s: %v", key, err)
		}
		return h
	}

	refusals := []struct {
		what, key string
		spec      map[string]any
		code, msg string
	}{
		{"expired", "expired/${filename}", map[string]any{"expires_in": -60}, "AccessDenied", "Invalid according to Policy: Policy expired."},
		{"condition", "cond/${filename}", map[string]any{"fields": map[string]string{"Content-Type": "text/plain"},
			"conditions": []any{[]any{"starts-with", "$Content-Type", "image/"}}},
			"AccessDenied", `Invalid according to Policy: Policy Condition failed: ["starts-with", "$Content-Type", "image/"]`},
		{"too large", "large/${filename}", map[string]any{"conditions": []any{[]any{"content-length-range", 1, 100}}},
			"EntityTooLarge", "Your proposed upload exceeds the maximum allowed size"},
		{"extra field", "extra/${filename}", map[string]any{"fields": map[string]string{"x-amz-meta-note": "unsigned"}},
			"AccessDenied", "Invalid according to Policy: Extra input fields: x-amz-meta-note"},
	}
	specs := []map[string]any{
		{"bucket": bucket, "key": "uploads/${filename}",
			"fields":     map[string]string{"success_action_redirect": origin + "/done", "Content-Type": "text/plain", "x-amz-meta-album": "summer"},
			"conditions": []any{map[string]string{"success_action_redirect": origin + "/done"}, []any{"starts-with", "$Content-Type", "text/"}, map[string]string{"x-amz-meta-album": "summer"}, []any{"content-length-range", 1, 1 << 20}}},
		{"bucket": bucket, "key": "created/${filename}",
			"fields": map[string]string{"success_action_status": "201"}, "conditions": []any{map[string]string{"success_action_status": "201"}}},
		{"bucket": bucket, "key": "v2/${filename}", "signature_version": "s3",
			"fields": map[string]string{"success_action_status": "201"}, "conditions": []any{map[string]string{"success_action_status": "201"}}},
	}
	for _, c := range refusals {
		spec := map[string]any{"bucket": bucket, "key": c.key}
		for k, v := range c.spec {
			spec[k] = v
		}
		specs = append(specs, spec)
	}
	forms := presignedPosts(t, py, specs...)

	// 1. success_action_redirect to the page's origin.
	href := submit("redirect", forms[0].URL, forms[0].Fields, small)
	mu.Lock()
	q := doneQuery
	mu.Unlock()
	if !strings.HasPrefix(href, origin+"/done?") || q.Get("bucket") != bucket || q.Get("key") != "uploads/photo one.txt" || q.Get("etag") != etag {
		t.Fatalf("redirect: at %s with %v, want bucket %s, key %q, etag %s", href, q, bucket, "uploads/photo one.txt", etag)
	}
	h := head("uploads/photo one.txt")
	if aws.ToString(h.ETag) != etag || aws.ToString(h.ContentType) != "text/plain" || h.Metadata["album"] != "summer" || aws.ToInt64(h.ContentLength) != int64(len(content)) {
		t.Fatalf("stored object: %+v", h)
	}

	// 2. success_action_status 201: the browser shows the PostResponse.
	href = submit("201", forms[1].URL, forms[1].Fields, small)
	if !strings.HasPrefix(href, e.URL+"/"+bucket) || xmlText("Key") != "created/photo one.txt" || xmlText("ETag") != etag || xmlText("Bucket") != bucket ||
		xmlText("Location") != e.URL+"/"+bucket+"/created%2Fphoto%20one.txt" {
		t.Fatalf("201: at %s, Key %q ETag %q Bucket %q Location %q", href, xmlText("Key"), xmlText("ETag"), xmlText("Bucket"), xmlText("Location"))
	}
	head("created/photo one.txt")

	// 3. SigV2 (boto3's signature_version "s3"), 201 again.
	submit("sigv2", forms[2].URL, forms[2].Fields, small)
	if xmlText("Key") != "v2/photo one.txt" || xmlText("ETag") != etag {
		t.Fatalf("SigV2: Key %q ETag %q", xmlText("Key"), xmlText("ETag"))
	}
	head("v2/photo one.txt")

	// 4. Refusals: the browser shows S3's error; nothing is stored.
	for i, c := range refusals {
		f := forms[3+i]
		submit(c.what, f.URL, f.Fields, small)
		if code, msg := xmlText("Code"), xmlText("Message"); code != c.code || msg != c.msg {
			t.Errorf("%s: browser shows %s %q, want %s %q", c.what, code, msg, c.code, c.msg)
		}
		key := strings.Replace(c.key, "${filename}", "photo one.txt", 1)
		if _, err := e.client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: &key}); err == nil {
			t.Errorf("%s: %s stored after a refusal", c.what, key)
		}
	}
}
