package idserver

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/internal/clocktest"
	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/metadb/metadbtest"
	"github.com/tnv-s3/tnv/proto"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// dialects opens one fresh database per dialect; tests run against both.
func dialects(t *testing.T) map[string]func(t *testing.T) string {
	return map[string]func(t *testing.T) string{
		"sqlite": func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "meta.db") },
		"mysql":  func(t *testing.T) string { return metadbtest.NewTestMySQL(t) },
	}
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

// running is a server with its listener.
type running struct {
	srv  *Server
	addr string
	done chan error
}

func start(t testing.TB, db *metadb.DB, step int64) *running {
	t.Helper()
	srv, err := New(Config{DB: db, Step: step, Logger: quiet})
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

func getID(c net.Conn, key string) (int64, error) {
	body, err := proto.EncodeIDKey(key)
	if err != nil {
		return 0, err
	}
	if err := proto.WriteFrame(c, proto.CmdIDGet, 0, body); err != nil {
		return 0, err
	}
	_, b, err := proto.ReadReply(c, proto.CmdIDReply, 8)
	if err != nil {
		return 0, err
	}
	return proto.DecodeInt64(b)
}

func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestIDGet_StartsAtOneAndIncreasesAcrossBlocks(t *testing.T) {
	for name, newDSN := range dialects(t) {
		t.Run(name, func(t *testing.T) {
			r := start(t, openDB(t, newDSN(t)), 3)
			c := dial(t, r.addr)
			for want := int64(1); want <= 10; want++ {
				got, err := getID(c, "disk-1")
				if err != nil || got != want {
					t.Fatalf("ID %d: got %d, %v", want, got, err)
				}
			}
			// Keys count independently.
			if got, err := getID(c, "other/key:2"); err != nil || got != 1 {
				t.Fatalf("first ID of another key: %d, %v", got, err)
			}
		})
	}
}

func TestIDGet_AfterRestart_SkipsRestOfBlockNeverReuses(t *testing.T) {
	for name, newDSN := range dialects(t) {
		t.Run(name, func(t *testing.T) {
			db := openDB(t, newDSN(t))
			r := start(t, db, 100)
			c := dial(t, r.addr)
			last, err := getID(c, "k")
			if err != nil || last != 1 {
				t.Fatalf("first ID %d, %v", last, err)
			}
			r.stop(t)
			for i := 0; i < 2; i++ {
				r = start(t, db, 100)
				id, err := getID(dial(t, r.addr), "k")
				if err != nil {
					t.Fatal(err)
				}
				if id <= last {
					t.Fatalf("after restart %d got %d, not above %d", i+1, id, last)
				}
				last = id
				r.stop(t)
			}
			if last != 201 {
				t.Errorf("third block starts at %d, want 201", last)
			}
		})
	}
}

// TestIDGet_TwoServersOneDB_ConcurrentClientsAndRestarts_AllDistinct is the
// issue's acceptance test: two ID servers on one database, many clients,
// each server restarted twice during the run, every ID distinct, and IDs on
// one connection strictly increasing.
func TestIDGet_TwoServersOneDB_ConcurrentClientsAndRestarts_AllDistinct(t *testing.T) {
	total := 20000
	if testing.Short() {
		total = 4000
	}
	for name, newDSN := range dialects(t) {
		t.Run(name, func(t *testing.T) {
			dsn := newDSN(t)
			// Each server has its own handle, as two processes would.
			dbs := []*metadb.DB{openDB(t, dsn), openDB(t, dsn)}
			var addrs [2]atomic.Value
			servers := make([]*running, 2)
			for i := range servers {
				servers[i] = start(t, dbs[i], 7) // a small step: many reservations race
				addrs[i].Store(servers[i].addr)
			}
			const clients = 8
			var (
				mu      sync.Mutex
				seen    = make(map[int64]bool, total)
				dups    []int64
				count   atomic.Int64
				wg      sync.WaitGroup
				errFail atomic.Value
			)
			for cl := 0; cl < clients; cl++ {
				wg.Add(1)
				go func(cl int) {
					defer wg.Done()
					var c net.Conn
					var last int64
					for count.Load() < int64(total) {
						if c == nil {
							var err error
							c, err = net.DialTimeout("tcp", addrs[cl%2].Load().(string), time.Second)
							if err != nil {
								time.Sleep(5 * time.Millisecond)
								continue
							}
							last = 0
						}
						id, err := getID(c, "store0")
						if err != nil {
							var re *proto.ErrorReply
							if errors.As(err, &re) {
								errFail.Store(err)
								return
							}
							c.Close()
							c = nil // restarted under us: reconnect
							continue
						}
						if id <= last {
							errFail.Store(fmt.Errorf("client %d: ID %d after %d on one connection", cl, id, last))
						}
						last = id
						mu.Lock()
						if seen[id] {
							dups = append(dups, id)
						}
						seen[id] = true
						mu.Unlock()
						count.Add(1)
					}
					if c != nil {
						c.Close()
					}
				}(cl)
			}
			// Restart each server twice while the clients run.
			for round := 0; round < 2; round++ {
				for i := range servers {
					for count.Load() < int64(total*(2*round+i+1)/5) && errFail.Load() == nil {
						time.Sleep(time.Millisecond)
					}
					servers[i].stop(t)
					servers[i] = start(t, dbs[i], 7)
					addrs[i].Store(servers[i].addr)
				}
			}
			wg.Wait()
			if e := errFail.Load(); e != nil {
				t.Fatal(e)
			}
			if len(dups) > 0 {
				t.Fatalf("%d duplicate IDs, e.g. %v", len(dups), dups[:min(5, len(dups))])
			}
			if len(seen) < total {
				t.Fatalf("only %d IDs", len(seen))
			}
		})
	}
}

// A key's row carries the server's clock: created when first reserved,
// updated by each later block.
func TestNext_RowStampedByServerClock(t *testing.T) {
	for name, newDSN := range dialects(t) {
		t.Run(name, func(t *testing.T) {
			db := openDB(t, newDSN(t))
			clock := clocktest.New(time.Unix(1_700_000_000, 0))
			srv, err := New(Config{DB: db, Step: 2, Logger: quiet, Now: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			stamps := func() (created, updated int64) {
				t.Helper()
				if err := db.QueryRow("SELECT create_time, update_time FROM t_id_gen WHERE id_key = 'k'").Scan(&created, &updated); err != nil {
					t.Fatal(err)
				}
				return created, updated
			}
			for range 2 { // one block
				if _, err := srv.Next(context.Background(), "k"); err != nil {
					t.Fatal(err)
				}
			}
			if c, u := stamps(); c != 1_700_000_000 || u != 1_700_000_000 {
				t.Fatalf("first block: create_time %d update_time %d, want both 1700000000", c, u)
			}
			clock.Advance(time.Hour)
			if _, err := srv.Next(context.Background(), "k"); err != nil { // the next block
				t.Fatal(err)
			}
			if c, u := stamps(); c != 1_700_000_000 || u != 1_700_003_600 {
				t.Fatalf("second block: create_time %d update_time %d, want 1700000000 and 1700003600", c, u)
			}
		})
	}
}

func TestNext_InvalidKey_EINVAL(t *testing.T) {
	srv, err := New(Config{DB: openDB(t, "sqlite:"+filepath.Join(t.TempDir(), "m.db")), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"", "a b", "ä", string(make([]byte, 65))} {
		_, err := srv.Next(context.Background(), k)
		var re *proto.ErrorReply
		if !errors.As(err, &re) || re.Errno != proto.EINVAL {
			t.Errorf("key %q: %v", k, err)
		}
	}
}

func TestNew_BadConfig_Refused(t *testing.T) {
	db := openDB(t, "sqlite:"+filepath.Join(t.TempDir(), "m.db"))
	for _, cfg := range []Config{{}, {DB: db, Step: -1}, {DB: db, Step: 2e9}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

func frame(bodyLen int64, cmd uint8, body []byte) []byte {
	b := make([]byte, 10, 10+len(body))
	binary.BigEndian.PutUint64(b, uint64(bodyLen))
	b[8] = cmd
	return append(b, body...)
}

// TestIDGet_BadFrames_ErrorReplyAndServerKeepsServing sends malformed frames
// built by hand and checks the error reply, whether the connection stays
// usable, and that the server still serves others.
func TestIDGet_BadFrames_ErrorReplyAndServerKeepsServing(t *testing.T) {
	r := start(t, openDB(t, "sqlite:"+filepath.Join(t.TempDir(), "m.db")), 10)
	cases := []struct {
		name      string
		send      []byte
		errno     int16
		keepsConn bool
	}{
		{"wrong command with a small body", frame(3, 70, []byte("abc")), proto.ENOSYS, true},
		{"unknown command", frame(0, 99, nil), proto.ENOSYS, true},
		{"tracker command", frame(0, proto.CmdTrackerGroups, nil), proto.ENOSYS, true},
		{"wrong command with a huge body", frame(1<<40, 70, nil), proto.ENOSYS, false},
		{"bodylen 2^62", frame(1<<62, proto.CmdIDGet, nil), proto.EMSGSIZE, false},
		{"negative bodylen", frame(-1, proto.CmdIDGet, nil), proto.EMSGSIZE, false},
		{"bodylen 66", frame(66, proto.CmdIDGet, nil), proto.EMSGSIZE, false},
		{"empty body", frame(0, proto.CmdIDGet, nil), proto.EMSGSIZE, false},
		{"key not NUL-terminated", frame(3, proto.CmdIDGet, []byte("abc")), proto.EPROTO, true},
		{"NUL inside the key", frame(4, proto.CmdIDGet, []byte("a\x00b\x00")), proto.EPROTO, true},
		{"empty key", frame(1, proto.CmdIDGet, []byte{0}), proto.EINVAL, true},
		{"space in key", frame(4, proto.CmdIDGet, []byte("a b\x00")), proto.EINVAL, true},
		{"non-ASCII key", frame(3, proto.CmdIDGet, []byte("\xc3\xa4\x00")), proto.EINVAL, true},
		{"64-byte key fills the field", frame(65, proto.CmdIDGet, append(bytes.Repeat([]byte("k"), 64), 0)), 0, true},
		{"block: want 0", frame(5, proto.CmdIDGetBlock, []byte("\x00\x00ab\x00")), proto.EPROTO, true},
		{"block: want 1001", frame(5, proto.CmdIDGetBlock, []byte("\x03\xe9ab\x00")), proto.EPROTO, true},
		{"block: no key", frame(2, proto.CmdIDGetBlock, []byte("\x00\x01")), proto.EMSGSIZE, false},
		{"block: key not NUL-terminated", frame(4, proto.CmdIDGetBlock, []byte("\x00\x01ab")), proto.EPROTO, true},
		{"block: bodylen 68", frame(68, proto.CmdIDGetBlock, nil), proto.EMSGSIZE, false},
		{"block: space in key", frame(5, proto.CmdIDGetBlock, []byte("\x00\x02 b\x00")), proto.EINVAL, true},
		{"block: 64-byte key fills the field", frame(67, proto.CmdIDGetBlock, append([]byte{0, 9}, append(bytes.Repeat([]byte("k"), 64), 0)...)), 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, r.addr)
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Write(tc.send); err != nil {
				t.Fatal(err)
			}
			_, _, err := proto.ReadReply(c, proto.CmdIDReply, proto.IDBlockReplyLen)
			var re *proto.ErrorReply
			if tc.errno == 0 {
				if err != nil {
					t.Fatalf("reply: %v", err)
				}
			} else if !errors.As(err, &re) || re.Errno != tc.errno {
				t.Fatalf("reply %v, want errno %d", err, tc.errno)
			}
			_, err = getID(c, "after")
			if tc.keepsConn && err != nil {
				t.Errorf("connection unusable after the error: %v", err)
			}
			if !tc.keepsConn && err == nil {
				t.Errorf("connection kept after a frame it cannot resync")
			}
			if _, err := getID(dial(t, r.addr), "others"); err != nil {
				t.Errorf("server stopped serving: %v", err)
			}
		})
	}
}

// TestIDGet_WireBytes checks request and reply bytes built by hand from the
// protocol table, not through proto.
func TestIDGet_WireBytes(t *testing.T) {
	r := start(t, openDB(t, "sqlite:"+filepath.Join(t.TempDir(), "m.db")), 10)
	c := dial(t, r.addr)
	c.Write([]byte{0, 0, 0, 0, 0, 0, 0, 4, 40, 0, 'a', 'b', 'c', 0})
	got := make([]byte, 18)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	want := []byte{0, 0, 0, 0, 0, 0, 0, 8, 101, 0, 0, 0, 0, 0, 0, 0, 0, 1}
	if !bytes.Equal(got, want) {
		t.Fatalf("reply % x, want % x", got, want)
	}
	// An error reply: status 0xFD, errno int16, NUL-terminated text.
	c.Write([]byte{0, 0, 0, 0, 0, 0, 0, 1, 40, 0, 0})
	h := make([]byte, 12)
	if _, err := io.ReadFull(c, h); err != nil {
		t.Fatal(err)
	}
	n := binary.BigEndian.Uint64(h)
	if h[8] != 101 || h[9] != 0xFD || binary.BigEndian.Uint16(h[10:]) != 22 || n < 3 {
		t.Fatalf("error reply head % x", h)
	}
	rest := make([]byte, n-2)
	io.ReadFull(c, rest)
	if rest[len(rest)-1] != 0 {
		t.Fatalf("description not NUL-terminated: %q", rest)
	}
}

// ID_GET_BLOCK hands out what is left of the server's block, up to want,
// and a new block's start when it is empty; ID_GET and blocks of one key
// never overlap.
func TestIDGetBlock_RangesWithinBlocks(t *testing.T) {
	for name, newDSN := range dialects(t) {
		t.Run(name, func(t *testing.T) {
			r := start(t, openDB(t, newDSN(t)), 10)
			c := dial(t, r.addr)
			block := func(want int) (int64, int64) {
				t.Helper()
				body, err := proto.EncodeIDBlock("disk-1", want)
				if err != nil {
					t.Fatal(err)
				}
				if err := proto.WriteFrame(c, proto.CmdIDGetBlock, 0, body); err != nil {
					t.Fatal(err)
				}
				_, b, err := proto.ReadReply(c, proto.CmdIDReply, proto.IDBlockReplyLen)
				if err != nil {
					t.Fatal(err)
				}
				first, n, err := proto.DecodeIDRange(b, want)
				if err != nil {
					t.Fatal(err)
				}
				return first, n
			}
			type rng struct{ first, n int64 }
			var got []rng
			for _, want := range []int{4, 4, 4, 1} {
				f, n := block(want)
				got = append(got, rng{f, n})
			}
			id, err := getID(c, "disk-1")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, rng{id, 1})
			f, n := block(1000)
			got = append(got, rng{f, n})
			// Blocks of 10: 1-4, 5-8, 9-10 (the block's end), 11, then
			// ID_GET's 12, then the rest of that block, 13-20.
			want := []rng{{1, 4}, {5, 4}, {9, 2}, {11, 1}, {12, 1}, {13, 8}}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("ranges %v, want %v", got, want)
			}
		})
	}
}

// TestIDGetBlock_WireBytes: ID_GET_BLOCK's request and reply bytes built by
// hand from docs/protocol.md.
func TestIDGetBlock_WireBytes(t *testing.T) {
	r := start(t, openDB(t, "sqlite:"+filepath.Join(t.TempDir(), "m.db")), 10)
	c := dial(t, r.addr)
	c.Write([]byte{0, 0, 0, 0, 0, 0, 0, 6, 41, 0, 0, 4, 'a', 'b', 'c', 0})
	got := make([]byte, 26)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	want := []byte{0, 0, 0, 0, 0, 0, 0, 16, 101, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 4}
	if !bytes.Equal(got, want) {
		t.Fatalf("reply % x, want % x", got, want)
	}
}

func TestClose_IdleConnectionsClosedServeReturnsNil(t *testing.T) {
	r := start(t, openDB(t, "sqlite:"+filepath.Join(t.TempDir(), "m.db")), 10)
	c := dial(t, r.addr)
	if _, err := getID(c, "x"); err != nil {
		t.Fatal(err)
	}
	r.stop(t)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("idle connection still open after Close")
	}
	if _, err := net.Dial("tcp", r.addr); err == nil {
		t.Fatal("still accepting after Close")
	}
}

// BenchmarkIDGet measures ID_GET round trips over loopback, one connection
// per parallel client, with SQLite behind (a reservation every 100 IDs).
func BenchmarkIDGet(b *testing.B) {
	for name, dsn := range map[string]func() string{
		"sqlite": func() string { return "sqlite:" + filepath.Join(b.TempDir(), "m.db") },
		"mysql":  func() string { return metadbtest.NewTestMySQL(b) },
	} {
		b.Run(name, func(b *testing.B) {
			r := start(b, openDB(b, dsn()), DefaultStep)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				c, err := net.Dial("tcp", r.addr)
				if err != nil {
					b.Error(err)
					return
				}
				defer c.Close()
				for pb.Next() {
					if _, err := getID(c, "bench"); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
