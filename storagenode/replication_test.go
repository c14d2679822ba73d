package storagenode

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/internal/clocktest"
	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/proto"
)

// group starts k members of one group on a shared database.
func (e *env) startGroup(k int, mod func(*Config)) []*testNode {
	e.t.Helper()
	var ns []*testNode
	for range k {
		ns = append(ns, e.start("", "", mod))
	}
	e.waitMembers(k)
	for _, n := range ns {
		waitState(e.t, n, proto.SyncActive, 10*time.Second)
	}
	return ns
}

// uploadBurst uploads n files of about 4 KiB at once, the i-th through
// via(i), and waits until every member of ms holds a readable copy of each
// (waitFile: a readable row, not pending, with the right size and CRC,
// and the file's bytes).
func uploadBurst(t *testing.T, prefix string, seed uint64, n int, via func(i int) *testNode, ms ...*testNode) {
	t.Helper()
	refs := make([]proto.FileRef, n)
	datas := make([][]byte, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		refs[i] = ref(fmt.Sprintf("%s%02d", prefix, i))
		datas[i] = randBytes(seed+uint64(i), 4096+i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := upload(via(i).addr, refs[i], datas[i]); err != nil {
				errs <- fmt.Errorf("upload %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := range n {
		for _, m := range ms {
			waitFile(t, m, refs[i], datas[i], 10*time.Second)
		}
	}
}

// waitFile waits until node n holds a readable (OK) copy of r with data.
func waitFile(t testing.TB, n *testNode, r proto.FileRef, data []byte, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		row := rowOf(t, n, r)
		if row != nil && row.status == statusOK && row.size == int64(len(data)) && row.crc == crcOf(data) {
			p, _ := n.byKey[row.store].abs(row.path)
			b, err := os.ReadFile(p)
			if err == nil && bytes.Equal(b, data) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s: no good copy of %s: row %+v", n.addr, r.FileID, row)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMirrorUploadDelete(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *metadb.DB) {
		e := newEnv(t, db)
		ns := e.startGroup(3, nil)
		for i, n := range ns {
			r := ref(fmt.Sprintf("m%d", i))
			data := randBytes(uint64(i), 200000+i)
			if err := upload(n.addr, r, data); err != nil {
				t.Fatal(err)
			}
			// Every member has a durable copy when the upload is acknowledged.
			for _, m := range ns {
				row := rowOf(t, m, r)
				if row == nil || row.status == statusDeleted || row.crc != crcOf(data) {
					t.Fatalf("member %s: row %+v right after the upload", m.addr, row)
				}
				got, err := download(m.addr, r, 0, 0)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("download from %s: %v", m.addr, err)
				}
			}
			for _, m := range ns {
				waitFile(t, m, r, data, 5*time.Second)
			}
			// Delete on another member: gone everywhere at once.
			if err := del(ns[(i+1)%3].addr, r); err != nil {
				t.Fatal(err)
			}
			for _, m := range ns {
				_, err := download(m.addr, r, 0, 0)
				wantErrno(t, err, proto.ENOENT, "download after delete from "+m.addr)
				if row := rowOf(t, m, r); row == nil || row.status != statusDeleted {
					t.Fatalf("member %s: row %+v after delete", m.addr, row)
				}
			}
			// The ID can be used again, from any member.
			if err := upload(ns[(i+2)%3].addr, r, []byte("again")); err != nil {
				t.Fatal(err)
			}
			wantErrno(t, upload(n.addr, r, []byte("third")), proto.EEXIST, "upload over a live file on another member")
			for _, m := range ns {
				if got, err := download(m.addr, r, 0, 0); err != nil || string(got) != "again" {
					t.Fatalf("member %s: %q %v", m.addr, got, err)
				}
			}
		}
		// The log has one put and one delete per file, plus the re-uploads.
		var puts, dels int
		db.QueryRow("SELECT COUNT(*) FROM t_group_log WHERE op = 'put'").Scan(&puts)
		db.QueryRow("SELECT COUNT(*) FROM t_group_log WHERE op = 'del'").Scan(&dels)
		if puts != 6 || dels != 3 {
			t.Fatalf("log: %d puts, %d dels", puts, dels)
		}
	})
}

func TestCatchUpAfterRestart(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *metadb.DB) {
		e := newEnv(t, db)
		ns := e.startGroup(3, nil)
		a, c := ns[0], ns[2]
		files := map[string][]byte{}
		put := func(name string, size int) {
			data := randBytes(uint64(len(files)+1), size)
			if err := upload(a.addr, ref(name), data); err != nil {
				t.Fatal(err)
			}
			files[name] = data
		}
		put("before1", 1000)
		put("before2", 70000)
		put("during3", 10)
		waitFile(t, c, ref("during3"), files["during3"], 5*time.Second)
		c.stop()
		for i := range 30 {
			if i != 3 {
				put(fmt.Sprintf("during%d", i), 1000*i)
			}
		}
		for _, name := range []string{"before1", "during3", "during7"} {
			if err := del(a.addr, ref(name)); err != nil {
				t.Fatal(err)
			}
			delete(files, name)
		}
		// Reused ID while C was away.
		put("before1", 5)
		c2 := e.start(c.store, c.addr, nil)
		waitState(t, c2, proto.SyncActive, 20*time.Second)
		for name, data := range files {
			waitFile(t, c2, ref(name), data, time.Second)
		}
		for _, name := range []string{"during3", "during7"} {
			// Never copied (deleted before C came back): no row, or a deleted one.
			if row := rowOf(t, c2, ref(name)); row != nil && row.status != statusDeleted {
				t.Fatalf("%s on the restarted member: %+v", name, row)
			}
			_, err := download(c2.addr, ref(name), 0, 0)
			wantErrno(t, err, proto.ENOENT, "deleted file on the restarted member")
		}
		var cur int64
		db.QueryRow("SELECT applied_seq FROM t_sync_cursor WHERE node = ?", c2.addr).Scan(&cur)
		var end int64
		db.QueryRow("SELECT MAX(gseq) FROM t_group_log WHERE grp = ?", e.group).Scan(&end)
		if cur != end {
			t.Fatalf("cursor %d, log end %d", cur, end)
		}
	})
}

func TestNewMemberCopiesEverything(t *testing.T) {
	e := newEnv(t, mysqlDB(t))
	ns := e.startGroup(2, nil)
	files := map[string][]byte{}
	for i := range 60 {
		data := randBytes(uint64(i), 30000+i*100)
		name := fmt.Sprintf("f%d", i)
		if err := upload(ns[i%2].addr, ref(name), data); err != nil {
			t.Fatal(err)
		}
		files[name] = data
	}
	d := e.start("", "", func(c *Config) { c.SyncWorkers = 1 })
	seen := map[uint8]bool{}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, _, _ := d.sync.stateOf()
		seen[st] = true
		if st == proto.SyncActive {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("new member never ACTIVE")
		}
		time.Sleep(time.Millisecond)
	}
	if !seen[proto.SyncSyncing] {
		t.Fatalf("states seen: %v", seen)
	}
	for name, data := range files {
		waitFile(t, d, ref(name), data, time.Second)
	}
	// The tracker saw it ACTIVE in the end.
	deadline = time.Now().Add(5 * time.Second)
	for !strings.Contains(e.tracker.membersText(e.group), d.addr+" ACTIVE ACTIVE 100") {
		if time.Now().After(deadline) {
			t.Fatal(e.tracker.membersText(e.group))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A member that missed an upload serves it at once from a peer.
func TestReadOnDemand(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *metadb.DB) {
		e := newEnv(t, db)
		ns := e.startGroup(3, func(c *Config) { c.PeerBackoff = time.Hour })
		a, c := ns[0], ns[2]
		// C's log reader is held back, and A leaves it out of its fan-outs.
		c.sync.mu.Lock()
		a.peers.failed(c.addr, fmt.Errorf("test"))
		r := ref("ondemand")
		data := randBytes(5, 3<<20)
		if err := upload(a.addr, r, data); err != nil {
			c.sync.mu.Unlock()
			t.Fatal(err)
		}
		if row := rowOf(t, c, r); row != nil {
			c.sync.mu.Unlock()
			t.Fatalf("C has the file already: %+v", row)
		}
		sz, err := filesize(c.addr, r)
		if err != nil || sz != int64(len(data)) {
			c.sync.mu.Unlock()
			t.Fatalf("filesize on C: %d %v", sz, err)
		}
		got, err := download(c.addr, r, 0, 0)
		got2, err2 := download(c.addr, r, 100, 1000)
		_, err3 := download(c.addr, r, int64(len(data))+1, 0)
		c.sync.mu.Unlock()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("download on C: %v", err)
		}
		if err2 != nil || !bytes.Equal(got2, data[100:1100]) {
			t.Fatalf("range on C: %v", err2)
		}
		wantErrno(t, err3, proto.ERANGE, "range beyond on C")
		// And C catches up by itself.
		waitFile(t, c, r, data, 10*time.Second)
	})
}

// replicaBody is a REPLICATE's body: head, bytes, CRC32C trailer.
func replicaBody(r proto.FileRef, data []byte) []byte {
	head, _ := (&proto.ReplicaHead{FileRef: r, Size: int64(len(data)), Origin: "127.0.0.1:1"}).Encode()
	c := crcOf(data)
	return append(append(head, data...), byte(c>>24), byte(c>>16), byte(c>>8), byte(c))
}

// TestReplicaOfACopyHeld: a REPLICATE of a file the member has readable is
// answered after the body (nothing is read ahead of it): OK when the bytes
// are the same (a retried replica), EEXIST when not; either way the copy
// held stays as it was and the bytes received are not kept. An UPLOAD of a
// file the group has is EEXIST, its bytes not kept either.
func TestReplicaOfACopyHeld(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *metadb.DB) {
		e := newEnv(t, db)
		ns := e.startGroup(2, nil)
		r := ref("held")
		data := randBytes(77, 5000)
		if err := upload(ns[0].addr, r, data); err != nil {
			t.Fatal(err)
		}
		waitFile(t, ns[1], r, data, 10*time.Second)
		before := rowOf(t, ns[1], r)
		files := len(dataFiles(t, ns[1].store))
		if _, err := request(ns[1].addr, CmdReplicate, replicaBody(r, data), 0); err != nil {
			t.Fatalf("retried replica with the same bytes: %v", err)
		}
		other := randBytes(78, 5000)
		_, err := request(ns[1].addr, CmdReplicate, replicaBody(r, other), 0)
		wantErrno(t, err, proto.EEXIST, "replica with other bytes")
		err = upload(ns[1].addr, r, other)
		wantErrno(t, err, proto.EEXIST, "upload of a file the group has")
		if after := rowOf(t, ns[1], r); after == nil || *after != *before {
			t.Fatalf("row changed: %+v, was %+v", after, before)
		}
		if got := len(dataFiles(t, ns[1].store)); got != files {
			t.Fatalf("%d files in the store, were %d", got, files)
		}
		for _, n := range ns {
			if got, err := download(n.addr, r, 0, 0); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("download from %s: %v", n.addr, err)
			}
		}
	})
}

// A copy written to but never committed to the log is not readable, and
// is dropped after PendingTTL.
func TestPendingNotReadable(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *metadb.DB) {
		e := newEnv(t, db)
		clock := clocktest.New(time.Time{})
		b := e.start("", "", func(c *Config) { c.PendingTTL = time.Second; c.PurgeInterval = time.Hour; c.Now = clock.Now })
		r := ref("uncommitted")
		data := []byte("half a transaction")
		head, _ := (&proto.ReplicaHead{FileRef: r, Size: int64(len(data)), Origin: "127.0.0.1:1"}).Encode()
		body := append(head, data...)
		body = append(body, byte(crcOf(data)>>24), byte(crcOf(data)>>16), byte(crcOf(data)>>8), byte(crcOf(data)))
		if _, err := request(b.addr, CmdReplicate, body, 0); err != nil {
			t.Fatal(err)
		}
		if row := rowOf(t, b, r); row == nil || row.status != statusPending {
			t.Fatalf("row %+v", row)
		}
		_, err := download(b.addr, r, 0, 0)
		wantErrno(t, err, proto.ENOENT, "download of an uncommitted copy")
		_, err = filesize(b.addr, r)
		wantErrno(t, err, proto.ENOENT, "filesize of an uncommitted copy")
		// A replica with a wrong checksum is refused.
		bad := append([]byte{}, body...)
		bad[len(bad)-1] ^= 1
		r2 := ref("badcrc")
		head2, _ := (&proto.ReplicaHead{FileRef: r2, Size: int64(len(data)), Origin: "x"}).Encode()
		copy(bad, head2)
		_, err = request(b.addr, CmdReplicate, bad, 0)
		wantErrno(t, err, proto.EBADMSG, "replica with a wrong CRC32C")
		if rowOf(t, b, r2) != nil {
			t.Fatal("row of a bad replica")
		}
		clock.Advance(2100 * time.Millisecond)
		if k, err := b.Purge(context.Background()); err != nil || k != 1 {
			t.Fatalf("purge: %d %v", k, err)
		}
		if len(dataFiles(t, b.store)) != 0 {
			t.Fatal("bytes of the uncommitted copy left")
		}
	})
}

func flipByte(t testing.TB, n *testNode, r proto.FileRef, off int64) {
	t.Helper()
	row := rowOf(t, n, r)
	p, _ := n.byKey[row.store].abs(row.path)
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	f.ReadAt(b, off)
	b[0] ^= 0x40
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptCopy(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *metadb.DB) {
		e := newEnv(t, db)
		ns := e.startGroup(3, nil)
		a, b, c := ns[0], ns[1], ns[2]
		r := ref("rot")
		data := randBytes(11, 1<<20)
		if err := upload(a.addr, r, data); err != nil {
			t.Fatal(err)
		}
		for _, n := range ns {
			waitFile(t, n, r, data, 5*time.Second)
		}
		// A flipped byte on B: a range download there is verified first and
		// the copy repaired from a member.
		flipByte(t, b, r, 777)
		got, err := download(b.addr, r, 700, 100)
		if err != nil || !bytes.Equal(got, data[700:800]) {
			t.Fatalf("range from the corrupted member: %v", err)
		}
		waitFile(t, b, r, data, time.Second)

		// A flipped byte on C: scrub finds and repairs it.
		flipByte(t, c, r, 5)
		rep, err := c.Scrub(context.Background(), false)
		if err != nil || len(rep.Bad) != 1 || rep.Repaired != 0 || rep.Files != 1 {
			t.Fatalf("scrub report %+v %v", rep, err)
		}
		text, err := request(c.addr, CmdScrub, []byte{proto.ScrubRepair}, 1<<20)
		if err != nil || !strings.HasPrefix(string(text), "files 1 bytes 1048576 bad 1 repaired 1 unrepaired 0\n") {
			t.Fatalf("scrub over the wire: %q %v", text, err)
		}
		waitFile(t, c, r, data, time.Second)
		rep, err = c.Scrub(context.Background(), false)
		if err != nil || len(rep.Bad) != 0 {
			t.Fatalf("second scrub %+v %v", rep, err)
		}
		// A missing copy is repaired too.
		row := rowOf(t, a, r)
		p, _ := a.byKey[row.store].abs(row.path)
		os.Remove(p)
		if got, err := download(a.addr, r, 0, 0); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("download of a missing copy: %v", err)
		}
		// Corrupt everywhere: never served.
		for _, n := range ns {
			flipByte(t, n, r, 9)
		}
		_, err = download(a.addr, r, 0, 0)
		if err == nil {
			t.Fatal("corrupt bytes served")
		}
		text, err = request(b.addr, CmdNodeStat, nil, 1<<20)
		if err != nil || !strings.Contains(string(text), "syncstate ACTIVE\n") {
			t.Fatalf("stat %q %v", text, err)
		}
	})
}

// Two uploads of one file ID with different contents through two members at
// once: at most one is acknowledged, and every member ends up serving it.
func TestConcurrentSameFileID(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *metadb.DB) {
		e := newEnv(t, db)
		ns := e.startGroup(3, nil)
		for i := range 15 {
			r := ref(fmt.Sprintf("race%d", i))
			a, b := randBytes(uint64(i), 50000), randBytes(uint64(i+100), 60000)
			errs := make(chan error, 2)
			go func() { errs <- upload(ns[0].addr, r, a) }()
			go func() { errs <- upload(ns[1].addr, r, b) }()
			ea, eb := <-errs, <-errs
			if ea == nil && eb == nil {
				t.Fatalf("round %d: both uploads acknowledged", i)
			}
			var want []byte
			got, err := download(ns[2].addr, r, 0, 0)
			if ea == nil || eb == nil {
				if err != nil || !(bytes.Equal(got, a) || bytes.Equal(got, b)) {
					t.Fatalf("round %d: acknowledged file not served: %v", i, err)
				}
				want = got
			}
			for _, n := range ns {
				got, err := download(n.addr, r, 0, 0)
				if want == nil {
					wantErrno(t, err, proto.ENOENT, "neither acknowledged")
				} else if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("round %d: member %s serves another version: %v", i, n.addr, err)
				}
			}
		}
		waitState(t, ns[2], proto.SyncActive, 5*time.Second)
	})
}

// Every member purges its own copy of a deleted file after the retention.
func TestPurgeOnEveryMember(t *testing.T) {
	e := newEnv(t, mysqlDB(t))
	ns := e.startGroup(3, func(c *Config) { c.Retention = time.Second; c.PurgeInterval = 200 * time.Millisecond })
	r := ref("purged")
	data := randBytes(1, 10000)
	if err := upload(ns[0].addr, r, data); err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		waitFile(t, n, r, data, 5*time.Second)
	}
	if err := del(ns[1].addr, r); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, n := range ns {
		for len(dataFiles(t, n.store)) != 0 || rowOf(t, n, r) != nil {
			if time.Now().After(deadline) {
				t.Fatalf("member %s still holds the deleted file", n.addr)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// And the log forgets the file once every member has applied the delete.
	for {
		var k int
		e.db.QueryRow("SELECT COUNT(*) FROM t_group_log WHERE fileid = ?", r.FileID).Scan(&k)
		if k == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d log entries of the purged file left", k)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A member joining later has nothing to copy.
	d := e.start("", "", nil)
	waitState(t, d, proto.SyncActive, 5*time.Second)
	if rowOf(t, d, r) != nil {
		t.Fatal("new member copied a purged file")
	}
}

// A burst of concurrent uploads gives each mirror batches of log entries to
// apply, whose pending copies it flips readable in one transaction
// (commitFlips): every copy on every member ends readable, none is left
// pending (which the purge would take), and each holds its bytes.
func TestMirrorFlipsABurstOfCopies(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *metadb.DB) {
		e := newEnv(t, db)
		// Members of the release before REPLICATE_LINKED, whose copies are
		// pending until flipped (linked_test.go has the linked ones).
		ns := e.startGroup(2, func(c *Config) { c.noLinked = true })
		uploadBurst(t, "burst", 1000, 48, func(i int) *testNode { return ns[i%2] }, ns...)
		// Each mirror flipped its copies from what it remembered of them
		// (pendingCopies), none left behind.
		for _, m := range ns {
			m.pending.mu.Lock()
			left := len(m.pending.m)
			m.pending.mu.Unlock()
			if left != 0 {
				t.Errorf("node %s: %d pending copies remembered after the burst", m.addr, left)
			}
		}
	})
}

// TestFlipChecksTheCopy: the flip the syncer commits moves a pending row
// only while it holds the put's contents; a row another upload replaced in
// place (the same row ID) stays pending, and a remembered copy whose
// contents differ from the put is not taken.
func TestFlipChecksTheCopy(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *metadb.DB) {
		e := newEnv(t, db)
		n := e.startGroup(1, nil)[0]
		r := ref("flipcheck")
		st := n.stores[0]
		ctx := context.Background()
		row, _, err := n.putRow(ctx, r, st, "x/1", 100, 7, statusPending, 0)
		if err != nil {
			t.Fatal(err)
		}
		n.pending.add(r, row)
		if got := n.pending.take(r, 100, 8); got != nil {
			t.Fatalf("took a remembered copy of other contents: %+v", got)
		}
		got := n.pending.take(r, 100, 7)
		if got == nil || got.id != row.id {
			t.Fatalf("take: %+v, want row %d", got, row.id)
		}
		// Replaced in place by another copy: same ID, other CRC.
		if _, old, err := n.putRow(ctx, r, st, "x/2", 100, 9, statusPending, 0); err != nil || old == nil || old.id != row.id {
			t.Fatalf("replace: old %+v, %v", old, err)
		}
		flip := func(size int64, crc uint32) bool {
			var ok bool
			if err := db.GroupTx(ctx, func(tx *sql.Tx) (err error) {
				ok, err = n.flipIn(ctx, tx, got, size, crc)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if flip(100, 7) {
			t.Fatal("flipped a row that holds other contents")
		}
		if cur := rowOf(t, n, r); cur == nil || cur.status != statusPending || cur.crc != 9 {
			t.Fatalf("row after a refused flip: %+v", cur)
		}
		if !flip(100, 9) {
			t.Fatal("did not flip the row holding the put's contents")
		}
		if cur := rowOf(t, n, r); cur == nil || cur.status != statusOK {
			t.Fatalf("row after the flip: %+v", cur)
		}
	})
}
