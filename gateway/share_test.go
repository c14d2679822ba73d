package gateway

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"
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
