package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// clientLimiter caps the open connections of each client address: one
// client cannot hold every descriptor and buffer of the gateway. A
// connection over the cap is answered 503 SlowDown and closed.
type clientLimiter struct {
	net.Listener
	max int
	log *slog.Logger

	mu       sync.Mutex
	open     map[string]int
	lastWarn atomic.Int64 // unix seconds: refusals are logged at most once per 10s
}

func (l *clientLimiter) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		host := clientHost(nc.RemoteAddr())
		l.mu.Lock()
		if l.open[host] >= l.max {
			l.mu.Unlock()
			if now := time.Now().Unix(); l.lastWarn.Load()+10 <= now {
				l.lastWarn.Store(now)
				l.log.Warn("gateway: connection refused: client at its connection cap", "client", host, "max", l.max)
			}
			go refuseConn(nc)
			continue
		}
		l.open[host]++
		l.mu.Unlock()
		return &limitedConn{Conn: nc, l: l, host: host}, nil
	}
}

func (l *clientLimiter) release(host string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[host]--; l.open[host] <= 0 {
		delete(l.open, host)
	}
}

func clientHost(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return h
}

// slowDown is the answer to a connection over its client's cap.
var slowDown = func() []byte {
	body := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<Error><Code>SlowDown</Code><Message>Please reduce your request rate: too many connections from your address.</Message></Error>`
	return []byte(fmt.Sprintf("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\nContent-Length: %d\r\nRetry-After: 1\r\nConnection: close\r\n\r\n%s", len(body), body))
}()

// refuseConn answers SlowDown and closes. It first reads the request's
// head (at most 64 KiB, for at most half a second: a client that sends
// nothing is answered all the same): an answer sent before the request is
// one an HTTP client may take as unsolicited and drop (Go's transport:
// "readLoopPeekFailLocked"). After the answer the rest is read too:
// closing a socket with unread bytes makes the kernel send RST, which can
// reach the client before it has read the answer.
func refuseConn(nc net.Conn) {
	defer nc.Close()
	nc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	head := make([]byte, 0, 4<<10)
	buf := make([]byte, 4<<10)
	for len(head) < 64<<10 && !bytes.Contains(head, []byte("\r\n\r\n")) {
		n, err := nc.Read(buf)
		head = append(head, buf[:n]...)
		if err != nil {
			break
		}
	}
	nc.SetDeadline(time.Now().Add(time.Second))
	if _, err := nc.Write(slowDown); err != nil {
		return
	}
	if cw, ok := nc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	io.CopyN(io.Discard, nc, 64<<10)
}

// limitedConn gives its slot back on Close.
type limitedConn struct {
	net.Conn
	l    *clientLimiter
	host string
	once sync.Once
}

func (c *limitedConn) Close() error {
	c.once.Do(func() { c.l.release(c.host) })
	return c.Conn.Close()
}

// NetConn is the connection underneath (abortConn resets it).
func (c *limitedConn) NetConn() net.Conn { return c.Conn }

// ReadFrom keeps the TCP connection's ReadFrom (splice, sendfile) on the
// path of response bodies.
func (c *limitedConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// idleReader fails a request body that sends nothing for d: each read
// pushes the connection's read deadline on, so a slow but steady upload of
// any size goes through while a stalled or trickling one is cut.
type idleReader struct {
	r   io.Reader
	ctx *fasthttp.RequestCtx
	d   time.Duration
}

func (i *idleReader) Read(p []byte) (int, error) {
	i.ctx.SetReadDeadline(time.Now().Add(i.d))
	return i.r.Read(p)
}

// testHandlerHook, set only by tests, runs before each S3 handler (a test
// makes it panic to check that the gateway survives).
var testHandlerHook atomic.Pointer[func(op string)]

var errPanic = errors.New("gateway: panic serving the request")

// recoverPanic makes a panic in a handler fail that request only: it is
// logged with its stack, answered 500 InternalError, and its connection
// closed (its state is unknown).
func (g *Gateway) recoverPanic(c *fiber.Ctx) (err error) {
	defer func() {
		if v := recover(); v != nil {
			g.log.Error("gateway: panic serving a request", "method", c.Method(), "path", c.Path(),
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			c.Context().SetConnectionClose()
			c.Response().ResetBody()
			err = errPanic
		}
	}()
	return c.Next()
}
