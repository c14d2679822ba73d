package compat

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
)

// startBreakingProxy puts a reverse proxy in front of e that breaks the
// responses the way a faulty gateway would, so that one can see which tests
// catch it (TNV_COMPAT_BREAK, comma-separated):
//
//	etag-quotes    ETag headers without their quotes
//	accept-ranges  no Accept-Ranges header
//	content-range  no Content-Range header on 206 responses
//	cors           no Access-Control-* headers
//
// The Host header is kept, so signatures made for the proxy's address still
// verify at the endpoint.
func startBreakingProxy(e *Endpoint, spec string) (*Endpoint, error) {
	breaks := map[string]bool{}
	for _, b := range strings.Split(spec, ",") {
		b = strings.TrimSpace(b)
		switch b {
		case "etag-quotes", "accept-ranges", "content-range", "cors":
			breaks[b] = true
		case "":
		default:
			return nil, fmt.Errorf("TNV_COMPAT_BREAK: unknown break %q", b)
		}
	}
	target, err := url.Parse(e.URL)
	if err != nil {
		return nil, err
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
		},
		ModifyResponse: func(r *http.Response) error {
			h := r.Header
			if breaks["etag-quotes"] {
				if v := h.Get("ETag"); v != "" {
					h.Set("ETag", strings.Trim(v, `"`))
				}
			}
			if breaks["accept-ranges"] {
				h.Del("Accept-Ranges")
			}
			if breaks["content-range"] && r.StatusCode == http.StatusPartialContent {
				h.Del("Content-Range")
			}
			if breaks["cors"] {
				for k := range h {
					if strings.HasPrefix(k, "Access-Control-") {
						h.Del(k)
					}
				}
			}
			return nil
		},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go http.Serve(ln, rp)
	p := *e
	p.Host = ln.Addr().String()
	p.URL = "http://" + p.Host
	fmt.Fprintf(os.Stderr, "compat: TNV_COMPAT_BREAK=%s: proxy %s in front of %s\n", spec, p.URL, e.URL)
	return &p, nil
}
