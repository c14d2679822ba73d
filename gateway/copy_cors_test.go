package gateway

import (
	"bytes"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"
)

func TestCopyObject_Directives(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		e.mkBucket("bkt")
		e.mkBucket("other")
		c := e.root()
		body := randBytes(100_000)
		_, err := c.PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("src"), Body: bytes.NewReader(body),
			ContentType: aws.String("text/plain"), Metadata: map[string]string{"a": "1"}})
		must(t, err)
		// COPY keeps metadata
		co, err := c.CopyObject(ctx(), &s3.CopyObjectInput{Bucket: aws.String("other"), Key: aws.String("dst"), CopySource: aws.String("bkt/src")})
		must(t, err)
		if *co.CopyObjectResult.ETag != `"`+md5hex(body)+`"` {
			t.Fatalf("copy etag %s", *co.CopyObjectResult.ETag)
		}
		h, err := c.HeadObject(ctx(), &s3.HeadObjectInput{Bucket: aws.String("other"), Key: aws.String("dst")})
		must(t, err)
		if *h.ContentType != "text/plain" || h.Metadata["a"] != "1" {
			t.Fatalf("COPY lost metadata: %+v", h)
		}
		// REPLACE takes the request's
		_, err = c.CopyObject(ctx(), &s3.CopyObjectInput{Bucket: aws.String("bkt"), Key: aws.String("dst2"), CopySource: aws.String("bkt/" + url.PathEscape("src")),
			MetadataDirective: types.MetadataDirectiveReplace, ContentType: aws.String("image/png"), Metadata: map[string]string{"b": "2"}})
		must(t, err)
		h, err = c.HeadObject(ctx(), &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String("dst2")})
		must(t, err)
		if *h.ContentType != "image/png" || h.Metadata["b"] != "2" || h.Metadata["a"] != "" {
			t.Fatalf("REPLACE: %+v", h)
		}
		// onto itself: COPY refused, REPLACE (rclone's way of setting mtime) allowed
		_, err = c.CopyObject(ctx(), &s3.CopyObjectInput{Bucket: aws.String("bkt"), Key: aws.String("src"), CopySource: aws.String("bkt/src")})
		wantCode(t, err, "InvalidRequest")
		_, err = c.CopyObject(ctx(), &s3.CopyObjectInput{Bucket: aws.String("bkt"), Key: aws.String("src"), CopySource: aws.String("bkt/src"),
			MetadataDirective: types.MetadataDirectiveReplace, Metadata: map[string]string{"mtime": "1700000000.5"}, ContentType: aws.String("text/plain")})
		must(t, err)
		g, err := c.GetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("src")})
		must(t, err)
		got, _ := io.ReadAll(g.Body)
		if !bytes.Equal(got, body) || g.Metadata["mtime"] != "1700000000.5" || g.Metadata["a"] != "" {
			t.Fatalf("self-copy: %d bytes, meta %v", len(got), g.Metadata)
		}
		// the copies are independent of the source
		_, err = c.DeleteObject(ctx(), &s3.DeleteObjectInput{Bucket: aws.String("bkt"), Key: aws.String("src")})
		must(t, err)
		e.waitCollected() // the source's blobs are gone
		if !bytes.Equal(e.get("other", "dst"), body) {
			t.Fatal("copy lost its bytes with the source")
		}
		_, err = c.CopyObject(ctx(), &s3.CopyObjectInput{Bucket: aws.String("bkt"), Key: aws.String("x"), CopySource: aws.String("bkt/src")})
		wantCode(t, err, "NoSuchKey")
		_, err = c.CopyObject(ctx(), &s3.CopyObjectInput{Bucket: aws.String("bkt"), Key: aws.String("x"), CopySource: aws.String("other/dst"),
			CopySourceIfMatch: aws.String(`"nope"`)})
		wantCode(t, err, "PreconditionFailed")
	})
}

const corsXML = `<CORSConfiguration>
 <CORSRule>
   <AllowedOrigin>https://player.example</AllowedOrigin>
   <AllowedOrigin>http://*.example.org</AllowedOrigin>
   <AllowedMethod>GET</AllowedMethod>
   <AllowedMethod>HEAD</AllowedMethod>
   <AllowedHeader>range</AllowedHeader>
   <AllowedHeader>x-amz-*</AllowedHeader>
   <ExposeHeader>x-amz-meta-title</ExposeHeader>
   <MaxAgeSeconds>600</MaxAgeSeconds>
 </CORSRule>
 <CORSRule>
   <AllowedOrigin>*</AllowedOrigin>
   <AllowedMethod>PUT</AllowedMethod>
 </CORSRule>
</CORSConfiguration>`

func TestCORS_ConfigPreflightAndPresignedGet(t *testing.T) {
	e := newEnv(t, envOpt{})
	e.mkBucket("bkt")
	e.put("bkt", "video.mp4", randBytes(5000))
	c := e.root()
	_, err := c.GetBucketCors(ctx(), &s3.GetBucketCorsInput{Bucket: aws.String("bkt")})
	wantCode(t, err, "NoSuchCORSConfiguration")
	resp, body := e.do("OPTIONS", e.endpoint+"/bkt/video.mp4", map[string]string{"Origin": "https://player.example", "Access-Control-Request-Method": "GET"}, nil)
	if resp.StatusCode != 403 {
		t.Fatalf("preflight without config: %d %s", resp.StatusCode, body)
	}
	_, err = c.PutBucketCors(ctx(), &s3.PutBucketCorsInput{Bucket: aws.String("bkt"), CORSConfiguration: &types.CORSConfiguration{CORSRules: []types.CORSRule{
		{AllowedOrigins: []string{"https://player.example", "http://*.example.org"}, AllowedMethods: []string{"GET", "HEAD"},
			AllowedHeaders: []string{"range", "x-amz-*"}, ExposeHeaders: []string{"x-amz-meta-title"}, MaxAgeSeconds: aws.Int32(600)},
		{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"PUT"}},
	}}})
	must(t, err)
	gc, err := c.GetBucketCors(ctx(), &s3.GetBucketCorsInput{Bucket: aws.String("bkt")})
	must(t, err)
	if len(gc.CORSRules) != 2 || gc.CORSRules[0].AllowedOrigins[1] != "http://*.example.org" || *gc.CORSRules[0].MaxAgeSeconds != 600 {
		t.Fatalf("rules %+v", gc.CORSRules)
	}
	for _, tc := range []struct {
		origin, method, headers string
		status                  int
		allow                   string
	}{
		{"https://player.example", "GET", "Range", 200, "https://player.example"},
		{"http://cdn.example.org", "HEAD", "range, x-amz-date", 200, "http://cdn.example.org"},
		{"https://player.example", "DELETE", "", 403, ""},
		{"https://evil.example", "GET", "", 403, ""},
		{"https://player.example", "GET", "authorization", 403, ""},
		{"https://anyone.example", "PUT", "", 200, "*"},
	} {
		hdr := map[string]string{"Origin": tc.origin, "Access-Control-Request-Method": tc.method}
		if tc.headers != "" {
			hdr["Access-Control-Request-Headers"] = tc.headers
		}
		resp, body := e.do("OPTIONS", e.endpoint+"/bkt/video.mp4", hdr, nil)
		if resp.StatusCode != tc.status || resp.Header.Get("Access-Control-Allow-Origin") != tc.allow {
			t.Fatalf("preflight %+v: %d %q %s", tc, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"), body)
		}
		if tc.status == 200 && tc.method == "GET" && resp.Header.Get("Access-Control-Max-Age") != "600" {
			t.Fatalf("max-age %q", resp.Header.Get("Access-Control-Max-Age"))
		}
	}
	// a presigned ranged GET from the player's page
	p, err := s3.NewPresignClient(c).PresignGetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("video.mp4")})
	must(t, err)
	resp, body = e.do("GET", p.URL, map[string]string{"Origin": "https://player.example", "Range": "bytes=100-199"}, nil)
	if resp.StatusCode != 206 || len(body) != 100 || resp.Header.Get("Access-Control-Allow-Origin") != "https://player.example" {
		t.Fatalf("presigned GET: %d %d %v", resp.StatusCode, len(body), resp.Header)
	}
	exp := resp.Header.Get("Access-Control-Expose-Headers")
	for _, h := range []string{"Content-Range", "Accept-Ranges", "Content-Length", "ETag", "x-amz-meta-title"} {
		if !strings.Contains(exp, h) {
			t.Fatalf("Expose-Headers %q lacks %s", exp, h)
		}
	}
	// errors carry CORS headers too, so the page can read them
	resp, _ = e.do("GET", e.endpoint+"/bkt/missing", map[string]string{"Origin": "https://player.example"}, nil)
	if resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "https://player.example" {
		t.Fatalf("error without CORS: %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ = e.do("GET", p.URL, map[string]string{"Origin": "https://evil.example"}, nil)
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS granted to a foreign origin")
	}
	_, err = c.DeleteBucketCors(ctx(), &s3.DeleteBucketCorsInput{Bucket: aws.String("bkt")})
	must(t, err)
	_, err = c.GetBucketCors(ctx(), &s3.GetBucketCorsInput{Bucket: aws.String("bkt")})
	wantCode(t, err, "NoSuchCORSConfiguration")
	resp, body = e.signed("PUT", "/bkt?cors", map[string]string{"Content-MD5": b64md5([]byte("<CORSConfiguration/>"))}, []byte("<CORSConfiguration/>"))
	if resp.StatusCode != 400 || !strings.Contains(string(body), "MalformedXML") {
		t.Fatalf("empty CORS: %d %s", resp.StatusCode, body)
	}
	_ = corsXML
}

func TestMinio_Operations(t *testing.T) {
	for _, tls := range []bool{false, true} {
		e := newEnv(t, envOpt{tls: tls, blobSize: 4 << 20})
		mc := e.minio(rootAK, rootSK)
		must(t, mc.MakeBucket(ctx(), "mbkt", minio.MakeBucketOptions{Region: region}))
		ok, err := mc.BucketExists(ctx(), "mbkt")
		must(t, err)
		if !ok {
			t.Fatal("bucket missing")
		}
		small := randBytes(1000)
		big := randBytes(21 << 20) // multipart with 5 MiB parts
		info, err := mc.PutObject(ctx(), "mbkt", "small", bytes.NewReader(small), int64(len(small)), minio.PutObjectOptions{ContentType: "text/plain",
			UserMetadata: map[string]string{"k": "v"}})
		must(t, err)
		if info.ETag != md5hex(small) {
			t.Fatalf("etag %s", info.ETag)
		}
		_, err = mc.PutObject(ctx(), "mbkt", "dir/big", bytes.NewReader(big), int64(len(big)), minio.PutObjectOptions{PartSize: 5 << 20})
		must(t, err)
		// unknown length: minio-go streams parts
		_, err = mc.PutObject(ctx(), "mbkt", "dir/stream", io.LimitReader(bytes.NewReader(big), 7<<20), -1, minio.PutObjectOptions{PartSize: 5 << 20})
		must(t, err)
		obj, err := mc.GetObject(ctx(), "mbkt", "dir/big", minio.GetObjectOptions{})
		must(t, err)
		got, err := io.ReadAll(obj)
		must(t, err)
		if !bytes.Equal(got, big) {
			t.Fatal("big object differs")
		}
		st, err := mc.StatObject(ctx(), "mbkt", "small", minio.StatObjectOptions{})
		must(t, err)
		if st.ContentType != "text/plain" || st.UserMetadata["K"] != "v" || st.Size != 1000 {
			t.Fatalf("stat %+v", st)
		}
		opts := minio.GetObjectOptions{}
		opts.SetRange(10, 19)
		obj, err = mc.GetObject(ctx(), "mbkt", "small", opts)
		must(t, err)
		got, _ = io.ReadAll(obj)
		if !bytes.Equal(got, small[10:20]) {
			t.Fatal("range differs")
		}
		var keys []string
		for o := range mc.ListObjects(ctx(), "mbkt", minio.ListObjectsOptions{Recursive: true}) {
			must(t, o.Err)
			keys = append(keys, o.Key)
		}
		if strings.Join(keys, ",") != "dir/big,dir/stream,small" {
			t.Fatalf("keys %v", keys)
		}
		_, err = mc.CopyObject(ctx(), minio.CopyDestOptions{Bucket: "mbkt", Object: "copy"}, minio.CopySrcOptions{Bucket: "mbkt", Object: "small"})
		must(t, err)
		u, err := mc.PresignedGetObject(ctx(), "mbkt", "small", time.Minute, nil)
		must(t, err)
		resp, body := e.do("GET", u.String(), nil, nil)
		if resp.StatusCode != 200 || !bytes.Equal(body, small) {
			t.Fatalf("presigned: %d", resp.StatusCode)
		}
		must(t, mc.RemoveObject(ctx(), "mbkt", "small", minio.RemoveObjectOptions{}))
		objs := make(chan minio.ObjectInfo, 3)
		for _, k := range []string{"dir/big", "dir/stream", "copy"} {
			objs <- minio.ObjectInfo{Key: k}
		}
		close(objs)
		for r := range mc.RemoveObjects(ctx(), "mbkt", objs, minio.RemoveObjectsOptions{}) {
			t.Fatalf("remove: %v", r.Err)
		}
		must(t, mc.RemoveBucket(ctx(), "mbkt"))
	}
}

func TestVirtualHostStyle(t *testing.T) {
	e := newEnv(t, envOpt{domain: "s3.test"})
	e.mkBucket("vbk")
	e.put("vbk", "a/b.txt", []byte("vhost"))
	port := e.endpoint[strings.LastIndex(e.endpoint, ":"):]
	c := s3.New(s3.Options{Region: region, BaseEndpoint: aws.String("http://s3.test" + port), Credentials: e.root().Options().Credentials,
		HTTPClient: e.vhostHTTP()})
	g, err := c.GetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("vbk"), Key: aws.String("a/b.txt")})
	must(t, err)
	got, _ := io.ReadAll(g.Body)
	if string(got) != "vhost" {
		t.Fatalf("got %q", got)
	}
	lo, err := c.ListObjectsV2(ctx(), &s3.ListObjectsV2Input{Bucket: aws.String("vbk")})
	must(t, err)
	if len(lo.Contents) != 1 {
		t.Fatalf("listed %d", len(lo.Contents))
	}
}
