package tnv

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/tnv-s3/tnv/internal/sockcheck"
	"github.com/tnv-s3/tnv/internal/tnvauth"
)

// conn is one connection to a server. Every Read and Write pushes the
// deadline IOTimeout ahead (a progress deadline: a transfer may take any time
// as long as bytes keep moving). A conn is used by one request at a time.
type conn struct {
	nc      net.Conn
	addr    string
	timeout time.Duration

	pushed time.Time // when the deadline was last moved
	idle   time.Time // when it went back into the pool
	broken bool      // the stream is out of sync or failed: never pooled
}

func (c *conn) progress() {
	// Moving a deadline costs a timer update; doing it at most every 1/8 of
	// the timeout keeps the effective deadline within 7/8..1 of IOTimeout.
	now := time.Now()
	if now.Sub(c.pushed) > c.timeout/8 {
		c.nc.SetDeadline(now.Add(c.timeout))
		c.pushed = now
	}
}

func (c *conn) Read(p []byte) (int, error) {
	c.progress()
	n, err := c.nc.Read(p)
	if err != nil {
		c.broken = true
	}
	return n, err
}

func (c *conn) Write(p []byte) (int, error) {
	c.progress()
	n, err := c.nc.Write(p)
	if err != nil {
		c.broken = true
	}
	return n, err
}

// watch closes the connection when ctx ends, which aborts any read or write
// in progress. stop reports false if that already happened.
func (c *conn) watch(ctx context.Context) (stop func() bool) {
	return context.AfterFunc(ctx, func() { c.nc.Close() })
}

// pool keeps idle connections per server address.
type pool struct {
	dial        func(ctx context.Context, addr string) (net.Conn, error) // dials and authenticates
	timeout     time.Duration                                            // IOTimeout of new conns
	size        int                                                      // idle conns kept per address
	idleTimeout time.Duration

	mu     sync.Mutex
	idle   map[string][]*conn
	closed bool
}

func newPool(cfg Config) *pool {
	return &pool{
		dial:        tnvauth.Dialer(cfg.Auth, cfg.DialTimeout),
		timeout:     cfg.IOTimeout,
		size:        cfg.PoolSize,
		idleTimeout: cfg.IdleTimeout,
		idle:        map[string][]*conn{},
	}
}

// get returns an idle connection to addr that is still open, or dials one.
func (p *pool) get(ctx context.Context, addr string) (*conn, error) {
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
		p.idle[addr] = l[:len(l)-1]
		p.mu.Unlock()
		// A server drops connections idle for long; a dropped one would fail
		// the request after the caller's body has been partly consumed.
		if time.Since(c.idle) < p.idleTimeout && sockcheck.Alive(c.nc) {
			return c, nil
		}
		c.nc.Close()
	}
	nc, err := p.dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	return &conn{nc: nc, addr: addr, timeout: p.timeout}, nil
}

// put takes a connection back, or closes it when it is out of sync or the
// address already has enough idle ones.
func (p *pool) put(c *conn) {
	if c.broken {
		c.nc.Close()
		return
	}
	c.idle = time.Now()
	p.mu.Lock()
	if !p.closed && len(p.idle[c.addr]) < p.size {
		p.idle[c.addr] = append(p.idle[c.addr], c)
		c = nil
	}
	p.mu.Unlock()
	if c != nil {
		c.nc.Close()
	}
}

func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	all := p.idle
	p.idle = map[string][]*conn{}
	p.mu.Unlock()
	for _, l := range all {
		for _, c := range l {
			c.nc.Close()
		}
	}
}
