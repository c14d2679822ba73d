package gateway

import (
	"strings"
	"testing"
)

// TestDefaultCORS_BucketsWithoutRules sends real preflight and actual
// cross-origin requests to buckets with and without CORS rules of their
// own, on gateways with and without Config.CORSOrigins.
func TestDefaultCORS_BucketsWithoutRules(t *testing.T) {
	e := newEnv(t, envOpt{memory: true, corsOrigins: []string{"http://a.test", " https://b.test/ "}})
	e.mkBucket("plain")
	e.mkBucket("ruled")
	e.put("plain", "k", []byte("hello"))
	e.put("ruled", "k", []byte("hello"))
	resp, body := e.signed("PUT", "/ruled?cors", map[string]string{"Content-MD5": b64md5([]byte(corsXML))}, []byte(corsXML))
	if resp.StatusCode != 200 {
		t.Fatalf("PutBucketCors: %d %s", resp.StatusCode, body)
	}
	preflight := func(bucket, origin, method, headers string) (int, map[string]string) {
		h := map[string]string{"Origin": origin, "Access-Control-Request-Method": method}
		if headers != "" {
			h["Access-Control-Request-Headers"] = headers
		}
		resp, _ := e.do("OPTIONS", e.endpoint+"/"+bucket+"/k", h, nil)
		out := map[string]string{}
		for k := range resp.Header {
			out[k] = resp.Header.Get(k)
		}
		return resp.StatusCode, out
	}
	for _, m := range []string{"GET", "HEAD", "PUT", "POST", "DELETE"} {
		st, h := preflight("plain", "http://a.test", m, "content-type, x-amz-meta-note, range")
		if st != 200 || h["Access-Control-Allow-Origin"] != "http://a.test" || !strings.Contains(h["Access-Control-Allow-Methods"], m) ||
			h["Access-Control-Allow-Headers"] != "content-type, x-amz-meta-note, range" || h["Access-Control-Max-Age"] != "3000" {
			t.Fatalf("default preflight %s: %d %v", m, st, h)
		}
	}
	if st, h := preflight("plain", "https://b.test", "PUT", ""); st != 200 || h["Access-Control-Allow-Origin"] != "https://b.test" {
		t.Fatalf("second origin: %d %v", st, h)
	}
	if st, h := preflight("plain", "http://evil.test", "GET", ""); st != 403 || h["Access-Control-Allow-Origin"] != "" {
		t.Fatalf("unlisted origin: %d %v", st, h)
	}
	if st, _ := preflight("plain", "http://a.test", "PATCH", ""); st != 403 {
		t.Fatalf("PATCH allowed: %d", st)
	}
	// The bucket's own rules win: a.test is not among them.
	if st, h := preflight("ruled", "http://a.test", "GET", ""); st != 403 || h["Access-Control-Allow-Origin"] != "" {
		t.Fatalf("own rules lost to the default: %d %v", st, h)
	}
	if st, h := preflight("ruled", "https://player.example", "GET", "range"); st != 200 || h["Access-Control-Allow-Origin"] != "https://player.example" {
		t.Fatalf("own rule: %d %v", st, h)
	}

	// Actual requests (anonymous GETs are refused, the answer still
	// carries CORS headers so that a script can read the error; signed ones
	// succeed).
	get := func(bucket, origin string) map[string]string {
		resp, _ := e.signed("GET", "/"+bucket+"/k", map[string]string{"Origin": origin}, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", bucket, resp.StatusCode)
		}
		out := map[string]string{}
		for k := range resp.Header {
			out[k] = resp.Header.Get(k)
		}
		return out
	}
	h := get("plain", "http://a.test")
	exposed := strings.ToLower(h["Access-Control-Expose-Headers"])
	for _, want := range []string{"etag", "content-length", "content-range", "accept-ranges", "x-amz-version-id", "x-amz-request-id", "x-amz-delete-marker"} {
		if !strings.Contains(exposed, want) {
			t.Fatalf("exposed headers %q lack %s", exposed, want)
		}
	}
	if h["Access-Control-Allow-Origin"] != "http://a.test" || !strings.Contains(h["Vary"], "Origin") {
		t.Fatalf("default GET headers %v", h)
	}
	if h := get("plain", "http://evil.test"); h["Access-Control-Allow-Origin"] != "" {
		t.Fatalf("unlisted origin got %v", h)
	}
	if h := get("ruled", "http://a.test"); h["Access-Control-Allow-Origin"] != "" {
		t.Fatalf("bucket with rules answered the default origin: %v", h)
	}
	resp, _ = e.do("GET", e.endpoint+"/plain/k", map[string]string{"Origin": "http://a.test"}, nil)
	if resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "http://a.test" {
		t.Fatalf("anonymous refusal: %d %v", resp.StatusCode, resp.Header)
	}

	// "*" allows any origin; no origins, no default.
	star := newEnv(t, envOpt{memory: true, corsOrigins: []string{"*"}})
	star.mkBucket("plain")
	resp, _ = star.do("OPTIONS", star.endpoint+"/plain/k", map[string]string{"Origin": "http://anything.test", "Access-Control-Request-Method": "PUT"}, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "*" || resp.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("*: %d %v", resp.StatusCode, resp.Header)
	}
	none := newEnv(t, envOpt{memory: true})
	none.mkBucket("plain")
	resp, _ = none.do("OPTIONS", none.endpoint+"/plain/k", map[string]string{"Origin": "http://a.test", "Access-Control-Request-Method": "GET"}, nil)
	if resp.StatusCode != 403 {
		t.Fatalf("no default: %d %v", resp.StatusCode, resp.Header)
	}
}
