package sigv4

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/tnv-s3/tnv/s3err"
)

// NewBodyReader returns the decoded payload of a verified request. It
// stacks, as needed: the aws-chunked decoder (chunk and trailer
// signatures, x-amz-decoded-content-length), then one reader that hashes
// what passes and, at EOF, compares against x-amz-content-sha256,
// Content-MD5 and the x-amz-checksum-* header or trailer. A mismatch is
// returned instead of io.EOF, so a consumer that stores only what ends
// in io.EOF never keeps a body that failed.
//
// Bytes are handed on before the verdict: the caller must discard what it
// wrote when Read returns an error other than io.EOF.
func NewBodyReader(res *Result, header http.Header, body io.Reader) (io.Reader, error) {
	if res == nil {
		res = &Result{Kind: AuthAnonymous, Anonymous: true}
	}
	if header == nil {
		header = http.Header{}
	}
	if !res.Payload.Streaming() && hasAWSChunked(header.Get("Content-Encoding")) {
		// Framing the signature does not announce would be stored as data.
		return nil, newError(s3err.InvalidRequest, "Content-Encoding aws-chunked requires a STREAMING-* x-amz-content-sha256.")
	}
	plan, trailers, e := planChecksum(header, res.Payload)
	if e != nil {
		return nil, e
	}
	var checks []digestCheck
	// A Content-MD5 that is present but empty is no digest: S3 refuses it
	// (InvalidDigest) rather than storing the body unchecked.
	if vs, ok := header[http.CanonicalHeaderKey("Content-Md5")]; ok {
		v := ""
		if len(vs) > 0 {
			v = vs[0]
		}
		want, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(want) != md5.Size {
			return nil, errDefault(s3err.InvalidDigest)
		}
		checks = append(checks, digestCheck{h: md5.New(), want: func() ([]byte, error) { return want, nil },
			fail: errDefault(s3err.BadDigest)})
	}

	r := body
	var dec *chunkDecoder
	switch res.Payload {
	case PayloadSHA256:
		want, err := hex.DecodeString(res.ContentSHA256)
		if err != nil || len(want) != sha256.Size {
			return nil, newError(s3err.InvalidArgument, msgBadContentSHA256)
		}
		checks = append(checks, digestCheck{h: sha256.New(), want: func() ([]byte, error) { return want, nil },
			fail: errDefault(s3err.XAmzContentSHA256Mismatch)})
	case PayloadStreamingSigned, PayloadStreamingSignedTrailer, PayloadStreamingUnsignedTrailer:
		declared := int64(-1)
		if s := header.Get("X-Amz-Decoded-Content-Length"); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 0 {
				return nil, newError(s3err.InvalidArgument, "x-amz-decoded-content-length must be a non-negative integer.")
			}
			declared = n
		} else if res.Payload != PayloadStreamingUnsignedTrailer {
			// Signed chunks need it (it is signed); unsigned-trailer
			// uploads of unknown length legitimately go without.
			return nil, errDefault(s3err.MissingContentLength)
		}
		if res.Payload != PayloadStreamingUnsignedTrailer && len(res.SigningKey) == 0 {
			return nil, newErrorf(s3err.InvalidRequest, "%s requires Signature Version 4 with an Authorization header", res.Payload)
		}
		dec = newChunkDecoder(body, res, trailers, declared)
		r = dec
	}
	if plan != nil {
		c := digestCheck{h: plan.alg.New(), fail: plan.alg.mismatch(), additional: plan.alg.Name}
		if plan.trailer {
			alg := plan.alg
			c.want = func() ([]byte, error) {
				v, _ := dec.Trailer(alg.Header) // presence checked by the decoder
				b, e := alg.decode(v)
				if e != nil {
					return nil, e
				}
				return b, nil
			}
		} else {
			want := plan.expected
			c.want = func() ([]byte, error) { return want, nil }
		}
		checks = append(checks, c)
	}
	if len(checks) == 0 {
		return r, nil
	}
	return &verifyReader{r: r, checks: checks}, nil
}

// digestCheck is one digest computed over the body and what it must be.
type digestCheck struct {
	h    hash.Hash
	want func() ([]byte, error) // resolved at EOF: trailers come last
	fail *Error
	// additional names the algorithm of an x-amz-checksum-* check; sum is
	// its digest once verified.
	additional string
	sum        []byte
}

// verifyReader hashes what it passes on and gives its verdict at EOF.
type verifyReader struct {
	r      io.Reader
	checks []digestCheck
	err    error
}

func (v *verifyReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	for _, c := range v.checks {
		c.h.Write(p[:n])
	}
	if err == io.EOF {
		for i := range v.checks {
			c := &v.checks[i]
			want, e := c.want()
			if e != nil {
				err = e
				break
			}
			got := c.h.Sum(nil)
			if !hmac.Equal(got, want) {
				err = c.fail
				break
			}
			c.sum = got
		}
	}
	v.err = err
	return n, err
}

// AdditionalChecksum tells which x-amz-checksum-* algorithm ("CRC32",
// …) a reader returned by NewBodyReader verifies, and gives a function
// that returns the digest it verified once the reader has returned io.EOF
// (nil before): a caller that keeps the checksum need not compute it a
// second time. ok is false when the reader checks none.
func AdditionalChecksum(r io.Reader) (name string, sum func() []byte, ok bool) {
	v, isVerify := r.(*verifyReader)
	if !isVerify {
		return "", nil, false
	}
	for i := range v.checks {
		if c := &v.checks[i]; c.additional != "" {
			return c.additional, func() []byte {
				if v.err != io.EOF {
					return nil
				}
				return c.sum
			}, true
		}
	}
	return "", nil, false
}

// StripAWSChunked removes the aws-chunked coding from a Content-Encoding
// value: it describes the upload's framing, not the object, and S3 does
// not store it ("aws-chunked,gzip" is stored as "gzip").
func StripAWSChunked(contentEncoding string) string {
	var keep []string
	for _, c := range strings.Split(contentEncoding, ",") {
		if c = strings.TrimSpace(c); c != "" && !strings.EqualFold(c, "aws-chunked") {
			keep = append(keep, c)
		}
	}
	return strings.Join(keep, ",")
}

func hasAWSChunked(contentEncoding string) bool {
	for _, c := range strings.Split(contentEncoding, ",") {
		if strings.EqualFold(strings.TrimSpace(c), "aws-chunked") {
			return true
		}
	}
	return false
}
