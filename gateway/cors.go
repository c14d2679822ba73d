package gateway

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/tnv-s3/tnv/s3err"
)

// Headers every CORS response exposes to scripts, on top of the rule's
// own: what a video player or a ranged fetch needs to read.
var exposeAlways = []string{"Content-Range", "Accept-Ranges", "Content-Length", "ETag", "x-amz-request-id"}

func (g *Gateway) putBucketCors(r *request) error {
	if err := requireDigest(r.header); err != nil {
		return err
	}
	b, err := r.readXML(64 << 10)
	if err != nil {
		return err
	}
	if _, err := parseCORS(b); err != nil {
		return err
	}
	if err := g.idx.SetCORS(r.ctx, r.bucketName, string(b)); err != nil {
		return errInternal(err)
	}
	return r.c.Status(http.StatusOK).Send(nil) // SendStatus would add a text body
}

func (g *Gateway) getBucketCors(r *request) error {
	if r.bucket.CORS == "" {
		return errCode(s3err.NoSuchCORSConfiguration)
	}
	c, err := g.corsOf(r.bucket)
	if err != nil || c == nil {
		return errCode(s3err.NoSuchCORSConfiguration)
	}
	out := *c
	out.Xmlns = xmlns
	return r.sendXML(http.StatusOK, out)
}

func (g *Gateway) deleteBucketCors(r *request) error {
	if err := g.idx.SetCORS(r.ctx, r.bucketName, ""); err != nil {
		return errInternal(err)
	}
	return r.c.Status(http.StatusNoContent).Send(nil) // SendStatus would add a text body
}

// corsCache holds parsed configurations by their stored text.
var corsCache sync.Map // string -> *corsConfiguration

func (g *Gateway) corsOf(b *Bucket) (*corsConfiguration, error) {
	if b == nil || b.CORS == "" {
		return nil, nil
	}
	if c, ok := corsCache.Load(b.CORS); ok {
		return c.(*corsConfiguration), nil
	}
	c, err := parseCORS([]byte(b.CORS))
	if err != nil {
		return nil, err
	}
	corsCache.Store(b.CORS, c)
	return c, nil
}

// wildMatch matches s against a pattern with at most one '*'.
func wildMatch(pattern, s string, fold bool) bool {
	if fold {
		pattern, s = strings.ToLower(pattern), strings.ToLower(s)
	}
	pre, suf, wild := strings.Cut(pattern, "*")
	if !wild {
		return pattern == s
	}
	return len(s) >= len(pre)+len(suf) && strings.HasPrefix(s, pre) && strings.HasSuffix(s, suf)
}

// matchRule finds the first rule allowing origin, method and headers.
func (c *corsConfiguration) matchRule(origin, method string, hdrs []string) (*corsRule, string) {
	for i := range c.CORSRule {
		rule := &c.CORSRule[i]
		allowOrigin := ""
		for _, o := range rule.AllowedOrigin {
			if wildMatch(o, origin, false) {
				allowOrigin = origin
				if o == "*" {
					allowOrigin = "*"
				}
				break
			}
		}
		if allowOrigin == "" {
			continue
		}
		methodOK := false
		for _, m := range rule.AllowedMethod {
			if m == method {
				methodOK = true
			}
		}
		if !methodOK {
			continue
		}
		headersOK := true
		for _, h := range hdrs {
			ok := false
			for _, a := range rule.AllowedHeader {
				if wildMatch(a, h, true) {
					ok = true
					break
				}
			}
			if !ok {
				headersOK = false
				break
			}
		}
		if headersOK {
			return rule, allowOrigin
		}
	}
	return nil, ""
}

func (r *request) setCORSHeaders(rule *corsRule, allowOrigin string) {
	r.c.Set("Access-Control-Allow-Origin", allowOrigin)
	if allowOrigin != "*" {
		r.c.Set("Access-Control-Allow-Credentials", "true")
	}
	r.c.Set("Access-Control-Allow-Methods", strings.Join(rule.AllowedMethod, ", "))
	expose := append([]string(nil), exposeAlways...)
	for _, h := range rule.ExposeHeader {
		dup := false
		for _, e := range expose {
			if strings.EqualFold(e, h) {
				dup = true
			}
		}
		if !dup {
			expose = append(expose, h)
		}
	}
	r.c.Set("Access-Control-Expose-Headers", strings.Join(expose, ", "))
	if rule.MaxAgeSeconds != nil {
		r.c.Set("Access-Control-Max-Age", strconv.Itoa(*rule.MaxAgeSeconds))
	}
}

// applyCORS adds the CORS headers of the bucket's matching rule to any
// response, errors included, so that scripts can read what happened.
func (r *request) applyCORS() {
	origin := r.header.Get("Origin")
	if origin == "" || r.method == "OPTIONS" || r.bucketName == "" || !validBucketName(r.bucketName) {
		return
	}
	b := r.bucket
	if b == nil {
		var err error
		if b, err = r.g.idx.Bucket(r.ctx, r.bucketName); err != nil {
			return
		}
	}
	c, err := r.g.corsRules(b)
	if err != nil || c == nil {
		return
	}
	r.c.Append("Vary", "Origin")
	if rule, allow := c.matchRule(origin, r.method, nil); rule != nil {
		r.setCORSHeaders(rule, allow)
	}
}

// preflight answers OPTIONS without authentication, from the bucket's
// CORS rules.
func (g *Gateway) preflight(r *request) error {
	origin := r.header.Get("Origin")
	method := r.header.Get("Access-Control-Request-Method")
	if origin == "" || method == "" {
		return errMsg(s3err.BadRequest, "Insufficient information. Origin request header needed.")
	}
	if r.bucketName == "" || !validBucketName(r.bucketName) {
		return errCode(s3err.AccessForbidden)
	}
	b, err := g.idx.Bucket(r.ctx, r.bucketName)
	if errors.Is(err, errNotFound) {
		return errCode(s3err.NoSuchBucket)
	}
	if err != nil {
		return errInternal(err)
	}
	r.bucket = b
	c, err := g.corsRules(b)
	if err != nil || c == nil {
		return errCode(s3err.AccessForbidden)
	}
	var hdrs []string
	for _, h := range strings.Split(r.header.Get("Access-Control-Request-Headers"), ",") {
		if h = strings.TrimSpace(h); h != "" {
			hdrs = append(hdrs, h)
		}
	}
	rule, allow := c.matchRule(origin, method, hdrs)
	if rule == nil {
		return errCode(s3err.AccessForbidden)
	}
	r.setCORSHeaders(rule, allow)
	if len(hdrs) > 0 {
		r.c.Set("Access-Control-Allow-Headers", strings.Join(hdrs, ", "))
	}
	r.c.Set("Vary", "Origin, Access-Control-Request-Headers, Access-Control-Request-Method")
	return r.c.Status(http.StatusOK).Send(nil) // SendStatus would add a text body
}
