package storagenode

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/proto"
)

// in is an env of another group on the same database, ID server and
// tracker.
func (e *env) in(group string) *env {
	return &env{t: e.t, db: e.db, ids: e.ids, tracker: e.tracker, group: group}
}

// groupSeqs returns how many entries the group's log holds and its lowest
// and highest gseq.
func groupSeqs(t testing.TB, db *metadb.DB, group string) (n, lo, hi int64) {
	t.Helper()
	err := db.QueryRow("SELECT COUNT(*), COALESCE(MIN(gseq), 0), COALESCE(MAX(gseq), 0) FROM t_group_log WHERE grp = ?", group).Scan(&n, &lo, &hi)
	if err != nil {
		t.Fatal(err)
	}
	return n, lo, hi
}

// Two groups written alternately share the log table. A member of g1
// restarted after 200 of them catches up at once: the other group's
// entries are not holes in its log (before per-group numbers it waited
// 30 s on them for each batch of 100). Its lag is 0 when done and its
// cursor is its group's last number.
func TestCatchUpBesideAnotherGroup(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *metadb.DB) {
		e1 := newEnv(t, db)
		e2 := e1.in("g2")
		g1 := e1.startGroup(2, nil)
		g2 := e2.startGroup(1, nil)
		a, b := g1[0], g1[1]
		waitState(t, b, proto.SyncActive, 5*time.Second)
		b.stop()
		files := map[string][]byte{}
		for i := range 200 {
			r := ref(fmt.Sprintf("x%03d", i))
			data := randBytes(uint64(i), 100+i*7)
			to := a.addr
			if i%2 == 1 {
				to = g2[0].addr
			} else {
				files[r.FileID] = data
			}
			if err := upload(to, r, data); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		b2 := e1.start(b.store, b.addr, nil)
		waitState(t, b2, proto.SyncActive, 10*time.Second)
		took := time.Since(start)
		for name, data := range files {
			waitFile(t, b2, ref(name), data, time.Second)
		}
		t.Logf("restarted member caught up %d entries in %v", len(files), took.Round(time.Millisecond))
		if took > 5*time.Second {
			t.Errorf("catch-up took %v", took)
		}
		for _, g := range []string{"g1", "g2"} {
			n, lo, hi := groupSeqs(t, db, g)
			if n == 0 || hi-lo+1 != n {
				t.Errorf("group %s: %d entries numbered %d..%d, want dense", g, n, lo, hi)
			}
		}
		_, _, end := groupSeqs(t, db, "g1")
		deadline := time.Now().Add(3 * time.Second)
		for {
			st, _, lag := b2.sync.stateOf()
			var cur int64
			db.QueryRow("SELECT applied_seq FROM t_sync_cursor WHERE node = ? AND grp = 'g1'", b2.addr).Scan(&cur)
			if st == proto.SyncActive && lag == 0 && cur == end {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("restarted member: state %s lag %d cursor %d, log end %d", proto.SyncName(st), lag, cur, end)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// Uploads and deletes racing through every member of two groups: each
// group's numbers are unique and without holes, its counter is at its
// last entry, and every member ends with lag 0.
func TestGroupSeqConcurrentWriters(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *metadb.DB) {
		e1 := newEnv(t, db)
		g1 := e1.startGroup(2, nil)
		g2 := e1.in("g2").startGroup(2, nil)
		nodes := append(append([]*testNode{}, g1...), g2...)
		var wg sync.WaitGroup
		for w, n := range nodes {
			for k := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 25 {
						r := ref(fmt.Sprintf("c%d-%d-%02d", w, k, i))
						if err := upload(n.addr, r, randBytes(uint64(w*100+i), 50+i)); err != nil {
							t.Errorf("upload %s: %v", r.FileID, err)
							return
						}
						if i%5 == 0 {
							if err := del(n.addr, r); err != nil {
								t.Errorf("delete %s: %v", r.FileID, err)
								return
							}
						}
					}
				}()
			}
		}
		wg.Wait()
		for _, g := range []string{"g1", "g2"} {
			n, lo, hi := groupSeqs(t, db, g)
			var last int64
			db.QueryRow("SELECT last_seq FROM t_group_seq WHERE grp = ?", g).Scan(&last)
			if n != 2*2*(25+5) || lo != 1 || hi != n || last != hi {
				t.Errorf("group %s: %d entries numbered %d..%d, counter %d", g, n, lo, hi, last)
			}
		}
		for _, n := range nodes {
			deadline := time.Now().Add(5 * time.Second)
			for {
				st, _, lag := n.sync.stateOf()
				if st == proto.SyncActive && lag == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("node %s: %s lag %d", n.addr, proto.SyncName(st), lag)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	})
}

// A hole below the group's compacted floor is an entry compacted away: a
// new member passes it at once, giving nothing up.
func TestCompactedHolePassed(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *metadb.DB) {
		e := newEnv(t, db)
		a := e.startGroup(1, nil)[0]
		for i := range 6 {
			if err := upload(a.addr, ref(fmt.Sprintf("h%d", i)), randBytes(uint64(i), 100)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.Exec("DELETE FROM t_group_log WHERE grp = 'g1' AND gseq IN (2, 3)"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec("UPDATE t_group_seq SET compacted = 3 WHERE grp = 'g1'"); err != nil {
			t.Fatal(err)
		}
		c := e.start("", "", nil)
		waitState(t, c, proto.SyncActive, 5*time.Second)
		for _, i := range []int{0, 3, 4, 5} {
			waitFile(t, c, ref(fmt.Sprintf("h%d", i)), randBytes(uint64(i), 100), time.Second)
		}
		waitCursor(t, db, c, 6, 2*time.Second)
		if _, _, lag := c.sync.stateOf(); lag != 0 {
			t.Errorf("lag %d after passing the hole", lag)
		}
		var nops int
		db.QueryRow("SELECT COUNT(*) FROM t_group_log WHERE op = 'nop'").Scan(&nops)
		if nops != 0 {
			t.Errorf("%d numbers given up below the floor", nops)
		}
	})
}

// waitCursor waits until node n's stored cursor is want.
func waitCursor(t testing.TB, db *metadb.DB, n *testNode, want int64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var cur int64
		db.QueryRow("SELECT applied_seq FROM t_sync_cursor WHERE node = ?", n.addr).Scan(&cur)
		if cur == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s: cursor %d, want %d", n.addr, cur, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A number reserved by a writer that never commits (it died between its
// reservation and its transaction): the entries after it are applied at
// once and the member is ACTIVE with lag 0; its cursor waits holeGrace and
// then the member gives the number up (a no-op entry). A writer that comes
// after that fails on the unique key instead of slipping in behind the
// cursors.
func TestPendingHoleGivenUp(t *testing.T) {
	defer func(g time.Duration) { holeGrace = g }(holeGrace)
	holeGrace = time.Second
	forEachDB(t, func(t *testing.T, db *metadb.DB) {
		e := newEnv(t, db)
		ns := e.startGroup(2, nil)
		a, b := ns[0], ns[1]
		if err := upload(a.addr, ref("q0"), []byte("zero")); err != nil {
			t.Fatal(err)
		}
		waitCursor(t, db, b, 1, 5*time.Second)
		// The dead writer's reservation.
		if _, err := db.Exec("UPDATE t_group_seq SET last_seq = last_seq + 1 WHERE grp = 'g1'"); err != nil {
			t.Fatal(err)
		}
		b.sync.mu.Lock() // b sees the later entries only through its log reader
		a.peers.failed(b.addr, fmt.Errorf("test"))
		files := map[string][]byte{}
		for i := 1; i <= 3; i++ {
			name := fmt.Sprintf("q%d", i)
			files[name] = randBytes(uint64(i), 1000)
			if err := upload(a.addr, ref(name), files[name]); err != nil {
				b.sync.mu.Unlock()
				t.Fatal(err)
			}
		}
		b.sync.mu.Unlock()
		start := time.Now()
		for name, data := range files {
			waitFile(t, b, ref(name), data, time.Second)
		}
		deadline := time.Now().Add(time.Second)
		for {
			st, _, lag := b.sync.stateOf()
			if st == proto.SyncActive && lag == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("b: %s lag %d with a hole before its entries", proto.SyncName(st), lag)
			}
			time.Sleep(20 * time.Millisecond)
		}
		var cur int64
		db.QueryRow("SELECT applied_seq FROM t_sync_cursor WHERE node = ?", b.addr).Scan(&cur)
		if cur != 1 && time.Since(start) < holeGrace {
			t.Errorf("cursor %d passed the hole at 2 before it was given up", cur)
		}
		waitCursor(t, db, b, 5, 5*time.Second)
		var op string
		db.QueryRow("SELECT op FROM t_group_log WHERE grp = 'g1' AND gseq = 2").Scan(&op)
		if op != opNop {
			t.Errorf("number 2 is %q, want a no-op", op)
		}
		_, err := db.Exec(`INSERT INTO t_group_log (grp, gseq, op, fkey, appid, userid, fileid, size, crc32c, origin, created)
			VALUES ('g1', 2, 'put', 1, 'app1', 'u', 'late', 1, 0, 'x', 0)`)
		if !metadb.IsDuplicate(err) {
			t.Errorf("a late writer's insert under the given-up number: %v", err)
		}
	})
}

// A writer whose number was given up by a member before it inserted
// appends again under the next number; the upload succeeds.
func TestVoidedNumberRetried(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *metadb.DB) {
		e := newEnv(t, db)
		a := e.startGroup(1, nil)[0]
		if err := upload(a.addr, ref("v0"), []byte("zero")); err != nil {
			t.Fatal(err)
		}
		// The number the next append takes is given up already.
		if _, err := db.Exec(`INSERT INTO t_group_log (grp, gseq, op, fkey, appid, userid, fileid, size, crc32c, origin, created)
			VALUES ('g1', 2, 'nop', 0, '', '', '', 0, 0, 'x', 0)`); err != nil {
			t.Fatal(err)
		}
		if err := upload(a.addr, ref("v1"), []byte("one")); err != nil {
			t.Fatalf("upload after its number was given up: %v", err)
		}
		var gseq int64
		db.QueryRow("SELECT gseq FROM t_group_log WHERE grp = 'g1' AND fileid = 'v1'").Scan(&gseq)
		if gseq != 3 {
			t.Errorf("the put took number %d, want 3", gseq)
		}
		if got, err := download(a.addr, ref("v1"), 0, 0); err != nil || string(got) != "one" {
			t.Errorf("download: %q %v", got, err)
		}
	})
}

// The migration to per-group numbers keeps every entry's number (so the
// members' cursors stay right) and starts each group's counter above its
// entries and cursors; the next append continues from there.
func TestMigrateGroupSeq(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *metadb.DB) {
		ctx := context.Background()
		all := migrations()
		old := all[:len(all)-5]
		if err := db.Migrate(ctx, "storagenode", old); err != nil {
			t.Fatal(err)
		}
		ins := `INSERT INTO t_group_log (grp, op, fkey, appid, userid, fileid, size, crc32c, origin, created)
			VALUES (?, 'put', 0, 'app1', 'u', ?, 1, 0, 'x', 0)`
		for i := range 6 {
			if _, err := db.Exec(ins, fmt.Sprintf("g%d", i%2+1), fmt.Sprintf("f%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		// g3's entries were all compacted; its member's cursor remains.
		if _, err := db.Exec("INSERT INTO t_sync_cursor (node, grp, applied_seq, update_time) VALUES ('n3', 'g3', 40, 0)"); err != nil {
			t.Fatal(err)
		}
		if err := Migrate(ctx, db); err != nil {
			t.Fatal(err)
		}
		var bad int
		db.QueryRow("SELECT COUNT(*) FROM t_group_log WHERE gseq <> seq").Scan(&bad)
		if bad != 0 {
			t.Errorf("%d entries renumbered", bad)
		}
		want := map[string]int64{"g1": 5, "g2": 6, "g3": 40}
		for g, w := range want {
			// The holes below (other groups' numbers) are final.
			var last, floor int64
			if err := db.QueryRow("SELECT last_seq, compacted FROM t_group_seq WHERE grp = ?", g).Scan(&last, &floor); err != nil || last != w || floor != w {
				t.Errorf("group %s counter %d floor %d (%v), want %d", g, last, floor, err, w)
			}
		}
		e := newEnv(t, db)
		e.group = "g3"
		n := e.start("", "", nil)
		if err := upload(n.addr, ref("after"), []byte("x")); err != nil {
			t.Fatal(err)
		}
		var gseq int64
		db.QueryRow("SELECT gseq FROM t_group_log WHERE grp = 'g3'").Scan(&gseq)
		if gseq != 41 {
			t.Errorf("first entry after the migration numbered %d, want 41", gseq)
		}
	})
}

// A group's counter row lost (deleted by hand) is made again by the next
// append, above the group's entries: numbers never go back.
func TestGroupSeqRowRemade(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *metadb.DB) {
		e := newEnv(t, db)
		a := e.startGroup(1, nil)[0]
		for i := range 3 {
			if err := upload(a.addr, ref(fmt.Sprintf("r%d", i)), []byte("x")); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.Exec("DELETE FROM t_group_seq WHERE grp = 'g1'"); err != nil {
			t.Fatal(err)
		}
		if err := upload(a.addr, ref("r3"), []byte("y")); err != nil {
			t.Fatal(err)
		}
		n, lo, hi := groupSeqs(t, db, "g1")
		var last int64
		db.QueryRow("SELECT last_seq FROM t_group_seq WHERE grp = 'g1'").Scan(&last)
		if n != 4 || lo != 1 || hi != 4 || last != 4 {
			t.Errorf("%d entries numbered %d..%d, counter %d", n, lo, hi, last)
		}
	})
}

// Past a hole that stays (its writer is slow), a member reads on: more
// entries than one batch beyond it are all applied long before the hole
// is given up, and the member reports lag 0.
func TestReadAheadPastHole(t *testing.T) {
	defer func(g time.Duration) { holeGrace = g }(holeGrace)
	holeGrace = time.Minute
	forEachDB(t, func(t *testing.T, db *metadb.DB) {
		e := newEnv(t, db)
		ns := e.startGroup(2, func(c *Config) { c.PeerBackoff = time.Hour })
		a, b := ns[0], ns[1]
		if _, err := db.Exec("UPDATE t_group_seq SET last_seq = last_seq + 1 WHERE grp = 'g1'"); err != nil {
			t.Fatal(err)
		}
		a.peers.failed(b.addr, fmt.Errorf("test")) // b gets them from the log only
		n := syncBatch + 60
		for i := range n {
			if err := upload(a.addr, ref(fmt.Sprintf("ra%03d", i)), randBytes(uint64(i), 10)); err != nil {
				t.Fatal(err)
			}
		}
		for i := range n {
			waitFile(t, b, ref(fmt.Sprintf("ra%03d", i)), randBytes(uint64(i), 10), 10*time.Second)
		}
		deadline := time.Now().Add(3 * time.Second)
		for {
			st, _, lag := b.sync.stateOf()
			if st == proto.SyncActive && lag == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("b: %s lag %d", proto.SyncName(st), lag)
			}
			time.Sleep(20 * time.Millisecond)
		}
		var cur int64
		db.QueryRow("SELECT applied_seq FROM t_sync_cursor WHERE node = ?", b.addr).Scan(&cur)
		if cur != 0 {
			t.Errorf("cursor %d passed the hole at 1", cur)
		}
	})
}
