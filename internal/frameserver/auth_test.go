package frameserver

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/internal/tnvauth"
	"github.com/tnv-s3/tnv/proto"
)

// A Set with Auth hands handle only connections that proved the secret on
// TCP, and every connection on a Unix socket.
func TestSet_AuthBeforeHandle(t *testing.T) {
	k, err := tnvauth.NewKey([]byte("frameserver-test-secret-0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	s := &Set{Auth: k, AuthReply: proto.CmdTrackerReply, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var handled atomic.Int32
	handle := func(c *Conn) {
		handled.Add(1)
		c.Requests(time.Minute, time.Minute, proto.CmdTrackerReply, s.Log, func(h proto.Header) bool {
			return c.Discard(h) && c.Reply(proto.CmdTrackerReply, time.Second, nil, []byte("ok\x00"))
		})
	}
	tln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	uln, err := net.Listen("unix", filepath.Join(t.TempDir(), "s.sock"))
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(tln, handle)
	go s.Serve(uln, handle)
	defer s.Close(time.Second)

	ask := func(nc net.Conn) error {
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		if err := proto.WriteFrame(nc, proto.CmdTrackerGroups, proto.StatusOK, nil); err != nil {
			return err
		}
		_, _, err := proto.ReadReply(nc, proto.CmdTrackerReply, 100)
		return err
	}
	// Without the handshake: one EACCES, never handled.
	nc, err := net.Dial("tcp", tln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	var e *proto.ErrorReply
	if err := ask(nc); !errors.As(err, &e) || e.Errno != proto.EACCES {
		t.Fatalf("unauthenticated GROUPS: %v", err)
	}
	nc.Close()
	if n := handled.Load(); n != 0 {
		t.Fatalf("handle saw %d unauthenticated connections", n)
	}
	// With it: handled.
	nc, err = tnvauth.Dialer(k, time.Second)(context.Background(), tln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if err := ask(nc); err != nil {
		t.Fatalf("authenticated GROUPS: %v", err)
	}
	nc.Close()
	// The Unix socket: no handshake.
	nc, err = net.Dial("unix", uln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if err := ask(nc); err != nil {
		t.Fatalf("GROUPS on the Unix socket: %v", err)
	}
	nc.Close()
	if n := handled.Load(); n != 2 {
		t.Fatalf("handle saw %d connections, want 2", n)
	}
}
