package tnv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/proto"
)

// cluster is one fake tracker and n fake storage nodes of one group.
type cluster struct {
	tracker *fakeNode
	nodes   []*fakeNode
}

func newCluster(t *testing.T, n int) *cluster {
	t.Helper()
	cl := &cluster{tracker: newFakeNode(t)}
	var addrs []string
	for range n {
		f := newFakeNode(t)
		cl.nodes = append(cl.nodes, f)
		addrs = append(addrs, f.addr())
	}
	cl.tracker.set(func(f *fakeNode) { f.addrs = addrs })
	return cl
}

// mirror stores data as a file on every node, as a replicated upload would.
func (cl *cluster) mirror(ref proto.FileRef, data []byte) {
	for _, n := range cl.nodes {
		n.set(func(f *fakeNode) { f.files[key(ref)] = data })
	}
}

func newClient(t *testing.T, trackers ...string) *Client {
	t.Helper()
	c, err := New(Config{Trackers: trackers, DialTimeout: time.Second, IOTimeout: 5 * time.Second, LocateTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(n)})
	r.Read(b)
	return b
}

// deadAddr returns an address nothing listens on.
func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

func TestUploadDownload_RoundTripAndRanges(t *testing.T) {
	cl := newCluster(t, 1)
	c := newClient(t, cl.tracker.addr())
	ctx := context.Background()
	data := randBytes(3<<20 + 17)
	if err := c.Upload(ctx, "app", "u1", "f1", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	n, err := c.FileSize(ctx, "app", "u1", "f1")
	if err != nil || n != int64(len(data)) {
		t.Fatalf("FileSize = %d, %v; want %d", n, err, len(data))
	}
	for _, tc := range []struct{ off, size int64 }{
		{0, 0}, {0, 1}, {1 << 20, 0}, {12345, 1 << 20}, {int64(len(data)) - 1, 1}, {int64(len(data)), 0},
	} {
		var got bytes.Buffer
		w, err := c.DownloadTo(ctx, "app", "u1", "f1", tc.off, tc.size, &got)
		if err != nil {
			t.Fatalf("DownloadTo(%d, %d): %v", tc.off, tc.size, err)
		}
		end := int64(len(data))
		if tc.size > 0 {
			end = tc.off + tc.size
		}
		if w != end-tc.off || !bytes.Equal(got.Bytes(), data[tc.off:end]) {
			t.Fatalf("DownloadTo(%d, %d): %d bytes, not the file's", tc.off, tc.size, w)
		}
	}
	if _, err := c.Download(ctx, "app", "u1", "f1", int64(len(data))+1, 0); !errors.Is(err, ErrRange) {
		t.Fatalf("download past the end: %v, want ErrRange", err)
	}
	if err := c.Delete(ctx, "app", "u1", "f1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.FileSize(ctx, "app", "u1", "f1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("FileSize after delete: %v, want ErrNotFound", err)
	}
}

func TestPool_ReusesOneConnectionForSequentialRequests(t *testing.T) {
	cl := newCluster(t, 1)
	c := newClient(t, cl.tracker.addr())
	ctx := context.Background()
	for i := range 20 {
		data := randBytes(1000 + i)
		if err := c.Upload(ctx, "app", "u1", "f", bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
		rc, err := c.Download(ctx, "app", "u1", "f", 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("round %d: %v", i, err)
		}
	}
	if a := cl.nodes[0].accepts.Load(); a != 1 {
		t.Errorf("storage node accepted %d connections for 40 sequential requests, want 1", a)
	}
	if a := cl.tracker.accepts.Load(); a != 1 {
		t.Errorf("tracker accepted %d connections, want 1", a)
	}
}

func TestTrackers_FailOverToTheNextTracker(t *testing.T) {
	cl := newCluster(t, 1)
	dead := deadAddr(t)
	c := newClient(t, dead, cl.tracker.addr(), dead)
	for i := range 6 { // the first tracker tried rotates: every start must work
		if _, _, err := c.Locate(context.Background(), "app", "u1", "f"); err != nil {
			t.Fatalf("locate %d: %v", i, err)
		}
	}
}

// A tracker behind a partition accepts nothing and answers nothing: each
// request that tries it first waits for a timeout. After one such wait it
// is tried last for a while, so the requests that follow go to the other
// tracker first (seen in e2e TestNetns: with tracker1 cut off, every other
// request of a gateway waited 5 s or more for it).
func TestTrackers_Silent_IsTriedLastAfterOneTimeout(t *testing.T) {
	cl := newCluster(t, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int64
	go func() {
		var held []net.Conn // read nothing, answer nothing, close nothing
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			held = append(held, c)
		}
	}()
	c, err := New(Config{Trackers: []string{ln.Addr().String(), cl.tracker.addr()}, DialTimeout: time.Second,
		IOTimeout: time.Second, LocateTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 6 { // without the memory, every second one starts with the silent tracker
		if _, _, err := c.Locate(context.Background(), "app", "u1", "f"); err != nil {
			t.Fatalf("locate %d: %v", i, err)
		}
	}
	if n := accepted.Load(); n != 1 {
		t.Fatalf("the silent tracker got %d connections, want 1 (then tried last)", n)
	}
	if !c.isDown(ln.Addr().String()) || c.isDown(cl.tracker.addr()) {
		t.Fatal("the silent tracker is not marked down, or the answering one is")
	}
}

func TestTrackers_NoneAnswering_Fails(t *testing.T) {
	c := newClient(t, deadAddr(t), deadAddr(t))
	_, _, err := c.Locate(context.Background(), "app", "u1", "f")
	if err == nil || !strings.Contains(err.Error(), "no tracker answered") {
		t.Fatalf("err = %v", err)
	}
}

func TestTrackers_NoActiveNode_IsErrorNotFailover(t *testing.T) {
	cl := newCluster(t, 0)
	cl.tracker.set(func(f *fakeNode) { f.saddrsErr = proto.EINVAL })
	c := newClient(t, cl.tracker.addr())
	_, _, err := c.Locate(context.Background(), "app", "u1", "f")
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid from the tracker", err)
	}
}

func TestUpload_DeadFirstNode_GoesToTheNext(t *testing.T) {
	cl := newCluster(t, 1)
	dead := deadAddr(t)
	cl.tracker.set(func(f *fakeNode) { f.addrs = []string{dead, cl.nodes[0].addr()} })
	c := newClient(t, cl.tracker.addr())
	data := randBytes(100 << 10)
	// A plain reader (not a Seeker): nothing was consumed by the failed dial.
	if err := c.Upload(context.Background(), "app", "u1", "f", io.MultiReader(bytes.NewReader(data)), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if cl.nodes[0].uploads != 1 {
		t.Fatalf("uploads on the live node = %d", cl.nodes[0].uploads)
	}
}

func TestUpload_EarlyRefusal_IsHeardWhileTheBodyIsSent(t *testing.T) {
	for _, tc := range []struct {
		errno int16
		want  error
	}{{proto.ENOSPC, ErrNoSpace}, {proto.EEXIST, ErrExists}} {
		cl := newCluster(t, 1)
		cl.nodes[0].set(func(f *fakeNode) { f.refuseUpload = tc.errno })
		c := newClient(t, cl.tracker.addr())
		size := int64(256 << 20) // far more than the socket buffers hold
		start := time.Now()
		err := c.Upload(context.Background(), "app", "u1", "f", io.LimitReader(zeros{}, size), size)
		if !errors.Is(err, tc.want) {
			t.Fatalf("errno %d: err = %v, want %v", tc.errno, err, tc.want)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("errno %d: the refusal took %v to surface", tc.errno, d)
		}
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, errFake
	}
	if len(p) > r.n {
		p = p[:r.n]
	}
	r.n -= len(p)
	return len(p), nil
}

func TestUpload_ReaderFailure_StopsWithoutStoringOrRetrying(t *testing.T) {
	cl := newCluster(t, 2)
	c := newClient(t, cl.tracker.addr())
	err := c.Upload(context.Background(), "app", "u1", "f", &failingReader{n: 1 << 20}, 4<<20)
	if !errors.Is(err, errFake) {
		t.Fatalf("err = %v, want the reader's error", err)
	}
	time.Sleep(50 * time.Millisecond)
	for i, n := range cl.nodes {
		n.mu.Lock()
		got := len(n.files)
		n.mu.Unlock()
		if got != 0 {
			t.Errorf("node %d stored %d files from a failed body", i, got)
		}
	}
}

func TestUpload_ShortBody_IsAnError(t *testing.T) {
	cl := newCluster(t, 1)
	c := newClient(t, cl.tracker.addr())
	err := c.Upload(context.Background(), "app", "u1", "f", bytes.NewReader(make([]byte, 10)), 20)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v, want ErrUnexpectedEOF", err)
	}
}

func TestDownload_NodeDiesMidway_ResumesOnAMirror(t *testing.T) {
	cl := newCluster(t, 2)
	ref := proto.FileRef{AppID: "app", UserID: "u1", FileID: "f"}
	data := randBytes(4 << 20)
	cl.mirror(ref, data)
	for _, n := range cl.nodes {
		n.set(func(f *fakeNode) { f.dropDownloadAfter = 1 << 20 })
	}
	cl.nodes[1].set(func(f *fakeNode) { f.dropDownloadAfter = 0 })
	// Whichever node is tried first, the second completes the range.
	c := newClient(t, cl.tracker.addr())
	rc, err := c.Download(context.Background(), "app", "u1", "f", 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data[100:]) {
		t.Fatalf("resumed download: %d bytes, differs from the file", len(got))
	}
}

func TestDownload_NodeDiesAndNoMirror_IsUnexpectedEOF(t *testing.T) {
	cl := newCluster(t, 1)
	ref := proto.FileRef{AppID: "app", UserID: "u1", FileID: "f"}
	cl.mirror(ref, randBytes(2<<20))
	cl.nodes[0].set(func(f *fakeNode) { f.dropDownloadAfter = 1000 })
	c := newClient(t, cl.tracker.addr())
	rc, err := c.Download(context.Background(), "app", "u1", "f", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.Copy(io.Discard, rc); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v, want ErrUnexpectedEOF", err)
	}
}

func TestDownload_MissingOnOneMirror_FoundOnAnother(t *testing.T) {
	cl := newCluster(t, 2)
	ref := proto.FileRef{AppID: "app", UserID: "u1", FileID: "f"}
	cl.nodes[1].set(func(f *fakeNode) { f.files[key(ref)] = []byte("hello") })
	c := newClient(t, cl.tracker.addr())
	for range 4 { // both orders of the mirrors
		var b bytes.Buffer
		if _, err := c.DownloadTo(context.Background(), "app", "u1", "f", 0, 0, &b); err != nil || b.String() != "hello" {
			t.Fatalf("got %q, %v", b.String(), err)
		}
	}
	if _, err := c.FileSize(context.Background(), "app", "u1", "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing everywhere: %v, want ErrNotFound", err)
	}
}

func TestDownload_ContextCancel_AbortsARead(t *testing.T) {
	// A node that announces a body and then sends nothing.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				h, err := proto.ReadHeader(c)
				if err == nil {
					proto.ReadBody(c, h, h.BodyLen)
					c.Write(proto.Header{BodyLen: 1 << 20, Cmd: proto.CmdStorageReply}.Bytes())
				}
				time.Sleep(10 * time.Second)
				c.Close()
			}()
		}
	}()
	cl := newCluster(t, 0)
	cl.tracker.set(func(f *fakeNode) { f.addrs = []string{ln.Addr().String()} })
	c := newClient(t, cl.tracker.addr())
	ctx, cancel := context.WithCancel(context.Background())
	rc, err := c.Download(ctx, "app", "u1", "f", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err = io.Copy(io.Discard, rc)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("cancel took %v", d)
	}
}

func TestNames_RefusedBeforeSending(t *testing.T) {
	cl := newCluster(t, 1)
	c := newClient(t, cl.tracker.addr())
	ctx := context.Background()
	for _, tc := range []struct{ app, user, file string }{
		{"", "u", "f"}, {"a-b", "u", "f"}, {"app", "", "f"}, {"app", "u/x", "f"},
		{"app", "u", ""}, {"app", "u", "../f"}, {"app", strings.Repeat("u", 256), "f"},
		{strings.Repeat("a", 16), "u", "f"}, {"app", "u", strings.Repeat("f", 128)},
	} {
		if err := c.Upload(ctx, tc.app, tc.user, tc.file, strings.NewReader("x"), 1); !errors.Is(err, ErrInvalid) {
			t.Errorf("Upload(%q, %q, %q) = %v, want ErrInvalid", tc.app, tc.user, tc.file, err)
		}
		if _, err := c.Download(ctx, tc.app, tc.user, tc.file, 0, 0); !errors.Is(err, ErrInvalid) {
			t.Errorf("Download(%q, %q, %q) = %v, want ErrInvalid", tc.app, tc.user, tc.file, err)
		}
	}
	if a := cl.tracker.accepts.Load(); a != 0 {
		t.Errorf("invalid names reached the tracker (%d connections)", a)
	}
}

func TestNewFileID_UniqueAndSorted(t *testing.T) {
	seen := map[string]bool{}
	prev := ""
	for range 10000 {
		id := NewFileID()
		if !proto.ValidFileID(id) || len(id) != 26 {
			t.Fatalf("bad id %q", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
		raw, err := fileIDEncoding.DecodeString(id)
		if err != nil {
			t.Fatal(err)
		}
		if ms := string(raw[:6]); ms < prev { // 48-bit big-endian milliseconds
			t.Fatalf("ids not sorted by time: %q", id)
		} else {
			prev = ms
		}
	}
}

func TestGroups_ReturnsTheTrackersText(t *testing.T) {
	cl := newCluster(t, 0)
	c := newClient(t, cl.tracker.addr())
	s, err := c.Groups(context.Background())
	if err != nil || s != "group g1\n" {
		t.Fatalf("Groups = %q, %v", s, err)
	}
}

// Requests spread over a group's members even while one SADDRS answer is
// reused from the cache.
func TestDownload_SpreadsOverMirrorsWithCachedLocate(t *testing.T) {
	cl := newCluster(t, 2)
	ref := proto.FileRef{AppID: "app", UserID: "u1", FileID: "f"}
	cl.mirror(ref, []byte("hello"))
	c, err := New(Config{Trackers: []string{cl.tracker.addr()}, DialTimeout: time.Second, IOTimeout: 5 * time.Second, LocateTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 6 {
		var b bytes.Buffer
		if _, err := c.DownloadTo(context.Background(), "app", "u1", "f", 0, 0, &b); err != nil || b.String() != "hello" {
			t.Fatalf("got %q, %v", b.String(), err)
		}
	}
	if a, b := cl.nodes[0].accepts.Load(), cl.nodes[1].accepts.Load(); a == 0 || b == 0 {
		t.Fatalf("connections to the mirrors: %d and %d; want both used", a, b)
	}
	if n := cl.tracker.accepts.Load(); n != 1 {
		t.Fatalf("%d tracker connections, want 1 (the answer cached)", n)
	}
}

// A node that refuses an upload from its head (read-only: EROFS; full:
// ENOSPC) after the client sent the body into the socket: the upload goes
// to the next member with the same bytes, though the reader cannot be
// rewound (the kept copy is sent).
func TestUpload_RefusedByASickNode_IsRetriedOnTheNext(t *testing.T) {
	for _, errno := range []int16{proto.EROFS, proto.ENOSPC, proto.EIO} {
		cl := newCluster(t, 2)
		cl.tracker.set(func(f *fakeNode) { f.addrs = []string{cl.nodes[0].addr(), cl.nodes[1].addr()} })
		cl.nodes[0].set(func(f *fakeNode) { f.refuseUpload = errno })
		cl.nodes[1].set(func(f *fakeNode) { f.refuseUpload = 0 })
		c := newClient(t, cl.tracker.addr())
		for i := range 6 { // the client rotates its first choice
			data := randBytes(4 << 10)
			fid := fmt.Sprintf("f%d", i)
			if err := c.Upload(context.Background(), "app", "u1", fid, io.MultiReader(bytes.NewReader(data)), int64(len(data))); err != nil {
				t.Fatalf("errno %d: upload %d: %v", errno, i, err)
			}
			cl.nodes[1].mu.Lock()
			got := cl.nodes[1].files[key(proto.FileRef{AppID: "app", UserID: "u1", FileID: fid})]
			cl.nodes[1].mu.Unlock()
			if !bytes.Equal(got, data) {
				t.Fatalf("errno %d: upload %d stored %d bytes, not the body", errno, i, len(got))
			}
		}
	}
	// More than replayMax consumed from a plain reader: not sent again.
	cl := newCluster(t, 2)
	cl.tracker.set(func(f *fakeNode) { f.addrs = []string{cl.nodes[0].addr()}; f.unwritable = nil })
	cl.nodes[0].set(func(f *fakeNode) { f.refuseUpload = proto.EROFS })
	c := newClient(t, cl.tracker.addr())
	size := int64(64 << 20)
	if err := c.Upload(context.Background(), "app", "u1", "big", io.LimitReader(zeros{}, size), size); err == nil {
		t.Fatal("upload to a refusing node succeeded")
	}
}

// SADDRS marks nodes that cannot take uploads: uploads go to the others
// first, every time, although the client rotates its choice.
func TestUpload_UnwritableNodesLast(t *testing.T) {
	cl := newCluster(t, 2)
	cl.tracker.set(func(f *fakeNode) {
		f.addrs, f.unwritable = []string{cl.nodes[1].addr()}, []string{cl.nodes[0].addr()}
	})
	c := newClient(t, cl.tracker.addr())
	for i := range 8 {
		if err := c.Upload(context.Background(), "app", "u1", fmt.Sprintf("f%d", i), bytes.NewReader([]byte("x")), 1); err != nil {
			t.Fatal(err)
		}
	}
	if cl.nodes[0].uploads != 0 || cl.nodes[1].uploads != 8 {
		t.Fatalf("uploads: unwritable node %d, writable node %d", cl.nodes[0].uploads, cl.nodes[1].uploads)
	}
	// Reads still use both (Locate lists both).
	if _, addrs, err := c.Locate(context.Background(), "app", "u1", "f0"); err != nil || len(addrs) != 2 {
		t.Fatalf("Locate = %v, %v", addrs, err)
	}
}
