package gateway

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"time"
)

// sentBody is the body of a GET answer, streamed by fasthttp after the
// handler returned and the status and headers went out. It counts the bytes
// handed on, and when the blobs fail midway it aborts the connection with a
// reset, so that the client sees an error instead of a body that ends
// cleanly and short. The request's log line and metrics are written when
// the body ends (fasthttp closes it), with what was actually sent.
type sentBody struct {
	src  *blobReader
	conn net.Conn // the client's connection, to abort
	line reqLine  // the request's log line, completed at Close
	want int64
	sent int64
	// failed is the source's error; the client's own errors (it went away)
	// are told apart from it.
	failed error
	closed atomic.Bool
}

// testStreamHook, set only by tests, runs on each read of a GET body (a test
// makes it panic to check that the gateway survives).
var testStreamHook atomic.Pointer[func()]

func (s *sentBody) Read(p []byte) (n int, err error) {
	defer s.recover(&err)
	if h := testStreamHook.Load(); h != nil {
		(*h)()
	}
	n, err = s.src.Read(p)
	s.sent += int64(n)
	if err != nil && err != io.EOF {
		s.fail(err)
	}
	return n, err
}

// WriteTo keeps the blob reader's WriteTo (splice and sendfile) on the path.
func (s *sentBody) WriteTo(w io.Writer) (n int64, err error) {
	defer s.recover(&err)
	if h := testStreamHook.Load(); h != nil {
		(*h)()
	}
	n, err = s.src.WriteTo(w)
	s.sent += n
	if err != nil {
		s.fail(err)
	}
	return n, err
}

// recover turns a panic while streaming into a failure of this request
// only: logged with its stack, the connection aborted.
func (s *sentBody) recover(err *error) {
	if v := recover(); v != nil {
		s.line.g.log.Error("gateway: panic while sending a body; connection aborted", "request_id", s.line.id,
			"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		*err = fmt.Errorf("gateway: panic while sending a body: %v", v)
		s.fail(*err)
	}
}

// fail resets the connection at once, since what the client got so far
// must not look like a whole answer, and records the error unless it was
// the client's own (it went away).
func (s *sentBody) fail(err error) {
	if s.failed == nil && !clientWriteError(err) {
		s.failed = err
	}
	abortConn(s.conn)
}

// Close writes the request's log line and metrics; fasthttp calls it once
// the body was written or the writing failed.
func (s *sentBody) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	s.src.Close()
	l := s.line
	if l.g == nil {
		return nil // dropped before the handler finished (an error answer replaced it)
	}
	l.out = s.sent
	switch {
	case s.failed != nil:
		e := blobError(s.failed)
		if _, tnvStore := l.g.cfg.Blobs.(TNVStore); tnvStore {
			e = blobError(unavailable(s.failed)) // members that stop answering midway: 503
		}
		l.status, l.sentStatus, l.code, l.err = e.Status, l.status, e.Code.String(), s.failed
		l.g.log.Error("gateway: body failed after the status was sent; connection aborted", "request_id", l.id,
			"op", l.op, "bucket", l.bucket, "key", l.key, "sent", s.sent, "of", s.want, "err", s.failed)
	case s.sent < s.want:
		// The client went away (or fasthttp gave up writing to it).
		l.status, l.sentStatus, l.code = statusClientClosed, l.status, "ClientClosed"
	}
	l.write()
	return nil
}

// statusClientClosed is what the log and metrics say of a request whose
// client left before the answer was complete (nginx's 499).
const statusClientClosed = 499

// clientWriteError reports whether err surely came from writing to the
// client (it closed its connection) rather than from reading the blobs.
// A splice's error may be either side's; it counts as the blobs', so that a
// failure is never hidden as a client's.
func clientWriteError(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "write" || errors.Is(err, syscall.EPIPE)
}

// abortConn closes the client's connection with a TCP reset (SO_LINGER 0)
// instead of a FIN, which a client would take for the end of a response.
func abortConn(nc net.Conn) {
	if nc == nil {
		return
	}
	for {
		switch c := nc.(type) {
		case *tls.Conn:
			nc = c.NetConn()
			continue
		case interface{ NetConn() net.Conn }:
			nc = c.NetConn()
			continue
		}
		break
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	nc.Close()
}

// reqLine is what the one log line (and the metrics) of a request say.
type reqLine struct {
	g                  *Gateway
	start              time.Time
	id, method, op     string
	bucket, key, user  string
	status, sentStatus int // sentStatus: what went out, when the outcome differs
	code               string
	err                error
	in, out            int64
}

func (l *reqLine) write() {
	attrs := []any{"request_id", l.id, "method", l.method, "op", l.op, "bucket", l.bucket, "key", l.key,
		"status", l.status, "in", l.in, "out", l.out, "ms", time.Since(l.start).Milliseconds()}
	if l.sentStatus != 0 && l.sentStatus != l.status {
		attrs = append(attrs, "sent_status", l.sentStatus, "aborted", true)
	}
	if l.user != "" {
		attrs = append(attrs, "user", l.user)
	}
	if l.code != "" {
		attrs = append(attrs, "code", l.code)
	}
	l.g.log.Info("s3", attrs...)
	l.g.cfg.Metrics.observe(l.op, l.status, time.Since(l.start), l.in, l.out)
}
