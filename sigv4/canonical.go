package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tnv-s3/tnv/s3err"
)

const (
	algorithmV4   = "AWS4-HMAC-SHA256"
	amzDateFormat = "20060102T150405Z"
	dateStampFmt  = "20060102"
	scopeEnd      = "aws4_request"
	serviceS3     = "s3"
	// emptySHA256 is hex(SHA-256("")), the header hash of an S3 chunk.
	emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// SigningKey derives the SigV4 key for a day, region and service. The
// derivation (four HMACs, most of a small request's SigV4 cost) is done
// once per secret, day, region and service and kept (signingKeys); the
// slice returned is shared and must not be modified.
func SigningKey(secret, dateStamp, region, service string) []byte {
	// Lengths first: no two scopes share an id, whatever bytes they hold.
	id := strconv.Itoa(len(secret)) + "," + strconv.Itoa(len(dateStamp)) + "," + strconv.Itoa(len(region)) + ":" +
		secret + dateStamp + region + service
	signingKeys.Lock()
	k, ok := signingKeys.m[id]
	signingKeys.Unlock()
	if ok {
		return k
	}
	k = deriveSigningKey(secret, dateStamp, region, service)
	signingKeys.Lock()
	if len(signingKeys.m) >= maxSigningKeys {
		clear(signingKeys.m) // a day's keys come back at the next request
	}
	signingKeys.m[id] = k
	signingKeys.Unlock()
	return k
}

// maxSigningKeys bounds signingKeys: a few keys a day in use at a time,
// more only when many access keys or regions are; it is emptied when full.
const maxSigningKeys = 1024

// signingKeys holds derived keys by secret, day, region and service.
var signingKeys = struct {
	sync.Mutex
	m map[string][]byte
}{m: map[string][]byte{}}

func deriveSigningKey(secret, dateStamp, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), dateStamp)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, scopeEnd)
}

// credential is the parsed X-Amz-Credential / Credential= value.
type credential struct {
	accessKey, date, region, service string
}

func (c credential) scope() string {
	return c.date + "/" + c.region + "/" + c.service + "/" + scopeEnd
}

// parseCredential splits "AKID/20130524/us-east-1/s3/aws4_request". The
// returned message completes "…the Credential is mal-formed" style errors.
func parseCredential(s string) (credential, string) {
	parts := strings.Split(s, "/")
	if len(parts) != 5 {
		return credential{}, "the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\"."
	}
	c := credential{parts[0], parts[1], parts[2], parts[3]}
	if c.accessKey == "" || c.region == "" {
		return credential{}, "the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\"."
	}
	if _, err := time.Parse(dateStampFmt, c.date); err != nil || len(c.date) != 8 {
		return credential{}, "incorrect date format \"" + c.date + "\". This date in the credential must be in the format \"yyyyMMdd\"."
	}
	if c.service != serviceS3 {
		return credential{}, "incorrect service \"" + c.service + "\". This endpoint belongs to \"s3\"."
	}
	if parts[4] != scopeEnd {
		return credential{}, "incorrect terminal \"" + parts[4] + "\". This endpoint uses \"aws4_request\"."
	}
	return c, ""
}

// parseSignedHeaders checks "host;range;x-amz-date": non-empty lowercase
// names without repeats. Their order is kept: it is the canonical order
// the client used.
func parseSignedHeaders(s string) ([]string, bool) {
	if s == "" {
		return nil, false
	}
	names := strings.Split(s, ";")
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if n == "" || seen[n] || !isTokenLower(n) {
			return nil, false
		}
		seen[n] = true
	}
	return names, true
}

func isTokenLower(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || c <= ' ' || c >= 0x7f || c == ':' || c == ';' || c == ',' {
			return false
		}
	}
	return true
}

// checkSignedHeaders enforces what S3 enforces: host, and every x-amz-*
// header the request carries, must be covered by the signature.
// Otherwise a proxy could add, say, x-amz-acl: public-read to a signed
// request.
func checkSignedHeaders(req *Request, signed []string) *Error {
	in := make(map[string]bool, len(signed))
	for _, s := range signed {
		in[s] = true
	}
	var missing []string
	if !in["host"] {
		missing = append(missing, "host")
	}
	for k := range req.Header {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "x-amz-") && !in[lk] {
			missing = append(missing, lk)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	sort.Strings(missing)
	return newError(s3err.AccessDenied, msgUnsignedHeaders).with("HeadersNotSigned", strings.Join(missing, ", "))
}

// canonicalHeaders renders "name:value\n" for each signed header, values
// trimmed with inner runs of spaces collapsed, repeated headers joined
// with commas.
func canonicalHeaders(req *Request, signed []string) string {
	var b strings.Builder
	for _, name := range signed {
		b.WriteString(name)
		b.WriteByte(':')
		var values []string
		if name == "host" {
			h := req.Host
			if h == "" {
				h = req.Header.Get("Host")
			}
			values = []string{h}
		} else {
			values = req.Header.Values(name)
		}
		// Some front ends swallow "Expect: 100-continue" after answering
		// it; clients that sign it (botocore does) always send this value.
		if name == "expect" && len(values) == 0 {
			values = []string{"100-continue"}
		}
		for i, v := range values {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(trimAll(v))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// trimAll trims v and collapses each run of spaces inside it to one.
func trimAll(v string) string {
	v = strings.TrimSpace(v)
	if !strings.Contains(v, "  ") {
		return v
	}
	var b strings.Builder
	space := false
	for i := 0; i < len(v); i++ {
		if v[i] == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// canonicalURIs returns the canonical URI of a raw S3 path, and a second
// candidate when that differs from the path as sent. S3 does not
// normalise paths or encode them twice: the canonical URI is the path
// with every byte outside the unreserved set percent-encoded once. A
// client that sent "$" signed "%24" (AWS's own PUT example); a client
// that sent lowercase escapes may have signed them as sent; both are
// the same request, so either may match.
func canonicalURIs(raw string) (string, string) {
	if raw == "" {
		raw = "/"
	}
	segs := strings.Split(raw, "/")
	for i, s := range segs {
		if d, err := url.PathUnescape(s); err == nil {
			segs[i] = uriEncode(d)
		} else {
			segs[i] = s
		}
	}
	c := strings.Join(segs, "/")
	if c == raw {
		return c, ""
	}
	return c, raw
}

// uriEncode percent-encodes every byte except A-Z a-z 0-9 - _ . ~, with
// uppercase hex, as SigV4 specifies.
func uriEncode(s string) string {
	const hexUpper = "0123456789ABCDEF"
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			b = append(b, c)
		} else {
			b = append(b, '%', hexUpper[c>>4], hexUpper[c&15])
		}
	}
	return string(b)
}

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}

// canonicalQuery decodes each parameter of the raw query, re-encodes it
// per SigV4 and sorts by name then value. skip names a parameter left out
// (X-Amz-Signature of a presigned URL). A '+' decodes to a space, as the
// AWS SDKs read it.
func canonicalQuery(raw, skip string) (string, bool) {
	if raw == "" {
		return "", true
	}
	type kv struct{ k, v string }
	var pairs []kv
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		dk, err1 := url.QueryUnescape(k)
		dv, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return "", false
		}
		if dk == skip {
			continue
		}
		pairs = append(pairs, kv{uriEncode(dk), uriEncode(dv)})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String(), true
}

// v4Input is everything a SigV4 signature covers besides the key.
// checkV4 checks a SigV4 signature (either form) over the canonical request
// of req and returns the Result fields both forms share; the caller sets
// Kind and what is its own.
func checkV4(req *Request, c credential, signedHeaders []string, signature, payload, query, amzDate, secret string) (*Result, error) {
	uri, alt := canonicalURIs(req.Path)
	in := &v4Input{
		method: req.Method, uri: uri, altURI: alt, query: query,
		headers:       canonicalHeaders(req, signedHeaders),
		signedHeaders: strings.Join(signedHeaders, ";"),
		payload:       payload,
		amzDate:       amzDate, scope: c.scope(),
	}
	key := SigningKey(secret, c.date, c.region, c.service)
	if e := in.check(key, signature, c.accessKey); e != nil {
		return nil, e
	}
	return &Result{
		AccessKey: c.accessKey, SignedHeaders: signedHeaders,
		Signature: signature, SigningKey: key, Scope: in.scope, AmzDate: amzDate,
		Region: c.region, Service: c.service,
	}, nil
}

type v4Input struct {
	method, query, headers, signedHeaders, payload string
	uri, altURI                                    string
	amzDate, scope                                 string
}

func (in *v4Input) canonicalRequest(uri string) string {
	return in.method + "\n" + uri + "\n" + in.query + "\n" + in.headers + "\n" +
		in.signedHeaders + "\n" + in.payload
}

func (in *v4Input) stringToSign(canonical string) string {
	return algorithmV4 + "\n" + in.amzDate + "\n" + in.scope + "\n" + sha256Hex(canonical)
}

// check compares the client's hex signature with ours in constant time,
// trying the alternative canonical URI when there is one. On a mismatch
// the error carries what AWS reports, so a client author can compare.
func (in *v4Input) check(key []byte, provided, accessKey string) *Error {
	got := []byte(provided)
	var first, firstCanon string
	for _, uri := range []string{in.uri, in.altURI} {
		if uri == "" {
			continue
		}
		canon := in.canonicalRequest(uri)
		sts := in.stringToSign(canon)
		want := hex.EncodeToString(hmacSHA256(key, sts))
		if hmac.Equal([]byte(want), got) {
			return nil
		}
		if first == "" {
			first, firstCanon = sts, canon
		}
	}
	return errSignatureMismatch().
		with("AWSAccessKeyId", accessKey).
		with("StringToSign", first).
		with("SignatureProvided", provided).
		with("CanonicalRequest", firstCanon)
}
