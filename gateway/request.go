package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/tnv-s3/tnv/s3err"
	"github.com/tnv-s3/tnv/sigv4"
)

// request is one S3 request on its way through the gateway.
type request struct {
	g      *Gateway
	c      *fiber.Ctx
	ctx    context.Context
	id     string
	start  time.Time
	method string
	op     string

	rawPath  string // as sent, escaped
	rawQuery string
	query    url.Values
	header   http.Header
	host     string
	vhost    bool // bucket taken from Host

	bucketName string
	key        string
	hasKey     bool

	auth   *sigv4.Result
	user   string // access key; "" when anonymous
	root   bool
	bucket *Bucket // loaded by route checks
	// obj is the object of a GET or HEAD, looked up with the bucket when
	// objLoaded (nil: no such key).
	obj       *object
	objLoaded bool

	bytesIn, bytesOut int64
	// sending is the body of a GET that streams after the handler; it
	// writes the log line when it ends.
	sending *sentBody
	// pace, when set, caps the rate of the body (a share link's viewer).
	pace *pacer
}

func newRequestID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))
}

// serveS3 is the one fiber handler of the S3 API.
func (g *Gateway) serveS3(c *fiber.Ctx) error {
	// Not fasthttp's RequestCtx as a context: it is recycled after the
	// handler and its Done races with server shutdown.
	rctx, cancel := context.WithCancel(g.ctx)
	defer cancel()
	r := &request{g: g, c: c, id: newRequestID(), start: time.Now(), ctx: rctx}
	c.Set("x-amz-request-id", r.id)
	c.Set("x-amz-id-2", r.id)
	err := r.parse()
	if err == nil {
		err = r.dispatch()
	}
	if err != nil {
		r.writeError(err)
	}
	r.applyCORS()
	r.finishBody()
	if r.sending != nil && r.c.Response().IsBodyStream() {
		r.sending.line = r.line(err) // written when the body has gone out
	} else {
		l := r.line(err)
		l.write()
	}
	return nil
}

// finishBody keeps the connection usable after a request whose body was
// not read (a refusal before the upload): a small rest is drained, a large
// one closes the connection rather than being parsed as the next request.
// After a failure of ours (5xx) more is drained: closing on a client still
// sending makes the kernel reset the connection, and the client never
// reads the 503 it should retry on (seen in the chaos suite: PUTs failed
// while the trackers were down got "connection reset" instead).
func (r *request) finishBody() {
	stream := r.c.Context().RequestBodyStream()
	if stream == nil {
		return
	}
	limit := int64(1 << 20)
	if r.c.Response().StatusCode() >= 500 {
		limit = drainOnFailure
	}
	if _, err := io.CopyN(io.Discard, stream, limit); err != io.EOF {
		r.lingerClose() // more than that: the connection ends, cleanly
	}
}

// drainOnFailure is how much of a request body is read and dropped after a
// 5xx so that the client sees the answer (bounded: the body idle timeout
// still cuts a client that stalls).
const drainOnFailure = 64 << 20

// parse takes bucket and key from the raw request line (fasthttp's
// normalised path would turn the key "a/../b" into "b") and Host.
func (r *request) parse() error {
	req := r.c.Request()
	r.method = string(req.Header.Method())
	uri := string(req.Header.RequestURI()) // as sent: Request.RequestURI re-renders the normalised URI
	if !strings.HasPrefix(uri, "/") {
		// absolute-form request target
		if u, err := url.Parse(uri); err == nil {
			uri = u.RequestURI()
		}
	}
	r.rawPath, r.rawQuery, _ = strings.Cut(uri, "?")
	r.host = string(req.Header.Host())
	r.header = http.Header{}
	req.Header.VisitAll(func(k, v []byte) {
		r.header.Add(http.CanonicalHeaderKey(string(k)), string(v))
	})
	if cl := req.Header.ContentLength(); cl >= 0 && r.header.Get("Content-Length") == "" && r.method != "GET" && r.method != "HEAD" {
		r.header.Set("Content-Length", strconv.Itoa(cl))
	}
	q, err := url.ParseQuery(r.rawQuery)
	if err != nil {
		return errMsg(s3err.InvalidArgument, "The query string is malformed.")
	}
	r.query = q
	path, err := url.PathUnescape(r.rawPath)
	if err != nil {
		return errMsg(s3err.InvalidURI, "Couldn't parse the specified URI.")
	}
	if b := r.g.hostBucket(r.host); b != "" {
		r.vhost = true
		r.bucketName = b
		r.key = strings.TrimPrefix(path, "/")
	} else {
		p := strings.TrimPrefix(path, "/")
		r.bucketName, r.key, _ = strings.Cut(p, "/")
	}
	r.hasKey = r.key != ""
	if r.hasKey && len(r.key) > 1024 {
		return errCode(s3err.KeyTooLongError)
	}
	return r.checkKeyUTF8()
}

// hostBucket returns the bucket of a virtual-hosted-style Host.
func (g *Gateway) hostBucket(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(host)
	for _, d := range g.domains {
		if b, ok := strings.CutSuffix(host, "."+d); ok && b != "" {
			return b
		}
	}
	return ""
}

// resource names the request's target in error documents.
func (r *request) resource() string {
	if r.bucketName == "" {
		return "/"
	}
	if r.hasKey {
		return "/" + r.bucketName + "/" + r.key
	}
	return "/" + r.bucketName
}

// authenticate verifies the signature, if any.
func (r *request) authenticate() error {
	sreq := &sigv4.Request{Method: r.method, Path: r.rawPath, RawQuery: r.rawQuery, Host: r.host, Header: r.header}
	if r.vhost {
		sreq.VirtualBucket = r.bucketName
	}
	res, err := r.g.verifier.Verify(sreq, r.g.cfg.Now())
	if err != nil {
		return err
	}
	r.auth = res
	if !res.Anonymous {
		r.user = res.AccessKey
		r.root = res.AccessKey == r.g.cfg.AccessKey
	}
	return nil
}

// body returns the verified, decoded request body.
func (r *request) body() (io.Reader, error) {
	stream := r.c.Context().RequestBodyStream()
	if stream == nil {
		stream = bytes.NewReader(r.c.Request().Body())
	} else {
		stream = &idleReader{r: stream, ctx: r.c.Context(), d: r.g.cfg.BodyIdleTimeout}
	}
	return sigv4.NewBodyReader(r.auth, r.header, &counter{r: stream, n: &r.bytesIn})
}

// contentLength is the size of the decoded payload the client declares:
// x-amz-decoded-content-length for aws-chunked bodies, else Content-Length.
func (r *request) contentLength() (int64, error) {
	s := r.header.Get("Content-Length")
	if r.auth != nil && r.auth.Payload.Streaming() {
		s = r.header.Get("X-Amz-Decoded-Content-Length")
	}
	if s == "" {
		return 0, errCode(s3err.MissingContentLength)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, errMsg(s3err.InvalidArgument, "Content-Length must be a non-negative integer.")
	}
	return n, nil
}

// readXML reads a small XML request body (at most max bytes) whole.
func (r *request) readXML(max int64) ([]byte, error) {
	body, err := r.body()
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(body, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, errMsg(s3err.MalformedXML, "The XML you provided was larger than the maximum allowed.")
	}
	return b, nil
}

type counter struct {
	r io.Reader
	n *int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.n += int64(n)
	return n, err
}

const xmlns = "http://s3.amazonaws.com/doc/2006-03-01/"

// sendXML writes a 200 (or status) XML document.
func (r *request) sendXML(status int, v any) error {
	b, err := xml.Marshal(v)
	if err != nil {
		return errInternal(err)
	}
	r.c.Status(status)
	r.c.Set("Content-Type", "application/xml")
	out := append([]byte(xml.Header), b...)
	r.bytesOut += int64(len(out))
	return r.c.Send(out)
}

// writeError renders err as S3 error XML (no body for HEAD).
func (r *request) writeError(err error) {
	e := toS3Error(err)
	if e.Status >= 500 {
		r.g.log.Error("gateway: request failed", "request_id", r.id, "op", r.op, "bucket", r.bucketName, "key", r.key, "err", err)
	}
	resp := r.c.Response()
	if resp.IsBodyStream() {
		resp.ResetBody()
	}
	// Headers describing an object that is not being sent go, except
	// what 304 and 416 answers carry.
	for _, h := range []string{"ETag", "Last-Modified", "Content-Range", "Accept-Ranges", "Content-Type", "Content-Disposition", "Content-Encoding", "Cache-Control", "Expires", "Content-Language"} {
		keep := (e.Code == s3err.NotModified && (h == "ETag" || h == "Last-Modified")) ||
			(e.Code == s3err.InvalidRange && (h == "Content-Range" || h == "Accept-Ranges"))
		if !keep {
			resp.Header.Del(h)
		}
	}
	r.c.Status(e.Status)
	if e.Status == http.StatusNotModified || r.method == "HEAD" {
		if r.method == "HEAD" && e.Status != http.StatusNotModified {
			r.c.Set("x-amz-error-code", e.Code.String())
		}
		resp.ResetBody()
		return
	}
	doc := errorDoc{Code: e.Code.String(), Message: e.Message, Resource: r.resource(), RequestID: r.id, HostID: r.id}
	switch e.Code {
	case s3err.NoSuchBucket, s3err.BucketAlreadyExists, s3err.BucketAlreadyOwnedByYou, s3err.BucketNotEmpty:
		doc.Extra = append(doc.Extra, extraField{XMLName: xml.Name{Local: "BucketName"}, Value: r.bucketName})
	case s3err.NoSuchKey:
		doc.Extra = append(doc.Extra, extraField{XMLName: xml.Name{Local: "Key"}, Value: r.key})
	case s3err.NoSuchUpload:
		doc.Extra = append(doc.Extra, extraField{XMLName: xml.Name{Local: "UploadId"}, Value: r.query.Get("uploadId")})
	}
	for _, f := range e.Extra {
		doc.Extra = append(doc.Extra, extraField{XMLName: xml.Name{Local: f.Name}, Value: f.Value})
	}
	b, _ := xml.Marshal(doc)
	r.c.Set("Content-Type", "application/xml")
	out := append([]byte(xml.Header), b...)
	r.bytesOut = int64(len(out))
	r.c.Send(out)
}

// drainRequest reads, for a moment, what a client is still sending of a
// request refused before it was read (headers over the limit). The
// connection is closed after the refusal, and closing a socket with
// unread bytes makes the kernel send a reset, which can reach the client
// before it has read the 431 (seen in CI: "connection broken").
func drainRequest(nc net.Conn) {
	if nc == nil {
		return
	}
	defer nc.SetReadDeadline(time.Time{})
	buf := make([]byte, 32<<10)
	for total := 0; total < 1<<20; {
		nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := nc.Read(buf)
		total += n
		if err != nil {
			return
		}
	}
}

// fiberError renders errors from fiber itself (routes under /_tnv/, a
// malformed request) as S3 errors.
func (g *Gateway) fiberError(c *fiber.Ctx, err error) error {
	status := http.StatusInternalServerError
	var fe *fiber.Error
	if errors.As(err, &fe) {
		status = fe.Code
	}
	code, msg := s3err.InternalError, err.Error()
	switch status {
	case http.StatusNotFound:
		code = s3err.NoSuchKey
	case http.StatusMethodNotAllowed:
		code = s3err.MethodNotAllowed
	case http.StatusBadRequest:
		code = s3err.InvalidRequest
	case http.StatusRequestHeaderFieldsTooLarge:
		code, msg = s3err.RequestHeaderSectionTooLarge, fmt.Sprintf("Your request header section exceeds the maximum allowed size (%d bytes).", g.cfg.MaxHeaderBytes)
		drainRequest(c.Context().Conn())
	case http.StatusRequestTimeout:
		// S3 says 400 RequestTimeout, as the handlers do for a stalled body.
		status, code, msg = http.StatusBadRequest, s3err.RequestTimeout, s3err.RequestTimeout.Message()
	}
	if status >= 500 {
		msg = s3err.InternalError.Message() // internal text is logged, never sent
		g.log.Error("gateway: request failed", "path", c.Path(), "err", err)
	}
	id := newRequestID()
	c.Set("x-amz-request-id", id)
	c.Set("Content-Type", "application/xml")
	b, _ := xml.Marshal(errorDoc{Code: code.String(), Message: msg, Resource: c.Path(), RequestID: id, HostID: id})
	return c.Status(status).Send(append([]byte(xml.Header), b...))
}

// line is the request's log line as it stands.
func (r *request) line(err error) reqLine {
	l := reqLine{g: r.g, start: r.start, id: r.id, method: r.method, op: r.op, bucket: r.bucketName, key: r.key,
		user: r.user, status: r.c.Response().StatusCode(), in: r.bytesIn, out: r.bytesOut}
	if err != nil {
		l.code = toS3Error(err).Code.String()
	}
	return l
}

// httpTime formats a time as HTTP headers want it.
func httpTime(t time.Time) string { return t.UTC().Format(http.TimeFormat) }

// isoTime formats a time as S3 XML documents want it.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
