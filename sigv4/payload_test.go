package sigv4

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net/http"
	"testing"

	"github.com/tnv-s3/tnv/s3err"
)

// Published check values (CRC catalogue, "123456789") and digests, so a
// wrong polynomial or byte order cannot hide behind a round trip.
func TestChecksumAlgorithms_KnownValues(t *testing.T) {
	want := map[string]string{
		"CRC32":     "cbf43926",
		"CRC32C":    "e3069283",
		"CRC64NVME": "ae8b14860a799888",
		"SHA1":      "f7c3bc1d808e04732adf679965ccc34ca7ae3441",
		"SHA256":    "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225",
	}
	for _, a := range ChecksumAlgorithms {
		h := a.New()
		h.Write([]byte("123456789"))
		sum := h.Sum(nil)
		if got := hexs(sum); got != want[a.Name] || len(sum) != a.Size {
			t.Errorf("%s: %s, want %s", a.Name, got, want[a.Name])
		}
	}
}

func hexs(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func TestBodyReader_HeaderChecksumsAndMD5(t *testing.T) {
	data := []byte("The quick brown fox jumps over the lazy dog")
	md := md5.Sum(data)
	crc := func() string {
		h := ChecksumAlgorithms[0].New()
		h.Write(data)
		return b64(h.Sum(nil))
	}()
	var bad [4]byte
	binary.BigEndian.PutUint32(bad[:], 1)
	cases := []struct {
		name string
		h    http.Header
		want s3err.Code
	}{
		{"NoDigests", http.Header{}, noErr},
		{"ContentMD5", hdr("Content-Md5", b64(md[:])), noErr},
		{"ContentMD5Mismatch", hdr("Content-Md5", b64(make([]byte, 16))), s3err.BadDigest},
		{"ContentMD5NotBase64", hdr("Content-Md5", "zz"), s3err.InvalidDigest},
		{"ContentMD5WrongLength", hdr("Content-Md5", b64([]byte("short"))), s3err.InvalidDigest},
		{"CRC32", hdr("X-Amz-Checksum-Crc32", crc), noErr},
		{"CRC32Mismatch", hdr("X-Amz-Checksum-Crc32", b64(bad[:])), s3err.BadDigest},
		{"CRC32WrongLength", hdr("X-Amz-Checksum-Crc32", b64(make([]byte, 8))), s3err.InvalidRequest},
		{"TwoChecksums", hdr("X-Amz-Checksum-Crc32", crc, "X-Amz-Checksum-Crc32c", crc), s3err.InvalidRequest},
		{"SameChecksumTwice", hdr("X-Amz-Checksum-Crc32", crc, "X-Amz-Checksum-Crc32", crc), s3err.InvalidRequest},
		{"ChecksumTypeHeaderIgnored", hdr("X-Amz-Checksum-Type", "FULL_OBJECT"), noErr},
		{"MD5AndCRC32", hdr("Content-Md5", b64(md[:]), "X-Amz-Checksum-Crc32", crc), noErr},
		{"MD5GoodCRC32Bad", hdr("Content-Md5", b64(md[:]), "X-Amz-Checksum-Crc32", b64(bad[:])), s3err.BadDigest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := readBody(t, &Result{Payload: PayloadUnsigned}, c.h, data, 5)
			mustCode(t, err, c.want)
			if err == nil && string(got) != string(data) {
				t.Fatal("payload differs")
			}
		})
	}
	for _, a := range ChecksumAlgorithms {
		t.Run("Header"+a.Name, func(t *testing.T) {
			h := a.New()
			h.Write(data)
			if _, err := readBody(t, nil, hdr(a.Header, b64(h.Sum(nil))), data, 0); err != nil {
				t.Fatal(err)
			}
			_, err := readBody(t, nil, hdr(a.Header, b64(h.Sum(nil))), data[1:], 0)
			mustCode(t, err, s3err.BadDigest)
		})
	}
}

func TestBodyReader_DeclaredSHA256(t *testing.T) {
	res := &Result{Payload: PayloadSHA256, ContentSHA256: docEmptySHA}
	if _, err := readBody(t, res, nil, nil, 0); err != nil {
		t.Fatal(err)
	}
	_, err := readBody(t, res, nil, []byte("x"), 0)
	mustCode(t, err, s3err.XAmzContentSHA256Mismatch)
	upper := &Result{Payload: PayloadSHA256, ContentSHA256: "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"}
	if _, err := readBody(t, upper, nil, nil, 0); err != nil {
		t.Fatal("uppercase hex digest:", err)
	}
}

func TestBodyReader_AWSChunkedEncodingWithoutStreamingMode_Refused(t *testing.T) {
	_, err := readBody(t, &Result{Payload: PayloadUnsigned}, hdr("Content-Encoding", "aws-chunked"), []byte("3\r\nabc\r\n0\r\n\r\n"), 0)
	mustCode(t, err, s3err.InvalidRequest)
	if _, err := readBody(t, &Result{Payload: PayloadUnsigned}, hdr("Content-Encoding", "gzip, br"), []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
}

func TestStripAWSChunked(t *testing.T) {
	for in, want := range map[string]string{
		"aws-chunked": "", "aws-chunked,gzip": "gzip", "gzip, AWS-CHUNKED": "gzip", "gzip,br": "gzip,br", "": "",
	} {
		if got := StripAWSChunked(in); got != want {
			t.Errorf("%q -> %q, want %q", in, got, want)
		}
	}
}

// TestAdditionalChecksum_DigestAfterEOF: the reader names the algorithm
// it verifies and hands out the verified digest only once it has ended in
// io.EOF; a Content-MD5 alone is no additional checksum, and an empty
// Content-MD5 is InvalidDigest.
func TestAdditionalChecksum_DigestAfterEOF(t *testing.T) {
	body := []byte("123456789")
	h := http.Header{}
	h.Set("x-amz-checksum-crc32c", "4waSgw==") // e3069283
	r, err := NewBodyReader(nil, h, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	name, sum, ok := AdditionalChecksum(r)
	if !ok || name != "CRC32C" || sum() != nil {
		t.Fatalf("before reading: %q %v %v", name, ok, sum())
	}
	if _, err := io.ReadAll(r); err != nil {
		t.Fatal(err)
	}
	if got := hexs(sum()); got != "e3069283" {
		t.Fatalf("after EOF: %s", got)
	}
	h = http.Header{}
	s := md5.Sum(body)
	h.Set("Content-Md5", base64.StdEncoding.EncodeToString(s[:]))
	r, err = NewBodyReader(nil, h, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := AdditionalChecksum(r); ok {
		t.Fatal("Content-MD5 reported as an additional checksum")
	}
	h = http.Header{"Content-Md5": {""}}
	if _, err := NewBodyReader(nil, h, bytes.NewReader(body)); err == nil || err.(*Error).Code != s3err.InvalidDigest {
		t.Fatalf("empty Content-MD5: %v", err)
	}
}
