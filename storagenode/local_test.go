package storagenode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/proto"
)

// openLocal reads what OpenLocal hands out.
func openLocal(n *testNode, r proto.FileRef, off, size int64) ([]byte, error) {
	f, k, err := n.OpenLocal(context.Background(), r.AppID, r.UserID, r.FileID, off, size)
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
