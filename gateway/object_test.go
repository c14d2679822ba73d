package gateway

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Both dialects and both schemes: what clients send differs by scheme
// (header checksums over HTTP, unsigned aws-chunked trailers over HTTPS).
func forEachEnv(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, c := range []struct {
		name string
		o    envOpt
	}{
		{"sqlite-http", envOpt{}},
		{"sqlite-https", envOpt{tls: true}},
		{"mysql-http", envOpt{mysql: true}},
		{"mysql-https", envOpt{mysql: true, tls: true}},
		{"memory-http", envOpt{memory: true}},
	} {
		t.Run(c.name, func(t *testing.T) { fn(t, newEnv(t, c.o)) })
	}
}

func TestBuckets_CreateListHeadLocationDelete(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		c := e.root()
		e.mkBucket("alpha")
		e.mkBucket("beta.b-1")
		_, err := c.CreateBucket(ctx(), &s3.CreateBucketInput{Bucket: aws.String("alpha")})
		wantCode(t, err, "BucketAlreadyOwnedByYou")
		_, err = c.CreateBucket(ctx(), &s3.CreateBucketInput{Bucket: aws.String("Bad_Name")})
		wantCode(t, err, "InvalidBucketName")
		lb, err := c.ListBuckets(ctx(), &s3.ListBucketsInput{})
		must(t, err)
		if len(lb.Buckets) != 2 || *lb.Buckets[0].Name != "alpha" || *lb.Buckets[1].Name != "beta.b-1" {
			t.Fatalf("buckets %+v", lb.Buckets)
		}
		_, err = c.HeadBucket(ctx(), &s3.HeadBucketInput{Bucket: aws.String("alpha")})
		must(t, err)
		_, err = c.HeadBucket(ctx(), &s3.HeadBucketInput{Bucket: aws.String("nope")})
		wantCode(t, err, "NotFound")
		loc, err := c.GetBucketLocation(ctx(), &s3.GetBucketLocationInput{Bucket: aws.String("alpha")})
		must(t, err)
		if loc.LocationConstraint != "" {
			t.Fatalf("location %q", loc.LocationConstraint)
		}
		e.put("alpha", "k", []byte("x"))
		_, err = c.DeleteBucket(ctx(), &s3.DeleteBucketInput{Bucket: aws.String("alpha")})
		wantCode(t, err, "BucketNotEmpty")
		_, err = c.DeleteObject(ctx(), &s3.DeleteObjectInput{Bucket: aws.String("alpha"), Key: aws.String("k")})
		must(t, err)
		_, err = c.DeleteBucket(ctx(), &s3.DeleteBucketInput{Bucket: aws.String("alpha")})
		must(t, err)
		_, err = c.DeleteBucket(ctx(), &s3.DeleteBucketInput{Bucket: aws.String("alpha")})
		wantCode(t, err, "NoSuchBucket")
	})
}

func TestObjects_PutGetHeadMetadata(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		e.mkBucket("bkt")
		c := e.root()
		body := randBytes(300_000)
		exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
		keys := []string{"plain", "dir/sub/file.txt", "../../etc/passwd", "sp ace+plus%pct", "ünï/cødé", "a//b"}
		for _, key := range keys {
			out, err := c.PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String(key), Body: bytes.NewReader(body),
				ContentType: aws.String("video/mp4"), ContentDisposition: aws.String(`attachment; filename="x.mp4"`),
				CacheControl: aws.String("max-age=60"), ContentEncoding: aws.String("identity"), Expires: &exp,
				Metadata: map[string]string{"color": "blue", "Mixed-Case": "v"}})
			must(t, err)
			if *out.ETag != `"`+md5hex(body)+`"` {
				t.Fatalf("etag %s", *out.ETag)
			}
			g, err := c.GetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String(key)})
			must(t, err)
			got, _ := io.ReadAll(g.Body)
			g.Body.Close()
			if !bytes.Equal(got, body) {
				t.Fatalf("%q: body differs (%d bytes)", key, len(got))
			}
			if *g.ContentType != "video/mp4" || *g.ContentDisposition != `attachment; filename="x.mp4"` || *g.CacheControl != "max-age=60" ||
				*g.ContentEncoding != "identity" || g.Metadata["color"] != "blue" || g.Metadata["mixed-case"] != "v" || *g.ETag != `"`+md5hex(body)+`"` {
				t.Fatalf("%q: headers %+v", key, g)
			}
			if g.ExpiresString == nil || !strings.Contains(*g.ExpiresString, "2030") {
				t.Fatalf("expires %v", g.ExpiresString)
			}
			h, err := c.HeadObject(ctx(), &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String(key)})
			must(t, err)
			if *h.ContentLength != int64(len(body)) || *h.AcceptRanges != "bytes" || *h.ETag != `"`+md5hex(body)+`"` {
				t.Fatalf("head %+v", h)
			}
		}
		lo, err := c.ListObjectsV2(ctx(), &s3.ListObjectsV2Input{Bucket: aws.String("bkt")})
		must(t, err)
		if len(lo.Contents) != len(keys) {
			t.Fatalf("listed %d", len(lo.Contents))
		}
		_, err = c.GetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("missing")})
		wantCode(t, err, "NoSuchKey")
		_, err = c.HeadObject(ctx(), &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String("missing")})
		wantCode(t, err, "NotFound")
		_, err = c.GetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("nob"), Key: aws.String("x")})
		wantCode(t, err, "NoSuchBucket")
	})
}

func TestObjects_EmptyAndOverwriteCollectsOldBlobs(t *testing.T) {
	store := newMemStore()
	e := newEnv(t, envOpt{store: store, blobSize: 1000})
	e.mkBucket("bkt")
	e.put("bkt", "empty", nil)
	if got := e.get("bkt", "empty"); len(got) != 0 {
		t.Fatalf("empty object has %d bytes", len(got))
	}
	body := randBytes(3500) // four blobs of at most 1000 bytes
	e.put("bkt", "k", body)
	if !bytes.Equal(e.get("bkt", "k"), body) {
		t.Fatal("multi-blob object differs")
	}
	if n := store.count(); n != 4 {
		t.Fatalf("%d blobs, want 4", n)
	}
	e.put("bkt", "k", []byte("short"))
	_, err := e.root().DeleteObject(ctx(), &s3.DeleteObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k")})
	must(t, err)
	waitFor(t, func() bool { return store.count() == 0 })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("condition not reached")
}

func TestGetRange(t *testing.T) {
	e := newEnv(t, envOpt{blobSize: 100})
	e.mkBucket("bkt")
	body := randBytes(1000)
	e.put("bkt", "k", body)
	e.put("bkt", "empty", nil)
	c := e.root()
	for _, tc := range []struct {
		rng, key  string
		status    int
		from, to  int // inclusive
		wantRange string
	}{
		{"bytes=0-0", "k", 206, 0, 0, "bytes 0-0/1000"},
		{"bytes=0-9", "k", 206, 0, 9, "bytes 0-9/1000"},
		{"bytes=95-205", "k", 206, 95, 205, "bytes 95-205/1000"},
		{"bytes=990-", "k", 206, 990, 999, "bytes 990-999/1000"},
		{"bytes=990-5000", "k", 206, 990, 999, "bytes 990-999/1000"},
		{"bytes=-10", "k", 206, 990, 999, "bytes 990-999/1000"},
		{"bytes=-5000", "k", 206, 0, 999, "bytes 0-999/1000"},
		{"bytes=999-999", "k", 206, 999, 999, "bytes 999-999/1000"},
		{"bytes=1000-", "k", 416, 0, 0, "bytes */1000"},
		{"bytes=-0", "k", 416, 0, 0, "bytes */1000"},
		{"bytes=0-", "empty", 416, 0, 0, "bytes */0"},
		{"bytes=5-2", "k", 200, 0, 999, ""},
		{"bytes=0-1,5-6", "k", 200, 0, 999, ""},
		{"items=0-1", "k", 200, 0, 999, ""},
	} {
		t.Run(tc.rng+"/"+tc.key, func(t *testing.T) {
			ps := s3.NewPresignClient(c)
			p, err := ps.PresignGetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String(tc.key)})
			must(t, err)
			resp, got := e.do("GET", p.URL, map[string]string{"Range": tc.rng}, nil)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, got)
			}
			if cr := resp.Header.Get("Content-Range"); cr != tc.wantRange {
				t.Fatalf("Content-Range %q, want %q", cr, tc.wantRange)
			}
			if resp.Header.Get("Accept-Ranges") != "bytes" {
				t.Fatalf("Accept-Ranges %q", resp.Header.Get("Accept-Ranges"))
			}
			if tc.status == 416 {
				if !strings.Contains(string(got), "<Code>InvalidRange</Code>") {
					t.Fatalf("body %s", got)
				}
				return
			}
			if !bytes.Equal(got, body[tc.from:tc.to+1]) {
				t.Fatalf("body %d bytes differs", len(got))
			}
		})
	}
	// through the SDK as well
	g, err := c.GetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k"), Range: aws.String("bytes=150-349")})
	must(t, err)
	got, _ := io.ReadAll(g.Body)
	if !bytes.Equal(got, body[150:350]) || *g.ContentRange != "bytes 150-349/1000" || *g.ContentLength != 200 {
		t.Fatalf("sdk range: %d bytes, %s", len(got), *g.ContentRange)
	}
}

func TestGetConditional(t *testing.T) {
	e := newEnv(t, envOpt{})
	e.mkBucket("bkt")
	etag := e.put("bkt", "k", []byte("hello"))
	h, err := e.root().HeadObject(ctx(), &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k")})
	must(t, err)
	lm := *h.LastModified
	before, after := lm.Add(-time.Hour).Format(http.TimeFormat), lm.Add(time.Hour).Format(http.TimeFormat)
	at := lm.Format(http.TimeFormat)
	for _, tc := range []struct {
		name   string
		hdr    map[string]string
		status int
	}{
		{"if-match ok", map[string]string{"If-Match": etag}, 200},
		{"if-match star", map[string]string{"If-Match": "*"}, 200},
		{"if-match list", map[string]string{"If-Match": `"zzz", ` + etag}, 200},
		{"if-match fails", map[string]string{"If-Match": `"nope"`}, 412},
		{"if-none-match hit", map[string]string{"If-None-Match": etag}, 304},
		{"if-none-match miss", map[string]string{"If-None-Match": `"nope"`}, 200},
		{"if-modified-since before", map[string]string{"If-Modified-Since": before}, 200},
		{"if-modified-since at", map[string]string{"If-Modified-Since": at}, 304},
		{"if-modified-since after", map[string]string{"If-Modified-Since": after}, 304},
		{"if-unmodified-since before", map[string]string{"If-Unmodified-Since": before}, 412},
		{"if-unmodified-since after", map[string]string{"If-Unmodified-Since": after}, 200},
		{"if-match wins over unmodified", map[string]string{"If-Match": etag, "If-Unmodified-Since": before}, 200},
		{"if-none-match false, modified-since true", map[string]string{"If-None-Match": `"nope"`, "If-Modified-Since": after}, 200},
		{"if-match fails with range", map[string]string{"If-Match": `"nope"`, "Range": "bytes=0-1"}, 412},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, m := range []string{"GET", "HEAD"} {
				p, err := s3.NewPresignClient(e.root()).PresignGetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k")})
				must(t, err)
				if m == "HEAD" {
					hp, err := s3.NewPresignClient(e.root()).PresignHeadObject(ctx(), &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k")})
					must(t, err)
					p.URL = hp.URL
				}
				resp, body := e.do(m, p.URL, tc.hdr, nil)
				if resp.StatusCode != tc.status {
					t.Fatalf("%s: status %d want %d: %s", m, resp.StatusCode, tc.status, body)
				}
				if tc.status == 304 && resp.Header.Get("ETag") != etag {
					t.Fatalf("304 without ETag")
				}
				if tc.status == 412 && m == "GET" && !strings.Contains(string(body), "PreconditionFailed") {
					t.Fatalf("412 body %s", body)
				}
			}
		})
	}
}

func TestPut_IfNoneMatchStarIsAtomic(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		e.mkBucket("bkt")
		c := e.root()
		const n = 8
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			go func() {
				_, err := c.PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("once"),
					Body: bytes.NewReader(randBytes(1000)), IfNoneMatch: aws.String("*")})
				errs <- err
			}()
		}
		ok := 0
		for i := 0; i < n; i++ {
			err := <-errs
			switch apiCode(err) {
			case "":
				ok++
			case "PreconditionFailed", "ConditionalRequestConflict":
			default:
				t.Errorf("unexpected %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d PUTs succeeded, want 1", ok)
		}
	})
}

func TestDeleteObjects(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		e.mkBucket("bkt")
		for _, k := range []string{"a", "b", "c/d"} {
			e.put("bkt", k, []byte(k))
		}
		c := e.root()
		out, err := c.DeleteObjects(ctx(), &s3.DeleteObjectsInput{Bucket: aws.String("bkt"), Delete: &types.Delete{Objects: []types.ObjectIdentifier{
			{Key: aws.String("a")}, {Key: aws.String("c/d")}, {Key: aws.String("never")}}}})
		must(t, err)
		if len(out.Deleted) != 3 || len(out.Errors) != 0 {
			t.Fatalf("deleted %d errors %d", len(out.Deleted), len(out.Errors))
		}
		lo, err := c.ListObjectsV2(ctx(), &s3.ListObjectsV2Input{Bucket: aws.String("bkt")})
		must(t, err)
		if len(lo.Contents) != 1 || *lo.Contents[0].Key != "b" {
			t.Fatalf("left %+v", lo.Contents)
		}
	})
}

func TestDeleteObjects_WithoutDigestRefused(t *testing.T) {
	e := newEnv(t, envOpt{})
	e.mkBucket("bkt")
	body := []byte(`<Delete><Object><Key>a</Key></Object></Delete>`)
	resp, b := e.signed("POST", "/bkt?delete", nil, body)
	if resp.StatusCode != 400 || !strings.Contains(string(b), "Content-MD5") {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	resp, b = e.signed("POST", "/bkt?delete", map[string]string{"Content-MD5": b64md5([]byte("<Delete"))}, []byte("<Delete"))
	if resp.StatusCode != 400 || !strings.Contains(string(b), "MalformedXML") {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}

// An overwrite hands the replaced blobs to the collector and leaves no
// intent behind, whatever the blob counts of the two versions (the
// intents' rows become the queued blobs' where there are both).
func TestObjects_OverwriteQueuesOldBlobsDropsIntents(t *testing.T) {
	for _, my := range []bool{false, true} {
		t.Run(map[bool]string{false: "sqlite", true: "mysql"}[my], func(t *testing.T) {
			store := newMemStore()
			e := newEnv(t, envOpt{store: store, blobSize: 1000, mysql: my})
			e.mkBucket("bkt")
			for i, size := range []int{10, 10, 2500, 900, 3100, 0, 1500} {
				body := randBytes(size)
				e.put("bkt", "k", body)
				if !bytes.Equal(e.get("bkt", "k"), body) {
					t.Fatalf("step %d: object differs", i)
				}
				want := (size + 999) / 1000
				waitFor(t, func() bool { return store.count() == want })
				o, err := e.g.idx.Object(ctx(), "bkt", "k")
				must(t, err)
				for _, b := range o.Blobs {
					var n int
					must(t, e.db.QueryRowContext(ctx(), "SELECT COUNT(*) FROM s3_gc WHERE fileid = ?", b.FileID).Scan(&n))
					if n != 0 {
						t.Fatalf("step %d: a live blob is queued for collection", i)
					}
				}
			}
			waitFor(t, func() bool { return len(e.gcRowsNotHeld()) == 0 })
		})
	}
}

// slowDeletes is a memStore whose deletions take a while and count how
// many run at once.
type slowDeletes struct {
	*memStore
	mu            sync.Mutex
	inFlight, max int
}

func (s *slowDeletes) Delete(ctx context.Context, appid, userid, fileid string) error {
	s.mu.Lock()
	s.inFlight++
	s.max = max(s.max, s.inFlight)
	s.mu.Unlock()
	time.Sleep(20 * time.Millisecond)
	s.mu.Lock()
	s.inFlight--
	s.mu.Unlock()
	return s.memStore.Delete(ctx, appid, userid, fileid)
}

// TestCollector_DeletesSeveralBlobsAtOnce: the collector has up to
// collectConcurrency deletions in flight, not one (a deletion is round
// trips to the nodes), and still deletes every replaced blob, on SQLite
// and MariaDB.
func TestCollector_DeletesSeveralBlobsAtOnce(t *testing.T) {
	for _, mysql := range []bool{false, true} {
		t.Run(map[bool]string{false: "sqlite", true: "mariadb"}[mysql], func(t *testing.T) {
			store := &slowDeletes{memStore: newMemStore()}
			e := newEnv(t, envOpt{mysql: mysql, store: store, blobSize: 10})
			e.mkBucket("bkt")
			e.put("bkt", "k", randBytes(400)) // 40 blobs
			start := time.Now()
			e.put("bkt", "k", []byte("short"))
			waitFor(t, func() bool { return store.count() == 1 })
			took := time.Since(start)
			store.mu.Lock()
			most := store.max
			store.mu.Unlock()
			if most < 2 || most > collectConcurrency {
				t.Fatalf("%d deletions at once at most, want 2..%d", most, collectConcurrency)
			}
			t.Logf("40 blobs of 20 ms each collected in %v, up to %d at once", took.Round(time.Millisecond), most)
			if got := e.get("bkt", "k"); string(got) != "short" {
				t.Fatalf("k: %q", got)
			}
		})
	}
}
