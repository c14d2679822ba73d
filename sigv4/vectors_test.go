package sigv4

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/s3err"
)

// The examples published in the S3 API reference, "Signature Calculations
// for the Authorization Header" (single chunk and multiple chunks),
// "Signature calculations for trailing headers" and "Authenticating
// Requests: Using Query Parameters". Request headers and signatures were
// confirmed against several independent implementations that test
// against the same pages.

var docTime = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)

const docEmptySHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func docAuth(signed, sig string) string {
	return "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=" +
		signed + ",Signature=" + sig
}

func TestVerify_AWSDocumentedHeaderExamples_Accepted(t *testing.T) {
	const host = "examplebucket.s3.amazonaws.com"
	welcomeSHA := "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
	putHeaders := func(path string) *Request {
		return &Request{Method: "PUT", Path: path, Host: host, Header: hdr(
			"Date", "Fri, 24 May 2013 00:00:00 GMT",
			"X-Amz-Date", "20130524T000000Z",
			"X-Amz-Storage-Class", "REDUCED_REDUNDANCY",
			"X-Amz-Content-Sha256", welcomeSHA,
			"Authorization", docAuth("date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
				"98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"),
		)}
	}
	getHeaders := func(path, query, signed, sig string, extra ...string) *Request {
		h := hdr(append([]string{
			"X-Amz-Date", "20130524T000000Z",
			"X-Amz-Content-Sha256", docEmptySHA,
			"Authorization", docAuth(signed, sig),
		}, extra...)...)
		return &Request{Method: "GET", Path: path, RawQuery: query, Host: host, Header: h}
	}
	cases := []struct {
		name string
		req  *Request
	}{
		{"GetObjectWithRange", getHeaders("/test.txt", "", "host;range;x-amz-content-sha256;x-amz-date",
			"f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41", "Range", "bytes=0-9")},
		// The documented request line is "PUT test$file.text": a client may
		// send the "$" raw or encoded; the canonical URI is "%24" either way.
		{"PutObjectRawDollar", putHeaders("/test$file.text")},
		{"PutObjectEncodedDollar", putHeaders("/test%24file.text")},
		{"GetBucketLifecycle", getHeaders("/", "lifecycle", "host;x-amz-content-sha256;x-amz-date",
			"fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")},
		{"ListObjectsQueryOutOfOrder", getHeaders("/", "prefix=J&max-keys=2", "host;x-amz-content-sha256;x-amz-date",
			"34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := Verify(c.req, docCreds, docTime.Add(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			if res.Kind != AuthV4Header || res.AccessKey != docAccessKey || res.Region != "us-east-1" {
				t.Fatalf("result %+v", res)
			}
		})
	}
	t.Run("PutObjectBodyMatchesDeclaredSHA256", func(t *testing.T) {
		req := putHeaders("/test%24file.text")
		res, err := Verify(req, docCreds, docTime)
		if err != nil {
			t.Fatal(err)
		}
		if res.Payload != PayloadSHA256 {
			t.Fatalf("payload %v", res.Payload)
		}
		if _, err := readBody(t, res, req.Header, []byte("Welcome to Amazon S3."), 0); err != nil {
			t.Fatal(err)
		}
		_, err = readBody(t, res, req.Header, []byte("Welcome to Amazon S3!"), 0)
		mustCode(t, err, s3err.XAmzContentSHA256Mismatch)
	})
}

func TestVerify_AWSDocumentedPresignedURL(t *testing.T) {
	const query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request" +
		"&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host" +
		"&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
	req := func() *Request {
		return &Request{Method: "GET", Path: "/test.txt", RawQuery: query, Host: "examplebucket.s3.amazonaws.com", Header: http.Header{}}
	}
	cases := []struct {
		name string
		now  time.Time
		edit func(*Request)
		want s3err.Code
	}{
		{"ValidAtSigningTime", docTime, nil, noErr},
		{"ValidAtLastSecond", docTime.Add(86400 * time.Second), nil, noErr},
		{"ExpiredOneSecondLater", docTime.Add(86401 * time.Second), nil, s3err.AccessDenied},
		{"NotYetValidBeyondSkew", docTime.Add(-16 * time.Minute), nil, s3err.AccessDenied},
		{"ValidSlightlyBeforeSigningTime", docTime.Add(-time.Minute), nil, noErr},
		{"OtherKey", docTime, func(r *Request) { r.Path = "/test2.txt" }, s3err.SignatureDoesNotMatch},
		{"OtherHost", docTime, func(r *Request) { r.Host = "otherbucket.s3.amazonaws.com" }, s3err.SignatureDoesNotMatch},
		{"AddedQueryParameter", docTime, func(r *Request) { r.RawQuery += "&response-content-type=text/html" }, s3err.SignatureDoesNotMatch},
		{"UnsignedAmzHeader", docTime, func(r *Request) { r.Header.Set("X-Amz-Acl", "public-read") }, s3err.AccessDenied},
		{"AlsoAuthorizationHeader", docTime, func(r *Request) { r.Header.Set("Authorization", "AWS a:b") }, s3err.InvalidArgument},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := req()
			if c.edit != nil {
				c.edit(r)
			}
			res, err := Verify(r, docCreds, c.now)
			mustCode(t, err, c.want)
			if err == nil && (res.Kind != AuthV4Presigned || res.Payload != PayloadUnsigned ||
				!res.Expires.Equal(docTime.Add(24*time.Hour))) {
				t.Fatalf("result %+v", res)
			}
		})
	}
}

// docChunkedRequest is the chunked PUT example: 66560 bytes of 'a' sent as
// 64 KiB + 1 KiB + the final empty chunk.
func docChunkedRequest() *Request {
	return &Request{Method: "PUT", Path: "/examplebucket/chunkObject.txt", Host: "s3.amazonaws.com", Header: hdr(
		"X-Amz-Date", "20130524T000000Z",
		"X-Amz-Storage-Class", "REDUCED_REDUNDANCY",
		"Content-Encoding", "aws-chunked",
		"X-Amz-Decoded-Content-Length", "66560",
		"Content-Length", "66824",
		"X-Amz-Content-Sha256", StreamingPayload,
		"Authorization", docAuth("content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class",
			"4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"),
	)}
}

var docChunkSigs = [3]string{
	"ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
	"0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
	"b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
}

func docChunkedBody(sigs [3]string, trailer string) []byte {
	var b bytes.Buffer
	b.WriteString("10000;chunk-signature=" + sigs[0] + "\r\n")
	b.Write(bytes.Repeat([]byte("a"), 65536))
	b.WriteString("\r\n400;chunk-signature=" + sigs[1] + "\r\n")
	b.Write(bytes.Repeat([]byte("a"), 1024))
	b.WriteString("\r\n0;chunk-signature=" + sigs[2] + "\r\n" + trailer + "\r\n")
	return b.Bytes()
}

func TestChunked_AWSDocumentedExample(t *testing.T) {
	req := docChunkedRequest()
	res, err := Verify(req, docCreds, docTime)
	if err != nil {
		t.Fatalf("seed signature: %v", err)
	}
	if res.Payload != PayloadStreamingSigned || res.Signature != "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9" {
		t.Fatalf("result %+v", res)
	}
	body := docChunkedBody(docChunkSigs, "")
	if len(body) != 66824 {
		t.Fatalf("documented Content-Length is 66824, body is %d", len(body))
	}
	want := bytes.Repeat([]byte("a"), 66560)
	for _, rs := range []int{0, 1, 7, 4096, 70000} {
		got, err := readBody(t, res, req.Header, body, rs)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("read size %d: %d bytes, %v", rs, len(got), err)
		}
	}
	// The independent test signer reproduces the documented chain.
	s := newChunkSigner(docSecret, "20130524T000000Z", "us-east-1", res.Signature)
	for i, part := range [][]byte{want[:65536], want[65536:], nil} {
		if got := s.chunk(part); got != docChunkSigs[i] {
			t.Fatalf("test signer chunk %d: %s", i, got)
		}
	}

	t.Run("AnyChangedSignatureRefused", func(t *testing.T) {
		for i := range docChunkSigs {
			sigs := docChunkSigs
			sigs[i] = strings.Repeat("0", 64)
			_, err := readBody(t, res, req.Header, docChunkedBody(sigs, ""), 0)
			mustCode(t, err, s3err.SignatureDoesNotMatch)
		}
	})
	t.Run("ChangedByteRefused", func(t *testing.T) {
		b := docChunkedBody(docChunkSigs, "")
		b[66000] = 'b'
		_, err := readBody(t, res, req.Header, b, 0)
		mustCode(t, err, s3err.SignatureDoesNotMatch)
	})
	t.Run("SeedOfOtherRequestRefused", func(t *testing.T) {
		other := *res
		other.Signature = strings.Repeat("1", 64)
		_, err := readBody(t, &other, req.Header, body, 0)
		mustCode(t, err, s3err.SignatureDoesNotMatch)
	})
}

func TestChunked_AWSDocumentedTrailerExample(t *testing.T) {
	// The trailer example gives the seed signature; the chain from there,
	// the trailer's canonical form and its signature are what is checked.
	seed := "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
	res := &Result{
		Kind: AuthV4Header, AccessKey: docAccessKey, Payload: PayloadStreamingSignedTrailer,
		Signature: seed, SigningKey: SigningKey(docSecret, "20130524", "us-east-1", "s3"),
		Scope: "20130524/us-east-1/s3/aws4_request", AmzDate: "20130524T000000Z",
	}
	h := hdr("Content-Encoding", "aws-chunked", "X-Amz-Decoded-Content-Length", "66560",
		"X-Amz-Trailer", "x-amz-checksum-crc32c")
	sigs := [3]string{
		"b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
		"1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
		"2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
	}
	const trailerSig = "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"
	trailer := "x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:" + trailerSig + "\r\n"
	got, err := readBody(t, res, h, docChunkedBody(sigs, trailer), 1000)
	if err != nil || len(got) != 66560 {
		t.Fatalf("%d bytes, %v", len(got), err)
	}
	cases := []struct {
		name, trailer string
		want          s3err.Code
	}{
		{"ChangedChecksumValue", strings.Replace(trailer, "sOO8/Q==", "sOO8/A==", 1), s3err.SignatureDoesNotMatch},
		{"ChangedTrailerSignature", strings.Replace(trailer, "d81f", "d81e", 1), s3err.SignatureDoesNotMatch},
		{"MissingTrailerSignature", "x-amz-checksum-crc32c:sOO8/Q==\r\n", s3err.InvalidRequest},
		{"MissingDeclaredTrailer", "x-amz-trailer-signature:" + trailerSig + "\r\n", s3err.InvalidRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := readBody(t, res, h, docChunkedBody(sigs, c.trailer), 0)
			mustCode(t, err, c.want)
		})
	}
}
