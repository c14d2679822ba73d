package sigv4

import (
	"net/http"
	"strings"
	"time"

	"github.com/tnv-s3/tnv/s3err"
)

// Authorization is a parsed SigV4 Authorization header.
type Authorization struct {
	AccessKey     string
	Date          string // YYYYMMDD from the credential scope
	Region        string
	Service       string
	SignedHeaders []string
	Signature     string // 64 lowercase hex digits
}

// Scope is the credential scope the signature was made for.
func (a *Authorization) Scope() string {
	return credential{a.AccessKey, a.Date, a.Region, a.Service}.scope()
}

func errHeaderMalformed(detail string) *Error {
	return newError(s3err.AuthorizationHeaderMalformed, "The authorization header is malformed; "+detail)
}

// ParseAuthorization parses
//
//	AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/s3/aws4_request,
//	SignedHeaders=host;range;x-amz-date, Signature=fe5f80f7…
//
// Components are separated by commas with optional spaces (clients differ)
// and must each appear exactly once.
func ParseAuthorization(h string) (*Authorization, error) {
	rest, ok := strings.CutPrefix(h, algorithmV4)
	if !ok || rest == "" || rest[0] != ' ' {
		return nil, errHeaderMalformed("the authorization header requires the algorithm AWS4-HMAC-SHA256.")
	}
	var cred, signed, sig string
	var have [3]bool
	for _, part := range strings.Split(rest, ",") {
		part = strings.Trim(part, " ")
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return nil, errHeaderMalformed("the authorization component \"" + part + "\" is malformed.")
		}
		var dst *string
		var i int
		switch k {
		case "Credential":
			dst, i = &cred, 0
		case "SignedHeaders":
			dst, i = &signed, 1
		case "Signature":
			dst, i = &sig, 2
		default:
			return nil, errHeaderMalformed("the authorization component \"" + part + "\" is malformed.")
		}
		if have[i] {
			return nil, errHeaderMalformed("the authorization component \"" + k + "\" appears more than once.")
		}
		have[i], *dst = true, v
	}
	for i, name := range []string{"Credential", "SignedHeaders", "Signature"} {
		if !have[i] {
			return nil, errHeaderMalformed("the authorization header requires the \"" + name + "\" component.")
		}
	}
	c, msg := parseCredential(cred)
	if msg != "" {
		return nil, errHeaderMalformed(msg)
	}
	names, ok := parseSignedHeaders(signed)
	if !ok {
		return nil, errHeaderMalformed("the SignedHeaders component is malformed.")
	}
	if !isLowerHex(sig, 64) {
		return nil, errHeaderMalformed("the Signature component must be 64 lowercase hexadecimal digits.")
	}
	return &Authorization{
		AccessKey: c.accessKey, Date: c.date, Region: c.region, Service: c.service,
		SignedHeaders: names, Signature: sig,
	}, nil
}

// requestTime reads X-Amz-Date (ISO 8601 basic) or, failing that, Date
// (any HTTP date format) for header-signed requests.
func requestTime(h http.Header) (time.Time, string, bool) {
	if s := h.Get("X-Amz-Date"); s != "" {
		t, err := time.Parse(amzDateFormat, s)
		return t, "x-amz-date", err == nil
	}
	if s := h.Get("Date"); s != "" {
		t, ok := parseHTTPDate(s)
		return t, "date", ok
	}
	return time.Time{}, "", false
}

func (v *Verifier) checkRegion(region string, malformed func(string) *Error) *Error {
	if v.Region != "" && region != v.Region {
		return malformed("the region '"+region+"' is wrong; expecting '"+v.Region+"'").with("Region", v.Region)
	}
	return nil
}

func (v *Verifier) verifyHeaderV4(req *Request, header string, now time.Time) (*Result, error) {
	a, err := ParseAuthorization(header)
	if err != nil {
		return nil, err
	}
	if e := v.checkRegion(a.Region, errHeaderMalformed); e != nil {
		return nil, e
	}
	secret, err := v.secret(a.AccessKey)
	if err != nil {
		return nil, err
	}
	t, dateHeader, ok := requestTime(req.Header)
	if !ok {
		return nil, newError(s3err.AccessDenied, msgNeedDate)
	}
	if t.Format(dateStampFmt) != a.Date {
		return nil, errHeaderMalformed("Invalid credential date. Date is not the same as X-Amz-Date.")
	}
	if d := now.Sub(t); d > v.maxSkew() || d < -v.maxSkew() {
		return nil, errDefault(s3err.RequestTimeTooSkewed).
			with("RequestTime", t.UTC().Format(time.RFC1123)).
			with("ServerTime", now.UTC().Format(time.RFC1123)).
			with("MaxAllowedSkewMilliseconds", "900000")
	}
	if e := checkSignedHeaders(req, a.SignedHeaders); e != nil {
		return nil, e
	}
	if dateHeader == "date" && !contains(a.SignedHeaders, "date") {
		return nil, newError(s3err.AccessDenied, msgUnsignedHeaders).with("HeadersNotSigned", "date")
	}
	declared := req.Header.Get("X-Amz-Content-Sha256")
	if declared == "" {
		return nil, newError(s3err.InvalidRequest, "Missing required header for this request: x-amz-content-sha256")
	}
	mode, err := parsePayloadMode(declared)
	if err != nil {
		return nil, err
	}
	query, ok := canonicalQuery(req.RawQuery, "")
	if !ok {
		return nil, errSignatureMismatch()
	}
	res, err := checkV4(req, credential{a.AccessKey, a.Date, a.Region, a.Service}, a.SignedHeaders, a.Signature,
		declared, query, t.Format(amzDateFormat), secret)
	if err != nil {
		return nil, err
	}
	res.Kind, res.Payload, res.ContentSHA256, res.Time = AuthV4Header, mode, declared, t
	return res, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// parseHTTPDate accepts the HTTP date formats and RFC 1123 with a numeric
// zone ("Tue, 27 Mar 2007 19:36:42 +0000"), which S3 clients send too.
func parseHTTPDate(s string) (time.Time, bool) {
	if t, err := http.ParseTime(s); err == nil {
		return t.UTC(), true
	}
	for _, layout := range []string{time.RFC1123Z, time.RFC1123} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}
