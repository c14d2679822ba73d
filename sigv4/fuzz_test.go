package sigv4

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Fuzz targets: every parser of client input must refuse or accept
// without panicking, and what it accepts must satisfy its invariants.
// Seed corpora live in testdata/fuzz/<Name>/; plain `go test` runs only
// the seeds.

// FuzzChunkedDecoder feeds arbitrary bodies to the decoder in every mode.
// Accepted bodies never yield more bytes than they contain, match the
// declared length, and signed modes accept only correctly signed chains.
func FuzzChunkedDecoder(f *testing.F) {
	data := []byte("hello, chunked world")
	f.Add(encodeChunked(data, 7, signer()), uint8(0), int64(len(data)), uint16(5))
	f.Add(encodeChunked(data, 8, signer(), "x-amz-checksum-crc32:"+crcOf(data)), uint8(1), int64(len(data)), uint16(64))
	f.Add(encodeChunked(data, 3, nil, "x-amz-checksum-crc32:"+crcOf(data)), uint8(2), int64(-1), uint16(1))
	f.Add([]byte("4000000\r\n"), uint8(2), int64(-1), uint16(100))
	f.Fuzz(func(t *testing.T, body []byte, mode uint8, declared int64, readSize uint16) {
		m := PayloadStreamingSigned + PayloadMode(mode%3)
		h := http.Header{}
		h.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
		if m == PayloadStreamingSigned {
			h.Del("X-Amz-Trailer")
		}
		if declared >= 0 {
			h.Set("X-Amz-Decoded-Content-Length", strconv.FormatInt(declared, 10))
		} else if m != PayloadStreamingUnsignedTrailer {
			h.Set("X-Amz-Decoded-Content-Length", "0")
		}
		r, err := NewBodyReader(streamResult(m), h, bytes.NewReader(body))
		if err != nil {
			return
		}
		buf := make([]byte, int(readSize)+1)
		var out []byte
		for {
			n, err := r.Read(buf)
			if n < 0 || n > len(buf) {
				t.Fatalf("Read returned %d", n)
			}
			out = append(out, buf[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				if _, ok := err.(*Error); !ok {
					t.Fatalf("foreign error %v", err)
				}
				return
			}
		}
		if len(out) > len(body) {
			t.Fatalf("decoded %d bytes from %d", len(out), len(body))
		}
		if declared >= 0 && int64(len(out)) != declared {
			t.Fatalf("accepted %d bytes against declared %d", len(out), declared)
		}
		if m != PayloadStreamingUnsignedTrailer && !bytes.Contains(body, []byte(";chunk-signature=")) {
			t.Fatal("signed mode accepted a body without signatures")
		}
	})
}

func crcOf(b []byte) string {
	h := ChecksumAlgorithms[0].New()
	h.Write(b)
	return b64(h.Sum(nil))
}

// FuzzParseAuthorization: what parses renders back to a header that
// parses to the same thing.
func FuzzParseAuthorization(f *testing.F) {
	f.Add(docAuth("host;range;x-amz-content-sha256;x-amz-date", "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"))
	f.Add("AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=" + strings.Repeat("a", 64))
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/e,SignedHeaders=;;,Signature=x,Signature=y")
	f.Fuzz(func(t *testing.T, h string) {
		a, err := ParseAuthorization(h)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("foreign error %v", err)
			}
			return
		}
		again := algorithmV4 + " Credential=" + a.AccessKey + "/" + a.Scope() +
			",SignedHeaders=" + strings.Join(a.SignedHeaders, ";") + ",Signature=" + a.Signature
		b, err := ParseAuthorization(again)
		if err != nil || b.Scope() != a.Scope() || b.Signature != a.Signature || len(b.SignedHeaders) != len(a.SignedHeaders) {
			t.Fatalf("round trip %q -> %q: %v", h, again, err)
		}
	})
}

// FuzzParsePresignedQuery: an accepted query has a usable expiry and
// signature.
func FuzzParsePresignedQuery(f *testing.F) {
	f.Add("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request" +
		"&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host" +
		"&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
	f.Add("X-Amz-Expires=-1&X-Amz-Expires=99999999999999999999")
	f.Fuzz(func(t *testing.T, q string) {
		p, err := ParsePresignedQuery(q)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("foreign error %v", err)
			}
			return
		}
		if p.Expires < time.Second || p.Expires > MaxPresignExpires || len(p.SignedHeaders) == 0 {
			t.Fatalf("accepted %+v", p)
		}
		// Verifying must not panic either, whatever else the query holds.
		req := &Request{Method: "GET", Path: "/b/k", RawQuery: q, Host: "h", Header: http.Header{}}
		_, _ = Verify(req, StaticCredentials{p.AccessKey: "s"}, p.Time)
	})
}

// FuzzParseV2: the SigV2 header and query parsers, and the string to sign
// built over whatever path and query come with them.
func FuzzParseV2(f *testing.F) {
	f.Add("AWS AKIAIOSFODNN7EXAMPLE:bWq2s1WEIj+Ydj0vQ697zp+IXMU=", "AWSAccessKeyId=AK&Expires=1175139620&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D", "/photos/puppy.jpg")
	f.Add("AWS :", "acl&versionId=%zz", "/%")
	f.Fuzz(func(t *testing.T, h, q, path string) {
		if a, err := ParseV2Authorization(h); err == nil {
			if a.AccessKey == "" || !validV2Signature(a.Signature) {
				t.Fatalf("accepted %+v", a)
			}
		}
		if p, err := ParseV2Query(q); err == nil {
			if p.AccessKey == "" || p.Expires < 0 {
				t.Fatalf("accepted %+v", p)
			}
		}
		req := &Request{Method: "GET", Path: path, RawQuery: q, Header: hdr("Authorization", h, "Date", "Tue, 27 Mar 2007 19:36:42 +0000")}
		if !strings.HasPrefix(V2StringToSign(req, ""), "GET\n") {
			t.Fatal("string to sign lost its method")
		}
		_, _ = Verify(req, docCreds, time.Date(2007, 3, 27, 19, 36, 42, 0, time.UTC))
	})
}

// FuzzCanonicalURI: the canonical URI holds only unreserved bytes,
// escapes and slashes, and keeps the path's segments.
func FuzzCanonicalURI(f *testing.F) {
	f.Add("/test$file.text")
	f.Add("/a%2Fb//c/%zz/%C3%A9")
	f.Fuzz(func(t *testing.T, p string) {
		c, _ := canonicalURIs(p)
		if p == "" && c != "/" || p != "" && strings.Count(c, "/") != strings.Count(p, "/") {
			t.Fatalf("%q -> %q changed the segments", p, c)
		}
		if !strings.Contains(p, "%") {
			for i := 0; i < len(c); i++ {
				if !unreserved(c[i]) && c[i] != '/' && c[i] != '%' {
					t.Fatalf("%q -> %q has raw %q", p, c, c[i])
				}
			}
		}
	})
}

// TestWriteFuzzCorpus regenerates the checked-in seed corpora:
//
//	SIGV4_WRITE_CORPUS=1 go test -run TestWriteFuzzCorpus ./sigv4/
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("SIGV4_WRITE_CORPUS") == "" {
		t.Skip("set SIGV4_WRITE_CORPUS=1 to rewrite testdata/fuzz")
	}
	data := []byte("The quick brown fox jumps over the lazy dog")
	crc := "x-amz-checksum-crc32:" + crcOf(data)
	minioTrailer := bytes.Replace(encodeChunked(data, 16, nil, crc), []byte(crc+"\r\n"), []byte(crc+"\n\r\n"), 1)
	signed := encodeChunked(data, 16, signer())
	corpus := map[string]map[string][]any{
		"FuzzChunkedDecoder": {
			"signed":               {signed, uint8(0), int64(len(data)), uint16(7)},
			"signed-truncated":     {signed[:len(signed)/2], uint8(0), int64(len(data)), uint16(100)},
			"signed-trailer":       {encodeChunked(data, 10, signer(), crc), uint8(1), int64(len(data)), uint16(3)},
			"unsigned-trailer":     {encodeChunked(data, 9, nil, crc), uint8(2), int64(-1), uint16(16)},
			"unsigned-minio-style": {minioTrailer, uint8(2), int64(len(data)), uint16(1)},
			"unsigned-bare-end":    {[]byte("3\r\nabc\r\n0\r\n"), uint8(2), int64(3), uint16(2)},
			"huge-chunk":           {[]byte("3ffffff\r\nabc"), uint8(2), int64(-1), uint16(4096)},
			"overflow-size":        {[]byte("ffffffffffffffffff;chunk-signature=x\r\n"), uint8(0), int64(0), uint16(9)},
		},
		"FuzzParseAuthorization": {
			"doc-get":     {docAuth("host;range;x-amz-content-sha256;x-amz-date", "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")},
			"spaces":      {"AWS4-HMAC-SHA256 Credential=AK/20250601/eu-west-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + strings.Repeat("0", 64)},
			"dup":         {"AWS4-HMAC-SHA256 Credential=AK/20250601/eu-west-1/s3/aws4_request,Credential=x,SignedHeaders=host,Signature=" + strings.Repeat("0", 64)},
			"bad-service": {"AWS4-HMAC-SHA256 Credential=AK/20250601/eu-west-1/iam/aws4_request,SignedHeaders=host,Signature=" + strings.Repeat("0", 64)},
		},
		"FuzzParsePresignedQuery": {
			"doc": {"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request" +
				"&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host" +
				"&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"},
			"week-plus-one": {"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=A%2F20130524%2Fus-east-1%2Fs3%2Faws4_request" +
				"&X-Amz-Date=20130524T000000Z&X-Amz-Expires=604801&X-Amz-SignedHeaders=host&X-Amz-Signature=" + strings.Repeat("a", 64)},
			"bad-escape": {"X-Amz-Algorithm=%zz&X-Amz-Credential"},
		},
		"FuzzParseV2": {
			"doc-get":     {"AWS AKIAIOSFODNN7EXAMPLE:bWq2s1WEIj+Ydj0vQ697zp+IXMU=", "", "/johnsmith/photos/puppy.jpg"},
			"doc-presign": {"", "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1175139620&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D", "/johnsmith/photos/puppy.jpg"},
			"subresource": {"AWS A:B", "acl&uploadId=1&partNumber=2&response-content-type=a%2Fb", "/b/k"},
		},
		"FuzzCanonicalURI": {
			"dollar":  {"/test$file.text"},
			"escapes": {"/bucket/a%2fb/%C3%A9t%C3%A9//x"},
			"invalid": {"/%zz/%"},
		},
	}
	for name, entries := range corpus {
		dir := filepath.Join("testdata", "fuzz", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for file, vals := range entries {
			var b strings.Builder
			b.WriteString("go test fuzz v1\n")
			for _, v := range vals {
				switch v := v.(type) {
				case []byte:
					fmt.Fprintf(&b, "[]byte(%q)\n", v)
				case string:
					fmt.Fprintf(&b, "string(%q)\n", v)
				default:
					fmt.Fprintf(&b, "%T(%v)\n", v, v)
				}
			}
			if err := os.WriteFile(filepath.Join(dir, file), []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
