package sigv4

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"strconv"
	"strings"

	"github.com/tnv-s3/tnv/s3err"
)

// The aws-chunked body (S3 "Transferring Payload in Multiple Chunks"):
//
//	hex-size[;chunk-signature=sig]\r\n data \r\n   … repeated …
//	0[;chunk-signature=sig]\r\n
//	[trailer-name:value\r\n … [x-amz-trailer-signature:sig\r\n]]
//	\r\n
//
// Each chunk signature signs the chunk's SHA-256 and the previous
// signature, starting from the request's (seed) signature, so chunks can
// be neither changed, dropped nor reordered. The decoder streams: data is
// handed on as it arrives and a chunk's verdict comes when its last byte
// has been read, so memory never depends on the chunk size a client
// announces.

const (
	// MaxChunkSize bounds one chunk. SDKs send 8 KiB to a few MiB; nothing
	// is allocated from the size, the bound only turns nonsense away early.
	MaxChunkSize = 64 << 20
	// maxLineLen bounds a chunk header or trailer line: "hex;chunk-signature=
	// <64 hex>" is under 100 bytes, trailers are short.
	maxLineLen = 4096
	// maxTrailerLines bounds the trailer section.
	maxTrailerLines = 16
	readBufSize     = 64 << 10
)

// chunkDecoder decodes and checks an aws-chunked body.
type chunkDecoder struct {
	src *bufio.Reader

	signed        bool // chunk-signature= on every chunk, checked
	trailer       bool // a trailer section follows the last chunk
	signedTrailer bool // ... ending with x-amz-trailer-signature
	allowed       []string

	key            []byte
	amzDate, scope string
	prev           []byte // previous signature in the chain, hex
	mac            hash.Hash
	sum            [sha256.Size]byte
	hexSum         [2 * sha256.Size]byte
	stsPrefix      string // "AWS4-HMAC-SHA256-PAYLOAD\n<date>\n<scope>\n"

	declared int64 // x-amz-decoded-content-length, -1 if not sent
	total    int64 // decoded bytes so far

	left   int64     // data bytes left in the current chunk
	sig    string    // signature announced for the current chunk
	h      hash.Hash // SHA-256 of the current chunk (signed modes)
	done   bool
	err    error
	trails map[string]string
}

func newChunkDecoder(body io.Reader, res *Result, allowed []string, declared int64) *chunkDecoder {
	d := &chunkDecoder{
		src:      bufio.NewReaderSize(body, readBufSize),
		signed:   res.Payload == PayloadStreamingSigned || res.Payload == PayloadStreamingSignedTrailer,
		trailer:  res.Payload == PayloadStreamingSignedTrailer || res.Payload == PayloadStreamingUnsignedTrailer,
		allowed:  allowed,
		key:      res.SigningKey,
		amzDate:  res.AmzDate,
		scope:    res.Scope,
		prev:     []byte(res.Signature),
		declared: declared,
		trails:   map[string]string{},
	}
	d.signedTrailer = d.signed && d.trailer
	if d.signed {
		d.h = sha256.New()
		d.mac = hmac.New(sha256.New, d.key)
		d.stsPrefix = "AWS4-HMAC-SHA256-PAYLOAD\n" + d.amzDate + "\n" + d.scope + "\n"
	}
	return d
}

// Trailer returns a trailer value once the body has been read to its end.
func (d *chunkDecoder) Trailer(name string) (string, bool) {
	v, ok := d.trails[name]
	return v, ok
}

func (d *chunkDecoder) Read(p []byte) (int, error) {
	for {
		if d.err != nil {
			return 0, d.err
		}
		if d.left > 0 {
			if len(p) == 0 {
				return 0, nil
			}
			if int64(len(p)) > d.left {
				p = p[:d.left]
			}
			n, err := d.src.Read(p)
			d.left -= int64(n)
			d.total += int64(n)
			if d.signed {
				d.h.Write(p[:n])
			}
			switch {
			case d.left == 0:
				d.err = d.endChunk()
			case n == 0 && err == io.EOF:
				d.err = errDefault(s3err.IncompleteBody)
			case n == 0 && err != nil:
				d.err = err // the connection's own error, passed on as is
			}
			if n > 0 {
				return n, d.err
			}
			continue
		}
		if d.done {
			return 0, io.EOF
		}
		d.err = d.nextChunk()
	}
}

// readLine reads one line without its CRLF (a bare LF is tolerated). At
// a clean end of input it returns io.EOF.
func (d *chunkDecoder) readLine() (string, error) {
	line, err := d.src.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) || len(line) > maxLineLen {
		return "", errMalformedChunk("line longer than %d bytes", maxLineLen)
	}
	if err == io.EOF {
		if len(line) == 0 {
			return "", io.EOF
		}
		return "", errDefault(s3err.IncompleteBody)
	}
	if err != nil {
		return "", err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return string(line), nil
}

func (d *chunkDecoder) nextChunk() error {
	line, err := d.readLine()
	if err == io.EOF {
		return errDefault(s3err.IncompleteBody)
	}
	if err != nil {
		return err
	}
	size, sig, e := parseChunkHeader(line, d.signed)
	if e != nil {
		return e
	}
	if d.declared >= 0 && d.total+size > d.declared {
		return newErrorf(s3err.InvalidRequest, "The decoded body is longer than x-amz-decoded-content-length (%d bytes).", d.declared)
	}
	d.sig = sig
	if d.signed {
		d.h.Reset()
	}
	if size == 0 {
		return d.finish()
	}
	d.left = size
	return nil
}

// parseChunkHeader reads "hex-size[;chunk-signature=sig]". Signed modes
// require exactly that extension; unsigned ones ignore extensions.
func parseChunkHeader(line string, signed bool) (int64, string, *Error) {
	sizeStr, ext, hasExt := strings.Cut(line, ";")
	if len(sizeStr) == 0 || len(sizeStr) > 16 {
		return 0, "", errMalformedChunk("bad chunk size %q", clip(sizeStr))
	}
	for i := 0; i < len(sizeStr); i++ {
		if c := sizeStr[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return 0, "", errMalformedChunk("bad chunk size %q", clip(sizeStr))
		}
	}
	size, err := strconv.ParseUint(sizeStr, 16, 64)
	if err != nil || size > MaxChunkSize {
		return 0, "", errMalformedChunk("chunk size %q exceeds %d bytes", clip(sizeStr), MaxChunkSize)
	}
	if !signed {
		return int64(size), "", nil
	}
	sig, ok := strings.CutPrefix(ext, "chunk-signature=")
	if !hasExt || !ok || !isLowerHex(sig, 64) {
		return 0, "", errMalformedChunk("chunk without a valid chunk-signature")
	}
	return int64(size), sig, nil
}

func clip(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}

// endChunk consumes the CRLF after a chunk's data and checks its signature.
func (d *chunkDecoder) endChunk() error {
	var crlf [2]byte
	if _, err := io.ReadFull(d.src, crlf[:]); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return errDefault(s3err.IncompleteBody)
		}
		return err
	}
	if crlf != [2]byte{'\r', '\n'} {
		return errMalformedChunk("chunk data not followed by CRLF")
	}
	if d.signed {
		return d.checkChunk()
	}
	return nil
}

// checkChunk verifies the current chunk's signature and moves the chain
// on. It runs once per chunk, so it reuses its HMAC and buffers.
func (d *chunkDecoder) checkChunk() error {
	hex.Encode(d.hexSum[:], d.h.Sum(d.sum[:0]))
	d.mac.Reset()
	d.mac.Write([]byte(d.stsPrefix))
	d.mac.Write(d.prev)
	d.mac.Write([]byte("\n" + emptySHA256 + "\n"))
	d.mac.Write(d.hexSum[:])
	want := d.hexSum[:]
	hex.Encode(want, d.mac.Sum(d.sum[:0]))
	if !hmac.Equal(want, []byte(d.sig)) {
		sts := d.stsPrefix + string(d.prev) + "\n" + emptySHA256 + "\n" + hex.EncodeToString(d.h.Sum(nil))
		return errSignatureMismatch().with("StringToSign", sts).with("SignatureProvided", d.sig)
	}
	d.prev = append(d.prev[:0], want...)
	return nil
}

// finish handles the final 0-size chunk: its signature, the trailers,
// the closing CRLF and the end of input.
func (d *chunkDecoder) finish() error {
	if d.signed {
		if err := d.checkChunk(); err != nil {
			return err
		}
	}
	if d.trailer {
		if err := d.readTrailers(); err != nil {
			return err
		}
	} else {
		line, err := d.readLine()
		switch {
		case err == io.EOF:
			// Tolerated: the last chunk's line already ended the body.
		case err != nil:
			return err
		case line != "":
			return errMalformedChunk("data after the final chunk")
		}
	}
	if _, err := d.src.ReadByte(); err != io.EOF {
		if err != nil {
			return err
		}
		return errMalformedChunk("data after the final chunk")
	}
	if d.declared >= 0 && d.total != d.declared {
		return errDefault(s3err.IncompleteBody)
	}
	d.done = true
	return nil
}

// readTrailers reads "name:value" lines to the end of the body, checks
// that exactly the declared trailers came, and in the signed mode checks
// x-amz-trailer-signature over them. Blank lines are skipped: the spec
// ends the section with one CRLF, while minio-go ends each trailer with a
// bare LF and then writes a CRLF before the signature, or two at the end.
func (d *chunkDecoder) readTrailers() error {
	var canon strings.Builder
	var sig string
	for i := 0; ; i++ {
		if i > maxTrailerLines {
			return errMalformedChunk("too many trailer lines")
		}
		line, err := d.readLine()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if line == "" {
			continue
		}
		if sig != "" {
			return errMalformedChunk("data after x-amz-trailer-signature")
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return errMalformedChunk("malformed trailer line")
		}
		name, value = strings.ToLower(strings.TrimSpace(name)), strings.TrimSpace(value)
		if name == "x-amz-trailer-signature" && d.signedTrailer {
			if !isLowerHex(value, 64) {
				return errMalformedChunk("malformed x-amz-trailer-signature")
			}
			sig = value
			continue
		}
		if !contains(d.allowed, name) {
			return newErrorf(s3err.InvalidRequest, "The trailer %q was not declared in x-amz-trailer.", clip(name))
		}
		if _, dup := d.trails[name]; dup {
			return newErrorf(s3err.InvalidRequest, "The trailer %q was sent twice.", name)
		}
		d.trails[name] = value
		canon.WriteString(name + ":" + value + "\n")
	}
	for _, name := range d.allowed {
		if _, ok := d.trails[name]; !ok {
			return newErrorf(s3err.InvalidRequest, "The trailer %q declared in x-amz-trailer was not sent.", name)
		}
	}
	if !d.signedTrailer {
		return nil
	}
	if sig == "" {
		return errMalformedChunk("missing x-amz-trailer-signature")
	}
	sts := "AWS4-HMAC-SHA256-TRAILER\n" + d.amzDate + "\n" + d.scope + "\n" + string(d.prev) + "\n" + sha256Hex(canon.String())
	want := hex.EncodeToString(hmacSHA256(d.key, sts))
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return errSignatureMismatch().with("StringToSign", sts).with("SignatureProvided", sig)
	}
	return nil
}
