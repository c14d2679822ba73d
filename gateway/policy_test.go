package gateway

import (
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/tnv-s3/tnv/internal/clocktest"
)

func (e *env) putPolicy(c *s3.Client, bucket, doc string) error {
	_, err := c.PutBucketPolicy(ctx(), &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(doc)})
	return err
}

// anon sends an anonymous request and returns its status and error code.
func (e *env) anon(method, path string, hdr map[string]string) (int, string) {
	e.t.Helper()
	resp, body := e.do(method, e.endpoint+path, hdr, nil)
	return resp.StatusCode, errorCode(body)
}

func errorCode(body []byte) string {
	s := string(body)
	i, j := strings.Index(s, "<Code>"), strings.Index(s, "</Code>")
	if i < 0 || j < i {
		return ""
	}
	return s[i+len("<Code>") : j]
}

// fromAddr is an HTTP client whose connections come from a loopback
// address of its own (127.0.0.2, 127.0.0.3...).
func fromAddr(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

func statusFrom(t *testing.T, c *http.Client, url string, hdr map[string]string) int {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	must(t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	must(t, err)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestPolicy_PublicPrefixPrivateRestNoListing: the video site's policy:
// one prefix readable by anyone, the rest private, nobody lists, and a
// Deny beats an Allow.
func TestPolicy_PublicPrefixPrivateRestNoListing(t *testing.T) {
	e := newEnv(t, envOpt{})
	e.mkBucket("media")
	for _, k := range []string{"public/a.mp4", "public/secret/b.mp4", "private/c.mp4"} {
		e.put("media", k, []byte("video "+k))
	}
	must(t, e.putPolicy(e.root(), "media", `{"Version":"2012-10-17","Statement":[
		{"Sid":"Read","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::media/public/*"},
		{"Sid":"NotThis","Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::media/public/secret/*"}]}`))
	for _, tc := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/media/public/a.mp4", 200, ""},
		{"HEAD", "/media/public/a.mp4", 200, ""},
		{"GET", "/media/public/secret/b.mp4", 403, "AccessDenied"},
		{"GET", "/media/private/c.mp4", 403, "AccessDenied"},
		{"GET", "/media/public/missing.mp4", 403, "AccessDenied"}, // 404 only to whom may list
		{"GET", "/media", 403, "AccessDenied"},
		{"GET", "/media?list-type=2&prefix=public/", 403, "AccessDenied"},
		{"PUT", "/media/public/new", 403, "AccessDenied"},
		{"DELETE", "/media/public/a.mp4", 403, "AccessDenied"},
		{"GET", "/media?policy", 403, "AccessDenied"},
	} {
		if st, code := e.anon(tc.method, tc.path, nil); st != tc.status || (tc.method != "HEAD" && code != tc.code) {
			t.Errorf("anonymous %s %s: %d %s, want %d %s", tc.method, tc.path, st, code, tc.status, tc.code)
		}
	}
	// The Deny holds for the owner too; the rest of the bucket stays the owner's.
	_, err := e.root().GetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("media"), Key: aws.String("private/c.mp4")})
	must(t, err)
	if got := e.get("media", "public/a.mp4"); string(got) != "video public/a.mp4" {
		t.Fatalf("owner read %q", got)
	}
	// Allowed to list too, the missing key is 404.
	must(t, e.putPolicy(e.root(), "media", `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::media/public/*"},
		{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::media"}]}`))
	if st, code := e.anon("GET", "/media/public/missing.mp4", nil); st != 404 || code != "NoSuchKey" {
		t.Fatalf("missing key, listing allowed: %d %s", st, code)
	}
}

// TestPolicy_SourceIP: an IpAddress condition, with clients on different
// loopback addresses, and X-Forwarded-For from a trusted proxy only.
func TestPolicy_SourceIP(t *testing.T) {
	e := newEnv(t, envOpt{trustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.9/32")}})
	e.mkBucket("ipb")
	e.put("ipb", "k", []byte("x"))
	must(t, e.putPolicy(e.root(), "ipb", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*",
		"Action":"s3:GetObject","Resource":"arn:aws:s3:::ipb/*","Condition":{"IpAddress":{"aws:SourceIp":["127.0.0.2/32","2001:db8::/32"]}}}}`))
	url := e.endpoint + "/ipb/k"
	if st := statusFrom(t, fromAddr("127.0.0.2"), url, nil); st != 200 {
		t.Errorf("from 127.0.0.2: %d", st)
	}
	if st := statusFrom(t, fromAddr("127.0.0.3"), url, nil); st != 403 {
		t.Errorf("from 127.0.0.3: %d", st)
	}
	// X-Forwarded-For counts only from a trusted proxy.
	if st := statusFrom(t, fromAddr("127.0.0.3"), url, map[string]string{"X-Forwarded-For": "127.0.0.2"}); st != 403 {
		t.Errorf("X-Forwarded-For from an untrusted peer: %d", st)
	}
	if st := statusFrom(t, fromAddr("127.0.0.9"), url, map[string]string{"X-Forwarded-For": "127.0.0.2"}); st != 200 {
		t.Errorf("X-Forwarded-For 127.0.0.2 from the trusted proxy: %d", st)
	}
	if st := statusFrom(t, fromAddr("127.0.0.9"), url, map[string]string{"X-Forwarded-For": "2001:db8::7"}); st != 200 {
		t.Errorf("X-Forwarded-For 2001:db8::7 from the trusted proxy: %d", st)
	}
	if st := statusFrom(t, fromAddr("127.0.0.9"), url, map[string]string{"X-Forwarded-For": "127.0.0.5"}); st != 403 {
		t.Errorf("X-Forwarded-For 127.0.0.5 from the trusted proxy: %d", st)
	}
}

// TestPolicy_RefererHotlinkProtection: only pages of the site may embed
// the videos (防盗链); other sites and no Referer get 403.
func TestPolicy_RefererHotlinkProtection(t *testing.T) {
	e := newEnv(t, envOpt{})
	e.mkBucket("vids")
	e.put("vids", "v.mp4", []byte("mp4"))
	must(t, e.putPolicy(e.root(), "vids", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*",
		"Action":"s3:GetObject","Resource":"arn:aws:s3:::vids/*",
		"Condition":{"StringLike":{"aws:Referer":["https://video.example/*","https://*.video.example/*"]}}}}`))
	for _, tc := range []struct {
		referer string
		status  int
	}{
		{"https://video.example/watch?v=1", 200},
		{"https://m.video.example/p", 200},
		{"https://other.example/?https://video.example/", 403},
		{"http://video.example/watch", 403},
		{"", 403},
	} {
		hdr := map[string]string{}
		if tc.referer != "" {
			hdr["Referer"] = tc.referer
		}
		if st, _ := e.anon("GET", "/vids/v.mp4", hdr); st != tc.status {
			t.Errorf("Referer %q: %d, want %d", tc.referer, st, tc.status)
		}
	}
}

// TestPolicy_UserGrantsUser: user B reads and lists user A's bucket only
// once A's policy allows it, and does nothing more.
func TestPolicy_UserGrantsUser(t *testing.T) {
	e := newEnv(t, envOpt{})
	must(t, AddUser(ctx(), e.db, "ALICEKEY", "alice-secret-0123456"))
	must(t, AddUser(ctx(), e.db, "BOBKEY", "bob-secret-01234567"))
	alice, bob := e.sdk("ALICEKEY", "alice-secret-0123456"), e.sdk("BOBKEY", "bob-secret-01234567")
	_, err := alice.CreateBucket(ctx(), &s3.CreateBucketInput{Bucket: aws.String("alice-b")})
	must(t, err)
	_, err = alice.PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String("alice-b"), Key: aws.String("k"), Body: strings.NewReader("a")})
	must(t, err)
	get := func() error {
		_, err := bob.GetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("alice-b"), Key: aws.String("k")})
		return err
	}
	list := func() error {
		_, err := bob.ListObjectsV2(ctx(), &s3.ListObjectsV2Input{Bucket: aws.String("alice-b")})
		return err
	}
	wantCode(t, get(), "AccessDenied")
	wantCode(t, list(), "AccessDenied")
	// Bob cannot grant himself anything.
	wantCode(t, e.putPolicy(bob, "alice-b", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::alice-b/*"}}`), "AccessDenied")
	// A principal that is no user is refused.
	wantCode(t, e.putPolicy(alice, "alice-b", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/NOSUCHKEY"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::alice-b/*"}}`), "MalformedPolicy")
	must(t, e.putPolicy(alice, "alice-b", `{"Version":"2012-10-17","Statement":{"Effect":"Allow",
		"Principal":{"AWS":["arn:aws:iam::000000000000:user/BOBKEY"]},"Action":["s3:GetObject","s3:ListBucket"],
		"Resource":["arn:aws:s3:::alice-b","arn:aws:s3:::alice-b/*"]}}`))
	must(t, get())
	must(t, list())
	_, err = bob.PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String("alice-b"), Key: aws.String("bob"), Body: strings.NewReader("b")})
	wantCode(t, err, "AccessDenied")
	_, err = bob.DeleteObject(ctx(), &s3.DeleteObjectInput{Bucket: aws.String("alice-b"), Key: aws.String("k")})
	wantCode(t, err, "AccessDenied")
	// Reading is enough to copy out of the bucket (into one of his own).
	_, err = bob.CreateBucket(ctx(), &s3.CreateBucketInput{Bucket: aws.String("bob-b")})
	must(t, err)
	_, err = bob.CopyObject(ctx(), &s3.CopyObjectInput{Bucket: aws.String("bob-b"), Key: aws.String("copy"), CopySource: aws.String("alice-b/k")})
	must(t, err)
	// Removing the policy takes the access away at once on this gateway.
	_, err = alice.DeleteBucketPolicy(ctx(), &s3.DeleteBucketPolicyInput{Bucket: aws.String("alice-b")})
	must(t, err)
	wantCode(t, get(), "AccessDenied")
	_, err = bob.CopyObject(ctx(), &s3.CopyObjectInput{Bucket: aws.String("bob-b"), Key: aws.String("copy2"), CopySource: aws.String("alice-b/k")})
	wantCode(t, err, "AccessDenied")
}

// TestPolicy_API: Put/Get/DeleteBucketPolicy and GetBucketPolicyStatus as
// S3 answers them.
func TestPolicy_API(t *testing.T) {
	e := newEnv(t, envOpt{})
	must(t, AddUser(ctx(), e.db, "ALICEKEY", "alice-secret-0123456"))
	c := e.sdk("ALICEKEY", "alice-secret-0123456")
	_, err := c.CreateBucket(ctx(), &s3.CreateBucketInput{Bucket: aws.String("pol")})
	must(t, err)
	_, err = c.GetBucketPolicy(ctx(), &s3.GetBucketPolicyInput{Bucket: aws.String("pol")})
	wantCode(t, err, "NoSuchBucketPolicy")
	_, err = c.GetBucketPolicyStatus(ctx(), &s3.GetBucketPolicyStatusInput{Bucket: aws.String("pol")})
	wantCode(t, err, "NoSuchBucketPolicy")

	resp, body := e.signed("PUT", "/pol?policy", nil, []byte(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:Teleport","Resource":"arn:aws:s3:::pol/*"}}`))
	if resp.StatusCode != 400 || errorCode(body) != "MalformedPolicy" || !strings.Contains(string(body), "invalid action") {
		t.Fatalf("unknown action: %d %s", resp.StatusCode, body)
	}
	resp, body = e.signed("PUT", "/pol?policy", nil, []byte(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}}`))
	if resp.StatusCode != 400 || !strings.Contains(string(body), "invalid resource") {
		t.Fatalf("resource of another bucket: %d %s", resp.StatusCode, body)
	}
	big := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pol/` + strings.Repeat("x", 21<<10) + `"}}`
	resp, body = e.signed("PUT", "/pol?policy", nil, []byte(big))
	if resp.StatusCode != 400 || errorCode(body) != "MalformedPolicy" {
		t.Fatalf("policy over 20 KB: %d %s", resp.StatusCode, body)
	}

	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pol/*"},
		{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::pol","arn:aws:s3:::pol/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`
	must(t, e.putPolicy(c, "pol", doc))
	got, err := c.GetBucketPolicy(ctx(), &s3.GetBucketPolicyInput{Bucket: aws.String("pol")})
	if err != nil || aws.ToString(got.Policy) != doc {
		t.Fatalf("GetBucketPolicy = %q, %v", aws.ToString(got.Policy), err)
	}
	st, err := e.root().GetBucketPolicyStatus(ctx(), &s3.GetBucketPolicyStatusInput{Bucket: aws.String("pol")})
	if err != nil || !aws.ToBool(st.PolicyStatus.IsPublic) {
		t.Fatalf("GetBucketPolicyStatus = %+v, %v", st, err)
	}
	// The policy denies everything over plain HTTP, the owner's requests
	// too (the root key's not: it is the cluster's administrator), but the
	// owner may still manage the policy.
	_, err = c.ListObjectsV2(ctx(), &s3.ListObjectsV2Input{Bucket: aws.String("pol")})
	wantCode(t, err, "AccessDenied")
	_, err = c.DeleteBucketPolicy(ctx(), &s3.DeleteBucketPolicyInput{Bucket: aws.String("pol")})
	must(t, err)
	_, err = c.ListObjectsV2(ctx(), &s3.ListObjectsV2Input{Bucket: aws.String("pol")})
	must(t, err)
	_, err = e.root().GetBucketPolicy(ctx(), &s3.GetBucketPolicyInput{Bucket: aws.String("pol")})
	wantCode(t, err, "NoSuchBucketPolicy")
	// A policy pinned to source addresses is not public.
	must(t, e.putPolicy(c, "pol", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pol/*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}}`))
	st, err = c.GetBucketPolicyStatus(ctx(), &s3.GetBucketPolicyStatusInput{Bucket: aws.String("pol")})
	if err != nil || aws.ToBool(st.PolicyStatus.IsPublic) {
		t.Fatalf("GetBucketPolicyStatus of a pinned policy = %+v, %v", st, err)
	}
}

// TestPolicy_ListConditions: s3:prefix and s3:max-keys decide who lists
// what (minio-go as the client, anonymous HTTP for the refusals).
func TestPolicy_ListConditions(t *testing.T) {
	e := newEnv(t, envOpt{})
	e.mkBucket("lst")
	e.put("lst", "public/a", []byte("a"))
	e.put("lst", "private/b", []byte("b"))
	must(t, e.putPolicy(e.root(), "lst", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket",
		"Resource":"arn:aws:s3:::lst","Condition":{"StringLike":{"s3:prefix":"public/*"},"NumericLessThanEquals":{"s3:max-keys":"100"}}}}`))
	for _, tc := range []struct {
		q      string
		status int
	}{
		{"list-type=2&prefix=public/&max-keys=10", 200},
		{"prefix=public/&max-keys=100", 200},
		{"list-type=2&prefix=public/&max-keys=1000", 403},
		{"list-type=2&prefix=public/", 403}, // no max-keys: the condition's key is absent
		{"list-type=2&prefix=private/&max-keys=10", 403},
		{"list-type=2&max-keys=10", 403},
	} {
		if st, _ := e.anon("GET", "/lst?"+tc.q, nil); st != tc.status {
			t.Errorf("anonymous list ?%s: %d, want %d", tc.q, st, tc.status)
		}
	}
	resp, body := e.do("GET", e.endpoint+"/lst?list-type=2&prefix=public/&max-keys=10", nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<Key>public/a</Key>") || strings.Contains(string(body), "private/b") {
		t.Fatalf("listing: %s", body)
	}
}

// TestPolicy_DeleteObjectsPerKey: a multi-object delete is decided key by
// key.
func TestPolicy_DeleteObjectsPerKey(t *testing.T) {
	e := newEnv(t, envOpt{})
	must(t, AddUser(ctx(), e.db, "BOBKEY", "bob-secret-01234567"))
	e.mkBucket("del")
	e.put("del", "tmp/a", []byte("a"))
	e.put("del", "keep/b", []byte("b"))
	must(t, e.putPolicy(e.root(), "del", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"BOBKEY"},"Action":"s3:DeleteObject","Resource":"arn:aws:s3:::del/tmp/*"}}`))
	bob := e.sdk("BOBKEY", "bob-secret-01234567")
	out, err := bob.DeleteObjects(ctx(), &s3.DeleteObjectsInput{Bucket: aws.String("del"), Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String("tmp/a")}, {Key: aws.String("keep/b")}}}})
	must(t, err)
	if len(out.Deleted) != 1 || aws.ToString(out.Deleted[0].Key) != "tmp/a" || len(out.Errors) != 1 || aws.ToString(out.Errors[0].Code) != "AccessDenied" {
		t.Fatalf("DeleteObjects: deleted %+v errors %+v", out.Deleted, out.Errors)
	}
	if got := e.get("del", "keep/b"); string(got) != "b" {
		t.Fatalf("keep/b = %q", got)
	}
}

// TestEveryRouteHasAnAction: each operation has its s3: action, so that
// a policy can grant or deny it.
func TestEveryRouteHasAnAction(t *testing.T) {
	g := &Gateway{}
	for _, rt := range g.routes() {
		if _, ok := opActions[rt.op]; !ok {
			t.Errorf("operation %s has no s3: action in opActions", rt.op)
		}
	}
}

// TestPolicy_SecureTransport: a policy that opens objects over TLS only.
func TestPolicy_SecureTransport(t *testing.T) {
	doc := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject",
		"Resource":"arn:aws:s3:::tls/*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}}`
	for _, tls := range []bool{true, false} {
		e := newEnv(t, envOpt{tls: tls})
		e.mkBucket("tls")
		e.put("tls", "k", []byte("x"))
		must(t, e.putPolicy(e.root(), "tls", doc))
		want := map[bool]int{true: 200, false: 403}[tls]
		if st, _ := e.anon("GET", "/tls/k", nil); st != want {
			t.Errorf("anonymous GET, TLS %v: %d, want %d", tls, st, want)
		}
	}
}

// TestPolicy_DateWindow: aws:CurrentTime is the gateway's clock.
func TestPolicy_DateWindow(t *testing.T) {
	clock := clocktest.New(time.Time{})
	e := newEnv(t, envOpt{clock: clock})
	end := clock.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	e.mkBucket("win")
	e.put("win", "k", []byte("x"))
	must(t, e.putPolicy(e.root(), "win", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject",
		"Resource":"arn:aws:s3:::win/*","Condition":{"DateLessThan":{"aws:CurrentTime":"`+end+`"}}}}`))
	if st, _ := e.anon("GET", "/win/k", nil); st != 200 {
		t.Fatalf("inside the window: %d", st)
	}
	clock.Advance(2 * time.Hour) // anonymous requests have no signature to be too old
	if st, _ := e.anon("GET", "/win/k", nil); st != 403 {
		t.Fatalf("after the window: %d", st)
	}
}

// TestPolicy_TwoGatewaysShareTheDatabase: a policy put through one
// gateway reaches another on the same database within accessTTL.
func TestPolicy_TwoGatewaysShareTheDatabase(t *testing.T) {
	clock := clocktest.New(time.Time{})
	db := openDB(t, false)
	store := newMemStore() // the blobs, shared as the cluster would be
	a := newEnvDB(t, db, envOpt{clock: clock, store: store})
	b := newEnvDB(t, db, envOpt{clock: clock, store: store})
	a.mkBucket("shared")
	a.put("shared", "k", []byte("x"))
	if st, _ := b.anon("GET", "/shared/k", nil); st != 403 { // b reads (and keeps) "no policy"
		t.Fatalf("before the policy: %d", st)
	}
	must(t, a.putPolicy(a.root(), "shared", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::shared/*"}}`))
	if st, _ := a.anon("GET", "/shared/k", nil); st != 200 {
		t.Fatalf("on the gateway that took the policy: %d", st)
	}
	if st, _ := b.anon("GET", "/shared/k", nil); st != 403 {
		t.Fatalf("the other gateway within accessTTL: %d (its copy should still be the old one)", st)
	}
	clock.Advance(accessTTL)
	if resp, body := b.do("GET", b.endpoint+"/shared/k", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("the other gateway after accessTTL: %d %s", resp.StatusCode, body)
	}
}
