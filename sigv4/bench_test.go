package sigv4

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// BenchmarkChunkedDecoder reports MB/s of decoding 8 MiB bodies, next to
// a plain io.Copy of the same bytes as the reference. Signed modes pay
// for SHA-256 over every byte plus one HMAC per chunk.
func BenchmarkChunkedDecoder(b *testing.B) {
	data := testData(8 << 20)
	declared := hdr("X-Amz-Decoded-Content-Length", strconv.Itoa(len(data)))
	sum := sha256.Sum256(data)
	cases := []struct {
		name string
		res  *Result
		h    http.Header
		body []byte
		raw  bool
	}{
		{"ReferenceIOCopy", nil, nil, data, true},
		{"UnsignedTrailer64KiB", streamResult(PayloadStreamingUnsignedTrailer), declared, encodeChunked(data, 64<<10, nil), false},
		{"Signed64KiB", streamResult(PayloadStreamingSigned), declared, encodeChunked(data, 64<<10, signer()), false},
		{"Signed1MiB", streamResult(PayloadStreamingSigned), declared, encodeChunked(data, 1<<20, signer()), false},
		{"Signed8KiB", streamResult(PayloadStreamingSigned), declared, encodeChunked(data, 8<<10, signer()), false},
		{"PlainSHA256", &Result{Payload: PayloadSHA256, ContentSHA256: hex.EncodeToString(sum[:])}, nil, data, false},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			buf := make([]byte, 32<<10)
			for b.Loop() {
				// Hide bytes.Reader's WriteTo: the reference must copy too.
				var r io.Reader = struct{ io.Reader }{bytes.NewReader(c.body)}
				if !c.raw {
					var err error
					if r, err = NewBodyReader(c.res, c.h, r); err != nil {
						b.Fatal(err)
					}
				}
				n, err := io.CopyBuffer(io.Discard, r, buf)
				if err != nil || n != int64(len(data)) {
					b.Fatalf("%d bytes, %v", n, err)
				}
			}
		})
	}
}

// BenchmarkVerifyHeader verifies a GET signed by aws-sdk-go-v2 (the shape
// of every small GET the gateway serves): "cached" as the gateway runs,
// "derive" with the signing key derived again for every request, as
// before the keys were kept.
func BenchmarkVerifyHeader(b *testing.B) {
	t := &testing.T{}
	req := signSDK(t, sdkRequest(t, "GET", "http://127.0.0.1:9000/bucket/thumbs/0001.jpg"), UnsignedPayload, sdkNow)
	v := &Verifier{Credentials: sdkStore}
	now := sdkNow.Add(time.Minute)
	for _, derive := range []bool{false, true} {
		name := "cached"
		if derive {
			name = "derive"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if derive {
					signingKeys.Lock()
					clear(signingKeys.m)
					signingKeys.Unlock()
				}
				if _, err := v.Verify(req, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
