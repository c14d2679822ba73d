package storagenode

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/internal/connpool"
	"github.com/tnv-s3/tnv/internal/tnvauth"
	"github.com/tnv-s3/tnv/proto"
)

// idServerDropping answers ID_GET with increasing IDs, except that the
// requests drop picks (by connection and request number, from 1) are met
// with a close: an ID server's idle timeout firing as the request arrives,
// after the client's checkout saw the connection open.
func idServerDropping(t *testing.T, drop func(conn int64, req int) bool) (addr string, accepts *atomic.Int64) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepts = new(atomic.Int64)
	var next atomic.Int64
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			n := accepts.Add(1)
			go func() {
				defer nc.Close()
				for req := 1; ; req++ {
					h, err := proto.ReadHeader(nc)
					if err != nil {
						return
					}
					body := make([]byte, h.BodyLen)
					if _, err := nc.Read(body); err != nil && h.BodyLen > 0 {
						return
					}
					if drop(n, req) {
						return
					}
					proto.WriteFrame(nc, proto.CmdIDReply, proto.StatusOK, proto.EncodeInt64(next.Add(1)))
				}
			}()
		}
	}()
	return ln.Addr().String(), accepts
}

// Every pooled connection to the ID server has been closed by it, and the
// liveness check could not see it yet: the request goes out on a new
// connection instead of failing (it used to retry once, on another dead
// pooled connection, and fail the upload with "no file ID").
func TestIDClient_AllPooledConnectionsStale(t *testing.T) {
	addr, accepts := idServerDropping(t, func(conn int64, req int) bool { return conn <= 2 && req == 2 })
	pool := connpool.New(connpool.Config{Dial: tnvauth.Dialer(nil, time.Second)})
	defer pool.Close()
	ids := newIDClient([]string{addr}, 5*time.Second, pool)
	ctx := context.Background()
	// Two connections in the pool, each having served one request.
	c1, _ := pool.Get(ctx, addr)
	c2, _ := pool.Get(ctx, addr)
	for _, c := range []*connpool.Conn{c1, c2} {
		body, _ := proto.EncodeIDKey("k")
		if _, err := roundTrip(c, time.Second, proto.CmdIDGet, proto.CmdIDReply, body, 8); err != nil {
			t.Fatal(err)
		}
		pool.Put(c)
	}
	for i := range 3 {
		if _, err := ids.get(ctx, "k"); err != nil {
			t.Fatalf("ID %d: %v", i, err)
		}
	}
	if a := accepts.Load(); a != 3 {
		t.Fatalf("%d connections, want 3 (the two stale ones, one new)", a)
	}
}

// Unhappy path: an ID server that closes new connections too is an error
// after one redial, not a loop.
func TestIDClient_DeadServerFails(t *testing.T) {
	addr, accepts := idServerDropping(t, func(conn int64, req int) bool { return conn > 1 || req > 1 })
	pool := connpool.New(connpool.Config{Dial: tnvauth.Dialer(nil, time.Second)})
	defer pool.Close()
	ids := newIDClient([]string{addr}, 5*time.Second, pool)
	ctx := context.Background()
	if _, err := ids.get(ctx, "k"); err != nil {
		t.Fatal(err) // the first connection's first request is answered
	}
	if _, err := ids.get(ctx, "k"); err == nil {
		t.Fatal("got an ID from a server that closes every connection")
	}
	if a := accepts.Load(); a != 2 {
		t.Fatalf("%d connections, want 2 (one redial)", a)
	}
}
