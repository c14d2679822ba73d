package gateway

import "strings"

// Default CORS (Config.CORSOrigins, tnv gateway/up --cors-origins): a
// bucket without CORS rules of its own answers cross-origin requests from
// these origins as if it had one rule allowing GET, HEAD, PUT, POST and
// DELETE with any request header and the headers players and upload
// scripts read exposed. A bucket's own rules always win: with rules and
// none matching, there are no CORS headers.

// defaultCORSExpose are the headers the default rule exposes to scripts,
// on top of exposeAlways.
var defaultCORSExpose = []string{"x-amz-version-id", "x-amz-delete-marker", "x-amz-id-2", "Last-Modified", "Location"}

// defaultCORSMaxAge is how long browsers may cache a preflight answered by
// the default rule.
const defaultCORSMaxAge = 3000

// newDefaultCORS builds the default rule from the configured origins (nil
// when there are none).
func newDefaultCORS(origins []string) *corsConfiguration {
	var list []string
	for _, o := range origins {
		if o = strings.TrimRight(strings.TrimSpace(o), "/"); o != "" {
			list = append(list, o)
		}
	}
	if len(list) == 0 {
		return nil
	}
	age := defaultCORSMaxAge
	return &corsConfiguration{CORSRule: []corsRule{{
		AllowedOrigin: list,
		AllowedMethod: []string{"GET", "HEAD", "PUT", "POST", "DELETE"},
		AllowedHeader: []string{"*"},
		ExposeHeader:  defaultCORSExpose,
		MaxAgeSeconds: &age,
	}}}
}

// corsRules are the CORS rules a bucket answers with: its own, or, when it
// has none, the default ones (nil: none at all).
func (g *Gateway) corsRules(b *Bucket) (*corsConfiguration, error) {
	if b != nil && b.CORS != "" {
		return g.corsOf(b)
	}
	return g.defaultCORS, nil
}
