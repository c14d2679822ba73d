package storagenode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/metadb/metadbtest"
	"github.com/tnv-s3/tnv/proto"
)

// ---- fake ID server and tracker: in-memory listeners speaking the protocol.

type fakeIDServer struct {
	ln   net.Listener
	mu   sync.Mutex
	next map[string]int64
	reqs atomic.Int64
}

func startFakeIDServer(t testing.TB) *fakeIDServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeIDServer{ln: ln, next: map[string]int64{}}
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(nc)
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return f
}

func (f *fakeIDServer) Addr() string { return f.ln.Addr().String() }

func (f *fakeIDServer) serve(nc net.Conn) {
	defer nc.Close()
	for {
		h, err := proto.ReadHeader(nc)
		if err != nil || h.Cmd != proto.CmdIDGet && h.Cmd != proto.CmdIDGetBlock {
			return
		}
		b, err := proto.ReadBody(nc, h, proto.MaxIDRequestBody)
		if err != nil {
			return
		}
		key, want, err := proto.DecodeIDRequest(h.Cmd, b)
		if err != nil {
			return
		}
		f.reqs.Add(1)
		f.mu.Lock()
		first := f.next[key] + 1
		f.next[key] += int64(want)
		f.mu.Unlock()
		reply := proto.EncodeInt64(first)
		if h.Cmd == proto.CmdIDGetBlock {
			reply = proto.EncodeIDRange(first, int64(want))
		}
		proto.WriteFrame(nc, proto.CmdIDReply, 0, reply)
	}
}

type fakeNode struct {
	beat   proto.Beat
	joined int
	last   time.Time
}

type fakeTracker struct {
	t       testing.TB
	addr    string
	offline time.Duration

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
	nodes map[string]*fakeNode // host:port
	joins atomic.Int64
	beats atomic.Int64
}

func startFakeTracker(t testing.TB) *fakeTracker {
	f := &fakeTracker{t: t, offline: 3 * time.Second, nodes: map[string]*fakeNode{}, conns: map[net.Conn]bool{}}
	f.listen("127.0.0.1:0")
	t.Cleanup(f.stop)
	return f
}

func (f *fakeTracker) listen(addr string) {
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		f.t.Fatal(err)
	}
	f.mu.Lock()
	f.ln, f.addr = ln, ln.Addr().String()
	f.mu.Unlock()
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.conns[nc] = true
			f.mu.Unlock()
			go f.serve(nc)
		}
	}()
}

// stop closes the listener and every connection (a tracker crash).
func (f *fakeTracker) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ln.Close()
	for c := range f.conns {
		c.Close()
	}
	f.nodes = map[string]*fakeNode{}
}

func (f *fakeTracker) restart() {
	f.stop()
	f.listen(f.addr)
}

func (f *fakeTracker) Addr() string { return f.addr }

func (f *fakeTracker) serve(nc net.Conn) {
	defer func() {
		nc.Close()
		f.mu.Lock()
		delete(f.conns, nc)
		f.mu.Unlock()
	}()
	var joined string
	for {
		h, err := proto.ReadHeader(nc)
		if err != nil {
			return
		}
		if err := proto.CheckRequest(h); err != nil {
			proto.WriteError(nc, proto.CmdTrackerReply, proto.Errorf(proto.EMSGSIZE, "%v", err))
			return
		}
		b, err := proto.ReadBody(nc, h, 1<<16)
		if err != nil {
			return
		}
		switch h.Cmd {
		case proto.CmdTrackerJoin:
			j, err := proto.DecodeJoin(b)
			if err != nil {
				return
			}
			joined = net.JoinHostPort(j.Host, fmt.Sprint(j.Port))
			f.joins.Add(1)
			f.mu.Lock()
			n := f.nodes[joined]
			if n == nil {
				n = &fakeNode{}
				f.nodes[joined] = n
			}
			n.joined++
			n.beat.Group = j.Group
			n.beat.SyncState = proto.SyncWait
			f.mu.Unlock()
			proto.WriteFrame(nc, proto.CmdTrackerReply, 0, nil)
		case proto.CmdTrackerBeat:
			m, err := proto.DecodeBeat(b)
			if err != nil || !m.Extended {
				f.t.Errorf("fake tracker: bad beat: %v", err)
				return
			}
			key := net.JoinHostPort(m.Host, fmt.Sprint(m.Port))
			f.mu.Lock()
			n := f.nodes[key]
			if n == nil || key != joined {
				f.mu.Unlock()
				proto.WriteError(nc, proto.CmdTrackerReply, proto.Errorf(proto.ENOENT, "beat before join"))
				continue
			}
			n.beat = *m
			n.last = time.Now()
			f.mu.Unlock()
			f.beats.Add(1)
			proto.WriteFrame(nc, proto.CmdTrackerReply, 0, nil)
		case proto.CmdTrackerMembers:
			g, _ := proto.GetString(b)
			body, _ := proto.EncodeText(f.membersText(g))
			proto.WriteFrame(nc, proto.CmdTrackerReply, 0, body)
		default:
			proto.WriteError(nc, proto.CmdTrackerReply, proto.Errorf(proto.ENOSYS, "fake"))
		}
	}
}

func (f *fakeTracker) membersText(group string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var lines []string
	for addr, n := range f.nodes {
		if n.beat.Group != group {
			continue
		}
		state := "ONLINE"
		if !n.last.IsZero() {
			state = "ACTIVE"
			if time.Since(n.last) > f.offline {
				state = "OFFLINE"
			}
		}
		lines = append(lines, fmt.Sprintf("%s %s %s %d %d %d %d %s\n", addr, state, proto.SyncName(n.beat.SyncState), n.beat.SyncPct, n.beat.Lag,
			n.beat.Free, n.beat.Total, proto.HealthName(n.beat.Health)))
	}
	sort.Strings(lines)
	return strings.Join(lines, "")
}

func (f *fakeTracker) node(addr string) (fakeNode, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.nodes[addr]
	if !ok {
		return fakeNode{}, false
	}
	return *n, true
}

// ---- databases

type dbCase struct {
	name string
	open func(t testing.TB) *metadb.DB
}

func sqliteDB(t testing.TB) *metadb.DB {
	db, err := metadb.Open("sqlite:" + filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mysqlDB(t testing.TB) *metadb.DB {
	db, err := metadb.Open(metadbtest.NewTestMySQL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

var dbCases = []dbCase{{"sqlite", sqliteDB}, {"mysql", mysqlDB}}

func forEachDB(t *testing.T, f func(t *testing.T, db *metadb.DB)) {
	for _, c := range dbCases {
		t.Run(c.name, func(t *testing.T) { f(t, c.open(t)) })
	}
}

// ---- nodes

type env struct {
	t       testing.TB
	db      *metadb.DB
	ids     *fakeIDServer
	tracker *fakeTracker
	group   string
}

func newEnv(t testing.TB, db *metadb.DB) *env {
	return &env{t: t, db: db, ids: startFakeIDServer(t), tracker: startFakeTracker(t), group: "g1"}
}

type testNode struct {
	*Server
	addr  string
	store string
	cfg   Config
	done  chan error
}

func quietLogger() *slog.Logger {
	if os.Getenv("TNV_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// start runs a node on 127.0.0.1 (on addr if given, else a free port) with
// a store directory (new if store is "").
func (e *env) start(store, addr string, mod func(*Config)) *testNode {
	e.t.Helper()
	if store == "" {
		store = e.t.TempDir()
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	cfg := Config{
		Group: e.group, Stores: []string{store}, Trackers: []string{e.tracker.Addr()}, IDServers: []string{e.ids.Addr()},
		DB: e.db, Beat: 200 * time.Millisecond, SyncInterval: 200 * time.Millisecond, MembersTTL: 200 * time.Millisecond,
		ReplicaTimeout: 2 * time.Second, PeerBackoff: time.Second, Logger: quietLogger(), ShutdownTimeout: 3 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	var ln net.Listener
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		e.t.Fatal(err)
	}
	n := &testNode{Server: s, addr: ln.Addr().String(), store: store, cfg: cfg, done: make(chan error, 1)}
	go func() { n.done <- s.Serve(ln) }()
	for s.Node() == "" { // identity set (under the lock) before the test reads rows
		time.Sleep(time.Millisecond)
	}
	e.t.Cleanup(func() { n.stop() })
	return n
}

// eventually polls cond until it holds (true) or timeout passes (false).
func eventually(timeout time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

func (n *testNode) stop() {
	if n.Server.closing.Load() {
		return
	}
	n.Server.Close()
	<-n.done
}

// waitState waits until the node reports syncstate want.
func waitState(t testing.TB, n *testNode, want uint8, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, _, _ := n.sync.stateOf()
		if st == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s: sync state %s, want %s", n.addr, proto.SyncName(st), proto.SyncName(want))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitMembers waits until the fake tracker lists k ACTIVE members.
func (e *env) waitMembers(k int) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if strings.Count(e.tracker.membersText(e.group), " ACTIVE ACTIVE ") >= k {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("members not active:\n%s", e.tracker.membersText(e.group))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ---- a raw client

func ref(fileid string) proto.FileRef {
	return proto.FileRef{AppID: "app1", UserID: "user-1@example.com", FileID: fileid}
}

func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(2 * time.Minute))
	return nc
}

// upload sends an UPLOAD of size bytes from r; it reads the reply while
// sending, so that an early refusal is seen.
func uploadFrom(addr string, r proto.FileRef, src io.Reader, size int64) error {
	_, err := uploadCmd(addr, proto.CmdStorageUpload, r, src, size, 0)
	return err
}

// uploadCmd sends an upload command (UPLOAD, UPLOAD_STAGED) and returns
// its reply's body of at most max bytes.
func uploadCmd(addr string, cmd uint8, r proto.FileRef, src io.Reader, size, max int64) ([]byte, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Minute))
	head, err := (&proto.UploadHead{FileRef: r, Size: size}).Encode()
	if err != nil {
		return nil, err
	}
	frame := proto.Header{BodyLen: proto.UploadHeadLen + size, Cmd: cmd}.Bytes()
	frame = append(frame, head...)
	werr := make(chan error, 1)
	go func() {
		if _, err := nc.Write(frame); err != nil {
			werr <- err
			return
		}
		_, err := io.CopyN(nc, src, size)
		werr <- err
	}()
	_, body, err := proto.ReadReply(nc, proto.CmdStorageReply, max)
	nc.Close()
	if we := <-werr; err == nil && we != nil {
		return nil, we
	}
	return body, err
}

func upload(addr string, r proto.FileRef, data []byte) error {
	return uploadFrom(addr, r, bytes.NewReader(data), int64(len(data)))
}

func request(addr string, cmd uint8, body []byte, max int64) ([]byte, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(time.Minute))
	if err := proto.WriteFrame(nc, cmd, 0, body); err != nil {
		return nil, err
	}
	_, b, err := proto.ReadReply(nc, proto.CmdStorageReply, max)
	return b, err
}

func download(addr string, r proto.FileRef, off, size int64) ([]byte, error) {
	body, err := (&proto.Download{FileRef: r, Offset: off, Size: size}).Encode()
	if err != nil {
		return nil, err
	}
	return request(addr, proto.CmdStorageDownload, body, 1<<31)
}

func filesize(addr string, r proto.FileRef) (int64, error) {
	body, _ := r.Encode()
	b, err := request(addr, proto.CmdStorageFilesize, body, 8)
	if err != nil {
		return 0, err
	}
	return proto.DecodeInt64(b)
}

func del(addr string, r proto.FileRef) error {
	body, _ := r.Encode()
	_, err := request(addr, proto.CmdStorageDelete, body, 0)
	return err
}

func errno(err error) int16 {
	var re *proto.ErrorReply
	if errors.As(err, &re) {
		return re.Errno
	}
	return 0
}

func wantErrno(t testing.TB, err error, want int16, what string) {
	t.Helper()
	if errno(err) != want {
		t.Fatalf("%s: got %v, want errno %d", what, err, want)
	}
}

func randBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

func crcOf(b []byte) uint32 { return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) }

// rowsOf counts a node's rows of a file by status.
// fileRows counts the rows of all three file tables that match where
// (SQL with ? placeholders, args), every row with where "".
func fileRows(t testing.TB, db *metadb.DB, where string, args ...any) int {
	t.Helper()
	if where != "" {
		where = " WHERE " + where
	}
	total := 0
	for sh := 1; sh <= 3; sh++ {
		var k int
		if err := db.QueryRow(db.Q("SELECT COUNT(*) FROM "+fileTable(sh)+where), args...).Scan(&k); err != nil {
			t.Fatal(err)
		}
		total += k
	}
	return total
}

func rowOf(t testing.TB, n *testNode, r proto.FileRef) *fileRow {
	t.Helper()
	row, err := n.getRow(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return row
}

// tmpEntries lists the temp files of a store: the names in its temp
// directory and, as the node runs in this process, the unnamed ones this
// process holds open there (/proc/self/fd on Linux).
func tmpEntries(t testing.TB, store string) []string {
	t.Helper()
	dir := filepath.Join(store, tmpDir)
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var names []string
	for _, e := range es {
		seen[e.Name()] = true
		names = append(names, e.Name())
	}
	fds, _ := os.ReadDir("/proc/self/fd")
	for _, fd := range fds {
		l, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err != nil || !strings.HasPrefix(l, dir+"/") {
			continue
		}
		name := strings.TrimSuffix(strings.TrimPrefix(l, dir+"/"), " (deleted)")
		if !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	return names
}

// dataFiles lists the files under a store's 512-ary paths.
func dataFiles(t testing.TB, store string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(store, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(store, p)
		if d.IsDir() && (rel == tmpDir) {
			return filepath.SkipDir
		}
		if !d.IsDir() && validRel(filepath.ToSlash(rel)) {
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	return out
}
