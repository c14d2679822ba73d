// Package sigv4 authenticates S3 requests: AWS Signature Version 4 (header
// and presigned URL), Signature Version 2 (header and query string), and
// anonymous requests. It also verifies request bodies as they stream —
// aws-chunked decoding with chunk and trailer signatures, the declared
// x-amz-content-sha256, Content-MD5 and x-amz-checksum-* values.
//
// The package knows nothing of the HTTP server: the gateway fills a Request
// from whatever it receives, calls Verify, then wraps the body with
// NewBodyReader. Refusals are *Error values carrying S3's code and status.
package sigv4

import (
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tnv-s3/tnv/s3err"
)

// Request is what verification needs from an HTTP request.
type Request struct {
	Method string
	// Path is the escaped path exactly as received ("/bucket/a%20b"); S3
	// signs the path the client sent, so it must not be decoded or cleaned.
	Path string
	// RawQuery is the query string as received, without the '?'.
	RawQuery string
	// Host is the Host header (with port if the client sent one).
	Host string
	// Header holds every other request header, including Content-Length
	// and Content-MD5 when present: clients sign them.
	Header http.Header
	// VirtualBucket is the bucket name when the gateway took it from the
	// Host (virtual-hosted style). SigV2 signs "/bucket" + path; SigV4 does
	// not need it.
	VirtualBucket string
}

// Credentials finds the secret key of an access key.
type Credentials interface {
	SecretFor(accessKey string) (secret string, ok bool)
}

// CredentialsFunc adapts a function to Credentials.
type CredentialsFunc func(accessKey string) (string, bool)

func (f CredentialsFunc) SecretFor(k string) (string, bool) { return f(k) }

// StaticCredentials maps access keys to secrets.
type StaticCredentials map[string]string

func (m StaticCredentials) SecretFor(k string) (string, bool) {
	s, ok := m[k]
	return s, ok
}

// AuthKind says how a request was authenticated.
type AuthKind int

const (
	AuthAnonymous AuthKind = iota
	AuthV4Header
	AuthV4Presigned
	AuthV2Header
	AuthV2Presigned
	AuthV4Post // a browser POST form signed with SigV4 (post.go)
	AuthV2Post // a browser POST form signed with SigV2
)

func (k AuthKind) String() string {
	switch k {
	case AuthV4Header:
		return "v4-header"
	case AuthV4Presigned:
		return "v4-presigned"
	case AuthV2Header:
		return "v2-header"
	case AuthV2Presigned:
		return "v2-presigned"
	case AuthV4Post:
		return "v4-post"
	case AuthV2Post:
		return "v2-post"
	}
	return "anonymous"
}

// PayloadMode says how the body is protected.
type PayloadMode int

const (
	// PayloadUnsigned: the signature does not cover the body
	// (UNSIGNED-PAYLOAD, presigned URLs, SigV2, anonymous).
	PayloadUnsigned PayloadMode = iota
	// PayloadSHA256: x-amz-content-sha256 holds the body's SHA-256.
	PayloadSHA256
	// PayloadStreamingSigned: STREAMING-AWS4-HMAC-SHA256-PAYLOAD.
	PayloadStreamingSigned
	// PayloadStreamingSignedTrailer: STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER.
	PayloadStreamingSignedTrailer
	// PayloadStreamingUnsignedTrailer: STREAMING-UNSIGNED-PAYLOAD-TRAILER.
	PayloadStreamingUnsignedTrailer
)

// The x-amz-content-sha256 values of the modes that are not a digest.
const (
	UnsignedPayload                 = "UNSIGNED-PAYLOAD"
	StreamingPayload                = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	StreamingPayloadTrailer         = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	StreamingUnsignedPayloadTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
)

func (m PayloadMode) String() string {
	switch m {
	case PayloadSHA256:
		return "sha256"
	case PayloadStreamingSigned:
		return StreamingPayload
	case PayloadStreamingSignedTrailer:
		return StreamingPayloadTrailer
	case PayloadStreamingUnsignedTrailer:
		return StreamingUnsignedPayloadTrailer
	}
	return UnsignedPayload
}

// Streaming reports whether the body is aws-chunked.
func (m PayloadMode) Streaming() bool { return m >= PayloadStreamingSigned }

// Result is a successful verification.
type Result struct {
	Kind      AuthKind
	Anonymous bool
	AccessKey string

	Payload PayloadMode
	// ContentSHA256 is the declared x-amz-content-sha256 value, verbatim
	// (empty when the client sent none).
	ContentSHA256 string

	// SignedHeaders lists the headers the signature covers (SigV4).
	SignedHeaders []string
	// Time is the signing time the request claims.
	Time time.Time
	// Expires is when a presigned request stops being valid.
	Expires time.Time

	// Signature is the request signature: lowercase hex for SigV4 (the
	// seed of the chunk-signature chain), base64 for SigV2.
	Signature string
	// SigningKey, Scope, AmzDate, Region and Service are the SigV4 material
	// that chunk and trailer signatures are checked with.
	SigningKey []byte
	Scope      string // "20130524/us-east-1/s3/aws4_request"
	AmzDate    string // "20130524T000000Z"
	Region     string
	Service    string
}

// DefaultMaxSkew is how far a header-signed request's time may be from ours.
const DefaultMaxSkew = 15 * time.Minute

// MaxPresignExpires is the longest a presigned URL may live (7 days).
const MaxPresignExpires = 7 * 24 * time.Hour

// Verifier holds the server's side of the rules.
type Verifier struct {
	Credentials Credentials
	// Region, when set, is the only region accepted in credential scopes;
	// empty accepts any (many S3 clients send a region of their own).
	Region string
	// MaxSkew defaults to DefaultMaxSkew.
	MaxSkew time.Duration
}

// Verify authenticates req at time now with the default rules.
func Verify(req *Request, creds Credentials, now time.Time) (*Result, error) {
	return (&Verifier{Credentials: creds}).Verify(req, now)
}

// Verify detects how req is authenticated and checks it. Anonymous
// requests succeed with Result.Anonymous set; whether they are allowed is
// the caller's policy.
func (v *Verifier) Verify(req *Request, now time.Time) (*Result, error) {
	if req.Header == nil {
		r := *req
		r.Header = http.Header{}
		req = &r
	}
	auth := req.Header.Get("Authorization")
	q := queryKeys(req.RawQuery)
	v4q := q["X-Amz-Algorithm"] || q["X-Amz-Credential"] || q["X-Amz-Signature"]
	v2q := q["AWSAccessKeyId"] || q["Signature"]
	n := 0
	for _, b := range []bool{auth != "", v4q, v2q && !v4q} {
		if b {
			n++
		}
	}
	if n > 1 {
		return nil, newError(s3err.InvalidArgument, msgOneAuthMechanism)
	}
	switch {
	case strings.HasPrefix(auth, algorithmV4+" "):
		return v.verifyHeaderV4(req, auth, now)
	case strings.HasPrefix(auth, "AWS4-ECDSA-P256-SHA256"):
		return nil, newError(s3err.NotImplemented, "Signature Version 4A is not implemented.")
	case strings.HasPrefix(auth, "AWS "):
		return v.verifyHeaderV2(req, auth, now)
	case auth != "":
		return nil, newError(s3err.InvalidArgument, "Unsupported Authorization Type")
	case v4q:
		return v.verifyPresignedV4(req, now)
	case v2q:
		return v.verifyPresignedV2(req, now)
	}
	return anonymous(req)
}

func (v *Verifier) maxSkew() time.Duration {
	if v.MaxSkew > 0 {
		return v.MaxSkew
	}
	return DefaultMaxSkew
}

func (v *Verifier) secret(accessKey string) (string, error) {
	if v.Credentials != nil && accessKey != "" {
		if s, ok := v.Credentials.SecretFor(accessKey); ok {
			return s, nil
		}
	}
	return "", errDefault(s3err.InvalidAccessKeyID).with("AWSAccessKeyId", accessKey)
}

// anonymous accepts a request without credentials. Its body may still carry
// a digest or unsigned aws-chunked framing, but never signed chunks: there
// is no key to check them with.
func anonymous(req *Request) (*Result, error) {
	r := &Result{Kind: AuthAnonymous, Anonymous: true}
	if err := unsignedPayloadMode(r, req.Header.Get("X-Amz-Content-Sha256")); err != nil {
		return nil, err
	}
	return r, nil
}

// unsignedPayloadMode reads x-amz-content-sha256 for requests whose
// signature does not cover it (anonymous, SigV2).
func unsignedPayloadMode(r *Result, declared string) error {
	r.ContentSHA256 = declared
	if declared == "" {
		r.Payload = PayloadUnsigned
		return nil
	}
	m, err := parsePayloadMode(declared)
	if err != nil {
		return err
	}
	if m == PayloadStreamingSigned || m == PayloadStreamingSignedTrailer {
		return newErrorf(s3err.InvalidRequest, "%s requires Signature Version 4 with an Authorization header", declared)
	}
	r.Payload = m
	return nil
}

// parsePayloadMode maps an x-amz-content-sha256 value to its mode.
func parsePayloadMode(s string) (PayloadMode, error) {
	switch s {
	case UnsignedPayload:
		return PayloadUnsigned, nil
	case StreamingPayload:
		return PayloadStreamingSigned, nil
	case StreamingPayloadTrailer:
		return PayloadStreamingSignedTrailer, nil
	case StreamingUnsignedPayloadTrailer:
		return PayloadStreamingUnsignedTrailer, nil
	case "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER":
		return 0, newError(s3err.NotImplemented, "Signature Version 4A is not implemented.")
	}
	if _, err := hex.DecodeString(s); err == nil && len(s) == 64 {
		return PayloadSHA256, nil
	}
	return 0, newError(s3err.InvalidArgument, msgBadContentSHA256)
}

// queryKeys reports which parameter names occur in a raw query, without
// caring for values; used only to tell the auth kinds apart.
func queryKeys(raw string) map[string]bool {
	m := map[string]bool{}
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		k, _, _ := strings.Cut(kv, "=")
		if d, err := url.QueryUnescape(k); err == nil {
			k = d
		}
		m[k] = true
	}
	return m
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
