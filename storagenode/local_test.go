package storagenode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/proto"
)

// openLocal reads what OpenLocal hands out.
func openLocal(n *testNode, r proto.FileRef, off, size int64) ([]byte, error) {
	f, k, err := n.OpenLocal(context.Background(), r.AppID, r.UserID, r.FileID, off, size, false)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, k)
	_, err = io.ReadFull(f, b)
	return b, err
}

// OpenLocal decides as DOWNLOAD does: ranges, reads that follow the log
// (a member's copy of a file deleted through another member is not handed
// out), a bad copy repaired first, and ErrNotLocal where DOWNLOAD would
// proxy a peer's copy.
func TestOpenLocal(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *metadb.DB) {
		e := newEnv(t, db)
		ns := e.startGroup(3, func(c *Config) { c.PeerBackoff = time.Hour })
		a, b, c := ns[0], ns[1], ns[2]
		r := ref("local")
		data := randBytes(21, 1<<20)
		if err := upload(a.addr, r, data); err != nil {
			t.Fatal(err)
		}
		for _, n := range ns {
			waitFile(t, n, r, data, 5*time.Second)
		}
		if got, err := openLocal(a, r, 0, 0); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("whole file: %v", err)
		}
		if got, err := openLocal(b, r, 1000, 5000); err != nil || !bytes.Equal(got, data[1000:6000]) {
			t.Fatalf("range: %v", err)
		}
		if got, err := openLocal(b, r, int64(len(data)), 0); err != nil || len(got) != 0 {
			t.Fatalf("empty tail: %d bytes, %v", len(got), err)
		}
		_, err := openLocal(a, r, 10, int64(len(data)))
		wantErrno(t, err, proto.ERANGE, "range beyond the end")
		_, err = openLocal(a, ref("never"), 0, 0)
		wantErrno(t, err, proto.ENOENT, "a file never stored")
		_, err = openLocal(a, proto.FileRef{AppID: "bad app", UserID: "u", FileID: "f"}, 0, 0)
		wantErrno(t, err, proto.EINVAL, "a bad appid")

		// A flipped byte on B: verified and repaired before it is handed out.
		flipByte(t, b, r, 4242)
		if got, err := openLocal(b, r, 4000, 1000); err != nil || !bytes.Equal(got, data[4000:5000]) {
			t.Fatalf("corrupted copy: %v", err)
		}

		// C lacks a file the log has: not here, DOWNLOAD would proxy.
		c.sync.mu.Lock()
		a.peers.failed(c.addr, fmt.Errorf("test"))
		r2 := ref("elsewhere")
		if err := upload(a.addr, r2, data[:5000]); err != nil {
			c.sync.mu.Unlock()
			t.Fatal(err)
		}
		_, err = openLocal(c, r2, 0, 0)
		c.sync.mu.Unlock()
		if !errors.Is(err, ErrNotLocal) {
			t.Fatalf("file only on peers: %v, want ErrNotLocal", err)
		}

		// Deleted through A: C's copy is not handed out, even before C's
		// log reader applied the delete.
		c.sync.mu.Lock()
		defer c.sync.mu.Unlock()
		if err := del(a.addr, r); err != nil {
			t.Fatal(err)
		}
		_, err = openLocal(c, r, 0, 0)
		wantErrno(t, err, proto.ENOENT, "a file deleted through another member")
	})
}

// localOpenRaw sends LOCAL_OPEN on a Unix socket and returns the file
// passed back and the length, or the error reply.
func localOpenRaw(t *testing.T, path string, r proto.FileRef, off, size int64) (*os.File, int64, error) {
	t.Helper()
	return localOpenCmd(t, path, proto.CmdStorageLocalOpen, r, off, size)
}

// localOpenCmd is localOpenRaw with LOCAL_OPEN or LOCAL_OPEN_LIVE.
func localOpenCmd(t *testing.T, path string, cmd uint8, r proto.FileRef, off, size int64) (*os.File, int64, error) {
	t.Helper()
	nc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	uc := nc.(*net.UnixConn)
	body, err := (&proto.Download{FileRef: r, Offset: off, Size: size}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := proto.WriteFrame(uc, cmd, proto.StatusOK, body); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, proto.HeaderLen+8)
	oob := make([]byte, syscall.CmsgSpace(4))
	m, oobn, _, _, err := uc.ReadMsgUnix(buf, oob)
	if err != nil {
		t.Fatal(err)
	}
	var f *os.File
	if oobn > 0 {
		msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) != 1 {
			t.Fatalf("control messages %d, %v", len(msgs), err)
		}
		fds, err := syscall.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) != 1 {
			t.Fatalf("rights %v, %v", fds, err)
		}
		f = os.NewFile(uintptr(fds[0]), "passed")
	}
	_, rb, err := proto.ReadReply(io.MultiReader(bytes.NewReader(buf[:m]), uc), proto.CmdStorageReply, 1<<16)
	if err != nil {
		if f != nil {
			t.Fatal("a file passed with an error reply")
		}
		return nil, 0, err
	}
	if f == nil {
		t.Fatal("reply without a file")
	}
	n, err := proto.DecodeInt64(rb)
	if err != nil {
		t.Fatal(err)
	}
	return f, n, nil
}

// LOCAL_OPEN on the node's Unix socket passes the file positioned at the
// offset; refusals are DOWNLOAD's, EXDEV where there is no copy here; on
// TCP it is refused; NODESTAT names the socket, which is 0600 and goes
// with Close.
func TestLocalSocket(t *testing.T) {
	db := sqliteDB(t)
	e := newEnv(t, db)
	sock := filepath.Join(t.TempDir(), "n.sock")
	a := e.start("", "", func(c *Config) { c.LocalSocket = sock; c.PeerBackoff = time.Hour })
	b := e.start("", "", func(c *Config) { c.LocalSocket = sock + "2"; c.PeerBackoff = time.Hour })
	e.waitMembers(2)
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket %v, %v", fi.Mode(), err)
	}
	text, err := request(a.addr, CmdNodeStat, nil, 1<<16)
	if err != nil || !strings.Contains(string(text), "\nlocalsocket "+sock+"\n") {
		t.Fatalf("NODESTAT %q, %v", text, err)
	}
	r := ref("sock")
	data := randBytes(31, 300<<10)
	if err := upload(a.addr, r, data); err != nil {
		t.Fatal(err)
	}
	f, n, err := localOpenRaw(t, sock, r, 1000, 0)
	if err != nil || n != int64(len(data))-1000 {
		t.Fatalf("LOCAL_OPEN: %d, %v", n, err)
	}
	got, err := io.ReadAll(io.LimitReader(f, n))
	f.Close()
	if err != nil || !bytes.Equal(got, data[1000:]) {
		t.Fatalf("passed file reads %d bytes, %v", len(got), err)
	}
	_, _, err = localOpenRaw(t, sock, r, int64(len(data))+1, 0)
	wantErrno(t, err, proto.ERANGE, "offset beyond the end")
	_, _, err = localOpenRaw(t, sock, ref("none"), 0, 0)
	wantErrno(t, err, proto.ENOENT, "no such file")

	// B lacks a file the log has: EXDEV (DOWNLOAD would proxy A's copy).
	b.sync.mu.Lock()
	a.peers.failed(b.addr, fmt.Errorf("test"))
	r2 := ref("only-a")
	err = upload(a.addr, r2, data[:100])
	if err == nil {
		_, _, err = localOpenRaw(t, sock+"2", r2, 0, 0)
	}
	b.sync.mu.Unlock()
	wantErrno(t, err, proto.EXDEV, "no copy on this node")

	body, _ := (&proto.Download{FileRef: r}).Encode()
	_, err = request(a.addr, proto.CmdStorageLocalOpen, body, 1<<16)
	wantErrno(t, err, proto.ENOSYS, "LOCAL_OPEN over TCP")

	a.stop()
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Fatalf("socket left after Close: %v", err)
	}
}

// readableRow, the reads' shortcut, hands out a row only where the group
// log's last entry is a put of that very copy, whatever the member has
// missed: a replica still pending, a delete through another member, the
// file ID uploaded again with other bytes.
func TestReadableRow_OnlyWhereTheLogSaysPut(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *metadb.DB) {
		e := newEnv(t, db)
		ns := e.startGroup(2, nil)
		a, b := ns[0], ns[1]
		ctx := context.Background()
		check := func(what string, n *testNode, r proto.FileRef, wantServed bool) {
			t.Helper()
			row, err := n.readableRow(ctx, r)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if (row != nil) != wantServed {
				t.Fatalf("%s: readableRow %+v, want served=%v", what, row, wantServed)
			}
			if n.readables[shardOf(r.UserID)] != nil {
				// The batched check (MySQL) says the same with other files
				// around it, in any position.
				other := proto.FileRef{AppID: r.AppID, UserID: r.UserID, FileID: r.FileID + "-other"}
				for _, batch := range [][]proto.FileRef{{r, other}, {other, other, r}, {other, r, other, r, other}} {
					rows, _, err := n.readableMany(ctx, shardOf(r.UserID), batch)
					if err != nil {
						t.Fatalf("%s: readableMany: %v", what, err)
					}
					for i, b := range batch {
						if b == r && !reflect.DeepEqual(rows[i], row) || b != r && rows[i] != nil {
							t.Fatalf("%s: readableMany of %v: [%d] %+v, alone %+v", what, batch, i, rows[i], row)
						}
					}
				}
			}
			if row == nil {
				return
			}
			full, latest, err := n.fileState(ctx, r)
			if err != nil || full == nil || latest == nil || latest.op != opPut || full.status != statusOK ||
				latest.size != row.size || latest.crc != row.crc || full.id != row.id || full.path != row.path {
				t.Fatalf("%s: readableRow %+v, but the row is %+v and the log's last entry %+v (%v)", what, row, full, latest, err)
			}
		}
		r := ref("shortcut")
		v1 := []byte("first version")
		if err := upload(a.addr, r, v1); err != nil {
			t.Fatal(err)
		}
		check("on the coordinator", a, r, true)
		waitFile(t, b, r, v1, 5*time.Second)
		check("on the mirror, once readable", b, r, true)
		check("never stored", a, ref("none"), false)

		// B's log reader is held: it misses the delete and the new upload.
		b.sync.mu.Lock()
		defer b.sync.mu.Unlock()
		a.peers.failed(b.addr, fmt.Errorf("test"))
		if err := del(a.addr, r); err != nil {
			t.Fatal(err)
		}
		check("deleted through the other member", b, r, false)
		if _, _, err := b.resolve(ctx, r); errno(err) != proto.ENOENT {
			t.Fatalf("read of a deleted file on the lagging member: %v", err)
		}
		// resolve marked B's copy deleted; put it back as if it had not.
		row, _ := b.getRow(ctx, r)
		if _, err := b.setStatus(ctx, row, statusDeleted, statusOK, 0); err != nil {
			t.Fatal(err)
		}
		v2 := []byte("second, longer version")
		if err := upload(a.addr, r, v2); err != nil {
			t.Fatal(err)
		}
		check("uploaded again with other bytes", b, r, false)
		check("the new copy on the coordinator", a, r, true)
	})
}
