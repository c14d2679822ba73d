package tnv

import (
	"context"
	"net"
	"time"

	"github.com/tnv-s3/tnv/internal/connpool"
	"github.com/tnv-s3/tnv/internal/tnvtls"
)

// conn is one connection to a server, checked out of the client's
// connpool. Every Read and Write pushes the deadline IOTimeout ahead (a
// progress deadline: a transfer may take any time as long as bytes keep
// moving). A conn is used by one request at a time.
type conn struct {
	nc      *connpool.Conn
	timeout time.Duration

	pushed time.Time // when the deadline was last moved
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

// newPool is the client's pool of connections to trackers and storage
// nodes.
func newPool(cfg Config) *connpool.Pool {
	dial := cfg.Dial
	if dial == nil {
		dial = tnvtls.Dialer(cfg.TLS, cfg.Auth, cfg.DialTimeout)
	} else {
		outer := dial
		dial = func(ctx context.Context, addr string) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
			defer cancel()
			return outer(ctx, addr)
		}
	}
	// Deadlines are kept: every use moves them (progress), and IOTimeout
	// is longer than IdleTimeout by default; one that expired while idle
	// only costs a new connection.
	return connpool.New(connpool.Config{Dial: dial, MaxIdle: cfg.PoolSize, IdleTimeout: cfg.IdleTimeout, KeepDeadlines: true})
}

// get checks a connection to addr out of the pool; fresh bypasses the idle
// ones.
func (c *Client) get(ctx context.Context, addr string, fresh bool) (*conn, error) {
	get := c.pool.Get
	if fresh {
		get = c.pool.Dial
	}
	nc, err := get(ctx, addr)
	if err != nil {
		if err == connpool.ErrClosed {
			err = ErrClosed
		}
		return nil, err
	}
	if cn, ok := nc.Ext.(*conn); ok {
		cn.broken = false
		return cn, nil
	}
	cn := &conn{nc: nc, timeout: c.cfg.IOTimeout}
	nc.Ext = cn
	return cn, nil
}

// put hands cn back: pooled unless it is out of sync.
func (c *Client) put(cn *conn) {
	if cn.broken {
		cn.nc.Fail()
	}
	c.pool.Put(cn.nc)
}
