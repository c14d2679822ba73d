package e2e

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/internal/proctest"
	"github.com/tnv-s3/tnv/metadb/metadbtest"
)

// The bytes in this file are built by hand from DESIGN.md's table, not
// through proto/, so that a mistake shared by proto/ and the servers shows.

// field is s NUL-padded to width bytes.
func field(s string, width int) []byte {
	b := make([]byte, width)
	copy(b, s)
	return b
}

// frame is header(bodylen i64 BE, cmd, status 0) + body.
func frame(cmd byte, body ...[]byte) []byte {
	b := bytes.Join(body, nil)
	out := make([]byte, 10, 10+len(b))
	binary.BigEndian.PutUint64(out, uint64(len(b)))
	out[8] = cmd
	return append(out, b...)
}

func fileRefBytes(app, user, file string) []byte {
	return bytes.Join([][]byte{field(app, 16), field(user, 256), field(file, 128)}, nil)
}

func i64(v int64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, uint64(v))
	return b
}

type wire struct {
	t *testing.T
	c net.Conn
}

func dialWire(t *testing.T, addr string) *wire {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return &wire{t, c}
}

// roundTrip sends raw bytes and reads one reply: its header fields and body.
func (w *wire) roundTrip(req []byte) (cmd, status byte, body []byte) {
	w.t.Helper()
	if _, err := w.c.Write(req); err != nil {
		w.t.Fatal(err)
	}
	var h [10]byte
	if _, err := io.ReadFull(w.c, h[:]); err != nil {
		w.t.Fatalf("reading reply header: %v", err)
	}
	n := int64(binary.BigEndian.Uint64(h[:8]))
	if n < 0 || n > 1<<24 {
		w.t.Fatalf("reply body length %d", n)
	}
	body = make([]byte, n)
	if _, err := io.ReadFull(w.c, body); err != nil {
		w.t.Fatalf("reading reply body: %v", err)
	}
	return h[8], h[9], body
}

// errnoOf checks an error reply's layout (errno i16 BE, NUL-terminated
// text ≤ 1024 bytes) and returns the errno.
func (w *wire) errnoOf(body []byte) int16 {
	w.t.Helper()
	if len(body) < 3 || len(body) > 2+1024 || body[len(body)-1] != 0 {
		w.t.Fatalf("error body %q is not errno + NUL-terminated text", body)
	}
	return int16(binary.BigEndian.Uint16(body[:2]))
}

// TestWire_HandBuiltFramesAgainstRealServers speaks the seed's protocol to
// real tracker, ID server and storage processes byte by byte.
func TestWire_HandBuiltFramesAgainstRealServers(t *testing.T) {
	dsn := metadbtest.NewTestMySQL(t)
	c := proctest.StartCluster(t, proctest.Topology{DB: dsn, Groups: 1, Members: 1, OpenProtocol: true})
	node := c.Groups[0][0].Addr

	// 40 ID_GET: key + NUL → 101, i64.
	ids := dialWire(t, c.IDs[0].Addr)
	var last int64
	for range 3 {
		cmd, st, body := ids.roundTrip(frame(40, []byte("wire-test\x00")))
		if cmd != 101 || st != 0 || len(body) != 8 {
			t.Fatalf("ID_GET reply cmd %d status %d body %d bytes", cmd, st, len(body))
		}
		id := int64(binary.BigEndian.Uint64(body))
		if id <= last {
			t.Fatalf("ID_GET gave %d after %d", id, last)
		}
		last = id
	}

	// 13 GROUPS: empty → 100, NUL-terminated text naming the group and node.
	trk := dialWire(t, c.Trackers[0].Addr)
	cmd, st, body := trk.roundTrip(frame(13))
	if cmd != 100 || st != 0 || len(body) == 0 || body[len(body)-1] != 0 {
		t.Fatalf("GROUPS reply cmd %d status %d body %q", cmd, st, body)
	}
	if text := string(body[:len(body)-1]); !strings.Contains(text, "g1") || !strings.Contains(text, node) {
		t.Fatalf("GROUPS text lacks the group or node:\n%s", text)
	}

	// 12 SADDRS: appid userid fileid (400 bytes) → 100, groupname[17] + "ip:port;" + NUL.
	cmd, st, body = trk.roundTrip(frame(12, fileRefBytes("wireapp", "wireuser", "f1")))
	if cmd != 100 || st != 0 || len(body) < 17+1 {
		t.Fatalf("SADDRS reply cmd %d status %d body %q", cmd, st, body)
	}
	if g := string(bytes.TrimRight(body[:17], "\x00")); g != "g1" {
		t.Fatalf("SADDRS group %q", g)
	}
	if addrs := string(body[17:]); addrs != node+";\x00" {
		t.Fatalf("SADDRS addresses %q, want %q", addrs, node+";\x00")
	}

	// 70 UPLOAD: appid userid fileid filesize, then the bytes → 102, empty.
	sn := dialWire(t, node)
	data := []byte("bytes built by hand, stored by a real node\n")
	cmd, st, body = sn.roundTrip(frame(70, fileRefBytes("wireapp", "wireuser", "f1"), i64(int64(len(data))), data))
	if cmd != 102 || st != 0 || len(body) != 0 {
		t.Fatalf("UPLOAD reply cmd %d status %d body %q", cmd, st, body)
	}
	// 71 FILESIZE → 102, i64.
	cmd, st, body = sn.roundTrip(frame(71, fileRefBytes("wireapp", "wireuser", "f1")))
	if cmd != 102 || st != 0 || len(body) != 8 || int(binary.BigEndian.Uint64(body)) != len(data) {
		t.Fatalf("FILESIZE reply cmd %d status %d body %x", cmd, st, body)
	}
	// 72 DOWNLOAD offset size (0 = to the end) → 102, the bytes.
	for _, r := range []struct{ off, size int64 }{{0, 0}, {6, 5}, {int64(len(data)) - 1, 1}, {int64(len(data)), 0}} {
		cmd, st, body = sn.roundTrip(frame(72, fileRefBytes("wireapp", "wireuser", "f1"), i64(r.off), i64(r.size)))
		end := int64(len(data))
		if r.size > 0 {
			end = r.off + r.size
		}
		if cmd != 102 || st != 0 || !bytes.Equal(body, data[r.off:end]) {
			t.Fatalf("DOWNLOAD %d+%d: cmd %d status %d body %q", r.off, r.size, cmd, st, body)
		}
	}
	// Past the end → status 0xFD, ERANGE (34).
	cmd, st, body = sn.roundTrip(frame(72, fileRefBytes("wireapp", "wireuser", "f1"), i64(int64(len(data))+1), i64(0)))
	if cmd != 102 || st != 0xFD || sn.errnoOf(body) != 34 {
		t.Fatalf("DOWNLOAD past the end: cmd %d status %#x body %q", cmd, st, body)
	}
	// 73 DELETE → 102, empty; then FILESIZE and DOWNLOAD say ENOENT (2).
	cmd, st, body = sn.roundTrip(frame(73, fileRefBytes("wireapp", "wireuser", "f1")))
	if cmd != 102 || st != 0 || len(body) != 0 {
		t.Fatalf("DELETE reply cmd %d status %d body %q", cmd, st, body)
	}
	for _, req := range [][]byte{
		frame(71, fileRefBytes("wireapp", "wireuser", "f1")),
		frame(72, fileRefBytes("wireapp", "wireuser", "f1"), i64(0), i64(0)),
	} {
		cmd, st, body = sn.roundTrip(req)
		if st != 0xFD || sn.errnoOf(body) != 2 {
			t.Fatalf("after DELETE, cmd %d answered status %#x body %q", req[8], st, body)
		}
		_ = cmd
	}
}

// TestWire_BadInputLeavesNothingAndServersKeepServing sends broken frames
// to each real server, then checks it still serves a good request.
func TestWire_BadInputLeavesNothingAndServersKeepServing(t *testing.T) {
	dsn := metadbtest.NewTestMySQL(t)
	c := proctest.StartCluster(t, proctest.Topology{DB: dsn, Groups: 1, Members: 1, OpenProtocol: true})
	node := c.Groups[0][0].Addr
	huge := make([]byte, 10)
	binary.BigEndian.PutUint64(huge, 1<<62)

	cases := []struct {
		name string
		addr string
		req  []byte
	}{
		{"tracker: bodylen 2^62", c.Trackers[0].Addr, append(append([]byte{}, huge[:8]...), 12, 0)},
		{"tracker: SADDRS of the wrong length", c.Trackers[0].Addr, frame(12, make([]byte, 399))},
		{"tracker: unknown command", c.Trackers[0].Addr, frame(99)},
		{"tracker: over-long userid", c.Trackers[0].Addr, frame(12, field("app", 16), bytes.Repeat([]byte("u"), 256), field("f", 128))},
		{"tracker: JOIN of a bad group name", c.Trackers[0].Addr, frame(10, field("2.0", 7), field("bad/group", 17), field("127.0.0.1", 129), []byte{0x5d, 0xc0}, i64(1), i64(1))},
		{"idserver: bodylen 2^62", c.IDs[0].Addr, append(append([]byte{}, huge[:8]...), 40, 0)},
		{"idserver: key not terminated", c.IDs[0].Addr, frame(40, []byte("abc"))},
		{"storage: bodylen 2^62", node, append(append([]byte{}, huge[:8]...), 72, 0)},
		{"storage: unknown command", node, frame(99)},
		{"storage: over-long appid", node, frame(70, bytes.Repeat([]byte("a"), 16), field("u", 256), field("f", 128), i64(3), []byte("abc"))},
		{"storage: bad fileid", node, frame(70, field("app", 16), field("u", 256), field("../x", 128), i64(3), []byte("abc"))},
		{"storage: UPLOAD size beyond the body", node, frame(70, field("app", 16), field("u", 256), field("short", 128), i64(100), []byte("abc"))},
	}
	for _, tc := range cases {
		w := dialWire(t, tc.addr)
		if _, err := w.c.Write(tc.req); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		// An error reply, or the connection closed: never a success.
		var h [10]byte
		w.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(w.c, h[:]); err == nil && h[9] != 0xFD {
			t.Errorf("%s: answered status %#x, want 0xFD or a closed connection", tc.name, h[9])
		}
	}
	// Nothing was stored by the bad uploads.
	for _, f := range []string{"short", "../x"} {
		sn := dialWire(t, node)
		_, st, _ := sn.roundTrip(frame(71, field("app", 16), field("u", 256), field(f, 128)))
		if st != 0xFD {
			t.Errorf("file %q exists after a refused upload", f)
		}
	}
	// Every server still answers.
	if _, st, _ := dialWire(t, c.IDs[0].Addr).roundTrip(frame(40, []byte("k\x00"))); st != 0 {
		t.Fatal("ID server stopped serving")
	}
	if _, st, _ := dialWire(t, c.Trackers[0].Addr).roundTrip(frame(13)); st != 0 {
		t.Fatal("tracker stopped serving")
	}
	if _, st, _ := dialWire(t, node).roundTrip(frame(70, fileRefBytes("app", "u", "ok"), i64(2), []byte("ok"))); st != 0 {
		t.Fatal("storage node stopped serving")
	}
}

// TestTracker_SilentNodeGoesOfflineAndComesBack freezes a storage node
// process so that it stops beating: the tracker marks it OFFLINE within
// --offline-after and SADDRS stops naming it; thawed, it is ACTIVE again.
func TestTracker_SilentNodeGoesOfflineAndComesBack(t *testing.T) {
	dsn := metadbtest.NewTestMySQL(t)
	c := proctest.StartCluster(t, proctest.Topology{DB: dsn, Groups: 1, Members: 2, Offline: 3 * time.Second, OpenProtocol: true})
	frozen, other := c.Groups[0][0], c.Groups[0][1]
	saddrs := func() string {
		_, st, body := dialWire(t, c.Trackers[0].Addr).roundTrip(frame(12, fileRefBytes("app", "someone", "f")))
		if st != 0 {
			t.Fatalf("SADDRS status %#x", st)
		}
		return string(body[17:])
	}
	frozen.Freeze()
	start := time.Now()
	for {
		text, _ := c.GroupsText()
		if strings.Contains(proctest.NodeLine(text, frozen.Addr), "state=OFFLINE") {
			break
		}
		if time.Since(start) > 3*time.Second+2*time.Second { // --offline-after plus one sweep and slack
			t.Fatalf("node not OFFLINE %v after it stopped beating:\n%s", time.Since(start), text)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("OFFLINE %v after the node stopped beating (--offline-after 3s)", time.Since(start).Round(10*time.Millisecond))
	if s := saddrs(); strings.Contains(s, frozen.Addr) || !strings.Contains(s, other.Addr) {
		t.Fatalf("SADDRS with the node OFFLINE: %q", s)
	}
	frozen.Thaw()
	c.WaitActive(30 * time.Second)
	found := false
	for range 4 { // SADDRS rotates; both must appear
		if strings.Contains(saddrs(), frozen.Addr) {
			found = true
		}
	}
	if !found {
		t.Fatal("SADDRS never names the node after it came back")
	}
}
