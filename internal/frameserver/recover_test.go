package frameserver

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/proto"
)

// TestRequests_PanicEndsConnection_ServerLives: a handler that panics is
// logged with its stack and loses its connection; the next connection is
// served as usual.
func TestRequests_PanicEndsConnection_ServerLives(t *testing.T) {
	var logMu sync.Mutex
	var logBuf bytes.Buffer
	log := slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logBuf}, nil))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var s Set
	go s.Serve(ln, func(c *Conn) {
		c.Requests(time.Minute, 5*time.Second, proto.CmdTrackerReply, log, func(h proto.Header) bool {
			body := make([]byte, h.BodyLen)
			io.ReadFull(c, body)
			if string(body) == "panic" {
				panic("injected by the test")
			}
			return c.Reply(proto.CmdTrackerReply, 5*time.Second, nil, body)
		})
	})
	t.Cleanup(func() { s.Close(time.Second) })

	ask := func(body string) (string, error) {
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		proto.WriteFrame(nc, 1, 0, []byte(body))
		_, b, err := proto.ReadReply(nc, proto.CmdTrackerReply, 100)
		return string(b), err
	}
	if _, err := ask("panic"); err == nil {
		t.Fatal("a request that panicked was answered")
	}
	if got, err := ask("hello"); err != nil || got != "hello" {
		t.Fatalf("the request after a panic: %q %v", got, err)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if l := logBuf.String(); !strings.Contains(l, "injected by the test") || !strings.Contains(l, "recover_test.go") {
		t.Fatalf("the panic was not logged with its stack:\n%s", l)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
