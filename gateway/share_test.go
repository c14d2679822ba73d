package gateway

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

func (e *env) makeShare(body string) shareResponse {
	e.t.Helper()
	resp, b := e.signed("POST", "/_tnv/share", map[string]string{"Content-Type": "application/json"}, []byte(body))
	if resp.StatusCode != 201 {
		e.t.Fatalf("POST /_tnv/share: %d %s", resp.StatusCode, b)
	}
	var m shareResponse
	must(e.t, json.Unmarshal(b, &m))
	return m
}

// TestShare_RateCapsTheViewer reads 256 KiB through a link capped at
// 128 KiB/s: about 2 s, evenly; and two requests of one viewer at once
// share the cap.
func TestShare_RateCapsTheViewer(t *testing.T) {
	e := newEnv(t, envOpt{memory: true})
	e.mkBucket("films")
	data := randBytes(256 << 10)
	e.put("films", "v/big.bin", data)
	m := e.makeShare(`{"bucket": "films", "prefix": "v/", "expires_in": 60, "rate": 131072}`)
	start := time.Now()
	resp, err := http.Get(m.URL + "big.bin")
	must(t, err)
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if err != nil || resp.StatusCode != 200 || len(b) != len(data) {
		t.Fatalf("GET: %d, %d bytes, %v", resp.StatusCode, len(b), err)
	}
	t.Logf("256 KiB at 128 KiB/s: %v", took)
	if took < 1700*time.Millisecond || took > 3*time.Second {
		t.Fatalf("took %v, want about 2 s", took)
	}
}

// TestShare_RateIsPerViewer: two requests of one viewer at once share the
// viewer's cap (2 x 128 KiB at 128 KiB/s: about 2 s, not 1 s).
func TestShare_RateIsPerViewer(t *testing.T) {
	e := newEnv(t, envOpt{memory: true})
	e.mkBucket("films")
	e.put("films", "v/a.bin", randBytes(128<<10))
	e.put("films", "v/b.bin", randBytes(128<<10))
	m := e.makeShare(`{"bucket": "films", "prefix": "v/", "expires_in": 60, "rate": 131072}`)
	start := time.Now()
	done := make(chan int, 2)
	for _, k := range []string{"a.bin", "b.bin"} {
		go func() {
			resp, err := http.Get(m.URL + k)
			if err != nil {
				done <- -1
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			done <- len(b)
		}()
	}
	for range 2 {
		if n := <-done; n != 128<<10 {
			t.Fatalf("a read got %d bytes", n)
		}
	}
	took := time.Since(start)
	t.Logf("2 x 128 KiB at once, one viewer at 128 KiB/s: %v", took)
	if took < 1700*time.Millisecond || took > 3*time.Second {
		t.Fatalf("took %v, want about 2 s (the cap is the viewer's, not each request's)", took)
	}
}

// TestShare_RecreatedBucketIsNotShared: a link outlives its bucket's
// deletion only as a refusal; a bucket of the same name made later (maybe
// by another user) is not reachable through it.
func TestShare_RecreatedBucketIsNotShared(t *testing.T) {
	e := newEnv(t, envOpt{memory: true})
	e.mkBucket("films")
	e.put("films", "v/a.txt", []byte("old"))
	m := e.makeShare(`{"bucket": "films", "prefix": "v/", "expires_in": 60}`)
	if resp, b := e.do("GET", m.URL+"a.txt", nil, nil); resp.StatusCode != 200 || string(b) != "old" {
		t.Fatalf("GET: %d %q", resp.StatusCode, b)
	}
	if resp, b := e.signed("DELETE", "/films/v/a.txt", nil, nil); resp.StatusCode != 204 {
		t.Fatalf("delete object: %d %s", resp.StatusCode, b)
	}
	if resp, b := e.signed("DELETE", "/films", nil, nil); resp.StatusCode != 204 {
		t.Fatalf("delete bucket: %d %s", resp.StatusCode, b)
	}
	if resp, _ := e.do("GET", m.URL+"a.txt", nil, nil); resp.StatusCode != 404 {
		t.Fatalf("GET with the bucket gone: %d, want 404", resp.StatusCode)
	}
	e.mkBucket("films")
	e.put("films", "v/a.txt", []byte("new"))
	if resp, b := e.do("GET", m.URL+"a.txt", nil, nil); resp.StatusCode != 403 || string(b) == "new" {
		t.Fatalf("GET of the new bucket through the old link: %d %q, want 403", resp.StatusCode, b)
	}
}

// TestClientAddr_TrustedProxies: X-Forwarded-For counts only from a
// trusted peer, and then its rightmost hop that is not a trusted proxy.
func TestClientAddr_TrustedProxies(t *testing.T) {
	g := &Gateway{cfg: Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}}
	app := fiber.New()
	for _, c := range []struct {
		peer string
		xff  []string
		want string
	}{
		{"192.0.2.1", nil, "192.0.2.1"},
		{"192.0.2.1", []string{"198.51.100.7"}, "192.0.2.1"},                          // untrusted peer: header ignored
		{"10.1.2.3", nil, "10.1.2.3"},                                                 // trusted peer, no header
		{"10.1.2.3", []string{"198.51.100.7"}, "198.51.100.7"},                        // one proxy
		{"10.1.2.3", []string{"203.0.113.9, 198.51.100.7"}, "198.51.100.7"},           // spoofed left hop ignored
		{"10.1.2.3", []string{"203.0.113.9, 198.51.100.7, 10.9.9.9"}, "198.51.100.7"}, // two proxies
		{"10.1.2.3", []string{"203.0.113.9", "198.51.100.7"}, "198.51.100.7"},         // several headers
		{"10.1.2.3", []string{"10.7.7.7, 10.8.8.8"}, "10.7.7.7"},                      // all trusted: the leftmost
		{"10.1.2.3", []string{"198.51.100.7, junk"}, "10.1.2.3"},                      // malformed last hop: the peer
		{"10.1.2.3", []string{"::ffff:198.51.100.7"}, "198.51.100.7"},                 // mapped addresses unmapped
		{"::1", []string{"2001:db8::5"}, "2001:db8::5"},
	} {
		var fc fasthttp.RequestCtx
		var req fasthttp.Request
		for _, h := range c.xff {
			req.Header.Add("X-Forwarded-For", h)
		}
		ip := net.ParseIP(c.peer)
		fc.Init(&req, &net.TCPAddr{IP: ip, Port: 1234}, nil)
		ctx := app.AcquireCtx(&fc)
		if got := g.clientAddr(ctx); got != c.want {
			t.Errorf("peer %s, X-Forwarded-For %q: %s, want %s", c.peer, c.xff, got, c.want)
		}
		app.ReleaseCtx(ctx)
	}
}
