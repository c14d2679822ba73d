package compat

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/chromedp/chromedp"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"
)

var corsPageUsed atomic.Bool

// TestBrowserDefaultCORS: tnv up runs with --cors-origins naming one page
// origin (corsPageLn). A script on that page, in headless Chromium, reads
// a range of an object of a bucket without CORS rules (a preflighted
// fetch, exposed ETag/Content-Range/x-amz-request-id), PUTs and DELETEs
// through presigned URLs and POSTs a FormData upload signed by minio-go;
// a bucket with rules of its own that do not name the origin stays closed
// to it.
func TestBrowserDefaultCORS(t *testing.T) {
	e := endpoint(t)
	if e.Kind != "tnv up" || corsPageLn == nil {
		t.Skip("default CORS is tnv up's --cors-origins; an external endpoint's defaults are its own")
	}
	if corsPageUsed.Swap(true) {
		t.Skip("the --cors-origins page's listener was served and closed by an earlier run in this process (-count > 1)")
	}
	plain := newBucket(t, "cors-default")
	ruled := newBucket(t, "cors-ruled")
	c := e.client()
	ctx := context.Background()
	for _, b := range []string{plain, ruled} {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String("hello.txt"), Body: strings.NewReader("hello, cross-origin world")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.PutBucketCors(ctx, &s3.PutBucketCorsInput{Bucket: aws.String(ruled), CORSConfiguration: &types.CORSConfiguration{
		CORSRules: []types.CORSRule{{AllowedOrigins: []string{"https://elsewhere.example"}, AllowedMethods: []string{"GET"}}}}}); err != nil {
		t.Fatal(err)
	}
	ps := s3.NewPresignClient(c)
	get, err := ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(plain), Key: aws.String("hello.txt")})
	if err != nil {
		t.Fatal(err)
	}
	put, err := ps.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(plain), Key: aws.String("put.txt")})
	if err != nil {
		t.Fatal(err)
	}
	del, err := ps.PresignDeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(plain), Key: aws.String("hello.txt")})
	if err != nil {
		t.Fatal(err)
	}
	ruledGet, err := ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(ruled), Key: aws.String("hello.txt")})
	if err != nil {
		t.Fatal(err)
	}
	mc, err := minio.New(e.Host, &minio.Options{Creds: miniocreds.NewStaticV4(e.AccessKey, e.SecretKey, ""), Region: e.Region, BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	pp := minio.NewPostPolicy()
	pp.SetBucket(plain)
	pp.SetKey("posted.txt")
	pp.SetExpires(time.Now().Add(time.Hour))
	pp.SetSuccessStatusAction("201")
	postURL, postFields, err := mc.PresignedPostPolicy(ctx, pp)
	if err != nil {
		t.Fatal(err)
	}

	origin := "http://" + corsPageLn.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<!doctype html><html><head><meta charset="utf-8"></head><body><script>
async function run(cfg) {
  const out = {};
  let r = await fetch(cfg.get, {headers: {Range: 'bytes=0-4'}});
  out.get = {status: r.status, body: await r.text(), etag: r.headers.get('ETag'), range: r.headers.get('Content-Range'), reqid: r.headers.get('x-amz-request-id')};
  r = await fetch(cfg.put, {method: 'PUT', body: 'put from the page', headers: {'Content-Type': 'text/plain'}});
  out.put = {status: r.status, etag: r.headers.get('ETag')};
  const fd = new FormData();
  for (const [k, v] of Object.entries(cfg.fields)) fd.append(k, v);
  fd.append('file', new Blob(['posted from the page']), 'page.txt');
  r = await fetch(cfg.post, {method: 'POST', body: fd});
  out.post = {status: r.status, body: await r.text(), etag: r.headers.get('ETag')};
  r = await fetch(cfg.del, {method: 'DELETE'});
  out.del = {status: r.status};
  try { r = await fetch(cfg.ruled); out.ruled = 'read ' + r.status; } catch (e) { out.ruled = 'blocked ' + e.name; }
  return JSON.stringify(out);
}
</script></body></html>`)
	})}
	go srv.Serve(corsPageLn)
	defer srv.Close()

	bctx := browser(t)
	if err := chromedp.Do(bctx, chromedp.Navigate(origin+"/")); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	cfg, _ := json.Marshal(map[string]any{"get": get.URL, "put": put.URL, "del": del.URL, "ruled": ruledGet.URL, "post": postURL.String(), "fields": postFields})
	res, err := chromedp.Run(bctx, chromedp.Evaluate[string](fmt.Sprintf("run(%s)", cfg), chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("the page's script: %v", err)
	}
	t.Logf("page at %s saw: %s", origin, res)
	var out struct {
		Get struct {
			Status            int
			Body, ETag, Range string
			ReqID             string `json:"reqid"`
		}
		Put struct {
			Status int
			ETag   string
		}
		Post struct {
			Status     int
			Body, ETag string
		}
		Del   struct{ Status int }
		Ruled string
	}
	if err := json.Unmarshal([]byte(res), &out); err != nil {
		t.Fatal(err)
	}
	if out.Get.Status != 206 || out.Get.Body != "hello" || out.Get.Range != "bytes 0-4/25" || !strings.HasPrefix(out.Get.ETag, `"`) || out.Get.ReqID == "" {
		t.Errorf("ranged GET from the page: %+v", out.Get)
	}
	if out.Put.Status != 200 || !strings.HasPrefix(out.Put.ETag, `"`) {
		t.Errorf("PUT from the page: %+v", out.Put)
	}
	if out.Post.Status != 201 || !strings.Contains(out.Post.Body, "<Key>posted.txt</Key>") || !strings.HasPrefix(out.Post.ETag, `"`) {
		t.Errorf("POST from the page: %+v", out.Post)
	}
	if out.Del.Status != 204 {
		t.Errorf("DELETE from the page: %+v", out.Del)
	}
	if !strings.HasPrefix(out.Ruled, "blocked") {
		t.Errorf("a bucket whose own rules do not name the origin was readable: %s", out.Ruled)
	}
	for key, want := range map[string]string{"put.txt": "put from the page", "posted.txt": "posted from the page"} {
		o, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(plain), Key: aws.String(key)})
		if err != nil {
			t.Errorf("%s: %v", key, err)
			continue
		}
		b, _ := io.ReadAll(o.Body)
		o.Body.Close()
		if string(b) != want {
			t.Errorf("%s holds %q", key, b)
		}
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(plain), Key: aws.String("hello.txt")}); err == nil {
		t.Error("hello.txt still there after the page's DELETE")
	}
}
