package storagenode

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/idserver"
	"github.com/tnv-s3/tnv/internal/connpool"
	"github.com/tnv-s3/tnv/internal/tnvauth"
	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/proto"
)

// idServerDropping answers ID_GET with increasing IDs (ID_GET_BLOCK with
// blocks of one), except that the
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
					reply := proto.EncodeInt64(next.Add(1))
					if h.Cmd == proto.CmdIDGetBlock {
						// One ID per block: every get asks.
						reply = proto.EncodeIDRange(next.Load(), 1)
					}
					proto.WriteFrame(nc, proto.CmdIDReply, proto.StatusOK, reply)
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

// A node takes its file IDs from a real ID server a block at a time: one
// request per idBlockSize IDs, every ID new, increasing, across concurrent
// callers.
func TestIDClient_TakesBlocks(t *testing.T) {
	forEachDB(t, testIDClientTakesBlocks)
}

func testIDClientTakesBlocks(t *testing.T, db *metadb.DB) {
	srv, err := idserver.New(idserver.Config{DB: db, Step: 50})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	pool := connpool.New(connpool.Config{Dial: tnvauth.Dialer(nil, time.Second)})
	defer pool.Close()
	ids := newIDClient([]string{ln.Addr().String()}, 5*time.Second, pool)
	ctx := context.Background()
	const n = 200
	got := make(chan int64, n)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n / 8 {
				id, err := ids.get(ctx, "store-a")
				if err != nil {
					t.Error(err)
					return
				}
				got <- id
			}
		}()
	}
	wg.Wait()
	close(got)
	seen := map[int64]bool{}
	for id := range got {
		if id < 1 || seen[id] {
			t.Fatalf("ID %d twice or not positive", id)
		}
		seen[id] = true
	}
	if len(seen) != n {
		t.Fatalf("%d IDs, want %d", len(seen), n)
	}
	// Blocks of 32 out of the server's blocks of 50: at most two requests
	// per 50 IDs (a block's end gives fewer than 32).
	if a := ids.asked.Load(); a < n/idBlockSize || a > 2*(n/50+1) {
		t.Fatalf("%d requests to the ID server for %d IDs", a, n)
	}
	// Another key has its own block; an ID asked one at a time (ID_GET,
	// another client) is never in a block handed out.
	other, err := ids.get(ctx, "store-b")
	if err != nil || other < 1 {
		t.Fatalf("other key: %d, %v", other, err)
	}
	single, err := srv.Next(ctx, "store-a")
	if err != nil || seen[single] {
		t.Fatalf("ID_GET after the blocks: %d, %v (handed out already: %v)", single, err, seen[single])
	}
	last, _ := ids.get(ctx, "store-a")
	if last == single || seen[last] {
		t.Fatalf("ID %d after the blocks repeats one (ID_GET gave %d)", last, single)
	}
}

// An ID server older than ID_GET_BLOCK refuses it (ENOSYS, as an unknown
// command): the node asks it with ID_GET from then on, one ID at a time.
func TestIDClient_OlderServerGetsIDGet(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var blockAsks, singleAsks atomic.Int64
	go func() {
		var next atomic.Int64
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				for {
					h, err := proto.ReadHeader(nc)
					if err != nil {
						return
					}
					if _, err := proto.ReadBody(nc, h, 1<<10); err != nil {
						return
					}
					if h.Cmd != proto.CmdIDGet {
						blockAsks.Add(1)
						proto.WriteError(nc, proto.CmdIDReply, proto.Errorf(proto.ENOSYS, "command %d is not served by the ID server", h.Cmd))
						continue
					}
					singleAsks.Add(1)
					proto.WriteFrame(nc, proto.CmdIDReply, proto.StatusOK, proto.EncodeInt64(next.Add(1)))
				}
			}()
		}
	}()
	pool := connpool.New(connpool.Config{Dial: tnvauth.Dialer(nil, time.Second)})
	defer pool.Close()
	ids := newIDClient([]string{ln.Addr().String()}, 5*time.Second, pool)
	for want := int64(1); want <= 3; want++ {
		id, err := ids.get(context.Background(), "k")
		if err != nil || id != want {
			t.Fatalf("ID %d, %v; want %d", id, err, want)
		}
	}
	if b, s := blockAsks.Load(), singleAsks.Load(); b != 1 || s != 3 {
		t.Fatalf("%d ID_GET_BLOCK and %d ID_GET requests, want 1 and 3", b, s)
	}
}
