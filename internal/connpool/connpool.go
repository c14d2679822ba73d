// Package connpool keeps idle connections to TNV servers for reuse: the
// one pool behind every TNV client (the gateway's client of trackers and
// storage nodes, its local sockets, a storage node's clients of the ID
// servers, trackers and peers).
//
// A connection is handed out to one request at a time. On checkout an idle
// connection is checked (sockcheck: still open, no unread bytes) and dropped
// if it idled longer than IdleTimeout, which callers keep below the servers'
// idle timeout so that a server never closes a connection while the pool
// believes in it. Do adds a transparent redial for the remaining race: a
// reused connection that fails before any byte of the reply arrived is
// replaced once by a new one.
package connpool

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tnv-s3/tnv/internal/sockcheck"
)

// DialFunc opens a connection to addr. It is the seam where a handshake
// (the cluster secret) runs before the connection is pooled.
type DialFunc func(ctx context.Context, addr string) (net.Conn, error)

// ErrClosed is returned by Get after Close.
var ErrClosed = errors.New("connpool: closed")

// Config configures a Pool. Zero values take the defaults shown.
type Config struct {
	Dial        DialFunc      // required
	MaxIdle     int           // idle connections kept per address, default 8
	IdleTimeout time.Duration // an idle connection older than this is closed, default 30s
	// KeepDeadlines makes Put leave the connection's deadlines as they are,
	// for callers that move them on every use anyway (a progress deadline)
	// and keep them further ahead than IdleTimeout: it saves two deadline
	// updates per request. Otherwise Put clears them (an expired deadline
	// would fail the liveness check).
	KeepDeadlines bool
	// Now is the clock IdleTimeout is measured by, default time.Now (tests
	// advance a clocktest.Clock).
	Now func() time.Time
}

// Pool keeps idle connections per address. It is safe for concurrent use.
type Pool struct {
	cfg Config

	mu     sync.Mutex
	idle   map[string][]*Conn // per address, oldest first
	closed bool
}

// Conn is a connection checked out of a Pool. Reads and writes that fail
// mark it broken: it is then closed instead of pooled.
type Conn struct {
	net.Conn
	Addr   string
	Reused bool // it came from the pool rather than a new dial
	// Ext is the caller's, kept with the connection from one checkout to
	// the next (a wrapper that need not be allocated per request).
	Ext any

	idleSince time.Time
	// Atomic: a reply may be read while the request is still being written.
	nread  atomic.Int64
	broken atomic.Bool
}

// New returns a pool dialing with cfg.Dial.
func New(cfg Config) *Pool {
	if cfg.Dial == nil {
		panic("connpool: Config.Dial is nil")
	}
	if cfg.MaxIdle <= 0 {
		cfg.MaxIdle = 8
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Pool{cfg: cfg, idle: map[string][]*Conn{}}
}

// Read reads from the connection; an error marks it broken.
func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.nread.Add(int64(n))
	}
	if err != nil {
		c.broken.Store(true)
	}
	return n, err
}

// Write writes to the connection; an error marks it broken.
func (c *Conn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err != nil {
		c.broken.Store(true)
	}
	return n, err
}

// Fail marks the connection out of sync: Put closes it.
func (c *Conn) Fail() { c.broken.Store(true) }

// Broken reports whether the connection may not be pooled.
func (c *Conn) Broken() bool { return c.broken.Load() }

// Answered reports whether any byte came back on the connection since it
// was checked out (counted by Read).
func (c *Conn) Answered() bool { return c.nread.Load() > 0 }

// Get returns an idle connection to addr that is still usable, or dials a
// new one.
func (p *Pool) Get(ctx context.Context, addr string) (*Conn, error) {
	now := p.cfg.Now()
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, ErrClosed
		}
		l := p.idle[addr]
		if len(l) == 0 {
			p.mu.Unlock()
			break
		}
		c := l[len(l)-1]
		l[len(l)-1] = nil
		l = l[:len(l)-1]
		var stale []*Conn
		if now.Sub(c.idleSince) >= p.cfg.IdleTimeout {
			// The newest is too old: so are all the others.
			stale, l = l, nil
		}
		p.setIdle(addr, l)
		p.mu.Unlock()
		for _, s := range stale {
			s.Conn.Close()
		}
		if stale == nil && sockcheck.Alive(c.Conn) {
			c.Reused = true
			c.nread.Store(0)
			return c, nil
		}
		c.Conn.Close()
	}
	return p.Dial(ctx, addr)
}

// Dial opens a new connection to addr, bypassing the idle ones.
func (p *Pool) Dial(ctx context.Context, addr string) (*Conn, error) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	nc, err := p.cfg.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	return &Conn{Conn: nc, Addr: addr}, nil
}

func (p *Pool) setIdle(addr string, l []*Conn) {
	if len(l) == 0 {
		delete(p.idle, addr)
	} else {
		p.idle[addr] = l
	}
}

// Put hands c back after a request that left the stream in sync; a broken
// connection, one beyond MaxIdle or one put after Close is closed. Idle
// connections of the address past IdleTimeout are closed on the way.
func (p *Pool) Put(c *Conn) {
	if c.broken.Load() {
		c.Conn.Close()
		return
	}
	if !p.cfg.KeepDeadlines {
		c.Conn.SetDeadline(time.Time{})
	}
	now := p.cfg.Now()
	c.idleSince = now
	var drop []*Conn
	p.mu.Lock()
	l := p.idle[c.Addr]
	k := 0
	for k < len(l) && now.Sub(l[k].idleSince) >= p.cfg.IdleTimeout {
		k++
	}
	drop = append(drop, l[:k]...)
	l = append(l[:0], l[k:]...)
	if !p.closed && len(l) < p.cfg.MaxIdle {
		l = append(l, c)
	} else {
		drop = append(drop, c)
	}
	p.setIdle(c.Addr, l)
	p.mu.Unlock()
	for _, d := range drop {
		d.Conn.Close()
	}
}

// Drop closes c (a request that failed or left the stream out of sync).
func (p *Pool) Drop(c *Conn) {
	c.broken.Store(true)
	c.Conn.Close()
}

// Idle is the number of idle connections kept for addr.
func (p *Pool) Idle(addr string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle[addr])
}

// Close closes the idle connections; connections checked out are closed
// when they are put back.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	all := p.idle
	p.idle = map[string][]*Conn{}
	p.mu.Unlock()
	for _, l := range all {
		for _, c := range l {
			c.Conn.Close()
		}
	}
}

// Do runs one request on a connection to addr and hands the connection
// back (pooled unless fn left it broken). When a reused connection fails
// before any byte of the reply came back — the server closed it while it
// sat idle, so the request was never taken — and replay allows (nil: the
// request can always be sent again), fn runs once more on a new
// connection. Only requests that are safe to repeat may pass a nil replay:
// a server that died after taking the request looks the same.
func (p *Pool) Do(ctx context.Context, addr string, replay func() bool, fn func(c *Conn) error) error {
	c, err := p.Get(ctx, addr)
	if err != nil {
		return err
	}
	err = fn(c)
	if c.Stale(ctx, err) && (replay == nil || replay()) {
		p.Drop(c)
		if c, err = p.Dial(ctx, addr); err != nil {
			return err
		}
		err = fn(c)
	}
	p.Put(c)
	return err
}

// Stale reports whether err, from a request on c, is that of a reused
// connection the server had closed while it sat idle: c broke before any
// byte of the reply came, with a "connection closed" error, and ctx is
// still live. The request was then not taken, and may be sent again on a
// new connection.
func (c *Conn) Stale(ctx context.Context, err error) bool {
	return err != nil && c.Reused && c.broken.Load() && !c.Answered() && ctx.Err() == nil && Dead(err)
}

// Dead reports whether err is what a connection the server had closed
// gives: end of stream, reset, broken pipe.
func Dead(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNABORTED)
}
