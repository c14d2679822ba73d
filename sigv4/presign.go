package sigv4

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tnv-s3/tnv/s3err"
)

// Presigned is a parsed SigV4 presigned query.
type Presigned struct {
	AccessKey     string
	Date          string // YYYYMMDD from the credential scope
	Region        string
	Service       string
	Time          time.Time // X-Amz-Date
	Expires       time.Duration
	SignedHeaders []string
	Signature     string
	// ContentSHA256 is X-Amz-Content-Sha256 when the URL carries one.
	ContentSHA256 string
}

func errQueryParams(msg string) *Error {
	return newError(s3err.AuthorizationQueryParametersError, msg)
}

// presignParams are the parameters a SigV4 presigned URL must carry once.
var presignParams = []string{
	"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature",
	"X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Expires",
}

// ParsePresignedQuery parses the X-Amz-* parameters of a raw query.
func ParsePresignedQuery(rawQuery string) (*Presigned, error) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, errQueryParams("The query string is malformed.")
	}
	for _, k := range presignParams {
		if len(q[k]) != 1 || q[k][0] == "" {
			return nil, errQueryParams("Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
		}
	}
	if q.Get("X-Amz-Algorithm") != algorithmV4 {
		return nil, errQueryParams("X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"")
	}
	c, msg := parseCredential(q.Get("X-Amz-Credential"))
	if msg != "" {
		return nil, errQueryParams("Error parsing the X-Amz-Credential parameter; " + msg)
	}
	t, err := time.Parse(amzDateFormat, q.Get("X-Amz-Date"))
	if err != nil {
		return nil, errQueryParams("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
	}
	expStr := q.Get("X-Amz-Expires")
	exp, err := strconv.ParseInt(expStr, 10, 64)
	switch {
	case err != nil && strings.HasPrefix(expStr, "-"):
		return nil, errQueryParams("X-Amz-Expires must be non-negative")
	case err != nil:
		return nil, errQueryParams("X-Amz-Expires should be a number")
	case exp < 0:
		return nil, errQueryParams("X-Amz-Expires must be non-negative")
	case exp == 0:
		return nil, errQueryParams("X-Amz-Expires must be at least 1 second")
	case exp > int64(MaxPresignExpires/time.Second):
		return nil, errQueryParams("X-Amz-Expires must be less than a week (in seconds) that is 604800")
	}
	names, ok := parseSignedHeaders(q.Get("X-Amz-SignedHeaders"))
	if !ok {
		return nil, errQueryParams("X-Amz-SignedHeaders is malformed.")
	}
	// A malformed X-Amz-Signature is not a malformed query: S3 answers it
	// 403 SignatureDoesNotMatch, as any signature that is not ours (the
	// comparison in checkV4 fails).
	sig := q.Get("X-Amz-Signature")
	if len(q["X-Amz-Content-Sha256"]) > 1 {
		return nil, errQueryParams("X-Amz-Content-Sha256 appears more than once.")
	}
	return &Presigned{
		AccessKey: c.accessKey, Date: c.date, Region: c.region, Service: c.service,
		Time: t, Expires: time.Duration(exp) * time.Second,
		SignedHeaders: names, Signature: sig,
		ContentSHA256: q.Get("X-Amz-Content-Sha256"),
	}, nil
}

func (v *Verifier) verifyPresignedV4(req *Request, now time.Time) (*Result, error) {
	p, err := ParsePresignedQuery(req.RawQuery)
	if err != nil {
		return nil, err
	}
	if e := v.checkRegion(p.Region, func(m string) *Error {
		return errQueryParams("Error parsing the X-Amz-Credential parameter; " + m)
	}); e != nil {
		return nil, e
	}
	secret, err := v.secret(p.AccessKey)
	if err != nil {
		return nil, err
	}
	if p.Time.Format(dateStampFmt) != p.Date {
		return nil, errQueryParams("Invalid credential date. Date is not the same as X-Amz-Date.")
	}
	// A URL signed for the future is refused like AWS does; the clock
	// skew allowance keeps a client a little ahead of us working.
	if p.Time.Sub(now) > v.maxSkew() {
		return nil, newError(s3err.AccessDenied, msgNotYetValid).
			with("X-Amz-Date", p.Time.Format(amzDateFormat)).
			with("ServerTime", now.UTC().Format(time.RFC3339))
	}
	expires := p.Time.Add(p.Expires)
	if now.After(expires) {
		return nil, newError(s3err.AccessDenied, msgExpired).
			with("X-Amz-Expires", strconv.FormatInt(int64(p.Expires/time.Second), 10)).
			with("Expires", expires.UTC().Format(time.RFC3339)).
			with("ServerTime", now.UTC().Format(time.RFC3339))
	}
	if e := checkSignedHeaders(req, p.SignedHeaders); e != nil {
		return nil, e
	}
	// A presigned URL does not sign the body unless the signer gave a
	// digest, in the URL or in a (signed) x-amz-content-sha256 header, as
	// aws-sdk-go-v2 does when asked to.
	payload, mode := UnsignedPayload, PayloadUnsigned
	declared := p.ContentSHA256
	if declared == "" {
		declared = req.Header.Get("X-Amz-Content-Sha256")
	}
	if declared != "" {
		m, err := parsePayloadMode(declared)
		if err != nil {
			return nil, err
		}
		if m != PayloadUnsigned && m != PayloadSHA256 {
			return nil, newErrorf(s3err.InvalidRequest, "A presigned URL cannot use %s", declared)
		}
		payload, mode = declared, m
	}
	query, ok := canonicalQuery(req.RawQuery, "X-Amz-Signature")
	if !ok {
		return nil, errSignatureMismatch()
	}
	res, err := checkV4(req, credential{p.AccessKey, p.Date, p.Region, p.Service}, p.SignedHeaders, p.Signature,
		payload, query, p.Time.Format(amzDateFormat), secret)
	if err != nil {
		return nil, err
	}
	res.Kind, res.Payload, res.ContentSHA256, res.Time, res.Expires = AuthV4Presigned, mode, declared, p.Time, expires
	return res, nil
}
