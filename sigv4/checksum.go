package sigv4

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"hash/crc32"
	"net/http"
	"strings"

	"github.com/minio/crc64nvme"
	"github.com/tnv-s3/tnv/s3err"
)

// ChecksumAlgorithm is one of the S3 additional checksums. The value on
// the wire is the base64 of the big-endian digest.
type ChecksumAlgorithm struct {
	Name   string // "CRC32", as S3 prints it in messages
	Header string // "x-amz-checksum-crc32"
	Size   int    // digest bytes
	New    func() hash.Hash
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ChecksumAlgorithms are those S3 accepts in x-amz-checksum-*.
var ChecksumAlgorithms = []ChecksumAlgorithm{
	{"CRC32", "x-amz-checksum-crc32", 4, func() hash.Hash { return crc32.NewIEEE() }},
	{"CRC32C", "x-amz-checksum-crc32c", 4, func() hash.Hash { return crc32.New(castagnoli) }},
	{"CRC64NVME", "x-amz-checksum-crc64nvme", 8, func() hash.Hash { return crc64nvme.New() }},
	{"SHA1", "x-amz-checksum-sha1", sha1.Size, sha1.New},
	{"SHA256", "x-amz-checksum-sha256", sha256.Size, sha256.New},
}

// ChecksumByHeader finds an algorithm by its header name, any case.
func ChecksumByHeader(name string) (ChecksumAlgorithm, bool) {
	name = strings.ToLower(name)
	for _, a := range ChecksumAlgorithms {
		if a.Header == name {
			return a, true
		}
	}
	return ChecksumAlgorithm{}, false
}

// decode parses a wire value, refusing what cannot be a digest of this
// algorithm.
func (a ChecksumAlgorithm) decode(v string) ([]byte, *Error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
	if err != nil || len(b) != a.Size {
		return nil, newErrorf(s3err.InvalidRequest, "Value for %s header is invalid.", a.Header)
	}
	return b, nil
}

func (a ChecksumAlgorithm) mismatch() *Error {
	return newErrorf(s3err.BadDigest, "The %s you specified did not match the calculated checksum.", a.Name)
}

// checksumPlan is which checksum a request asks to verify, and where its
// expected value comes from.
type checksumPlan struct {
	alg      ChecksumAlgorithm
	expected []byte // from a header; nil when it arrives as a trailer
	trailer  bool
}

// planChecksum reads x-amz-checksum-* headers and x-amz-trailer. S3
// accepts one checksum per request, in a header or as a trailer.
func planChecksum(h http.Header, mode PayloadMode) (*checksumPlan, []string, *Error) {
	var plan *checksumPlan
	for k, v := range h {
		alg, ok := ChecksumByHeader(k)
		if !ok {
			continue
		}
		if plan != nil || len(v) != 1 {
			return nil, nil, newError(s3err.InvalidRequest, "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
		}
		want, err := alg.decode(v[0])
		if err != nil {
			return nil, nil, err
		}
		plan = &checksumPlan{alg: alg, expected: want}
	}
	var trailers []string
	for _, line := range h.Values("X-Amz-Trailer") {
		for _, name := range strings.Split(line, ",") {
			if name = strings.ToLower(strings.TrimSpace(name)); name != "" {
				trailers = append(trailers, name)
			}
		}
	}
	if len(trailers) == 0 {
		return plan, nil, nil
	}
	if mode != PayloadStreamingSignedTrailer && mode != PayloadStreamingUnsignedTrailer {
		return nil, nil, newErrorf(s3err.InvalidRequest, "The x-amz-trailer header requires x-amz-content-sha256 %s or %s.", StreamingUnsignedPayloadTrailer, StreamingPayloadTrailer)
	}
	if len(trailers) > 1 {
		return nil, nil, newError(s3err.InvalidRequest, "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
	}
	alg, ok := ChecksumByHeader(trailers[0])
	if !ok {
		return nil, nil, newError(s3err.InvalidRequest, "The value specified in the x-amz-trailer header is not supported")
	}
	if plan != nil {
		return nil, nil, newError(s3err.InvalidRequest, "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
	}
	return &checksumPlan{alg: alg, trailer: true}, trailers, nil
}
