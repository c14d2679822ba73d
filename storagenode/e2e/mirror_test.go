// Package e2e holds the acceptance tests of group mirroring (issue 3): real
// tnv processes (ID server, tracker, storage nodes) on loopback, a real
// MariaDB, nodes SIGKILLed, SIGSTOPped and corrupted underneath.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/backend/tnv"
	"github.com/tnv-s3/tnv/internal/proctest"
	"github.com/tnv-s3/tnv/internal/tnvauth"
	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/metadb/metadbtest"
	"github.com/tnv-s3/tnv/proto"
)

func TestMain(m *testing.M) { proctest.Main(m) }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ---- a raw client addressing one node directly

// dial connects to a node and proves the cluster secret, as every peer
// does.
func dial(addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, err := tnvauth.Dialer(proctest.ClusterKey(), 5*time.Second)(ctx, addr)
	if err == nil {
		nc.SetDeadline(time.Now().Add(2 * time.Minute))
	}
	return nc, err
}

func request(addr string, cmd uint8, body []byte, max int64) ([]byte, error) {
	nc, err := dial(addr)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	if err := proto.WriteFrame(nc, cmd, 0, body); err != nil {
		return nil, err
	}
	_, b, err := proto.ReadReply(nc, proto.CmdStorageReply, max)
	return b, err
}

func upload(addr string, r proto.FileRef, data []byte) error {
	nc, err := dial(addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	head, err := (&proto.UploadHead{FileRef: r, Size: int64(len(data))}).Encode()
	if err != nil {
		return err
	}
	frame := proto.Header{BodyLen: proto.UploadHeadLen + int64(len(data)), Cmd: proto.CmdStorageUpload}.Bytes()
	frame = append(append(frame, head...), data...)
	go nc.Write(frame)
	_, _, err = proto.ReadReply(nc, proto.CmdStorageReply, 0)
	return err
}

func download(addr string, r proto.FileRef, off, size int64) ([]byte, error) {
	body, _ := (&proto.Download{FileRef: r, Offset: off, Size: size}).Encode()
	return request(addr, proto.CmdStorageDownload, body, 1<<31)
}

func errno(err error) int16 {
	var re *proto.ErrorReply
	if errors.As(err, &re) {
		return re.Errno
	}
	return 0
}

// nodeStat asks a node for its NODESTAT lines.
func nodeStat(addr string) (map[string]string, error) {
	b, err := request(addr, proto.CmdStorageStat, nil, 1<<16)
	if err != nil {
		return nil, err
	}
	text, err := proto.DecodeText(b)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, l := range strings.Split(text, "\n") {
		if k, v, ok := strings.Cut(l, " "); ok {
			m[k] = v
		}
	}
	return m, nil
}

// groupsText asks a tracker for its GROUPS text.
func groupsText(addr string) (string, error) {
	nc, err := dial(addr)
	if err != nil {
		return "", err
	}
	defer nc.Close()
	if err := proto.WriteFrame(nc, proto.CmdTrackerGroups, 0, nil); err != nil {
		return "", err
	}
	_, b, err := proto.ReadReply(nc, proto.CmdTrackerReply, proto.MaxTextReply)
	if err != nil {
		return "", err
	}
	return proto.DecodeText(b)
}

// groupLogEnds is each group's last log number (gseq) now.
func groupLogEnds(t testing.TB, db *metadb.DB) map[string]int64 {
	t.Helper()
	ends := map[string]int64{}
	rows, err := db.Query("SELECT grp, MAX(gseq) FROM t_group_log GROUP BY grp")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var g string
		var end int64
		if err := rows.Scan(&g, &end); err != nil {
			t.Fatal(err)
		}
		ends[g] = end
	}
	return ends
}

// waitSynced waits until every node says ACTIVE and has applied its group's
// log up to its end as of the call (cursors count the group's own entries,
// gseq).
func waitSynced(t testing.TB, db *metadb.DB, addrs []string, timeout time.Duration) {
	t.Helper()
	ends := groupLogEnds(t, db)
	deadline := time.Now().Add(timeout)
	for _, a := range addrs {
		for {
			st, err := nodeStat(a)
			if err == nil && st["syncstate"] == "ACTIVE" && atoi(st["cursor"]) >= ends[st["group"]] {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not in sync (log ends %v) after %v: %v %v", a, ends, timeout, st, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func atoi(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

func addrs(ps []*proctest.Proc) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Addr)
	}
	return out
}

func randData(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16)})
	r.Read(b)
	return b
}

func fref(name string) proto.FileRef {
	return proto.FileRef{AppID: "app1", UserID: "user1", FileID: name}
}

// checkEverywhere downloads every file from every node and compares.
func checkEverywhere(t testing.TB, nodes []string, files map[string][]byte) {
	t.Helper()
	for _, a := range nodes {
		for name, data := range files {
			got, err := download(a, fref(name), 0, 0)
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("node %s, file %s: %v (%d bytes, want %d)", a, name, err, len(got), len(data))
			}
		}
	}
}

// checkCopies checks that every node holds its own readable copy of every
// file (a row with status 0 and the right CRC32C, and those bytes on disk):
// caught up, not just able to proxy.
func checkCopies(t testing.TB, db *metadb.DB, ps []*proctest.Proc, files map[string][]byte) {
	t.Helper()
	for _, p := range ps {
		for name, data := range files {
			path := rowPath(t, db, p, name)
			b, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(b, data) {
				t.Errorf("node %s: copy of %s at %s differs: %v", p.Addr, name, path, err)
			}
		}
	}
}

func storeOf(p *proctest.Proc) string {
	for i, a := range p.Args {
		if a == "--store" && i+1 < len(p.Args) {
			return p.Args[i+1]
		}
	}
	return ""
}

func startGroup(t *testing.T, members int, extra ...string) (*proctest.Cluster, *metadb.DB) {
	dsn := metadbtest.NewTestMySQL(t)
	c := proctest.StartCluster(t, proctest.Topology{DB: dsn, Members: members, Beat: 500 * time.Millisecond,
		Offline: 5 * time.Second, Args: append([]string{"--log-level", "info"}, extra...)})
	db, err := metadb.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	waitSynced(t, db, addrs(c.Groups[0]), 30*time.Second)
	return c, db
}

func newClient(t testing.TB, c *proctest.Cluster) *tnv.Client {
	cl, err := tnv.New(tnv.Config{Trackers: strings.Split(c.TrackerList(), ","), IOTimeout: 8 * time.Second, LocateTTL: 500 * time.Millisecond, Auth: c.Key()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// Group of 3: 200 uploads through the cluster client while one member is
// SIGKILLed part-way and restarted 10 s later. Every acknowledged file ends
// up byte-identical on all 3 (each addressed directly); no unacknowledged
// file is readable anywhere.
func TestKillMemberDuringUploads(t *testing.T) {
	c, db := startGroup(t, 3)
	ms := c.Groups[0]
	cl := newClient(t, c)
	var mu sync.Mutex
	acked := map[string][]byte{}
	failed := map[string][]byte{}
	var n atomic.Int64
	killed := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := n.Add(1)
				if i > 200 {
					return
				}
				if i == 40 {
					ms[2].Kill()
					t.Logf("member %s SIGKILLed after %d uploads", ms[2].Addr, i)
					close(killed)
					go func() {
						time.Sleep(10 * time.Second)
						ms[2].Restart()
						t.Logf("member %s restarted", ms[2].Addr)
					}()
				}
				name := fmt.Sprintf("k%03d", i)
				data := randData(uint64(i), 1000+rand.IntN(300<<10))
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				err := cl.Upload(ctx, "app1", "user1", name, bytes.NewReader(data), int64(len(data)))
				cancel()
				mu.Lock()
				if err == nil {
					acked[name] = data
				} else {
					failed[name] = data
					t.Logf("worker %d: upload %s failed: %v", w, name, err)
				}
				mu.Unlock()
				time.Sleep(time.Duration(rand.IntN(700)) * time.Millisecond) // ~11 uploads/s: 200 take ~18 s, across the outage
			}
		}()
	}
	wg.Wait()
	<-killed
	deadline := time.Now().Add(30 * time.Second)
	for ms[2].PID() == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	waitSynced(t, db, addrs(ms), 60*time.Second)
	t.Logf("%d uploads acknowledged, %d failed", len(acked), len(failed))
	if len(acked) < 190 {
		t.Errorf("only %d of 200 uploads acknowledged", len(acked))
	}
	checkEverywhere(t, addrs(ms), acked)
	checkCopies(t, db, ms, acked)
	for name, data := range failed {
		// An upload whose acknowledgement was lost (the coordinator died
		// after committing) may exist; then it must be whole everywhere.
		whole := 0
		for _, a := range addrs(ms) {
			got, err := download(a, fref(name), 0, 0)
			switch {
			case errno(err) == proto.ENOENT:
			case err == nil && bytes.Equal(got, data):
				whole++
			default:
				t.Errorf("unacknowledged %s on %s: %v", name, a, err)
			}
		}
		if whole != 0 {
			t.Errorf("unacknowledged %s readable on %d nodes", name, whole)
		}
	}
}

// 1000 × (upload to a random member, then at once download from a random
// member) → 0 failures.
func TestReadAfterWrite(t *testing.T) {
	c, _ := startGroup(t, 3)
	nodes := addrs(c.Groups[0])
	total := 1000
	var fails atomic.Int64
	var wg sync.WaitGroup
	var next atomic.Int64
	start := time.Now()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(total) {
					return
				}
				name := fmt.Sprintf("raw%04d", i)
				data := randData(uint64(i), 1+rand.IntN(64<<10))
				if err := upload(nodes[rand.IntN(3)], fref(name), data); err != nil {
					fails.Add(1)
					t.Errorf("upload %s: %v", name, err)
					continue
				}
				from := nodes[rand.IntN(3)]
				got, err := download(from, fref(name), 0, 0)
				if err != nil || !bytes.Equal(got, data) {
					fails.Add(1)
					t.Errorf("download %s from %s right after the upload: %v", name, from, err)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d upload+download pairs in %v, %d failures", total, time.Since(start).Round(time.Millisecond), fails.Load())
}

// A new member joining a group that holds 1 GiB in 500 files (128 MiB under
// -race, where the test process is slow to generate data) reports SYNCING,
// with its progress in GROUPS, then ACTIVE with every file and checksum.
func TestNewMemberJoins(t *testing.T) {
	size := 2 << 20 // 500 × 2 MiB = 1000 MiB
	if raceEnabled {
		size = 256 << 10
	}
	c, db := startGroup(t, 2)
	nodes := addrs(c.Groups[0])
	sums := map[string]uint32{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var next atomic.Int64
	start := time.Now()
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, size)
			for {
				i := next.Add(1)
				if i > 500 {
					return
				}
				name := fmt.Sprintf("j%03d", i)
				binaryFill(buf, i)
				if err := upload(nodes[i%2], fref(name), buf); err != nil {
					t.Errorf("upload %s: %v", name, err)
					return
				}
				mu.Lock()
				sums[name] = crc32.Checksum(buf, castagnoli)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("500 files of %d KiB uploaded to the 2 members in %v", size>>10, time.Since(start).Round(time.Millisecond))

	p := c.StartMember(0, 2)
	start = time.Now()
	seen := map[string]bool{}
	progress := map[string]bool{}
	var line string
	for {
		if st, err := nodeStat(p.Addr); err == nil {
			seen[st["syncstate"]] = true
			if st["syncstate"] == "ACTIVE" {
				break
			}
		}
		if text, err := groupsText(c.Trackers[0].Addr); err == nil {
			line = proctest.NodeLine(text, p.Addr)
			if strings.Contains(line, "sync=SYNCING") {
				progress[fieldOf(line, "progress")] = true
			}
		}
		if time.Since(start) > 5*time.Minute {
			t.Fatalf("new member not ACTIVE after 5 min: states %v, GROUPS line %q", seen, line)
		}
		time.Sleep(50 * time.Millisecond)
	}
	took := time.Since(start)
	t.Logf("new member ACTIVE after %v (%.0f MiB/s); states seen %v; SYNCING progress seen in GROUPS: %v",
		took.Round(time.Millisecond), float64(500*size>>20)/took.Seconds(), seen, progress)
	if !seen["SYNCING"] || len(progress) == 0 {
		t.Errorf("SYNCING never visible (states %v, GROUPS progress %v)", seen, progress)
	}
	// Every file present on the new member, its row's CRC32C right, and
	// the bytes on disk matching it.
	store := storeOf(p)
	count := 0
	for sh := 1; sh <= 3; sh++ {
		rows, err := db.Query(fmt.Sprintf("SELECT fileid, path, crc32c, status FROM t_file_%02d WHERE node = ?", sh), p.Addr)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var name, path string
			var crc int64
			var status int
			rows.Scan(&name, &path, &crc, &status)
			b, err := os.ReadFile(filepath.Join(store, path))
			if err != nil || status != 0 || uint32(crc) != sums[name] || crc32.Checksum(b, castagnoli) != sums[name] {
				t.Errorf("%s on the new member: status %d, crc %08x want %08x, read %v", name, status, crc, sums[name], err)
			}
			count++
		}
		rows.Close()
	}
	if count != 500 {
		t.Errorf("new member holds %d files, want 500", count)
	}
	if text, err := groupsText(c.Trackers[0].Addr); err != nil || !c.Readable(text, p.Addr) {
		t.Errorf("new member not readable in GROUPS: %v\n%s", err, text)
	}
}

func fieldOf(line, key string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

func binaryFill(b []byte, seed int64) {
	x := uint64(seed)*0x9e3779b97f4a7c15 + 1
	for i := 0; i+8 <= len(b); i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		for j := 0; j < 8; j++ {
			b[i+j] = byte(x >> (8 * j))
		}
	}
}

// rowPath finds a node's copy of a file on disk.
func rowPath(t testing.TB, db *metadb.DB, p *proctest.Proc, name string) string {
	t.Helper()
	for sh := 1; sh <= 3; sh++ {
		var path string
		err := db.QueryRow(fmt.Sprintf("SELECT path FROM t_file_%02d WHERE node = ? AND fileid = ? AND status = 0", sh), p.Addr, name).Scan(&path)
		if err == nil {
			return filepath.Join(storeOf(p), path)
		}
	}
	t.Fatalf("no row of %s on %s", name, p.Addr)
	return ""
}

func flip(t testing.TB, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := []byte{0}
	f.ReadAt(b, off)
	b[0] ^= 1
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// One byte flipped in one member's copy: scrub reports and repairs it;
// downloads from that member never return the corrupted bytes.
func TestFlippedByte(t *testing.T) {
	c, db := startGroup(t, 3)
	ms := c.Groups[0]
	files := map[string][]byte{}
	for i := range 20 {
		name := fmt.Sprintf("s%02d", i)
		files[name] = randData(uint64(i), 100<<10+i)
		if err := upload(ms[0].Addr, fref(name), files[name]); err != nil {
			t.Fatal(err)
		}
	}
	waitSynced(t, db, addrs(ms), 30*time.Second)
	victim := ms[1]

	// Scrub finds and repairs one.
	flip(t, rowPath(t, db, victim, "s03"), 4242)
	out := proctest.Run(t, "storage", "scrub", victim.Addr)
	if !strings.HasPrefix(out, "files 20 bytes ") || !strings.Contains(out, " bad 1 repaired 0 ") || !strings.Contains(out, "s03") {
		t.Fatalf("scrub report:\n%s", out)
	}
	out = proctest.Run(t, "storage", "scrub", "--repair", victim.Addr)
	if !strings.Contains(out, " bad 1 repaired 1 unrepaired 0") {
		t.Fatalf("scrub --repair report:\n%s", out)
	}
	t.Logf("scrub --repair:\n%s", out)
	if out := proctest.Run(t, "storage", "scrub", victim.Addr); !strings.Contains(out, " bad 0 ") {
		t.Fatalf("scrub after repair:\n%s", out)
	}

	// Downloads of another flipped copy, whole and by range: never the bad bytes.
	flip(t, rowPath(t, db, victim, "s07"), 10)
	data := files["s07"]
	if got, err := download(victim.Addr, fref("s07"), 0, 20); err != nil || !bytes.Equal(got, data[:20]) {
		t.Fatalf("range over the flipped byte: %v", err)
	}
	flip(t, rowPath(t, db, victim, "s07"), 99999)
	if got, err := download(victim.Addr, fref("s07"), 0, 0); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("whole download of a flipped copy: %v", err)
	}
	checkEverywhere(t, addrs(ms), files)
}

// One member frozen (SIGSTOP) during a stream of uploads through the
// cluster client: uploads keep succeeding, the longest wait for one upload
// is bounded: a coordinator waits at most --replica-timeout (5 s) for the
// frozen member, then skips it (and keeps skipping it, with a growing
// backoff); a client that picked the frozen node itself as coordinator
// waits its own IOTimeout (8 s here; it must exceed the replica timeout)
// and fails over. After SIGCONT the member catches up.
func TestFrozenMember(t *testing.T) {
	c, db := startGroup(t, 3)
	ms := c.Groups[0]
	cl := newClient(t, c)
	files := map[string][]byte{}
	var worst time.Duration
	var frozenAt, thawedAt time.Time
	firstOK := time.Duration(-1)
	fails := 0
	for i := 0; i < 150; i++ {
		if i == 30 {
			ms[1].Freeze()
			frozenAt = time.Now()
		}
		if i == 110 {
			ms[1].Thaw()
			thawedAt = time.Now()
		}
		name := fmt.Sprintf("z%03d", i)
		data := randData(uint64(i), 1000+rand.IntN(200<<10))
		st := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := cl.Upload(ctx, "app1", "user1", name, bytes.NewReader(data), int64(len(data)))
		cancel()
		d := time.Since(st)
		worst = max(worst, d)
		if err != nil {
			fails++
			t.Logf("upload %s failed after %v: %v", name, d, err)
			continue
		}
		if !frozenAt.IsZero() && thawedAt.IsZero() && firstOK < 0 {
			firstOK = time.Since(frozenAt)
		}
		files[name] = data
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("frozen member %s: first upload acknowledged %v after the freeze; slowest upload %v; %d failed", ms[1].Addr, firstOK, worst, fails)
	if fails > 0 || worst > 15*time.Second || firstOK > 15*time.Second {
		t.Errorf("uploads stalled: %d failed, slowest %v, first after freeze %v", fails, worst, firstOK)
	}
	waitSynced(t, db, addrs(ms), 60*time.Second)
	checkEverywhere(t, addrs(ms), files)
	checkCopies(t, db, ms, files)
}

// patternReader yields n bytes of a fixed pattern without holding them.
type patternReader struct{ n int64 }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.n <= 0 {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n)]
	for i := range b {
		b[i] = byte(i * 13)
	}
	p.n -= int64(len(b))
	return len(b), nil
}

// A 1 GiB file (256 MiB under -race) uploaded to a 2-member group and
// downloaded from both: each storage process stays under 64 MiB RSS.
func TestBigFileRSS(t *testing.T) {
	size := int64(1 << 30)
	if raceEnabled {
		size = 256 << 20
	}
	c, _ := startGroup(t, 2)
	ms := c.Groups[0]
	nc, err := dial(ms[0].Addr)
	if err != nil {
		t.Fatal(err)
	}
	head, _ := (&proto.UploadHead{FileRef: fref("big"), Size: size}).Encode()
	start := time.Now()
	nc.Write(append(proto.Header{BodyLen: proto.UploadHeadLen + size, Cmd: proto.CmdStorageUpload}.Bytes(), head...))
	if _, err := io.Copy(nc, &patternReader{size}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := proto.ReadReply(nc, proto.CmdStorageReply, 0); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	up := time.Since(start)
	var want uint32
	w := crcW{&want}
	io.Copy(w, &patternReader{size})
	for _, p := range ms {
		start := time.Now()
		nc, err := dial(p.Addr)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := (&proto.Download{FileRef: fref("big")}).Encode()
		proto.WriteFrame(nc, proto.CmdStorageDownload, 0, body)
		h, err := proto.ReadHeader(nc)
		if err != nil || h.Status != 0 || h.BodyLen != size {
			t.Fatalf("download from %s: %v %+v", p.Addr, err, h)
		}
		var got uint32
		if _, err := io.CopyN(crcW{&got}, nc, size); err != nil || got != want {
			t.Fatalf("download from %s: %v, crc %08x want %08x", p.Addr, err, got, want)
		}
		nc.Close()
		rss, err := p.PeakRSS()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d MiB: upload to the group %v (%.0f MiB/s), download from %s %v (%.0f MiB/s); storage process peak RSS %.1f MiB",
			size>>20, up.Round(time.Millisecond), float64(size>>20)/up.Seconds(), p.Addr, time.Since(start).Round(time.Millisecond),
			float64(size>>20)/time.Since(start).Seconds(), float64(rss)/(1<<20))
		if rss > 64<<20 {
			t.Errorf("storage process %s peak RSS %.1f MiB, want < 64 MiB", p.Addr, float64(rss)/(1<<20))
		}
	}
}

type crcW struct{ crc *uint32 }

func (w crcW) Write(p []byte) (int, error) {
	*w.crc = crc32.Update(*w.crc, castagnoli, p)
	return len(p), nil
}
