package sigv4

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/tnv-s3/tnv/s3err"
)

// These tests sign with aws-sdk-go-v2's own signer, configured as its S3
// client configures it (no second escaping of the path), and check that
// Verify accepts exactly what it signed.

var (
	sdkCreds   = aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret/with+chars="}
	sdkStore   = StaticCredentials{"AKIDTEST": "secret/with+chars="}
	sdkNow     = time.Date(2025, 6, 1, 12, 30, 0, 0, time.UTC)
	sdkOptions = func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }
)

// sdkRequest builds a request as the S3 client would put it on the wire:
// the key percent-encoded once, the query already encoded.
func sdkRequest(t *testing.T, method, rawURL string, kv ...string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(kv); i += 2 {
		r.Header.Add(kv[i], kv[i+1])
	}
	return r
}

func signSDK(t *testing.T, r *http.Request, payload string, at time.Time) *Request {
	t.Helper()
	if r.Header.Get("X-Amz-Content-Sha256") == "" {
		r.Header.Set("X-Amz-Content-Sha256", payload)
	}
	if err := v4.NewSigner(sdkOptions).SignHTTP(context.Background(), sdkCreds, r, payload, "s3", "eu-west-1", at); err != nil {
		t.Fatal(err)
	}
	return fromHTTP(r)
}

func presignSDK(t *testing.T, r *http.Request, at time.Time, expires time.Duration) *Request {
	t.Helper()
	q := r.URL.Query()
	q.Set("X-Amz-Expires", itoa(int64(expires/time.Second)))
	r.URL.RawQuery = q.Encode()
	signed, hdrs, err := v4.NewSigner(sdkOptions).PresignHTTP(context.Background(), sdkCreds, r, UnsignedPayload, "s3", "eu-west-1", at)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(signed)
	if err != nil {
		t.Fatal(err)
	}
	out := &Request{Method: r.Method, Path: u.EscapedPath(), RawQuery: u.RawQuery, Host: u.Host, Header: http.Header{}}
	for k, v := range hdrs {
		if !strings.EqualFold(k, "host") {
			out.Header[http.CanonicalHeaderKey(k)] = v
		}
	}
	return out
}

func TestVerify_SDKSignedRequests_Accepted(t *testing.T) {
	cases := []struct {
		name, method, url string
		headers           []string
	}{
		{"PathStyleSpaceInKey", "GET", "http://127.0.0.1:9000/bucket/a%20b.txt", nil},
		{"VirtualHostStyle", "GET", "http://bucket.s3.example.test/key.txt", nil},
		{"EveryReservedByteOnce", "PUT", "http://h/bucket/%21%24%26%27%28%29%2A%2B%2C%3B%3D%3A%40%5B%5D%25", nil},
		{"UnicodeKey", "GET", "http://h/bucket/%C3%A9t%C3%A9/%E8%A7%86%E9%A2%91.mp4", nil},
		{"DoubleSlashAndDotSegmentsKept", "GET", "http://h/bucket//a/./b/../c", nil},
		{"ListV2Query", "GET", "http://h/bucket?list-type=2&prefix=photos%2F2024%20&delimiter=%2F&continuation-token=a%2Bb%3D%3D", nil},
		{"RepeatedQueryKeyAndEmptyValue", "GET", "http://h/bucket?uploads&z=2&z=1&a=", nil},
		{"UploadPart", "PUT", "http://h/bucket/big.bin?partNumber=3&uploadId=2~abc-DEF_1.x", []string{"Content-Md5", "1B2M2Y8AsgTpgAmY7PhCfg=="}},
		{"ManySignedHeaders", "PUT", "http://h:8080/bucket/k", []string{
			"Content-Type", "video/mp4", "X-Amz-Meta-Title", "  a   spaced    title ",
			"X-Amz-Meta-Multi", "one", "X-Amz-Meta-Multi", "two", "Range", "bytes=0-9", "X-Amz-Acl", "private"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := signSDK(t, sdkRequest(t, c.method, c.url, c.headers...), UnsignedPayload, sdkNow)
			res, err := Verify(req, sdkStore, sdkNow.Add(2*time.Minute))
			if err != nil {
				t.Fatalf("%v\n%+v", err, err.(*Error).Extra)
			}
			if res.Kind != AuthV4Header || res.Region != "eu-west-1" || res.Payload != PayloadUnsigned {
				t.Fatalf("result %+v", res)
			}
			pre := presignSDK(t, sdkRequest(t, c.method, c.url), sdkNow, time.Hour)
			if _, err := Verify(pre, sdkStore, sdkNow.Add(time.Minute)); err != nil {
				t.Fatalf("presigned: %v\n%+v", err, err.(*Error).Extra)
			}
		})
	}
}

func TestVerify_SDKSignedRequests_TamperedRefused(t *testing.T) {
	base := func(t *testing.T) *Request {
		r := sdkRequest(t, "PUT", "http://h/bucket/k?tagging", "Content-Type", "text/plain", "X-Amz-Meta-A", "1")
		return signSDK(t, r, UnsignedPayload, sdkNow)
	}
	cases := []struct {
		name string
		edit func(*Request)
		now  time.Time
		want s3err.Code
	}{
		{"Untouched", func(*Request) {}, sdkNow, noErr},
		{"ChangedSignedHeader", func(r *Request) { r.Header.Set("Content-Type", "text/html") }, sdkNow, s3err.SignatureDoesNotMatch},
		{"ChangedAmzHeader", func(r *Request) { r.Header.Set("X-Amz-Meta-A", "2") }, sdkNow, s3err.SignatureDoesNotMatch},
		{"UnsignedAmzHeaderAdded", func(r *Request) { r.Header.Set("X-Amz-Acl", "public-read") }, sdkNow, s3err.AccessDenied},
		{"ChangedQuery", func(r *Request) { r.RawQuery = "acl" }, sdkNow, s3err.SignatureDoesNotMatch},
		{"AddedQuery", func(r *Request) { r.RawQuery += "&versionId=1" }, sdkNow, s3err.SignatureDoesNotMatch},
		{"ChangedPath", func(r *Request) { r.Path = "/bucket/K" }, sdkNow, s3err.SignatureDoesNotMatch},
		{"ChangedMethod", func(r *Request) { r.Method = "DELETE" }, sdkNow, s3err.SignatureDoesNotMatch},
		{"ChangedHost", func(r *Request) { r.Host = "other" }, sdkNow, s3err.SignatureDoesNotMatch},
		{"ChangedPayloadMode", func(r *Request) { r.Header.Set("X-Amz-Content-Sha256", docEmptySHA) }, sdkNow, s3err.SignatureDoesNotMatch},
		{"MissingContentSHA256", func(r *Request) { r.Header.Del("X-Amz-Content-Sha256") }, sdkNow, s3err.InvalidRequest},
		{"UnknownAccessKey", func(r *Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "AKIDTEST", "AKIDOTHER", 1))
		}, sdkNow, s3err.InvalidAccessKeyID},
		{"SkewedFast", func(*Request) {}, sdkNow.Add(-16 * time.Minute), s3err.RequestTimeTooSkewed},
		{"SkewedSlow", func(*Request) {}, sdkNow.Add(16 * time.Minute), s3err.RequestTimeTooSkewed},
		{"WithinSkew", func(*Request) {}, sdkNow.Add(14 * time.Minute), noErr},
		{"BadPayloadMode", func(r *Request) { r.Header.Set("X-Amz-Content-Sha256", "nonsense") }, sdkNow, s3err.InvalidArgument},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := base(t)
			c.edit(r)
			_, err := Verify(r, sdkStore, c.now)
			mustCode(t, err, c.want)
		})
	}
	t.Run("WrongSecret", func(t *testing.T) {
		r := base(t)
		_, err := Verify(r, StaticCredentials{"AKIDTEST": "not the secret"}, sdkNow)
		mustCode(t, err, s3err.SignatureDoesNotMatch)
	})
	t.Run("RegionPinned", func(t *testing.T) {
		v := &Verifier{Credentials: sdkStore, Region: "us-east-1"}
		_, err := v.Verify(base(t), sdkNow)
		mustCode(t, err, s3err.AuthorizationHeaderMalformed)
		v.Region = "eu-west-1"
		if _, err := v.Verify(base(t), sdkNow); err != nil {
			t.Fatal(err)
		}
	})
}

func TestVerify_SDKPresigned_Refusals(t *testing.T) {
	mk := func(t *testing.T, expires time.Duration) *Request {
		return presignSDK(t, sdkRequest(t, "GET", "http://bucket.h/video.mp4?response-content-type=video%2Fmp4"), sdkNow, expires)
	}
	cases := []struct {
		name    string
		expires time.Duration
		edit    func(*Request)
		now     time.Time
		want    s3err.Code
	}{
		{"Valid", time.Hour, nil, sdkNow.Add(59 * time.Minute), noErr},
		{"Expired", time.Hour, nil, sdkNow.Add(time.Hour + time.Second), s3err.AccessDenied},
		{"FutureDate", time.Hour, nil, sdkNow.Add(-time.Hour), s3err.AccessDenied},
		{"SevenDaysAllowed", MaxPresignExpires, nil, sdkNow.Add(6 * 24 * time.Hour), noErr},
		{"OverSevenDays", MaxPresignExpires + time.Second, nil, sdkNow, s3err.AuthorizationQueryParametersError},
		{"ChangedOverride", time.Hour, func(r *Request) {
			r.RawQuery = strings.Replace(r.RawQuery, "video%2Fmp4", "text%2Fhtml", 1)
		}, sdkNow, s3err.SignatureDoesNotMatch},
		{"ChangedExpires", time.Hour, func(r *Request) {
			r.RawQuery = strings.Replace(r.RawQuery, "X-Amz-Expires=3600", "X-Amz-Expires=7200", 1)
		}, sdkNow, s3err.SignatureDoesNotMatch},
		{"ZeroExpires", time.Hour, func(r *Request) {
			r.RawQuery = strings.Replace(r.RawQuery, "X-Amz-Expires=3600", "X-Amz-Expires=0", 1)
		}, sdkNow, s3err.AuthorizationQueryParametersError},
		{"NegativeExpires", time.Hour, func(r *Request) {
			r.RawQuery = strings.Replace(r.RawQuery, "X-Amz-Expires=3600", "X-Amz-Expires=-1", 1)
		}, sdkNow, s3err.AuthorizationQueryParametersError},
		{"MissingSignature", time.Hour, func(r *Request) {
			q, _ := url.ParseQuery(r.RawQuery)
			q.Del("X-Amz-Signature")
			r.RawQuery = q.Encode()
		}, sdkNow, s3err.AuthorizationQueryParametersError},
		{"UnsignedAmzHeader", time.Hour, func(r *Request) { r.Header.Set("X-Amz-Meta-X", "1") }, sdkNow, s3err.AccessDenied},
		{"PlusHeaderAuth", time.Hour, func(r *Request) { r.Header.Set("Authorization", "AWS4-HMAC-SHA256 x") }, sdkNow, s3err.InvalidArgument},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := mk(t, c.expires)
			if c.edit != nil {
				c.edit(r)
			}
			_, err := Verify(r, sdkStore, c.now)
			mustCode(t, err, c.want)
		})
	}
}

func TestVerify_Anonymous(t *testing.T) {
	cases := []struct {
		name   string
		header http.Header
		mode   PayloadMode
		want   s3err.Code
	}{
		{"NoHeaders", http.Header{}, PayloadUnsigned, noErr},
		{"DeclaredDigest", hdr("X-Amz-Content-Sha256", docEmptySHA), PayloadSHA256, noErr},
		{"UnsignedTrailer", hdr("X-Amz-Content-Sha256", StreamingUnsignedPayloadTrailer), PayloadStreamingUnsignedTrailer, noErr},
		{"SignedChunksWithoutSignature", hdr("X-Amz-Content-Sha256", StreamingPayload), 0, s3err.InvalidRequest},
		{"Garbage", hdr("X-Amz-Content-Sha256", "xyz"), 0, s3err.InvalidArgument},
		{"SigV4A", hdr("Authorization", "AWS4-ECDSA-P256-SHA256 Credential=x"), 0, s3err.NotImplemented},
		{"UnknownScheme", hdr("Authorization", "Bearer x"), 0, s3err.InvalidArgument},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := Verify(&Request{Method: "GET", Path: "/b/k", Header: c.header}, sdkStore, sdkNow)
			mustCode(t, err, c.want)
			if err == nil && (!res.Anonymous || res.Kind != AuthAnonymous || res.Payload != c.mode) {
				t.Fatalf("result %+v", res)
			}
		})
	}
}

// A client may date a SigV4 request with Date alone; Date is then signed.
// The expected signature is computed here from the documented algorithm.
func TestVerify_DateHeaderInsteadOfAmzDate(t *testing.T) {
	date := sdkNow.Format(http.TimeFormat)
	canonical := "GET\n/b/k\n\ndate:" + date + "\nhost:h\nx-amz-content-sha256:UNSIGNED-PAYLOAD\n\n" +
		"date;host;x-amz-content-sha256\nUNSIGNED-PAYLOAD"
	s := newChunkSigner(sdkCreds.SecretAccessKey, sdkNow.Format(amzDateFormat), "eu-west-1", "")
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("AWS4-HMAC-SHA256\n" + s.amzDate + "\n" + s.scope + "\n" + hexs(sha256Sum(canonical))))
	sig := hexs(m.Sum(nil))
	auth := func(signed string) string {
		return "AWS4-HMAC-SHA256 Credential=AKIDTEST/" + s.scope + ", SignedHeaders=" + signed + ", Signature=" + sig
	}
	req := func(signed string) *Request {
		return &Request{Method: "GET", Path: "/b/k", Host: "h", Header: hdr("Date", date,
			"X-Amz-Content-Sha256", UnsignedPayload, "Authorization", auth(signed))}
	}
	if _, err := Verify(req("date;host;x-amz-content-sha256"), sdkStore, sdkNow); err != nil {
		t.Fatal(err)
	}
	_, err := Verify(req("host;x-amz-content-sha256"), sdkStore, sdkNow)
	mustCode(t, err, s3err.AccessDenied)
	_, err = Verify(req("date;host;x-amz-content-sha256"), sdkStore, sdkNow.Add(20*time.Minute))
	mustCode(t, err, s3err.RequestTimeTooSkewed)
	noDate := req("date;host;x-amz-content-sha256")
	noDate.Header.Del("Date")
	_, err = Verify(noDate, sdkStore, sdkNow)
	mustCode(t, err, s3err.AccessDenied)
}

func sha256Sum(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// A presigned URL may come with the body's digest: aws-sdk-go-v2 signs an
// x-amz-content-sha256 header and uses it as the payload hash, and other
// signers put X-Amz-Content-Sha256 in the query. The body is held to it.
func TestVerify_PresignedWithContentSHA256_BodyChecked(t *testing.T) {
	digest := hexs(sha256Sum("abc"))
	r := sdkRequest(t, "PUT", "http://h/b/k?X-Amz-Expires=600", "X-Amz-Content-Sha256", digest)
	signed, hdrs, err := v4.NewSigner(sdkOptions).PresignHTTP(context.Background(), sdkCreds, r, digest, "s3", "eu-west-1", sdkNow)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(signed)
	req := &Request{Method: "PUT", Path: u.EscapedPath(), RawQuery: u.RawQuery, Host: u.Host, Header: http.Header{}}
	for k, v := range hdrs {
		if !strings.EqualFold(k, "host") {
			req.Header[k] = v
		}
	}
	res, err := Verify(req, sdkStore, sdkNow)
	if err != nil {
		t.Fatal(err)
	}
	if res.Payload != PayloadSHA256 {
		t.Fatalf("payload %v (query %s)", res.Payload, u.RawQuery)
	}
	r2 := sdkRequest(t, "PUT", "http://h/b/k?X-Amz-Expires=600&X-Amz-Content-Sha256="+digest)
	signed2, _, err := v4.NewSigner(sdkOptions).PresignHTTP(context.Background(), sdkCreds, r2, digest, "s3", "eu-west-1", sdkNow)
	if err != nil {
		t.Fatal(err)
	}
	u2, _ := url.Parse(signed2)
	res2, err := Verify(&Request{Method: "PUT", Path: "/b/k", RawQuery: u2.RawQuery, Host: "h", Header: http.Header{}}, sdkStore, sdkNow)
	if err != nil || res2.Payload != PayloadSHA256 {
		t.Fatalf("digest in the query: %v %+v", err, res2)
	}
	if _, err := readBody(t, res, req.Header, []byte("abc"), 0); err != nil {
		t.Fatal(err)
	}
	_, err = readBody(t, res, req.Header, []byte("abd"), 0)
	mustCode(t, err, s3err.XAmzContentSHA256Mismatch)
}
