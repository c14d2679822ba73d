package tracker

import (
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/metadb/metadbtest"
	"github.com/tnv-s3/tnv/proto"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func sqliteDSN(t testing.TB) string { return "sqlite:" + filepath.Join(t.TempDir(), "meta.db") }

// dialects gives a fresh database DSN per SQL dialect.
var dialects = map[string]func(t testing.TB) string{
	"sqlite": sqliteDSN,
	"mysql":  func(t testing.TB) string { return metadbtest.NewTestMySQL(t) },
}

func openDB(t testing.TB, dsn string) *metadb.DB {
	t.Helper()
	db, err := metadb.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

type running struct {
	srv  *Server
	addr string
	done chan error
}

func start(t testing.TB, cfg Config) *running {
	t.Helper()
	if cfg.DB == nil {
		cfg.DB = openDB(t, sqliteDSN(t))
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &running{srv: srv, addr: ln.Addr().String(), done: make(chan error, 1)}
	go func() { r.done <- srv.Serve(ln) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t testing.TB) {
	if r.srv == nil {
		return
	}
	r.srv.Close()
	if err := <-r.done; err != nil {
		t.Errorf("Serve returned %v after Close", err)
	}
	r.srv = nil
}

// client is a test client: one connection, typed requests.
type client struct {
	t testing.TB
	c net.Conn
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c}
}

func (cl *client) do(cmd uint8, body []byte) ([]byte, error) {
	cl.c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := proto.WriteFrame(cl.c, cmd, 0, body); err != nil {
		return nil, err
	}
	_, b, err := proto.ReadReply(cl.c, proto.CmdTrackerReply, proto.MaxTextReply)
	return b, err
}

func (cl *client) join(group, host string, port uint16) error {
	b, err := (&proto.Join{Version: "1.0", Group: group, Host: host, Port: port, STime: 1, JTime: 2}).Encode()
	if err != nil {
		cl.t.Fatal(err)
	}
	_, err = cl.do(proto.CmdTrackerJoin, b)
	return err
}

func (cl *client) beat(m proto.Beat) error {
	b, err := m.Encode()
	if err != nil {
		cl.t.Fatal(err)
	}
	_, err = cl.do(proto.CmdTrackerBeat, b)
	return err
}

// extBeat is an extended BEAT of an in-sync node with free bytes free.
func extBeat(group, host string, port uint16, free int64) proto.Beat {
	return proto.Beat{Group: group, Host: host, Extended: true, Port: port, Total: 1 << 40, Free: free, SyncPct: 100}
}

func (cl *client) saddrs(appid, userid string) (*proto.Saddrs, error) {
	b, err := (&proto.FileRef{AppID: appid, UserID: userid, FileID: "f1"}).Encode()
	if err != nil {
		cl.t.Fatal(err)
	}
	out, err := cl.do(proto.CmdTrackerSaddrs, b)
	if err != nil {
		return nil, err
	}
	return proto.DecodeSaddrs(out)
}

func (cl *client) text(cmd uint8, body []byte) string {
	cl.t.Helper()
	b, err := cl.do(cmd, body)
	if err != nil {
		cl.t.Fatal(err)
	}
	s, err := proto.DecodeText(b)
	if err != nil {
		cl.t.Fatal(err)
	}
	return s
}

func (cl *client) groups() string { return cl.text(proto.CmdTrackerGroups, nil) }

func (cl *client) members(group string) string {
	b := make([]byte, proto.GroupNameSize)
	if err := proto.PutString(b, group); err != nil {
		cl.t.Fatal(err)
	}
	return cl.text(proto.CmdTrackerMembers, b)
}

func errno(err error) int16 {
	if re, ok := err.(*proto.ErrorReply); ok {
		return re.Errno
	}
	return -1
}

func nodeState(t testing.TB, s *Server, addr string) State {
	t.Helper()
	for _, n := range s.Nodes() {
		if n.Addr == addr {
			return n.State
		}
	}
	t.Fatalf("no node %s in %+v", addr, s.Nodes())
	return Offline
}
