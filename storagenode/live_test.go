package storagenode

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/proto"
)

func downloadLive(addr string, r proto.FileRef) ([]byte, error) {
	body, err := (&proto.Download{FileRef: r}).Encode()
	if err != nil {
		return nil, err
	}
	return request(addr, proto.CmdStorageDownloadLive, body, 1<<31)
}

// A live read (DOWNLOAD_LIVE, LOCAL_OPEN_LIVE: the caller's index holds
// the file live) is served from this node's own readable row, cached by
// the reads before it: a delete this node has not applied yet does not
// stop it — the caller vouched — but every change of the row that this
// node makes (the delete applied, through it or told by a peer; the copy
// found changed and repaired) reaches the next live read at once.
func TestLiveRead(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *metadb.DB) {
		e := newEnv(t, db)
		sock := filepath.Join(t.TempDir(), "b.sock")
		a := e.start("", "", nil)
		b := e.start("", "", func(c *Config) { c.LocalSocket = sock })
		e.waitMembers(2)
		waitState(t, a, proto.SyncActive, 10*time.Second)
		waitState(t, b, proto.SyncActive, 10*time.Second)
		data := randBytes(7, 5000)
		put := func(name string) proto.FileRef {
			t.Helper()
			r := ref(name)
			if err := upload(a.addr, r, data); err != nil {
				t.Fatal(err)
			}
			waitFile(t, b, r, data, 5*time.Second)
			return r
		}
		served := func(what string, n *testNode, r proto.FileRef) {
			t.Helper()
			got, err := downloadLive(n.addr, r)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%s: live read of %d bytes, %v", what, len(got), err)
			}
		}

		counts := func(what string, n *testNode, hits, misses int64) {
			t.Helper()
			if h, m, _ := n.rows.stats(); h != hits || m != misses {
				t.Fatalf("%s: %d live reads answered from the cache, %d not; want %d, %d", what, h, m, hits, misses)
			}
		}

		r := put("live")
		served("first", b, r)
		counts("the first live read", b, 0, 1)
		if _, _, rows := b.rows.stats(); rows != 1 {
			t.Fatalf("the live read's row is not cached: %d rows", rows)
		}
		f, k, err := localOpenCmd(t, sock, proto.CmdStorageLocalOpenLive, r, 10, 0)
		if err != nil || k != int64(len(data))-10 {
			t.Fatalf("LOCAL_OPEN_LIVE: %d, %v", k, err)
		}
		got, err := io.ReadAll(io.LimitReader(f, k))
		f.Close()
		if err != nil || !bytes.Equal(got, data[10:]) {
			t.Fatalf("LOCAL_OPEN_LIVE's file reads %d bytes, %v", len(got), err)
		}
		counts("LOCAL_OPEN_LIVE of the cached row", b, 1, 1)
		text, err := request(b.addr, CmdNodeStat, nil, 1<<16)
		if err != nil || !strings.Contains(string(text), "\nrowcache 1 1 1\n") {
			t.Fatalf("NODESTAT %q (%v), want the line \"rowcache 1 1 1\"", text, err)
		}

		// B misses a delete through A: its log reader is held and A does
		// not tell it.
		b.sync.mu.Lock()
		a.peers.failed(b.addr, fmt.Errorf("test"))
		if err := del(a.addr, r); err != nil {
			b.sync.mu.Unlock()
			t.Fatal(err)
		}
		served("deleted through the other member, vouched live", b, r)
		counts("the vouched read of a file deleted elsewhere", b, 2, 1)
		_, err = download(b.addr, r, 0, 0) // follows the log: applies the delete here
		b.sync.mu.Unlock()
		wantErrno(t, err, proto.ENOENT, "DOWNLOAD of a file deleted through the other member")
		_, err = downloadLive(b.addr, r)
		wantErrno(t, err, proto.ENOENT, "live read once this node has applied the delete")
		if _, _, rows := b.rows.stats(); rows != 0 {
			t.Fatalf("a deleted row is still cached (%d rows)", rows)
		}

		// A delete through the node itself.
		r2 := put("live-own")
		served("before its delete", a, r2)
		if err := del(a.addr, r2); err != nil {
			t.Fatal(err)
		}
		_, err = downloadLive(a.addr, r2)
		wantErrno(t, err, proto.ENOENT, "live read after a delete through this node")

		// A delete the node hears of from its peer (REPLICATE_DELETE, or
		// its log reader).
		r3 := put("live-peer")
		served("before the peer's delete", b, r3)
		if err := del(a.addr, r3); err != nil {
			t.Fatal(err)
		}
		if !eventually(5*time.Second, func() bool { _, err := downloadLive(b.addr, r3); return errno(err) == proto.ENOENT }) {
			t.Fatal("live read still served after the peer's delete reached this node")
		}

		// A copy changed on disk since it was verified: checked and
		// repaired from the peer as for DOWNLOAD, cached row or not.
		r4 := put("live-changed")
		served("before the change", a, r4)
		row := rowOf(t, a, r4)
		p, _ := a.byKey[row.store].abs(row.path)
		if err := os.WriteFile(p, bytes.Repeat([]byte{'x'}, len(data)), 0o644); err != nil {
			t.Fatal(err)
		}
		served("a changed copy, repaired", a, r4)
		served("the repaired copy", a, r4)
		if row2 := rowOf(t, a, r4); row2.vctime == row.vctime && row2.path == row.path {
			t.Fatalf("the changed copy was served without a check: row %+v, was %+v", row2, row)
		}
	})
}

// A fill that raced a write of the row is refused; drops forget by row;
// the cache stays within its bound.
func TestRowCache(t *testing.T) {
	c := newRowCache(3)
	r1 := proto.FileRef{AppID: "a", UserID: "u", FileID: "1"}
	row1 := &fileRow{shard: 1, id: 10, size: 5}
	g := c.begin()
	c.fill(g, r1, row1)
	got := c.get(r1)
	if got == nil || *got != *row1 {
		t.Fatalf("get %+v, want %+v", got, row1)
	}
	got.vctime = 99 // a copy: the cache's row is not touched
	if c.get(r1).vctime != 0 {
		t.Fatal("get handed out the cached row itself")
	}

	g = c.begin()
	c.drop(&fileRow{shard: 1, id: 10})
	if c.get(r1) != nil {
		t.Fatal("dropped row still cached")
	}
	c.fill(g, r1, row1) // read before the drop: stale
	if c.get(r1) != nil {
		t.Fatal("a fill begun before a drop was stored")
	}
	c.fill(c.begin(), r1, row1)
	if c.get(r1) == nil {
		t.Fatal("a fill begun after the drop was refused")
	}
	c.drop(&fileRow{shard: 2, id: 10}) // same id, other shard: another row
	if c.get(r1) == nil {
		t.Fatal("a drop of another shard's row forgot this one")
	}

	for i := range 10 {
		c.fill(c.begin(), proto.FileRef{AppID: "a", UserID: "u", FileID: fmt.Sprint("f", i)}, &fileRow{shard: 1, id: int64(100 + i)})
	}
	if n := c.len(); n != 3 || len(c.refs) != 3 {
		t.Fatalf("%d rows, %d ids held; bound 3", n, len(c.refs))
	}
	var nilCache *rowCache
	nilCache.fill(nilCache.begin(), r1, row1)
	nilCache.drop(row1)
	if nilCache.get(r1) != nil {
		t.Fatal("a nil cache holds something")
	}
}

// --row-cache 0 (RowCache < 0): no cache, and live reads are DOWNLOADs.
func TestLiveRead_NoCache(t *testing.T) {
	e := newEnv(t, sqliteDB(t))
	n := e.start("", "", func(c *Config) { c.RowCache = -1 })
	e.waitMembers(1)
	waitState(t, n, proto.SyncActive, 10*time.Second)
	r := ref("nocache")
	data := randBytes(9, 1000)
	if err := upload(n.addr, r, data); err != nil {
		t.Fatal(err)
	}
	got, err := downloadLive(n.addr, r)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("live read without a cache: %d bytes, %v", len(got), err)
	}
	if n.rows != nil {
		t.Fatalf("RowCache -1 made a cache of %d rows", n.rows.len())
	}
	if err := del(n.addr, r); err != nil {
		t.Fatal(err)
	}
	_, err = downloadLive(n.addr, r)
	wantErrno(t, err, proto.ENOENT, "live read of a deleted file without a cache")
}
