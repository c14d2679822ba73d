package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/backend/tnv"
	"github.com/tnv-s3/tnv/internal/proctest"
	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/metadb/metadbtest"
)

// ---- a member whose store fails underneath: read-only, then full

// mountTmpfs mounts a 64 MiB tmpfs on dir (root only: the test is skipped
// otherwise) and unmounts it when the test ends, after stop.
func mountTmpfs(t *testing.T, dir string, stop func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, "mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", dir)
	t.Cleanup(func() {
		stop()
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			exec.Command("umount", "-l", dir).Run()
			t.Logf("umount %s: %v %s", dir, err, out)
		}
	})
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// sickGroup starts a group of 2 whose second member's store is a 64 MiB
// tmpfs, with metrics endpoints; it returns the cluster, the database, the
// healthy and the sick member.
func sickGroup(t *testing.T) (*proctest.Cluster, *metadb.DB, *proctest.Proc, *proctest.Proc) {
	dsn := metadbtest.NewTestMySQL(t)
	c := proctest.StartCluster(t, proctest.Topology{DB: dsn, Members: 2, Beat: 500 * time.Millisecond, LocalSockets: true,
		Args: []string{"--log-level", "info", "--health-interval", "500ms"}})
	db, err := metadb.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	good, sick := c.Groups[0][0], c.Groups[0][1]
	// The store becomes a tmpfs: the node restarted on it (a fresh store).
	sick.Kill()
	store := storeOf(sick)
	os.RemoveAll(store)
	mountTmpfs(t, store, sick.Kill)
	sick.Restart()
	c.WaitActive(30 * time.Second)
	waitSynced(t, db, addrs(c.Groups[0]), 30*time.Second)
	return c, db, good, sick
}

// putMany uploads n files of size bytes through the cluster client from a
// reader that cannot be rewound (as a gateway's body), and returns them
// and the number of failed uploads.
func putMany(t *testing.T, cl *tnv.Client, prefix string, n, size int, files map[string][]byte) int {
	failed := 0
	for i := range n {
		name := fmt.Sprintf("%s%03d", prefix, i)
		data := randData(uint64(len(files)+1000*i), size)
		err := cl.Upload(context.Background(), "app1", "user1", name, io.MultiReader(bytes.NewReader(data)), int64(size))
		if err != nil {
			failed++
			t.Errorf("upload %s: %v", name, err)
			continue
		}
		files[name] = data
	}
	return failed
}

// waitHealth waits until the tracker's GROUPS shows the node with health h.
func waitHealth(t *testing.T, c *proctest.Cluster, p *proctest.Proc, h string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		text, err := groupsText(c.Trackers[0].Addr)
		if err == nil && fieldOf(proctest.NodeLine(text, p.Addr), "health") == h {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("%s not health=%s after %v:\n%s (%v)", p.Addr, h, timeout, text, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// metric scrapes one sample of a node's Prometheus endpoint.
func metric(t *testing.T, addr, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			var f float64
			fmt.Sscan(v, &f)
			return f
		}
	}
	t.Fatalf("no %s in the metrics of %s", name, addr)
	return 0
}

// A member whose store is remounted read-only, later made writable again:
// PUTs of 4 KiB keep succeeding (0 failures), the tracker shows the node
// READONLY (GROUPS, `tnv admin status`), each upload stored on one member
// only is counted and named in a warning, and once writable the member
// copies everything from the group log.
func TestReadOnlyMember_StepsAside(t *testing.T) {
	c, db, good, sick := sickGroup(t)
	cl := newClient(t, c)
	files := map[string][]byte{}
	if n := putMany(t, cl, "before", 20, 4<<10, files); n != 0 {
		t.Fatalf("%d uploads failed on a healthy group", n)
	}
	if got := metric(t, c.Metrics[good], "tnv_storage_underreplicated_writes_total"); got != 0 {
		t.Fatalf("under-replicated writes on a healthy group: %v", got)
	}

	run(t, "mount", "-o", "remount,ro", storeOf(sick))
	remounted := time.Now()
	failed := putMany(t, cl, "ro", 200, 4<<10, files)
	took := waitHealth(t, c, sick, "READONLY", 10*time.Second)
	t.Logf("read-only store: 200 PUTs of 4 KiB, %d failed; tracker showed READONLY by %v after the remount (polled after the PUTs: %v)",
		failed, time.Since(remounted), took)
	if failed != 0 {
		t.Fatalf("%d of 200 PUTs failed with one member read-only", failed)
	}
	// More PUTs now that the tracker knows: none goes to the sick node.
	if n := putMany(t, cl, "known", 50, 4<<10, files); n != 0 {
		t.Fatalf("%d PUTs failed with the read-only member known", n)
	}
	status := proctest.Run(t, "admin", "status", "--trackers", c.TrackerList())
	if !strings.Contains(status, "HEALTH") || !strings.Contains(status, "READONLY") {
		t.Fatalf("admin status:\n%s", status)
	}
	t.Logf("admin status:\n%s", status)
	under := metric(t, c.Metrics[good], "tnv_storage_underreplicated_writes_total") +
		metric(t, c.Metrics[sick], "tnv_storage_underreplicated_writes_total")
	if under < 250 {
		t.Fatalf("under-replicated writes counted: %v, want >= 250 (every PUT since the remount)", under)
	}
	logb, _ := os.ReadFile(good.Log)
	if !bytes.Contains(logb, []byte("fewer copies than the group has members")) || !bytes.Contains(logb, []byte("fileid=known049")) {
		t.Fatal("no warning naming the under-replicated file known049 in the healthy member's log")
	}
	// Reads from the sick member still work (it proxies what it lacks).
	for name, data := range files {
		if got, err := download(sick.Addr, fref(name), 0, 0); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read of %s from the read-only member: %v", name, err)
		}
	}

	run(t, "mount", "-o", "remount,rw", storeOf(sick))
	waitHealth(t, c, sick, "OK", 10*time.Second)
	start := time.Now()
	waitCopies(t, db, c.Groups[0], files, 60*time.Second)
	t.Logf("writable again: the member holds its own copy of all %d files %v later", len(files), time.Since(start))
	checkEverywhere(t, addrs(c.Groups[0]), files)
}

// waitCopies waits until every member holds its own readable copy of every
// file, then checks the bytes.
func waitCopies(t *testing.T, db *metadb.DB, ps []*proctest.Proc, files map[string][]byte, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for _, p := range ps {
		for {
			n := 0
			for sh := 1; sh <= 3; sh++ {
				var k int
				db.QueryRow(fmt.Sprintf("SELECT COUNT(*) FROM t_file_%02d WHERE node = ? AND status = 0", sh), p.Addr).Scan(&k)
				n += k
			}
			if n >= len(files) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s holds %d of %d files after %v", p.Addr, n, len(files), timeout)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	checkCopies(t, db, ps, files)
}

// A member whose store fills up (a 64 MiB tmpfs filled by another file):
// the same, with FULL; an upload that cannot fit anywhere is refused at once.
func TestFullMember_StepsAside(t *testing.T) {
	c, db, good, sick := sickGroup(t)
	cl := newClient(t, c)
	files := map[string][]byte{}
	if n := putMany(t, cl, "before", 10, 4<<10, files); n != 0 {
		t.Fatalf("%d uploads failed on a healthy group", n)
	}
	// Fill the store: dd stops with ENOSPC.
	filler := filepath.Join(storeOf(sick), "filler")
	exec.Command("dd", "if=/dev/zero", "of="+filler, "bs=1M").Run()
	failed := putMany(t, cl, "full", 200, 4<<10, files)
	waitHealth(t, c, sick, "FULL", 10*time.Second)
	if failed != 0 {
		t.Fatalf("%d of 200 PUTs failed with one member full", failed)
	}
	if under := metric(t, c.Metrics[good], "tnv_storage_underreplicated_writes_total") +
		metric(t, c.Metrics[sick], "tnv_storage_underreplicated_writes_total"); under < 200 {
		t.Fatalf("under-replicated writes counted: %v, want >= 200", under)
	}
	// Space is reserved up front: an upload larger than the sick member's
	// room is refused by it from the head (ENOSPC) before any body byte.
	big := randData(7, 8<<20)
	if err := upload(sick.Addr, fref("big"), big); errno(err) != 28 {
		t.Fatalf("8 MiB upload to the full member: %v, want ENOSPC", err)
	}
	os.Remove(filler)
	waitHealth(t, c, sick, "OK", 10*time.Second)
	waitCopies(t, db, c.Groups[0], files, 60*time.Second)
	checkEverywhere(t, addrs(c.Groups[0]), files)
}

// ---- bit rot

// backdate makes a copy look as if it had last been verified long ago and
// not been touched since: its mtime (the last verification) 30 days back,
// and the row's vctime the file's ctime as it is now — what rot below the
// file system leaves (ctime cannot be set from user space, so the row is
// made to match it).
func backdate(t *testing.T, db *metadb.DB, p *proctest.Proc, name string) {
	t.Helper()
	path := rowPath(t, db, p, name)
	old := time.Now().Add(-30 * 24 * time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	ct := st.Ctim.Sec*1e9 + st.Ctim.Nsec
	for sh := 1; sh <= 3; sh++ {
		db.Exec(fmt.Sprintf("UPDATE t_file_%02d SET vctime = ? WHERE node = ? AND fileid = ?", sh), ct, p.Addr, name)
	}
}

// A flipped byte whose ctime the node cannot tell from a verified one,
// in a copy last verified longer ago than the scrub period: every GET
// returns the right bytes (from the group client, which spreads over both
// members, and from the bad member directly), and the copy is repaired.
func TestBitRot_StaleCopyVerifiedOnRead(t *testing.T) {
	c, db := startGroup(t, 2, "--scrub-every", "168h")
	ms := c.Groups[0]
	files := map[string][]byte{}
	for i := range 20 {
		name := fmt.Sprintf("rot%02d", i)
		files[name] = randData(uint64(i), 64<<10+i)
		if err := upload(ms[0].Addr, fref(name), files[name]); err != nil {
			t.Fatal(err)
		}
	}
	waitSynced(t, db, addrs(ms), 30*time.Second)
	victim := ms[1]
	for _, name := range []string{"rot03", "rot11"} {
		flip(t, rowPath(t, db, victim, name), 1234)
		backdate(t, db, victim, name)
	}
	cl := newClient(t, c)
	bad, total := 0, 0
	for i := range 20 {
		for _, name := range []string{"rot03", "rot11"} {
			var buf bytes.Buffer
			total++
			if _, err := cl.DownloadTo(context.Background(), "app1", "user1", name, 0, 0, &buf); err != nil || !bytes.Equal(buf.Bytes(), files[name]) {
				bad++
				t.Errorf("GET %d of %s: %v (%d bytes)", i, name, err, buf.Len())
			}
		}
	}
	for _, name := range []string{"rot03", "rot11"} {
		got, err := download(victim.Addr, fref(name), 0, 0)
		total++
		if err != nil || !bytes.Equal(got, files[name]) {
			bad++
			t.Errorf("direct GET of %s from the member: %v", name, err)
		}
	}
	t.Logf("bit rot with ctime kept: %d of %d GETs served bad bytes", bad, total)
	// Repaired: the member's own copy is good again.
	checkCopies(t, db, ms, files)
}

// The background scrub is on by default and finds a bad copy nobody reads:
// here with a period of 4 s, a flipped byte is repaired without any GET.
func TestBitRot_BackgroundScrubRepairs(t *testing.T) {
	c, db := startGroup(t, 2, "--scrub-every", "4s", "--scrub-rate", "1048576")
	ms := c.Groups[0]
	files := map[string][]byte{}
	for i := range 10 {
		name := fmt.Sprintf("bg%02d", i)
		files[name] = randData(uint64(100+i), 32<<10)
		if err := upload(ms[0].Addr, fref(name), files[name]); err != nil {
			t.Fatal(err)
		}
	}
	waitSynced(t, db, addrs(ms), 30*time.Second)
	victim := ms[1]
	flip(t, rowPath(t, db, victim, "bg05"), 100)
	backdate(t, db, victim, "bg05")
	path := rowPath(t, db, victim, "bg05")
	deadline := time.Now().Add(30 * time.Second)
	for {
		p := rowPath(t, db, victim, "bg05")
		if b, err := os.ReadFile(p); err == nil && bytes.Equal(b, files["bg05"]) {
			t.Logf("repaired by the background scrub (%s -> %s)", path, p)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the background scrub did not repair the flipped copy in 30 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	logb, _ := os.ReadFile(victim.Log)
	if !bytes.Contains(logb, []byte("scrub found a bad copy")) {
		t.Fatal("no scrub report in the member's log")
	}
	checkCopies(t, db, ms, files)
}
