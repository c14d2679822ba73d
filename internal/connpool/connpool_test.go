package connpool

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/internal/clocktest"
	"github.com/tnv-s3/tnv/internal/tnvauth"
)

// server answers "ok\n" to each line on real loopback connections; drop,
// when set, decides per request (connection number, request number on it)
// whether the server closes the connection instead of answering.
type server struct {
	ln    net.Listener
	conns atomic.Int64
	drop  func(conn, req int) bool

	mu  sync.Mutex
	all []net.Conn
}

func newServer(t *testing.T, drop func(conn, req int) bool) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{ln: ln, drop: drop}
	t.Cleanup(func() { ln.Close(); s.closeAll() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			n := int(s.conns.Add(1))
			s.mu.Lock()
			s.all = append(s.all, nc)
			s.mu.Unlock()
			go s.serve(nc, n)
		}
	}()
	return s
}

func (s *server) serve(nc net.Conn, n int) {
	defer nc.Close()
	br := bufio.NewReader(nc)
	for req := 1; ; req++ {
		if _, err := br.ReadString('\n'); err != nil {
			return
		}
		if s.drop != nil && s.drop(n, req) {
			return
		}
		if _, err := nc.Write([]byte("ok\n")); err != nil {
			return
		}
	}
}

// closeAll closes every server side connection (a server's idle timeout).
func (s *server) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.all {
		c.Close()
	}
	s.all = nil
}

func (s *server) addr() string { return s.ln.Addr().String() }

// ask sends one request on c and reads the answer.
func ask(c *Conn) error {
	if _, err := c.Write([]byte("req\n")); err != nil {
		return err
	}
	var b [3]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return err
	}
	if string(b[:]) != "ok\n" {
		return errors.New("bad answer " + string(b[:]))
	}
	return nil
}

type dialCounter struct{ n atomic.Int64 }

func (d *dialCounter) dial(ctx context.Context, addr string) (net.Conn, error) {
	d.n.Add(1)
	return tnvauth.Dialer(nil, time.Second)(ctx, addr)
}

func newPool(t *testing.T, d *dialCounter, cfg Config) *Pool {
	cfg.Dial = d.dial
	p := New(cfg)
	t.Cleanup(p.Close)
	return p
}

func TestPool_ReusesAndCapsIdle(t *testing.T) {
	s := newServer(t, nil)
	var d dialCounter
	p := newPool(t, &d, Config{MaxIdle: 2})
	ctx := context.Background()
	var cs []*Conn
	for range 3 {
		c, err := p.Get(ctx, s.addr())
		if err != nil {
			t.Fatal(err)
		}
		if c.Reused {
			t.Fatal("a fresh pool handed out a reused connection")
		}
		if err := ask(c); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	for _, c := range cs {
		p.Put(c)
	}
	if n := p.Idle(s.addr()); n != 2 {
		t.Fatalf("idle = %d, want MaxIdle 2", n)
	}
	c, err := p.Get(ctx, s.addr())
	if err != nil {
		t.Fatal(err)
	}
	if !c.Reused || c != cs[1] {
		t.Fatalf("Get did not reuse the last connection put back (reused %v)", c.Reused)
	}
	if err := ask(c); err != nil {
		t.Fatal(err)
	}
	p.Put(c)
	if d.n.Load() != 3 {
		t.Fatalf("dials = %d, want 3", d.n.Load())
	}
}

func TestPool_BrokenIsClosedNotPooled(t *testing.T) {
	s := newServer(t, nil)
	var d dialCounter
	p := newPool(t, &d, Config{})
	c, err := p.Get(context.Background(), s.addr())
	if err != nil {
		t.Fatal(err)
	}
	c.Fail()
	p.Put(c)
	if n := p.Idle(s.addr()); n != 0 {
		t.Fatalf("a broken connection was pooled (idle %d)", n)
	}
	if _, err := c.Conn.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("broken connection not closed: write err %v", err)
	}
}

// A connection the server closed while idle is found dead on checkout and
// replaced, without a request failing.
func TestPool_DeadIdleReplacedOnCheckout(t *testing.T) {
	s := newServer(t, nil)
	var d dialCounter
	p := newPool(t, &d, Config{})
	ctx := context.Background()
	c, err := p.Get(ctx, s.addr())
	if err != nil {
		t.Fatal(err)
	}
	if err := ask(c); err != nil {
		t.Fatal(err)
	}
	p.Put(c)
	s.closeAll()
	// The FIN needs a moment to arrive.
	deadline := time.Now().Add(2 * time.Second)
	for {
		c, err = p.Get(ctx, s.addr())
		if err != nil {
			t.Fatal(err)
		}
		if !c.Reused || time.Now().After(deadline) {
			break
		}
		p.Put(c)
		time.Sleep(10 * time.Millisecond)
	}
	if c.Reused {
		t.Fatal("a connection the server closed was handed out")
	}
	if err := ask(c); err != nil {
		t.Fatal(err)
	}
	p.Put(c)
}

// A connection idle longer than IdleTimeout is not reused, though it is open.
func TestPool_IdleTimeout(t *testing.T) {
	s := newServer(t, nil)
	var d dialCounter
	clock := clocktest.New(time.Time{})
	p := newPool(t, &d, Config{IdleTimeout: 50 * time.Millisecond, Now: clock.Now})
	ctx := context.Background()
	c, _ := p.Get(ctx, s.addr())
	c2, _ := p.Get(ctx, s.addr())
	p.Put(c)
	p.Put(c2)
	clock.Advance(60 * time.Millisecond)
	c3, err := p.Get(ctx, s.addr())
	if err != nil {
		t.Fatal(err)
	}
	if c3.Reused {
		t.Fatal("a connection idle past IdleTimeout was reused")
	}
	if n := p.Idle(s.addr()); n != 0 {
		t.Fatalf("stale idle connections kept: %d", n)
	}
	for _, o := range []*Conn{c, c2} {
		if _, err := o.Conn.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("stale connection not closed: %v", err)
		}
	}
	p.Put(c3)
}

func TestPool_Close(t *testing.T) {
	s := newServer(t, nil)
	var d dialCounter
	p := newPool(t, &d, Config{})
	ctx := context.Background()
	idle, _ := p.Get(ctx, s.addr())
	out, _ := p.Get(ctx, s.addr())
	p.Put(idle)
	p.Close()
	if _, err := idle.Conn.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("idle connection open after Close: %v", err)
	}
	p.Put(out)
	if _, err := out.Conn.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("connection put after Close kept open: %v", err)
	}
	if _, err := p.Get(ctx, s.addr()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close: %v, want ErrClosed", err)
	}
}

// The race checkout cannot see: the server closes an idle connection just
// as the request goes out. Do sends the request again on a new connection.
func TestPool_DoRedialsDeadReused(t *testing.T) {
	// The first connection's second request is dropped unanswered.
	s := newServer(t, func(conn, req int) bool { return conn == 1 && req == 2 })
	var d dialCounter
	p := newPool(t, &d, Config{})
	ctx := context.Background()
	if err := p.Do(ctx, s.addr(), nil, ask); err != nil {
		t.Fatal(err)
	}
	calls := 0
	err := p.Do(ctx, s.addr(), nil, func(c *Conn) error { calls++; return ask(c) })
	if err != nil {
		t.Fatalf("Do failed on a reused connection the server dropped: %v", err)
	}
	if calls != 2 || d.n.Load() != 2 {
		t.Fatalf("calls %d dials %d, want 2 and 2", calls, d.n.Load())
	}
	if p.Idle(s.addr()) != 1 {
		t.Fatal("the new connection was not pooled")
	}
}

// Unhappy paths: no second try on a new connection, on one that answered,
// or when the request cannot be replayed.
func TestPool_DoDoesNotRetry(t *testing.T) {
	ctx := context.Background()
	t.Run("new connection", func(t *testing.T) {
		s := newServer(t, func(conn, req int) bool { return true })
		var d dialCounter
		p := newPool(t, &d, Config{})
		calls := 0
		err := p.Do(ctx, s.addr(), nil, func(c *Conn) error { calls++; return ask(c) })
		if !errors.Is(err, io.EOF) || calls != 1 {
			t.Fatalf("err %v calls %d, want EOF after 1", err, calls)
		}
	})
	t.Run("not replayable", func(t *testing.T) {
		s := newServer(t, func(conn, req int) bool { return req == 2 })
		var d dialCounter
		p := newPool(t, &d, Config{})
		if err := p.Do(ctx, s.addr(), nil, ask); err != nil {
			t.Fatal(err)
		}
		calls := 0
		err := p.Do(ctx, s.addr(), func() bool { return false }, func(c *Conn) error { calls++; return ask(c) })
		if err == nil || calls != 1 {
			t.Fatalf("err %v calls %d, want a failure after 1", err, calls)
		}
	})
	t.Run("answered", func(t *testing.T) {
		s := newServer(t, func(conn, req int) bool { return req == 3 })
		var d dialCounter
		p := newPool(t, &d, Config{})
		if err := p.Do(ctx, s.addr(), nil, ask); err != nil {
			t.Fatal(err)
		}
		calls := 0
		err := p.Do(ctx, s.addr(), nil, func(c *Conn) error {
			calls++
			if err := ask(c); err != nil {
				return err
			}
			return ask(c) // dropped after the first answer
		})
		if err == nil || calls != 1 {
			t.Fatalf("err %v calls %d: a request answered in part was sent again", err, calls)
		}
	})
}

// The dial function is the seam for a handshake: every new connection
// comes from it, with the address asked for.
func TestPool_DialSeam(t *testing.T) {
	s := newServer(t, nil)
	var got []string
	p := New(Config{Dial: func(ctx context.Context, addr string) (net.Conn, error) {
		got = append(got, addr)
		return tnvauth.Dialer(nil, time.Second)(ctx, addr)
	}})
	defer p.Close()
	if err := p.Do(context.Background(), s.addr(), nil, ask); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != s.addr() {
		t.Fatalf("dialed %v", got)
	}
	boom := errors.New("handshake refused")
	p2 := New(Config{Dial: func(context.Context, string) (net.Conn, error) { return nil, boom }})
	defer p2.Close()
	if err := p2.Do(context.Background(), s.addr(), nil, ask); !errors.Is(err, boom) {
		t.Fatalf("dial error not returned: %v", err)
	}
}

// Put clears deadlines, so that one that expires while the connection is
// idle does not fail the next request; with KeepDeadlines it leaves them,
// and a connection whose deadline expired is replaced on checkout.
func TestPool_Deadlines(t *testing.T) {
	s := newServer(t, nil)
	ctx := context.Background()
	for _, keep := range []bool{false, true} {
		var d dialCounter
		p := newPool(t, &d, Config{KeepDeadlines: keep})
		c, err := p.Get(ctx, s.addr())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(20 * time.Millisecond))
		p.Put(c)
		time.Sleep(30 * time.Millisecond)
		c2, err := p.Get(ctx, s.addr())
		if err != nil {
			t.Fatal(err)
		}
		if c2.Reused == keep {
			t.Fatalf("KeepDeadlines %v: reused %v", keep, c2.Reused)
		}
		if err := ask(c2); err != nil {
			t.Fatalf("KeepDeadlines %v: %v", keep, err)
		}
		p.Put(c2)
	}
}
