package gateway

import (
	"net/netip"
	"strings"
)

// objectURL is the absolute URL of the request's object, as S3 gives it in
// CompleteMultipartUpload's Location: the scheme and host the client
// used, the bucket in the host for a virtual-hosted-style request, and
// the key escaped as in a path. Behind one of Config.TrustedProxies,
// X-Forwarded-Proto and X-Forwarded-Host (or Forwarded's proto= and
// host=) name them; from anyone else they are ignored.
func (r *request) objectURL() string {
	scheme, host := "http", r.host
	if r.c.Context().IsTLS() {
		scheme = "https"
	}
	if ip, ok := netip.AddrFromSlice(r.c.Context().RemoteIP()); ok && r.g.trustedProxy(ip.Unmap()) {
		if p, h := forwardedProtoHost(r.header.Get("Forwarded")); p != "" || h != "" {
			scheme, host = pick(p, scheme), pick(h, host)
		} else {
			scheme = pick(strings.ToLower(firstHop(r.header.Get("X-Forwarded-Proto"))), scheme)
			host = pick(firstHop(r.header.Get("X-Forwarded-Host")), host)
		}
	}
	if scheme != "http" && scheme != "https" {
		scheme = "http"
	}
	path := "/" + s3URLEncodePath(r.key)
	if !r.vhost {
		path = "/" + r.bucketName + path
	}
	return scheme + "://" + host + path
}

func pick(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// firstHop is the first value of a comma-separated forwarding header: the
// one the first proxy, nearest the client, wrote.
func firstHop(v string) string {
	v, _, _ = strings.Cut(v, ",")
	return strings.TrimSpace(v)
}

// forwardedProtoHost reads proto= and host= of the first element of an
// RFC 7239 Forwarded header.
func forwardedProtoHost(v string) (proto, host string) {
	v, _, _ = strings.Cut(v, ",")
	for _, pair := range strings.Split(v, ";") {
		k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok {
			continue
		}
		val = strings.Trim(strings.TrimSpace(val), `"`)
		switch strings.ToLower(k) {
		case "proto":
			proto = strings.ToLower(val)
		case "host":
			host = val
		}
	}
	return proto, host
}

// s3URLEncodePath escapes a key for a URL path, keeping its slashes.
func s3URLEncodePath(key string) string {
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '-', c == '_', c == '.', c == '~', c == '/':
			b.WriteByte(c)
		default:
			b.WriteString("%" + strings.ToUpper(hexByte(c)))
		}
	}
	return b.String()
}

func hexByte(c byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[c>>4], digits[c&15]})
}
