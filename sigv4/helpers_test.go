package sigv4

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/tnv-s3/tnv/s3err"
)

// The example credentials AWS prints in its documentation.
const (
	docAccessKey = "AKIAIOSFODNN7EXAMPLE"
	docSecret    = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

var docCreds = StaticCredentials{docAccessKey: docSecret}

// hdr builds a header from name, value pairs, canonicalising names as
// net/http and fasthttp do; a repeated name adds a value.
func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// fromHTTP is what the gateway does: it fills a Request from what it
// received. For a server-side request the path comes from RequestURI,
// exactly as sent.
func fromHTTP(r *http.Request) *Request {
	path := r.URL.EscapedPath()
	if r.RequestURI != "" && strings.HasPrefix(r.RequestURI, "/") {
		path, _, _ = strings.Cut(r.RequestURI, "?")
	}
	h := r.Header.Clone()
	if r.ContentLength > 0 && h.Get("Content-Length") == "" {
		h.Set("Content-Length", strconv.FormatInt(r.ContentLength, 10))
	}
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	return &Request{Method: r.Method, Path: path, RawQuery: r.URL.RawQuery, Host: host, Header: h}
}

// noErr is the want of a case that must succeed.
const noErr s3err.Code = 0

// code describes err: "" for nil, its S3 code (with the status if the
// status is not the code's own), or the text of a foreign error.
func code(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		if e.Status != e.Code.Status() {
			return fmt.Sprintf("%s(status %d)", e.Code, e.Status)
		}
		return e.Code.String()
	}
	return "foreign: " + err.Error()
}

func mustCode(t *testing.T, err error, want s3err.Code) {
	t.Helper()
	w := ""
	if want != noErr {
		w = want.String()
	}
	if got := code(err); got != w {
		t.Fatalf("error %q (%v), want %q", got, err, w)
	}
}

// readBody drains a body reader built for res and returns the payload and
// the error that ended the stream (nil for a clean EOF).
func readBody(t *testing.T, res *Result, h http.Header, body []byte, readSize int) ([]byte, error) {
	t.Helper()
	r, err := NewBodyReader(res, h, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if readSize <= 0 {
		b, err := io.ReadAll(r)
		return b, err
	}
	var out []byte
	buf := make([]byte, readSize)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// chunkSigner implements the documented aws-chunked signing on its own,
// without the package's code, so that tests compare two implementations.
type chunkSigner struct {
	key            []byte
	amzDate, scope string
	prev           string
}

func newChunkSigner(secret, amzDate, region, seed string) *chunkSigner {
	mac := func(k []byte, s string) []byte {
		m := hmac.New(sha256.New, k)
		m.Write([]byte(s))
		return m.Sum(nil)
	}
	day := amzDate[:8]
	k := mac(mac(mac(mac([]byte("AWS4"+secret), day), region), "s3"), "aws4_request")
	return &chunkSigner{key: k, amzDate: amzDate, scope: day + "/" + region + "/s3/aws4_request", prev: seed}
}

func (c *chunkSigner) sign(kind, lastLine string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(kind + "\n" + c.amzDate + "\n" + c.scope + "\n" + c.prev + "\n" + lastLine))
	c.prev = hex.EncodeToString(m.Sum(nil))
	return c.prev
}

func (c *chunkSigner) chunk(data []byte) string {
	h := sha256.Sum256(data)
	e := sha256.Sum256(nil)
	return c.sign("AWS4-HMAC-SHA256-PAYLOAD", hex.EncodeToString(e[:])+"\n"+hex.EncodeToString(h[:]))
}

func (c *chunkSigner) trailer(canon string) string {
	h := sha256.Sum256([]byte(canon))
	return c.sign("AWS4-HMAC-SHA256-TRAILER", hex.EncodeToString(h[:]))
}

// encodeChunked frames data as aws-chunked with chunks of size chunk.
// signer nil makes unsigned framing. trailers are "name:value" lines.
func encodeChunked(data []byte, chunk int, signer *chunkSigner, trailers ...string) []byte {
	var b bytes.Buffer
	writeChunk := func(part []byte) {
		fmt.Fprintf(&b, "%x", len(part))
		if signer != nil {
			b.WriteString(";chunk-signature=" + signer.chunk(part))
		}
		b.WriteString("\r\n")
	}
	for off := 0; off < len(data); off += chunk {
		part := data[off:min(off+chunk, len(data))]
		writeChunk(part)
		b.Write(part)
		b.WriteString("\r\n")
	}
	writeChunk(nil)
	if len(trailers) > 0 {
		var canon strings.Builder
		for _, t := range trailers {
			b.WriteString(t + "\r\n")
			canon.WriteString(t + "\n")
		}
		if signer != nil {
			b.WriteString("x-amz-trailer-signature:" + signer.trailer(canon.String()) + "\r\n")
		}
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
