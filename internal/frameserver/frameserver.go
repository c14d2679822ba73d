// Package frameserver is the connection handling that the tracker, the ID
// server and the storage node share: accept with backoff, one goroutine per connection reading
// TNV frames in sequence, replies, and a graceful Close that stops
// accepting, closes idle connections at once and gives busy ones time to
// finish their request.
package frameserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"github.com/tnv-s3/tnv/internal/tnvauth"
	"github.com/tnv-s3/tnv/proto"
)

// Set tracks a server's listeners and connections. The zero value is ready
// and speaks the open protocol.
type Set struct {
	// Auth, when set, authenticates every TCP connection with the cluster
	// handshake before handle sees it; a peer that fails gets one error
	// reply with AuthReply (the server's reply command), is logged on Log
	// (nil = slog.Default()) and closed.
	Auth      *tnvauth.Key
	AuthReply uint8
	Log       *slog.Logger
	// TLS, when set, makes every TCP connection a TLS server connection
	// (tnvtls.Files.Server); its handshake runs before the cluster's, in
	// the connection's goroutine. A Unix socket stays plain.
	TLS *tls.Config

	mu      sync.Mutex
	closing bool
	lastID  uint64
	lns     map[net.Listener]struct{}
	conns   map[*Conn]struct{}
	wg      sync.WaitGroup
}

// Conn is one client connection; busy while a request is being served.
type Conn struct {
	net.Conn
	ID   uint64 // unique within the Set, from 1
	set  *Set
	busy bool
}

// Serve accepts connections on ln and runs handle on each in its own
// goroutine until Close. It returns nil after Close.
func (s *Set) Serve(ln net.Listener, handle func(*Conn)) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	if s.lns == nil {
		s.lns, s.conns = map[net.Listener]struct{}{}, map[*Conn]struct{}{}
	}
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.lns, ln)
		s.mu.Unlock()
	}()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || !errors.Is(err, net.ErrClosed) {
				// Out of file descriptors and the like: wait, retry.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			nc.Close()
			return nil
		}
		s.lastID++
		if _, local := nc.(*net.UnixConn); !local && s.TLS != nil {
			nc = tls.Server(nc, s.TLS)
		}
		c := &Conn{Conn: nc, ID: s.lastID, set: s}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			defer func() {
				if v := recover(); v != nil {
					// A handler's own setup panicked (Requests recovers its
					// requests): the connection ends, the server lives.
					slog.Error("panic serving a connection; connection closed", "peer", nc.RemoteAddr().String(),
						"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				}
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				nc.Close()
			}()
			if err := s.authenticate(nc); err != nil {
				s.logger().Log(context.Background(), tnvauth.LogLevel(err), "refused a connection", "peer", nc.RemoteAddr().String(), "err", err)
				return
			}
			handle(c)
		}()
	}
}

// authenticate runs the cluster handshake on a TCP connection. A Unix
// socket is not authenticated: its file mode (0600) admits only the
// server's own user, who can read the secret anyway (a storage node's
// --local-socket; docs/operations.md, "Trust model").
func (s *Set) authenticate(nc net.Conn) error {
	if _, local := nc.(*net.UnixConn); local {
		return nil
	}
	if tc, ok := nc.(*tls.Conn); ok {
		if err := s.handshakeTLS(tc); err != nil {
			return err
		}
	}
	return tnvauth.Server(nc, s.Auth, s.AuthReply)
}

// handshakeTLS runs the TLS handshake of an accepted connection. A peer
// that speaks plain TNV to a TLS server gets one plain error reply saying
// so, rather than a connection closed without a word.
func (s *Set) handshakeTLS(tc *tls.Conn) error {
	ctx, cancel := context.WithTimeout(context.Background(), tnvauth.DefaultTimeout)
	defer cancel()
	err := tc.HandshakeContext(ctx)
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) && rh.Conn != nil {
		rh.Conn.SetDeadline(time.Now().Add(time.Second))
		proto.WriteError(rh.Conn, s.AuthReply, proto.Errorf(proto.EACCES, "this server speaks TLS only: connect with TLS (--tls-ca)"))
		// Read what the peer sent on (briefly) after a half close, so
		// that closing does not reset the connection before the peer
		// read the reply.
		if cw, ok := rh.Conn.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		io.CopyN(io.Discard, rh.Conn, 64<<10)
		return fmt.Errorf("%w: plain TNV on a TLS port", tnvauth.ErrRefused)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.EOF):
		return fmt.Errorf("TLS handshake: %w", err) // a port probe
	}
	// A certificate refused, no certificate, a TLS version too old: a
	// peer that tried and failed, worth a warning.
	return fmt.Errorf("%w: TLS handshake: %v", tnvauth.ErrRefused, err)
}

func (s *Set) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// Close stops accepting, closes idle connections, waits up to timeout for
// busy ones to finish their request, then closes the rest; cut reports
// whether some had to be.
func (s *Set) Close(timeout time.Duration) (cut bool) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		s.wg.Wait()
		return false
	}
	s.closing = true
	for ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		if !c.busy {
			c.Close()
		}
	}
	s.mu.Unlock()
	finished := make(chan struct{})
	go func() { s.wg.Wait(); close(finished) }()
	select {
	case <-finished:
		return false
	case <-time.After(timeout):
	}
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	<-finished
	return true
}

// Requests reads request headers from c in sequence until EOF, an idle
// timeout, Close, or serve returning false (the stream cannot go on), and
// hands each to serve while c counts as busy. A header that cannot be
// decoded gets an EMSGSIZE reply with replyCmd.
func (c *Conn) Requests(idle, ioTimeout time.Duration, replyCmd uint8, log *slog.Logger, serve func(h proto.Header) bool) {
	for {
		c.SetReadDeadline(time.Now().Add(idle))
		h, err := proto.ReadHeader(c)
		if err != nil {
			if err != io.EOF && !errors.Is(err, net.ErrClosed) {
				log.Debug("read header", "peer", c.RemoteAddr().String(), "err", err)
				if errors.Is(err, proto.ErrBodyLen) {
					c.Reply(replyCmd, ioTimeout, proto.Errorf(proto.EMSGSIZE, "%v", err), nil)
				}
			}
			return
		}
		if !c.begin() {
			return
		}
		ok := c.serveOne(h, log, serve)
		if !c.end() || !ok {
			return
		}
	}
}

// serveOne runs serve for one request; a panic in it is logged with its
// stack and ends this connection only, not the process.
func (c *Conn) serveOne(h proto.Header, log *slog.Logger, serve func(h proto.Header) bool) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			log.Error("panic serving a request; connection closed", "peer", c.RemoteAddr().String(),
				"cmd", h.Cmd, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			ok = false
		}
	}()
	return serve(h)
}

// Begin marks a request in progress on c, so that Close gives it time to
// finish instead of closing c at once; false means the server is closing and
// the request must not start. It is the hook for handlers that read their
// own requests instead of using Requests — a storage node's, which stream
// bodies through a buffered reader and own the connection for the whole
// request. Each true Begin is followed by End.
func (c *Conn) Begin() bool { return c.begin() }

// End marks the request done; false means the server is closing and the
// connection must not carry another request.
func (c *Conn) End() bool { return c.end() }

func (c *Conn) begin() bool {
	c.set.mu.Lock()
	defer c.set.mu.Unlock()
	if c.set.closing {
		return false
	}
	c.busy = true
	return true
}

func (c *Conn) end() bool {
	c.set.mu.Lock()
	defer c.set.mu.Unlock()
	c.busy = false
	return !c.set.closing
}

// Reply writes an error reply when e is set, else an OK reply with body,
// within timeout. It reports whether the write succeeded.
func (c *Conn) Reply(cmd uint8, timeout time.Duration, e *proto.ErrorReply, body []byte) bool {
	c.SetWriteDeadline(time.Now().Add(timeout))
	var err error
	if e != nil {
		err = proto.WriteError(c, cmd, e)
	} else {
		err = proto.WriteFrame(c, cmd, proto.StatusOK, body)
	}
	return err == nil
}

// Discard skips the body of a refused request when it is small enough to
// keep the stream in sync; false means the connection must be closed.
func (c *Conn) Discard(h proto.Header) bool {
	if h.BodyLen > 64<<10 {
		return false
	}
	_, err := io.CopyN(io.Discard, c, h.BodyLen)
	return err == nil
}
