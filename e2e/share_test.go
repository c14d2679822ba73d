package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tnv-s3/tnv/internal/proctest"
	"github.com/tnv-s3/tnv/metadb/metadbtest"
)

const (
	shareAK, shareSK = "sharerootkey", "share-root-secret-0123456"
	shareUserSK      = "share-user-secret-0123456"
)

// shareEnv is a one-group cluster with two gateway processes on one
// database (the first trusts 127.0.0.5 as a proxy), a bucket "films"
// owned by root and a user VIEWKEY that owns nothing.
type shareEnv struct {
	t        *testing.T
	dsn      string
	gw, gw2  *proctest.Proc
	s3       *s3.Client
	playlist []byte
	segment  []byte
}

func newShareEnv(t *testing.T) *shareEnv {
	dsn := metadbtest.NewTestMySQL(t)
	c := proctest.StartCluster(t, proctest.Topology{DB: dsn, Groups: 1, Members: 2})
	start := func(extra ...string) *proctest.Proc {
		p := proctest.StartFree(t, []string{"TNV_ACCESS_KEY=" + shareAK, "TNV_SECRET_KEY=" + shareSK}, "gateway", func(addr string) []string {
			return append([]string{"gateway", "--listen", addr, "--trackers", c.TrackerList(), "--db", dsn}, extra...)
		})
		waitHTTP(t, "http://"+p.Addr+"/_tnv/health", 30*time.Second)
		return p
	}
	e := &shareEnv{t: t, dsn: dsn, gw: start("--trusted-proxies", "127.0.0.5/32"), gw2: start()}
	proctest.Run(t, "admin", "user", "add", "--access-key", "VIEWKEY", "--secret-key-file", writeSecret(t, shareUserSK), "--db", dsn)
	e.s3 = s3Client("http://"+e.gw.Addr, shareAK, shareSK)
	ctx := context.Background()
	if _, err := e.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("films")}); err != nil {
		t.Fatal(err)
	}
	e.playlist = []byte("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nseg1.ts\n#EXT-X-ENDLIST\n")
	e.segment = make([]byte, 300<<10)
	rand.NewChaCha8([32]byte{7}).Read(e.segment)
	big := make([]byte, 1<<20)
	rand.NewChaCha8([32]byte{8}).Read(big)
	for k, v := range map[string][]byte{"hls/a.m3u8": e.playlist, "hls/seg1.ts": e.segment, "hls/big.bin": big,
		"secret.txt": []byte("TOP-SECRET-OUTSIDE"), "hlsx/y": []byte("TOP-SECRET-SIBLING")} {
		if _, err := e.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("films"), Key: aws.String(k), Body: bytes.NewReader(v)}); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// api sends a share API request signed (with aws-sdk-go-v2's SigV4
// signer, service s3) by ak/sk, or unsigned when ak is "".
func (e *shareEnv) api(gw *proctest.Proc, method, path string, body []byte, ak, sk string) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, "http://"+gw.Addr+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	ph := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", ph)
	req.Header.Set("Content-Type", "application/json")
	if ak != "" {
		if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: ak, SecretAccessKey: sk}, req, ph, "s3", "us-east-1", time.Now()); err != nil {
			e.t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

type shareMade struct {
	URL, Token, Expires string
}

// create makes a link as root and checks the 201 answer.
func (e *shareEnv) create(body string) shareMade {
	e.t.Helper()
	st, out := e.api(e.gw, "POST", "/_tnv/share", []byte(body), shareAK, shareSK)
	if st != 201 {
		e.t.Fatalf("POST /_tnv/share %s: %d %s", body, st, out)
	}
	var m shareMade
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		e.t.Fatalf("answer %q: %v", out, err)
	}
	if len(m.Token) != 43 || m.URL != "http://"+e.gw.Addr+"/_tnv/share/"+m.Token+"/" {
		e.t.Fatalf("answer %+v: want a 43-character token and its URL on %s", m, e.gw.Addr)
	}
	return m
}

// viewer is an anonymous HTTP client whose connections come from addr.
func viewer(addr string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(addr)}, Timeout: 10 * time.Second}
	return &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
}

func fetch(t *testing.T, hc *http.Client, method, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading: %v", method, url, err)
	}
	return resp, b
}

// rawGet sends a request line exactly as given (no client cleans the
// path) and returns the status and body.
func rawGet(t *testing.T, addr, target string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target, addr)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestShare_CreateServeLimitsRevoke runs the share API and links against
// gateway processes: refusals of unsigned, wrongly signed and unauthorised
// requests, serving with Range, conditions, ETag and CORS, traversal
// refusals, the viewer limit by client address (and through a trusted
// proxy), revocation seen by another gateway within a second, expiry, the
// rate cap, and the refusal metrics.
func TestShare_CreateServeLimitsRevoke(t *testing.T) {
	e := newShareEnv(t)
	ctx := context.Background()
	body := `{"bucket": "films", "prefix": "hls/", "expires_in": 3600, "max_viewers": 2}`

	// Refusals of the API: all 403 (or 400) S3 XML.
	for _, c := range []struct {
		name, ak, sk, body, code string
		status                   int
	}{
		{"unsigned", "", "", body, "AccessDenied", 403},
		{"wrong secret", shareAK, "not-the-secret-000000000", body, "SignatureDoesNotMatch", 403},
		{"unknown key", "NOSUCHKEY", shareSK, body, "InvalidAccessKeyId", 403},
		{"user who may not read the bucket", "VIEWKEY", shareUserSK, body, "AccessDenied", 403},
		{"no expires_in", shareAK, shareSK, `{"bucket": "films", "prefix": "hls/"}`, "InvalidArgument", 400},
		{"unknown field", shareAK, shareSK, `{"bucket": "films", "expires_in": 5, "other": 1}`, "InvalidArgument", 400},
		{"no such bucket", shareAK, shareSK, `{"bucket": "nofilms", "expires_in": 5}`, "NoSuchBucket", 404},
	} {
		st, out := e.api(e.gw, "POST", "/_tnv/share", []byte(c.body), c.ak, c.sk)
		if st != c.status || s3Code(out) != c.code || !strings.HasPrefix(out, "<?xml") {
			t.Errorf("%s: %d %s; want %d %s as S3 XML", c.name, st, out, c.status, c.code)
		}
	}

	m := e.create(body)
	exp, err := time.Parse(time.RFC3339, m.Expires)
	if err != nil || exp.Before(time.Now().Add(3590*time.Second)) || exp.After(time.Now().Add(3610*time.Second)) {
		t.Fatalf("expires %q (%v): want about an hour from now", m.Expires, err)
	}
	v2, v3, v4c := viewer("127.0.0.2"), viewer("127.0.0.3"), viewer("127.0.0.4")

	// Serving: playlist, segment, Range, conditions, HEAD, CORS.
	resp, b := fetch(t, v2, "GET", m.URL+"a.m3u8", "Origin", "https://player.example")
	if resp.StatusCode != 200 || !bytes.Equal(b, e.playlist) || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("GET playlist: %d %q, CORS %q", resp.StatusCode, b, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	head, err := e.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("films"), Key: aws.String("hls/seg1.ts")})
	if err != nil {
		t.Fatal(err)
	}
	resp, b = fetch(t, v2, "GET", m.URL+"seg1.ts")
	if resp.StatusCode != 200 || !bytes.Equal(b, e.segment) || resp.Header.Get("ETag") != *head.ETag {
		t.Fatalf("GET segment: %d, %d bytes, ETag %q want %q", resp.StatusCode, len(b), resp.Header.Get("ETag"), *head.ETag)
	}
	resp, b = fetch(t, v2, "GET", m.URL+"seg1.ts", "Range", "bytes=1000-1999")
	if resp.StatusCode != 206 || !bytes.Equal(b, e.segment[1000:2000]) || resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 1000-1999/%d", len(e.segment)) {
		t.Fatalf("ranged GET: %d, %d bytes, %q", resp.StatusCode, len(b), resp.Header.Get("Content-Range"))
	}
	if resp, _ = fetch(t, v2, "GET", m.URL+"seg1.ts", "Range", "bytes=999999999-"); resp.StatusCode != 416 {
		t.Fatalf("unsatisfiable range: %d, want 416", resp.StatusCode)
	}
	if resp, _ = fetch(t, v2, "GET", m.URL+"seg1.ts", "If-None-Match", *head.ETag); resp.StatusCode != 304 {
		t.Fatalf("If-None-Match: %d, want 304", resp.StatusCode)
	}
	if resp, _ = fetch(t, v2, "HEAD", m.URL+"seg1.ts"); resp.StatusCode != 200 || resp.ContentLength != int64(len(e.segment)) {
		t.Fatalf("HEAD: %d, length %d", resp.StatusCode, resp.ContentLength)
	}
	if resp, _ = fetch(t, v2, "GET", m.URL+"nothing.ts"); resp.StatusCode != 404 {
		t.Fatalf("GET of a missing key: %d, want 404", resp.StatusCode)
	}
	resp, _ = fetch(t, v2, "OPTIONS", m.URL+"seg1.ts", "Origin", "https://player.example", "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "range")
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "*" || resp.Header.Get("Access-Control-Allow-Headers") != "range" {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}

	// Nothing outside the prefix, however the path is spelled.
	base := "/_tnv/share/" + m.Token + "/"
	for _, p := range []string{"../secret.txt", "%2E%2E/secret.txt", "%2e%2e/secret.txt", "..%2Fsecret.txt", "..%2fsecret.txt",
		"%252E%252E%252Fsecret.txt", ".%2E/secret.txt", "a/../../secret.txt", "../hlsx/y", "..\\secret.txt", "%5C..%5Csecret.txt",
		"x/../../../films/secret.txt", "/../secret.txt"} {
		st, out := rawGet(t, e.gw.Addr, base+p)
		if st == 200 || st == 206 || strings.Contains(out, "TOP-SECRET") {
			t.Errorf("GET %s: %d %q: reached outside the prefix", p, st, out)
		}
		if st != 400 && st != 403 {
			t.Errorf("GET %s: %d, want 400 or 403", p, st)
		}
	}
	for _, p := range []string{"/_tnv/share/" + strings.Repeat("A", 43) + "/a.m3u8", "/_tnv/share/short/a.m3u8", "/_tnv/share/" + m.Token + "x/a.m3u8"} {
		if st, out := rawGet(t, e.gw.Addr, p); st != 403 || s3Code(out) != "AccessDenied" {
			t.Errorf("GET %s: %d %s, want 403 AccessDenied", p, st, out)
		}
	}

	// Viewer limit: 127.0.0.2 and .3 in, .4 out; the first two keep
	// working, seeks included. Behind the trusted proxy 127.0.0.5 the
	// client is the rightmost untrusted X-Forwarded-For hop; an untrusted
	// peer's X-Forwarded-For is ignored.
	if resp, _ = fetch(t, v3, "GET", m.URL+"a.m3u8"); resp.StatusCode != 200 {
		t.Fatalf("second viewer: %d", resp.StatusCode)
	}
	resp, b = fetch(t, v4c, "GET", m.URL+"a.m3u8")
	if resp.StatusCode != 403 || s3Code(string(b)) != "AccessDenied" {
		t.Fatalf("third viewer: %d %s, want 403", resp.StatusCode, b)
	}
	if resp, _ = fetch(t, v2, "GET", m.URL+"seg1.ts", "Range", "bytes=150000-"); resp.StatusCode != 206 {
		t.Fatalf("first viewer seeking: %d, want 206", resp.StatusCode)
	}
	proxy, untrusted := viewer("127.0.0.5"), viewer("127.0.0.6")
	if resp, _ = fetch(t, proxy, "GET", m.URL+"a.m3u8", "X-Forwarded-For", "10.9.9.9, 127.0.0.3"); resp.StatusCode != 200 {
		t.Fatalf("viewer .3 through the trusted proxy: %d, want 200", resp.StatusCode)
	}
	if resp, _ = fetch(t, proxy, "GET", m.URL+"a.m3u8", "X-Forwarded-For", "127.0.0.3, 127.0.0.7"); resp.StatusCode != 403 {
		t.Fatalf("new viewer .7 through the trusted proxy (spoofed .3 on the left): %d, want 403", resp.StatusCode)
	}
	if resp, _ = fetch(t, untrusted, "GET", m.URL+"a.m3u8", "X-Forwarded-For", "127.0.0.2"); resp.StatusCode != 403 {
		t.Fatalf("untrusted peer claiming .2: %d, want 403", resp.StatusCode)
	}

	// Revocation: only the maker, the bucket's owner or root; seen by the
	// other gateway (which cached the link) within a second.
	m2 := e.create(`{"bucket": "films", "prefix": "hls/", "expires_in": 3600}`)
	url2 := "http://" + e.gw2.Addr + "/_tnv/share/" + m2.Token + "/a.m3u8"
	if resp, _ = fetch(t, v2, "GET", url2); resp.StatusCode != 200 {
		t.Fatalf("link through the second gateway: %d", resp.StatusCode)
	}
	if st, out := e.api(e.gw, "DELETE", "/_tnv/share/"+m2.Token, nil, "", ""); st != 403 || s3Code(out) != "AccessDenied" {
		t.Fatalf("unsigned revoke: %d %s", st, out)
	}
	if st, out := e.api(e.gw, "DELETE", "/_tnv/share/"+m2.Token, nil, "VIEWKEY", shareUserSK); st != 403 || s3Code(out) != "AccessDenied" {
		t.Fatalf("revoke by another user: %d %s", st, out)
	}
	if st, out := e.api(e.gw, "DELETE", "/_tnv/share/"+m2.Token, nil, shareAK, shareSK); st != 204 {
		t.Fatalf("revoke: %d %s", st, out)
	}
	revoked := time.Now()
	for {
		resp, b = fetch(t, v2, "GET", url2)
		if resp.StatusCode == 403 {
			break
		}
		if time.Since(revoked) > 1200*time.Millisecond {
			t.Fatalf("the second gateway still serves a revoked link after %v: %d", time.Since(revoked), resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("revocation seen by the other gateway after %v", time.Since(revoked).Round(time.Millisecond))
	if st, _ := e.api(e.gw, "DELETE", "/_tnv/share/"+strings.Repeat("A", 43), nil, shareAK, shareSK); st != 404 {
		t.Fatalf("revoke of no such link: %d, want 404", st)
	}

	// Expiry.
	m3 := e.create(`{"bucket": "films", "prefix": "hls/", "expires_in": 2}`)
	if resp, _ = fetch(t, v2, "GET", m3.URL+"a.m3u8"); resp.StatusCode != 200 {
		t.Fatalf("fresh link: %d", resp.StatusCode)
	}
	exp3, _ := time.Parse(time.RFC3339, m3.Expires)
	time.Sleep(time.Until(exp3) + 100*time.Millisecond)
	if resp, b = fetch(t, v2, "GET", m3.URL+"a.m3u8"); resp.StatusCode != 403 || !strings.Contains(string(b), "expired") {
		t.Fatalf("expired link: %d %s", resp.StatusCode, b)
	}

	// Rate: 256 KiB/s on 1 MiB takes about 4 s, evenly: about half is in
	// at 2 s. The same object without a cap takes far less.
	m4 := e.create(`{"bucket": "films", "prefix": "hls/", "expires_in": 3600}`)
	start := time.Now()
	if resp, b = fetch(t, v2, "GET", m4.URL+"big.bin"); resp.StatusCode != 200 || len(b) != 1<<20 {
		t.Fatalf("uncapped: %d, %d bytes", resp.StatusCode, len(b))
	}
	uncapped := time.Since(start)
	m5 := e.create(`{"bucket": "films", "prefix": "hls/", "expires_in": 3600, "rate": 262144}`)
	start = time.Now()
	req, _ := http.NewRequest("GET", m5.URL+"big.bin", nil)
	resp, err = v2.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("capped: %v %v", resp, err)
	}
	var got, at2s int64
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		got += int64(n)
		if at2s == 0 && time.Since(start) >= 2*time.Second {
			at2s = got
		}
		if err != nil {
			break
		}
	}
	resp.Body.Close()
	capped := time.Since(start)
	t.Logf("1 MiB: uncapped %v; at 256 KiB/s %v, %d bytes after 2 s", uncapped.Round(time.Millisecond), capped.Round(time.Millisecond), at2s)
	if got != 1<<20 || capped < 3500*time.Millisecond || capped > 6*time.Second || at2s < 300<<10 || at2s > 700<<10 {
		t.Fatalf("capped read: %d bytes in %v, %d after 2 s; want 1 MiB in about 4 s, about half at 2 s", got, capped, at2s)
	}

	// Metrics count refusals by reason.
	st, out := getWith(t, "http://"+e.gw.Addr+"/_tnv/metrics", shareAK, shareSK)
	if st != 200 {
		t.Fatalf("metrics: %d", st)
	}
	for _, want := range []string{`tnv_s3_share_refusals_total{reason="viewers"} 3`, `tnv_s3_share_refusals_total{reason="path"}`,
		`tnv_s3_share_refusals_total{reason="expired"} 1`, `tnv_s3_requests_total{op="ShareGetObject",status="206"}`} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestShare_AdminCLI makes, lists and revokes a link with tnv admin share
// and reads through it from a gateway process.
func TestShare_AdminCLI(t *testing.T) {
	e := newShareEnv(t)
	out := proctest.Run(t, "admin", "share", "create", "--bucket", "films", "--prefix", "hls/", "--expires-in", "1h",
		"--max-viewers", "3", "--rate", "1048576", "--endpoint", "http://"+e.gw.Addr, "--db", e.dsn)
	field := func(name string) string {
		for _, l := range strings.Split(out, "\n") {
			if v, ok := strings.CutPrefix(l, name+":"); ok {
				return strings.TrimSpace(v)
			}
		}
		t.Fatalf("no %s in\n%s", name, out)
		return ""
	}
	url, id := field("url"), field("id")
	if resp, b := fetch(t, viewer("127.0.0.2"), "GET", url+"a.m3u8"); resp.StatusCode != 200 || !bytes.Equal(b, e.playlist) {
		t.Fatalf("GET through the CLI's link: %d %q", resp.StatusCode, b)
	}
	list := proctest.Run(t, "admin", "share", "list", "--db", e.dsn)
	if !regexp.MustCompile(id + `\s+films\s+"hls/"\s+\(admin\)\s+\S+\s+\S+\s+active\s+1/3\s+1\.0 MiB/s`).MatchString(list) {
		t.Fatalf("share list:\n%s", list)
	}
	if st, page := getWith(t, "http://"+e.gw.Addr+"/_tnv/status", shareAK, shareSK); st != 200 || !strings.Contains(page, `data-id="`+id+`"`) {
		t.Fatalf("status page (%d) does not list the active link %s", st, id)
	}
	proctest.Run(t, "admin", "share", "revoke", id, "--db", e.dsn)
	revoked := time.Now()
	for {
		resp, _ := fetch(t, viewer("127.0.0.2"), "GET", url+"a.m3u8")
		if resp.StatusCode == 403 {
			break
		}
		if time.Since(revoked) > 1200*time.Millisecond {
			t.Fatalf("still served %v after tnv admin share revoke: %d", time.Since(revoked), resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if list = proctest.Run(t, "admin", "share", "list", "--db", e.dsn); !regexp.MustCompile(id + `.*revoked`).MatchString(list) {
		t.Fatalf("share list after revoke:\n%s", list)
	}
	if _, err := proctest.RunErr(t, "admin", "share", "create", "--bucket", "nofilms", "--expires-in", "1h", "--db", e.dsn); err == nil {
		t.Fatal("a link to no such bucket: want an error")
	}
}
