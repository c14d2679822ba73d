package frameserver

import (
	"io"
	"net"
	"testing"
	"time"
)

// A handler that reads its own requests (Begin/End): Close closes an idle
// connection at once, lets a request in progress finish, and End then says
// the connection is done.
func TestBeginEnd_CloseWaitsForTheRequest(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var s Set
	started := make(chan struct{})
	ended := make(chan bool, 1)
	go s.Serve(ln, func(c *Conn) {
		var b [1]byte
		if _, err := io.ReadFull(c, b[:]); err != nil { // the request's first byte
			return
		}
		if !c.Begin() {
			return
		}
		close(started)
		rest := make([]byte, 4) // the streamed body, slowly
		_, err := io.ReadFull(c, rest)
		ok := c.End()
		if err == nil {
			c.Write([]byte("done"))
		}
		ended <- ok
	})
	idle, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	busy, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busy.Write([]byte("x"))
	<-started
	closed := make(chan bool)
	go func() { closed <- s.Close(10 * time.Second) }()
	// The idle connection is closed while the request goes on.
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
	select {
	case <-closed:
		t.Fatal("Close returned while a request was in progress")
	default:
	}
	busy.Write([]byte("body"))
	if ok := <-ended; ok {
		t.Fatal("End reported true after Close")
	}
	if cut := <-closed; cut {
		t.Fatal("Close cut a request that finished in time")
	}
	b, _ := io.ReadAll(busy)
	if string(b) != "done" {
		t.Fatalf("reply %q", b)
	}
}

// A request that does not finish within the timeout is cut, and Close says so.
func TestBeginEnd_CloseCutsAfterTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var s Set
	started := make(chan struct{})
	go s.Serve(ln, func(c *Conn) {
		if !c.Begin() {
			return
		}
		close(started)
		io.Copy(io.Discard, c) // until the connection is cut
		c.End()
	})
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	<-started
	if cut := s.Close(50 * time.Millisecond); !cut {
		t.Fatal("Close did not report the request it cut")
	}
}
