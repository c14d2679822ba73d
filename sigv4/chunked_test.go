package sigv4

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/tnv-s3/tnv/s3err"
)

const (
	testAmzDate = "20250601T123000Z"
	testSeed    = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

// streamResult is what Verify would return for a streaming upload signed
// with docSecret at testAmzDate.
func streamResult(mode PayloadMode) *Result {
	s := newChunkSigner(docSecret, testAmzDate, "us-east-1", testSeed)
	return &Result{
		Kind: AuthV4Header, AccessKey: docAccessKey, Payload: mode,
		Signature: testSeed, SigningKey: s.key, Scope: s.scope, AmzDate: testAmzDate,
		Region: "us-east-1", Service: "s3",
	}
}

func testData(n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(int64(n))).Read(b)
	return b
}

func signer() *chunkSigner { return newChunkSigner(docSecret, testAmzDate, "us-east-1", testSeed) }

func TestChunked_SignedRoundTrip_AnyChunkAndReadSize(t *testing.T) {
	for _, size := range []int{0, 1, 100, 8192, 200_000} {
		data := testData(size)
		for _, chunk := range []int{1, 7, 8192, 65536, 1 << 20} {
			if chunk == 1 && size > 8192 {
				continue
			}
			body := encodeChunked(data, chunk, signer())
			h := hdr("X-Amz-Decoded-Content-Length", fmt.Sprint(size))
			for _, rs := range []int{0, 1, 13, 65536} {
				got, err := readBody(t, streamResult(PayloadStreamingSigned), h, body, rs)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("size %d chunk %d read %d: %d bytes, %v", size, chunk, rs, len(got), err)
				}
			}
		}
	}
}

func TestChunked_Trailers_EveryChecksumAlgorithm(t *testing.T) {
	data := testData(100_000)
	for _, alg := range ChecksumAlgorithms {
		h := alg.New()
		h.Write(data)
		good := alg.Header + ":" + b64(h.Sum(nil))
		h.Write([]byte("x"))
		bad := alg.Header + ":" + b64(h.Sum(nil))
		hd := hdr("X-Amz-Decoded-Content-Length", "100000", "X-Amz-Trailer", alg.Header)
		t.Run(alg.Name, func(t *testing.T) {
			cases := []struct {
				name string
				mode PayloadMode
				body []byte
				want s3err.Code
			}{
				{"Unsigned", PayloadStreamingUnsignedTrailer, encodeChunked(data, 65536, nil, good), noErr},
				{"UnsignedMismatch", PayloadStreamingUnsignedTrailer, encodeChunked(data, 65536, nil, bad), s3err.BadDigest},
				{"Signed", PayloadStreamingSignedTrailer, encodeChunked(data, 65536, signer(), good), noErr},
				{"SignedMismatch", PayloadStreamingSignedTrailer, encodeChunked(data, 65536, signer(), bad), s3err.BadDigest},
				{"SignedButValueSwapped", PayloadStreamingSignedTrailer,
					bytes.Replace(encodeChunked(data, 65536, signer(), bad), []byte(bad), []byte(good), 1), s3err.SignatureDoesNotMatch},
				{"InvalidValue", PayloadStreamingUnsignedTrailer, encodeChunked(data, 65536, nil, alg.Header+":!!"), s3err.InvalidRequest},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					got, err := readBody(t, streamResult(c.mode), hd, c.body, 4096)
					mustCode(t, err, c.want)
					if err == nil && !bytes.Equal(got, data) {
						t.Fatal("payload differs")
					}
					if c.want == s3err.BadDigest && !strings.Contains(err.Error(), "The "+alg.Name+" you specified did not match the calculated checksum.") {
						t.Fatalf("message %q", err)
					}
				})
			}
		})
	}
}

func TestChunked_Refusals(t *testing.T) {
	data := testData(20_000)
	signed := encodeChunked(data, 8192, signer())
	declared := hdr("X-Amz-Decoded-Content-Length", "20000")
	chunks := bytes.SplitAfter(signed, []byte("\r\n"))
	swapped := func() []byte {
		// Chunks 1 and 2 are equal in size and each validly framed: only
		// the chain tells that they are out of order.
		s := newChunkSigner(docSecret, testAmzDate, "us-east-1", testSeed)
		c1, c2 := data[:8192], data[8192:16384]
		sig1, sig2 := s.chunk(c1), s.chunk(c2)
		var b bytes.Buffer
		fmt.Fprintf(&b, "2000;chunk-signature=%s\r\n%s\r\n", sig2, c2)
		fmt.Fprintf(&b, "2000;chunk-signature=%s\r\n%s\r\n", sig1, c1)
		return b.Bytes()
	}()
	cases := []struct {
		name string
		mode PayloadMode
		h    http.Header
		body []byte
		want s3err.Code
	}{
		{"Good", PayloadStreamingSigned, declared, signed, noErr},
		{"CutBeforeFinalChunk", PayloadStreamingSigned, declared, signed[:bytes.LastIndex(signed, []byte("0;chunk"))], s3err.IncompleteBody},
		{"CutInsideData", PayloadStreamingSigned, declared, signed[:5000], s3err.IncompleteBody},
		{"CutInsideHeaderLine", PayloadStreamingSigned, declared, signed[:30], s3err.IncompleteBody},
		{"CutBeforeDataCRLF", PayloadStreamingSigned, declared, signed[:bytes.Index(signed, []byte("\r\n"))+2+8192], s3err.IncompleteBody},
		{"Empty", PayloadStreamingSigned, declared, nil, s3err.IncompleteBody},
		{"FinalCRLFMissingTolerated", PayloadStreamingSigned, declared, signed[:len(signed)-2], noErr},
		{"DataAfterEnd", PayloadStreamingSigned, declared, append(append([]byte{}, signed...), "x"...), s3err.InvalidRequest},
		{"DeclaredLonger", PayloadStreamingSigned, hdr("X-Amz-Decoded-Content-Length", "20001"), signed, s3err.IncompleteBody},
		{"DeclaredShorter", PayloadStreamingSigned, hdr("X-Amz-Decoded-Content-Length", "19999"), signed, s3err.InvalidRequest},
		{"DeclaredMissing", PayloadStreamingSigned, http.Header{}, signed, s3err.MissingContentLength},
		{"DeclaredGarbage", PayloadStreamingSigned, hdr("X-Amz-Decoded-Content-Length", "-1"), signed, s3err.InvalidArgument},
		{"SwappedChunks", PayloadStreamingSigned, declared, swapped, s3err.SignatureDoesNotMatch},
		{"DroppedChunk", PayloadStreamingSigned, hdr("X-Amz-Decoded-Content-Length", "11808"),
			bytes.Join(append([][]byte{}, chunks[2:]...), nil), s3err.SignatureDoesNotMatch},
		{"UnsignedFramingInSignedMode", PayloadStreamingSigned, declared, encodeChunked(data, 8192, nil), s3err.InvalidRequest},
		{"AbsurdChunkSize", PayloadStreamingUnsignedTrailer, http.Header{}, []byte("ffffffffffffffff\r\n"), s3err.InvalidRequest},
		{"ChunkSizeOverLimit", PayloadStreamingUnsignedTrailer, http.Header{}, []byte("4000001\r\n"), s3err.InvalidRequest},
		{"HugeChunkThenNothing", PayloadStreamingUnsignedTrailer, http.Header{}, []byte("4000000\r\nabc"), s3err.IncompleteBody},
		{"NonHexSize", PayloadStreamingUnsignedTrailer, http.Header{}, []byte("12g\r\n"), s3err.InvalidRequest},
		{"SignedSize", PayloadStreamingUnsignedTrailer, http.Header{}, []byte("-1\r\n"), s3err.InvalidRequest},
		{"EmptySizeLine", PayloadStreamingUnsignedTrailer, http.Header{}, []byte("\r\n"), s3err.InvalidRequest},
		{"EndlessLine", PayloadStreamingUnsignedTrailer, http.Header{}, bytes.Repeat([]byte("1"), 100_000), s3err.InvalidRequest},
		{"LongLine", PayloadStreamingUnsignedTrailer, http.Header{}, append(bytes.Repeat([]byte("0"), 5000), "\r\n"...), s3err.InvalidRequest},
		{"DataNotFollowedByCRLF", PayloadStreamingUnsignedTrailer, http.Header{}, []byte("3\r\nabcXY0\r\n\r\n"), s3err.InvalidRequest},
		{"UnsignedTrailerNoChecksum", PayloadStreamingUnsignedTrailer, http.Header{}, []byte("3\r\nabc\r\n0\r\n\r\n"), noErr},
		{"UnsignedTrailerBareEnd", PayloadStreamingUnsignedTrailer, http.Header{}, []byte("3\r\nabc\r\n0\r\n"), noErr},
		{"UndeclaredTrailer", PayloadStreamingUnsignedTrailer, http.Header{}, []byte("3\r\nabc\r\n0\r\nx-amz-checksum-crc32:NSRBwg==\r\n\r\n"), s3err.InvalidRequest},
		{"TrailerNotSent", PayloadStreamingUnsignedTrailer, hdr("X-Amz-Trailer", "x-amz-checksum-crc32"), []byte("3\r\nabc\r\n0\r\n\r\n"), s3err.InvalidRequest},
		{"TrailerTwice", PayloadStreamingUnsignedTrailer, hdr("X-Amz-Trailer", "x-amz-checksum-crc32"),
			[]byte("3\r\nabc\r\n0\r\nx-amz-checksum-crc32:NSRBwg==\r\nx-amz-checksum-crc32:NSRBwg==\r\n\r\n"), s3err.InvalidRequest},
		{"TrailerWithoutColon", PayloadStreamingUnsignedTrailer, hdr("X-Amz-Trailer", "x-amz-checksum-crc32"),
			[]byte("3\r\nabc\r\n0\r\nx-amz-checksum-crc32\r\n\r\n"), s3err.InvalidRequest},
		{"TooManyTrailerLines", PayloadStreamingUnsignedTrailer, http.Header{}, []byte("0\r\n" + strings.Repeat("a:b\r\n", 40)), s3err.InvalidRequest},
		{"UnsupportedTrailerName", PayloadStreamingUnsignedTrailer, hdr("X-Amz-Trailer", "x-amz-meta-a"), []byte("0\r\n\r\n"), s3err.InvalidRequest},
		{"TrailerOnPlainBody", PayloadUnsigned, hdr("X-Amz-Trailer", "x-amz-checksum-crc32"), []byte("abc"), s3err.InvalidRequest},
		{"SignedModeWithoutKey", PayloadStreamingSigned, declared, signed, s3err.InvalidRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := streamResult(c.mode)
			if c.name == "SignedModeWithoutKey" {
				res.SigningKey = nil
			}
			_, err := readBody(t, res, c.h, c.body, 1000)
			mustCode(t, err, c.want)
		})
	}
}

// A client announcing the largest chunk allowed must not make the decoder
// allocate it: memory is bounded by the read buffer, not the claim.
func TestChunked_LargeAnnouncedChunk_DoesNotAllocateIt(t *testing.T) {
	body := io.MultiReader(strings.NewReader("4000000\r\n"), io.LimitReader(zeroReader{}, 1<<20))
	r, err := NewBodyReader(streamResult(PayloadStreamingUnsignedTrailer), http.Header{}, body)
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	n, err := io.CopyBuffer(io.Discard, r, make([]byte, 32<<10))
	runtime.ReadMemStats(&after)
	mustCode(t, err, s3err.IncompleteBody)
	if n != 1<<20 {
		t.Fatalf("passed %d bytes", n)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("allocated %d bytes for a 64 MiB announced chunk", grew)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// An error of the connection itself is passed on untouched, so the
// gateway can tell a client that went away from a client that lied.
func TestChunked_ConnectionErrorPassedThrough(t *testing.T) {
	boom := errors.New("connection reset")
	body := io.MultiReader(strings.NewReader("10\r\nabc"), errReader{boom})
	_, err := io.ReadAll(mustBody(t, streamResult(PayloadStreamingUnsignedTrailer), http.Header{}, body))
	if !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func mustBody(t *testing.T, res *Result, h http.Header, body io.Reader) io.Reader {
	t.Helper()
	r, err := NewBodyReader(res, h, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// After an error the reader keeps returning it: a consumer that reads on
// never sees io.EOF and mistakes the body for whole.
func TestChunked_ErrorIsSticky(t *testing.T) {
	body := encodeChunked(testData(10_000), 4096, signer())
	body[100] ^= 1
	r := mustBody(t, streamResult(PayloadStreamingSigned), hdr("X-Amz-Decoded-Content-Length", "10000"), bytes.NewReader(body))
	_, err := io.ReadAll(r)
	mustCode(t, err, s3err.SignatureDoesNotMatch)
	for i := 0; i < 3; i++ {
		if _, err2 := r.Read(make([]byte, 10)); err2 != err {
			t.Fatalf("second read: %v", err2)
		}
	}
}
