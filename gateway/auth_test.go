package gateway

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tnv-s3/tnv/internal/clocktest"
)

func TestAuth_Refusals(t *testing.T) {
	clock := clocktest.New(time.Time{})
	e := newEnv(t, envOpt{clock: clock})
	e.mkBucket("bkt")
	e.put("bkt", "k", []byte("secret bytes"))

	_, err := e.sdk(rootAK, "wrong").PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("x"), Body: bytes.NewReader([]byte("x"))})
	wantCode(t, err, "SignatureDoesNotMatch")
	_, err = e.sdk("NOSUCHKEY", "x").ListBuckets(ctx(), &s3.ListBucketsInput{})
	wantCode(t, err, "InvalidAccessKeyId")

	// anonymous
	for _, tc := range []struct{ method, path string }{
		{"GET", "/"}, {"GET", "/bkt/k"}, {"HEAD", "/bkt/k"}, {"GET", "/bkt"}, {"PUT", "/bkt/new"}, {"DELETE", "/bkt/k"}, {"PUT", "/newbucket"},
	} {
		resp, body := e.do(tc.method, e.endpoint+tc.path, nil, nil)
		if resp.StatusCode != 403 || (tc.method != "HEAD" && !strings.Contains(string(body), "<Code>AccessDenied</Code>")) {
			t.Fatalf("anonymous %s %s: %d %s", tc.method, tc.path, resp.StatusCode, body)
		}
		if resp.Header.Get("x-amz-request-id") == "" {
			t.Fatal("no x-amz-request-id")
		}
	}
	// an x-amz-* header added after signing
	req, _ := http.NewRequest("GET", e.endpoint+"/bkt/k", nil)
	p, err := s3.NewPresignClient(e.root()).PresignGetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k")})
	must(t, err)
	resp, body := e.do("GET", p.URL, map[string]string{"x-amz-meta-sneaky": "1"}, nil)
	if resp.StatusCode != 403 {
		t.Fatalf("unsigned x-amz header: %d %s", resp.StatusCode, body)
	}
	_ = req
	// expired presign
	p, err = s3.NewPresignClient(e.root(), func(o *s3.PresignOptions) { o.Expires = time.Second }).PresignGetObject(ctx(),
		&s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k")})
	must(t, err)
	clock.Advance(2100 * time.Millisecond)
	resp, body = e.do("GET", p.URL, nil, nil)
	if resp.StatusCode != 403 || !strings.Contains(string(body), "<Code>AccessDenied</Code>") {
		t.Fatalf("expired presign: %d %s", resp.StatusCode, body)
	}
	// the error document
	resp, body = e.signed("GET", "/bkt/missing", nil, nil)
	for _, want := range []string{"<Code>NoSuchKey</Code>", "<Message>", "<Resource>/bkt/missing</Resource>", "<RequestId>" + resp.Header.Get("x-amz-request-id") + "</RequestId>"} {
		if !strings.Contains(string(body), want) {
			t.Fatalf("error document lacks %s: %s", want, body)
		}
	}
}

// A signed request is judged against the gateway's clock: one whose
// X-Amz-Date lies further from it than MaxSkew (15 min) is refused.
func TestAuth_SkewJudgedByGatewayClock(t *testing.T) {
	clock := clocktest.New(time.Time{})
	e := newEnv(t, envOpt{clock: clock})
	e.mkBucket("bkt")
	clock.Advance(14 * time.Minute)
	resp, body := e.signed("GET", "/bkt", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("14 min of skew: %d %s", resp.StatusCode, body)
	}
	clock.Advance(2 * time.Minute)
	resp, body = e.signed("GET", "/bkt", nil, nil)
	if resp.StatusCode != 403 || !strings.Contains(string(body), "<Code>RequestTimeTooSkewed</Code>") {
		t.Fatalf("16 min of skew: %d %s", resp.StatusCode, body)
	}
}

// TestAuth_PublicReadBucket: tnv admin bucket public NAME on --list writes
// a policy that lets anyone read and list, and nothing more.
func TestAuth_PublicReadBucket(t *testing.T) {
	clock := clocktest.New(time.Time{})
	e := newEnv(t, envOpt{clock: clock})
	e.mkBucket("pub")
	e.put("pub", "k", []byte("hello"))
	must(t, SetBucketPublic(ctx(), e.db, "pub", true, true))
	clock.Advance(accessTTL) // written to the database: gateways see it within accessTTL
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/pub/k", 200}, {"HEAD", "/pub/k", 200}, {"GET", "/pub", 200}, {"GET", "/pub?list-type=2", 200},
		{"PUT", "/pub/k", 403}, {"DELETE", "/pub/k", 403}, {"GET", "/pub?uploads", 403}, {"GET", "/pub?cors", 403},
	} {
		resp, body := e.do(tc.method, e.endpoint+tc.path, map[string]string{"Range": "bytes=0-1"}, nil)
		if resp.StatusCode != tc.status && !(tc.status == 200 && resp.StatusCode == 206) {
			t.Fatalf("anonymous %s %s: %d %s", tc.method, tc.path, resp.StatusCode, body)
		}
	}
	must(t, SetBucketPublic(ctx(), e.db, "pub", false, false))
	clock.Advance(accessTTL) // the gateway's copy of the policy is stale now
	resp, _ := e.do("GET", e.endpoint+"/pub/k", nil, nil)
	if resp.StatusCode != 403 {
		t.Fatalf("private again: %d", resp.StatusCode)
	}
}

func TestAuth_UsersOwnTheirBuckets(t *testing.T) {
	e := newEnv(t, envOpt{})
	must(t, AddUser(ctx(), e.db, "ALICEKEY", "alice-secret-0123456"))
	must(t, AddUser(ctx(), e.db, "BOBKEY", "bob-secret-01234567"))
	alice, bob := e.sdk("ALICEKEY", "alice-secret-0123456"), e.sdk("BOBKEY", "bob-secret-01234567")
	_, err := alice.CreateBucket(ctx(), &s3.CreateBucketInput{Bucket: aws.String("alice-b")})
	must(t, err)
	_, err = alice.PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String("alice-b"), Key: aws.String("k"), Body: bytes.NewReader([]byte("a"))})
	must(t, err)
	_, err = bob.GetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("alice-b"), Key: aws.String("k")})
	wantCode(t, err, "AccessDenied")
	_, err = bob.CreateBucket(ctx(), &s3.CreateBucketInput{Bucket: aws.String("alice-b")})
	wantCode(t, err, "BucketAlreadyExists")
	lb, err := bob.ListBuckets(ctx(), &s3.ListBucketsInput{})
	must(t, err)
	if len(lb.Buckets) != 0 {
		t.Fatalf("bob sees %d buckets", len(lb.Buckets))
	}
	lb, err = e.root().ListBuckets(ctx(), &s3.ListBucketsInput{})
	must(t, err)
	if len(lb.Buckets) != 1 {
		t.Fatalf("root sees %d buckets", len(lb.Buckets))
	}
	// root may act on every bucket
	if string(e.get("alice-b", "k")) != "a" {
		t.Fatal("root cannot read alice's object")
	}
	_, err = RemoveUser(ctx(), e.db, "ALICEKEY", RemoveUserOptions{ReassignTo: "BOBKEY"})
	must(t, err)
	_, err = alice.ListBuckets(ctx(), &s3.ListBucketsInput{})
	wantCode(t, err, "InvalidAccessKeyId")
	_, err = bob.GetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("alice-b"), Key: aws.String("k")})
	must(t, err)
}

func TestPut_BadDigestStoresNothing(t *testing.T) {
	for _, tls := range []bool{false, true} {
		store := newMemStore()
		e := newEnv(t, envOpt{store: store, tls: tls, blobSize: 1 << 20})
		e.mkBucket("bkt")
		body := randBytes(6 << 20)
		_, err := e.root().PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k"), Body: bytes.NewReader(body),
			ContentMD5: aws.String(b64md5([]byte("something else")))})
		wantCode(t, err, "BadDigest")
		resp, b := e.signed("PUT", "/bkt/k2", map[string]string{"Content-MD5": b64md5([]byte("other"))}, body)
		if resp.StatusCode != 400 || !strings.Contains(string(b), "BadDigest") {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		lo, err := e.root().ListObjectsV2(ctx(), &s3.ListObjectsV2Input{Bucket: aws.String("bkt")})
		must(t, err)
		if len(lo.Contents) != 0 {
			t.Fatalf("a refused PUT was listed")
		}
		waitFor(t, func() bool { return store.count() == 0 })
		// and a good Content-MD5 passes
		_, err = e.root().PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k"), Body: bytes.NewReader(body),
			ContentMD5: aws.String(b64md5(body))})
		must(t, err)
	}
}

func TestRouter_UnsupportedSubresourcesAreNotImplemented(t *testing.T) {
	e := newEnv(t, envOpt{})
	e.mkBucket("bkt")
	e.put("bkt", "k", []byte("x"))
	for _, tc := range []struct{ method, path string }{
		{"GET", "/bkt?accelerate"}, {"PUT", "/bkt?inventory"}, {"GET", "/bkt?replication"}, {"GET", "/bkt?publicAccessBlock"},
		{"GET", "/bkt?website"}, {"GET", "/bkt?analytics"}, {"GET", "/bkt?logging"}, {"GET", "/bkt?notification"},
		{"POST", "/bkt/k?restore"}, {"POST", "/bkt/k?select&select-type=2"},
	} {
		resp, body := e.signed(tc.method, tc.path, nil, nil)
		if resp.StatusCode != 501 || !strings.Contains(string(body), "<Code>NotImplemented</Code>") {
			t.Fatalf("%s %s: %d %s", tc.method, tc.path, resp.StatusCode, body)
		}
	}
	// what the object still is: untouched
	if string(e.get("bkt", "k")) != "x" {
		t.Fatal("object changed")
	}
	for _, tc := range []struct {
		method, path, want string
	}{
		{"GET", "/bkt?versioning", "<VersioningConfiguration"},
		{"GET", "/bkt?acl", "FULL_CONTROL"},
		{"GET", "/bkt/k?acl", "FULL_CONTROL"},
		{"GET", "/bkt/k?versionId=null", "x"},
	} {
		resp, body := e.signed(tc.method, tc.path, nil, nil)
		if resp.StatusCode != 200 || !strings.Contains(string(body), tc.want) {
			t.Fatalf("%s %s: %d %s", tc.method, tc.path, resp.StatusCode, body)
		}
	}
	resp, _ := e.signed("PATCH", "/bkt/k", nil, nil)
	if resp.StatusCode != 405 {
		t.Fatalf("PATCH: %d", resp.StatusCode)
	}
}
