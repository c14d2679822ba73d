package tracker

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/proto"
)

func frame(bodyLen int64, cmd uint8, body []byte) []byte {
	b := make([]byte, 10, 10+len(body))
	binary.BigEndian.PutUint64(b, uint64(bodyLen))
	b[8] = cmd
	return append(b, body...)
}

// field is s NUL-padded to n bytes, or exactly s's bytes when len(s) >= n.
func field(s string, n int) []byte {
	b := make([]byte, max(n, len(s)))
	copy(b, s)
	return b
}

func joinBody(version, group, host string, port uint16) []byte {
	b := append(field(version, 7), field(group, 17)...)
	b = append(b, field(host, 129)...)
	b = binary.BigEndian.AppendUint16(b, port)
	return append(b, make([]byte, 16)...)
}

func extBeatBody(group, host string, port uint16, syncState, syncPct byte, free int64) []byte {
	b := append(field(group, 17), field(host, 129)...)
	b = binary.BigEndian.AppendUint16(b, port)
	b = binary.BigEndian.AppendUint64(b, 1000)
	b = binary.BigEndian.AppendUint64(b, uint64(free))
	b = append(b, syncState, syncPct)
	return binary.BigEndian.AppendUint64(b, 0)
}

func fileRefBody(appid, userid, fileid string) []byte {
	return append(append(field(appid, 16), field(userid, 256)...), field(fileid, 128)...)
}

// TestTracker_MalformedFrames_ErrorReplyNoCrash sends every kind of bad
// frame, built by hand, and checks the error reply, whether the connection
// stays usable, and that the tracker still serves other clients.
func TestTracker_MalformedFrames_ErrorReplyNoCrash(t *testing.T) {
	r := start(t, Config{RegisteredOnly: false})
	good := dial(t, r.addr)
	if err := good.join("g1", "127.0.0.1", 23000); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 17)
	cases := []struct {
		name  string
		send  []byte
		errno int16
		keeps bool // the connection is still in sync afterwards
	}{
		{"unknown command", frame(0, 99, nil), proto.ENOSYS, true},
		{"reply command sent as request", frame(0, proto.CmdTrackerReply, nil), proto.ENOSYS, true},
		{"ID server command", frame(4, proto.CmdIDGet, []byte("abc\x00")), proto.ENOSYS, true},
		{"storage UPLOAD claiming 2^62", frame(1<<62, proto.CmdStorageUpload, nil), proto.ENOSYS, false},
		{"JOIN bodylen 2^62", frame(1<<62, proto.CmdTrackerJoin, nil), proto.EMSGSIZE, false},
		{"SADDRS bodylen 2^40", frame(1<<40, proto.CmdTrackerSaddrs, nil), proto.EMSGSIZE, false},
		{"negative bodylen", frame(-5, proto.CmdTrackerGroups, nil), proto.EMSGSIZE, false},
		{"JOIN one byte short", frame(170, proto.CmdTrackerJoin, make([]byte, 170)), proto.EMSGSIZE, true},
		{"BEAT of 150 bytes", frame(150, proto.CmdTrackerBeat, make([]byte, 150)), proto.EMSGSIZE, true},
		{"GROUPS with a body", frame(1, proto.CmdTrackerGroups, []byte{0}), proto.EMSGSIZE, true},
		{"MEMBERS empty", frame(0, proto.CmdTrackerMembers, nil), proto.EMSGSIZE, true},
		{"JOIN version not terminated", frame(171, proto.CmdTrackerJoin, joinBody("1234567", "g1", "h", 1)), proto.EPROTO, true},
		{"JOIN group of 17 bytes", frame(171, proto.CmdTrackerJoin, append(append(field("1", 7), []byte(long)...), field("h", 129+18)...)), proto.EPROTO, true},
		{"JOIN empty group", frame(171, proto.CmdTrackerJoin, joinBody("1", "", "h", 1)), proto.EINVAL, true},
		{"JOIN group with a slash", frame(171, proto.CmdTrackerJoin, joinBody("1", "g/1", "h", 1)), proto.EINVAL, true},
		{"JOIN hostname with a space", frame(171, proto.CmdTrackerJoin, joinBody("1", "g1", "a b", 1)), proto.EINVAL, true},
		{"JOIN version with a newline", frame(171, proto.CmdTrackerJoin, joinBody("1\n", "g1", "h", 1)), proto.EINVAL, true},
		{"JOIN port 0", frame(171, proto.CmdTrackerJoin, joinBody("1", "g1", "h", 0)), proto.EINVAL, true},
		{"BEAT host not terminated", frame(146, proto.CmdTrackerBeat, append(field("g1", 17), bytes.Repeat([]byte("h"), 129)...)), proto.EPROTO, true},
		{"BEAT syncpct 101", frame(174, proto.CmdTrackerBeat, extBeatBody("g1", "h", 1, 0, 101, 1)), proto.EPROTO, true},
		{"BEAT syncstate 3", frame(174, proto.CmdTrackerBeat, extBeatBody("g1", "h", 1, 3, 0, 1)), proto.EPROTO, true},
		{"BEAT negative free", frame(174, proto.CmdTrackerBeat, extBeatBody("g1", "h", 1, 0, 0, -1)), proto.EPROTO, true},
		{"BEAT health 4", frame(175, proto.CmdTrackerBeat, append(extBeatBody("g1", "h", 1, 0, 0, 1), 4)), proto.EPROTO, true},
		{"BEAT port 0", frame(174, proto.CmdTrackerBeat, extBeatBody("g1", "h", 0, 0, 0, 1)), proto.EINVAL, true},
		{"seed BEAT of an unknown node", frame(146, proto.CmdTrackerBeat, append(field("g1", 17), field("nobody", 129)...)), proto.ENOENT, true},
		{"SADDRS appid not terminated", frame(400, proto.CmdTrackerSaddrs, fileRefBody(strings.Repeat("a", 16), "u", "f")[:400]), proto.EPROTO, true},
		{"SADDRS invalid appid", frame(400, proto.CmdTrackerSaddrs, fileRefBody("a-b", "u", "f")), proto.EINVAL, true},
		{"SADDRS empty userid", frame(400, proto.CmdTrackerSaddrs, fileRefBody("app", "", "f")), proto.EINVAL, true},
		{"MEMBERS not terminated", frame(17, proto.CmdTrackerMembers, []byte(long)), proto.EPROTO, true},
		{"MEMBERS invalid group", frame(17, proto.CmdTrackerMembers, field("g 1", 17)), proto.EINVAL, true},
		{"MEMBERS empty group", frame(17, proto.CmdTrackerMembers, field("", 17)), proto.EINVAL, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, r.addr)
			c.c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.c.Write(tc.send); err != nil {
				t.Fatal(err)
			}
			_, _, err := proto.ReadReply(c.c, proto.CmdTrackerReply, proto.MaxTextReply)
			if errno(err) != tc.errno {
				t.Fatalf("reply %v, want errno %d", err, tc.errno)
			}
			_, err = c.do(proto.CmdTrackerGroups, nil)
			if tc.keeps && err != nil {
				t.Errorf("connection unusable after the error: %v", err)
			}
			if !tc.keeps && err == nil {
				t.Errorf("connection kept after a frame it cannot resync")
			}
			if s := good.groups(); !strings.Contains(s, "group g1 ") {
				t.Fatalf("tracker lost its state: %q", s)
			}
		})
	}
	if n := r.srv.Nodes(); len(n) != 1 {
		t.Fatalf("bad frames changed the registry: %+v", n)
	}
}

// TestTracker_WireBytes checks GROUPS and SADDRS replies byte by byte against
// requests built by hand from the protocol table.
func TestTracker_WireBytes(t *testing.T) {
	r := start(t, Config{})
	c, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	readFrame := func() (cmd, status byte, body []byte) {
		h := make([]byte, 10)
		if _, err := io.ReadFull(c, h); err != nil {
			t.Fatal(err)
		}
		body = make([]byte, binary.BigEndian.Uint64(h))
		if _, err := io.ReadFull(c, body); err != nil {
			t.Fatal(err)
		}
		return h[8], h[9], body
	}
	// JOIN and BEAT (seed form) of a node at 127.0.0.1:23000.
	c.Write(frame(171, 10, joinBody("1.0", "g1", "127.0.0.1", 23000)))
	if cmd, st, b := readFrame(); cmd != 100 || st != 0 || len(b) != 0 {
		t.Fatalf("JOIN reply %d %d %q", cmd, st, b)
	}
	c.Write(frame(146, 11, append(field("g1", 17), field("127.0.0.1", 129)...)))
	if cmd, st, b := readFrame(); cmd != 100 || st != 0 || len(b) != 0 {
		t.Fatalf("BEAT reply %d %d %q", cmd, st, b)
	}
	c.Write(frame(400, 12, fileRefBody("app", "user1", "file1")))
	cmd, st, b := readFrame()
	want := append(field("g1", 17), "127.0.0.1:23000;\x00"...)
	if cmd != 100 || st != 0 || !bytes.Equal(b, want) {
		t.Fatalf("SADDRS reply %d %d %q, want %q", cmd, st, b, want)
	}
	c.Write([]byte{0, 0, 0, 0, 0, 0, 0, 0, 13, 0})
	cmd, st, b = readFrame()
	if cmd != 100 || st != 0 || len(b) == 0 || b[len(b)-1] != 0 || !bytes.HasPrefix(b, []byte("group g1 nodes=1 active=1 readable=1")) {
		t.Fatalf("GROUPS reply %d %d %q", cmd, st, b)
	}
	c.Write(frame(17, 14, field("g1", 17)))
	cmd, st, b = readFrame()
	if cmd != 100 || st != 0 || string(b) != "127.0.0.1:23000 ACTIVE ACTIVE 100 0 0 0 OK\n\x00" {
		t.Fatalf("MEMBERS reply %d %d %q", cmd, st, b)
	}
	// An error: status 0xFD, errno 11 (EAGAIN) for a group with no node.
	c.Write(frame(146, 11, append(field("g2", 17), field("x", 129)...)))
	cmd, st, b = readFrame()
	if cmd != 100 || st != 0xFD || binary.BigEndian.Uint16(b) != 2 || b[len(b)-1] != 0 {
		t.Fatalf("error reply %d %#x % x", cmd, st, b)
	}
}

func TestClose_GracefulAndIdempotent(t *testing.T) {
	r := start(t, Config{})
	c := dial(t, r.addr)
	c.groups()
	r.stop(t)
	c.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.c.Read(make([]byte, 1)); err == nil {
		t.Fatal("idle connection open after Close")
	}
	if _, err := net.Dial("tcp", r.addr); err == nil {
		t.Fatal("accepting after Close")
	}
}

// FuzzTrackerStream feeds arbitrary bytes to a live tracker connection: the
// tracker must answer or close, never crash, and keep serving others.
func FuzzTrackerStream(f *testing.F) {
	f.Add(frame(0, proto.CmdTrackerGroups, nil))
	f.Add(frame(171, proto.CmdTrackerJoin, joinBody("1", "g1", "h", 1)))
	f.Add(frame(174, proto.CmdTrackerBeat, extBeatBody("g1", "h", 1, 2, 50, 5)))
	f.Add(frame(400, proto.CmdTrackerSaddrs, fileRefBody("app", "u", "f")))
	f.Add(frame(17, proto.CmdTrackerMembers, field("g1", 17)))
	f.Add(frame(1<<62, proto.CmdTrackerJoin, nil))
	r := start(f, Config{IOTimeout: 200 * time.Millisecond})
	probe := dial(f, r.addr) // one connection: a dial per input would use up the ports
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := net.Dial("tcp", r.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write(in)
		c.(*net.TCPConn).CloseWrite()
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		io.Copy(io.Discard, c)
		c.Close()
		if _, err := probe.do(proto.CmdTrackerGroups, nil); err != nil {
			t.Fatalf("tracker stopped serving: %v", err)
		}
	})
}
