package sigv4

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tnv-s3/tnv/s3err"
)

// Signature Version 2, as in the S3 documentation "Signing and
// Authenticating REST Requests":
//
//	StringToSign = HTTP-Verb \n Content-MD5 \n Content-Type \n Date \n
//	               CanonicalizedAmzHeaders CanonicalizedResource
//	Signature    = Base64(HMAC-SHA1(secret, StringToSign))
//
// Old tools (s3cmd, some rclone and minio-go configurations, appliances)
// still use it.

// v2SubResources are the query parameters that belong to the canonical
// resource, in byte order: the documented list plus those that minio-go
// and the S3-compatible servers sign.
var v2SubResources = []string{
	"acl", "cors", "delete", "encryption", "legal-hold", "lifecycle", "location",
	"logging", "notification", "partNumber", "policy", "replication", "requestPayment",
	"response-cache-control", "response-content-disposition", "response-content-encoding",
	"response-content-language", "response-content-type", "response-expires",
	"restore", "retention", "select", "select-type", "tagging", "torrent",
	"uploadId", "uploads", "versionId", "versioning", "versions", "website",
}

// V2Header is a parsed "AWS AKID:signature" Authorization header.
type V2Header struct {
	AccessKey string
	Signature string // base64
}

func errV2Malformed() *Error {
	return newError(s3err.InvalidArgument, "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature")
}

// ParseV2Authorization parses "AWS AKIAIOSFODNN7EXAMPLE:bWq2s1WE…=".
func ParseV2Authorization(h string) (*V2Header, error) {
	rest, ok := strings.CutPrefix(h, "AWS ")
	if !ok {
		return nil, errV2Malformed()
	}
	i := strings.LastIndexByte(rest, ':')
	if i <= 0 || i == len(rest)-1 {
		return nil, errV2Malformed()
	}
	ak, sig := strings.TrimSpace(rest[:i]), strings.TrimSpace(rest[i+1:])
	if ak == "" || !validV2Signature(sig) {
		return nil, errV2Malformed()
	}
	return &V2Header{AccessKey: ak, Signature: sig}, nil
}

// validV2Signature accepts the base64 of a 20-byte HMAC-SHA1.
func validV2Signature(s string) bool {
	b, err := base64.StdEncoding.DecodeString(s)
	return err == nil && len(b) == sha1.Size
}

// V2Query is a parsed SigV2 presigned query.
type V2Query struct {
	AccessKey string
	Signature string
	Expires   int64 // Unix seconds, as sent
}

// ParseV2Query reads AWSAccessKeyId, Signature and Expires.
func ParseV2Query(rawQuery string) (*V2Query, error) {
	q, err := url.ParseQuery(rawQuery)
	need := newError(s3err.AccessDenied, "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters")
	if err != nil {
		return nil, need
	}
	for _, k := range []string{"AWSAccessKeyId", "Signature", "Expires"} {
		if len(q[k]) != 1 || q[k][0] == "" {
			return nil, need
		}
	}
	exp, err := strconv.ParseInt(q.Get("Expires"), 10, 64)
	if err != nil || exp < 0 {
		return nil, newErrorf(s3err.AccessDenied, "Invalid date (should be seconds since epoch): %s", q.Get("Expires"))
	}
	if !validV2Signature(q.Get("Signature")) {
		return nil, errSignatureMismatch()
	}
	return &V2Query{AccessKey: q.Get("AWSAccessKeyId"), Signature: q.Get("Signature"), Expires: exp}, nil
}

func (v *Verifier) verifyHeaderV2(req *Request, header string, now time.Time) (*Result, error) {
	a, err := ParseV2Authorization(header)
	if err != nil {
		return nil, err
	}
	secret, err := v.secret(a.AccessKey)
	if err != nil {
		return nil, err
	}
	t, ok := v2RequestTime(req.Header)
	if !ok {
		return nil, newError(s3err.AccessDenied, msgNeedDate)
	}
	if d := now.Sub(t); d > v.maxSkew() || d < -v.maxSkew() {
		return nil, errDefault(s3err.RequestTimeTooSkewed).
			with("RequestTime", t.UTC().Format(time.RFC1123)).
			with("ServerTime", now.UTC().Format(time.RFC1123)).
			with("MaxAllowedSkewMilliseconds", "900000")
	}
	// The documentation says an x-amz-date header empties the Date line;
	// botocore and minio keep the Date header there anyway. Both are the
	// same request signed by the same key, so either form is accepted.
	dates := []string{req.Header.Get("Date")}
	if req.Header.Get("X-Amz-Date") != "" {
		dates = []string{"", req.Header.Get("Date")}
		if dates[1] == "" {
			dates = dates[:1]
		}
	}
	if err := checkV2(req, secret, a.AccessKey, a.Signature, dates); err != nil {
		return nil, err
	}
	r := &Result{Kind: AuthV2Header, AccessKey: a.AccessKey, Signature: a.Signature, Time: t}
	if err := unsignedPayloadMode(r, req.Header.Get("X-Amz-Content-Sha256")); err != nil {
		return nil, err
	}
	return r, nil
}

func (v *Verifier) verifyPresignedV2(req *Request, now time.Time) (*Result, error) {
	p, err := ParseV2Query(req.RawQuery)
	if err != nil {
		return nil, err
	}
	secret, err := v.secret(p.AccessKey)
	if err != nil {
		return nil, err
	}
	expires := time.Unix(p.Expires, 0)
	if now.After(expires) {
		return nil, newError(s3err.AccessDenied, msgExpired).
			with("Expires", expires.UTC().Format(time.RFC3339)).
			with("ServerTime", now.UTC().Format(time.RFC3339))
	}
	// The Date line of a presigned V2 request is the Expires value.
	if err := checkV2(req, secret, p.AccessKey, p.Signature, []string{strconv.FormatInt(p.Expires, 10)}); err != nil {
		return nil, err
	}
	r := &Result{Kind: AuthV2Presigned, AccessKey: p.AccessKey, Signature: p.Signature, Expires: expires}
	if err := unsignedPayloadMode(r, req.Header.Get("X-Amz-Content-Sha256")); err != nil {
		return nil, err
	}
	return r, nil
}

func v2RequestTime(h http.Header) (time.Time, bool) {
	for _, k := range []string{"X-Amz-Date", "Date"} {
		if s := h.Get(k); s != "" {
			if t, ok := parseHTTPDate(s); ok {
				return t, true
			}
			if t, err := time.Parse(amzDateFormat, s); err == nil {
				return t, true
			}
			return time.Time{}, false
		}
	}
	return time.Time{}, false
}

// checkV2 compares the signature with each candidate Date line.
func checkV2(req *Request, secret, accessKey, provided string, dates []string) *Error {
	var first string
	for _, date := range dates {
		sts := V2StringToSign(req, date)
		m := hmac.New(sha1.New, []byte(secret))
		m.Write([]byte(sts))
		want := base64.StdEncoding.EncodeToString(m.Sum(nil))
		if hmac.Equal([]byte(want), []byte(provided)) {
			return nil
		}
		if first == "" {
			first = sts
		}
	}
	return errSignatureMismatch().
		with("AWSAccessKeyId", accessKey).
		with("StringToSign", first).
		with("SignatureProvided", provided)
}

// V2StringToSign builds the SigV2 string to sign with the given Date line.
func V2StringToSign(req *Request, date string) string {
	var b strings.Builder
	b.WriteString(req.Method)
	b.WriteByte('\n')
	b.WriteString(req.Header.Get("Content-Md5"))
	b.WriteByte('\n')
	b.WriteString(req.Header.Get("Content-Type"))
	b.WriteByte('\n')
	b.WriteString(date)
	b.WriteByte('\n')
	b.WriteString(v2AmzHeaders(req.Header))
	b.WriteString(v2Resource(req))
	return b.String()
}

// v2AmzHeaders renders the x-amz-* headers: lowercase names in order,
// repeated values joined by commas, each value trimmed.
func v2AmzHeaders(h http.Header) string {
	m := map[string][]string{}
	for k, v := range h {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-amz-") {
			m[lk] = append(m[lk], v...)
		}
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n)
		b.WriteByte(':')
		for j, v := range m[n] {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strings.TrimSpace(v))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// v2Resource is [/bucket] + path as sent + the signed sub-resources, whose
// values are signed decoded.
func v2Resource(req *Request) string {
	var b strings.Builder
	if req.VirtualBucket != "" {
		b.WriteByte('/')
		b.WriteString(req.VirtualBucket)
	}
	p := req.Path
	if p == "" {
		p = "/"
	}
	b.WriteString(p)
	q, _ := url.ParseQuery(req.RawQuery)
	sep := byte('?')
	for _, name := range v2SubResources {
		vals, ok := q[name]
		if !ok {
			continue
		}
		b.WriteByte(sep)
		sep = '&'
		b.WriteString(name)
		if len(vals) > 0 && vals[0] != "" {
			b.WriteByte('=')
			b.WriteString(vals[0])
		}
	}
	return b.String()
}
