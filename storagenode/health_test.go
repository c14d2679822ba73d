package storagenode

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/proto"
)

func TestHealthOf_ClassifiesWriteErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want uint8
	}{
		{nil, proto.HealthOK},
		{&os.PathError{Op: "open", Path: "x", Err: syscall.EROFS}, proto.HealthReadOnly},
		{fmt.Errorf("create: %w", syscall.EACCES), proto.HealthReadOnly},
		{&os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}, proto.HealthFull},
		{syscall.EDQUOT, proto.HealthFull},
		{&os.PathError{Op: "fsync", Path: "x", Err: syscall.EIO}, proto.HealthSick},
		{errors.New("something else"), proto.HealthSick},
	} {
		if got := healthOf(tc.err); got != tc.want {
			t.Errorf("healthOf(%v) = %s, want %s", tc.err, proto.HealthName(got), proto.HealthName(tc.want))
		}
	}
}

// A store probes OK; with a reserve larger than its room it is FULL; a
// store whose temp directory refuses writes is not OK (root bypasses
// permissions, so the directory is replaced by a file instead).
func TestStoreProbe(t *testing.T) {
	st, err := openStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if h, err := st.probe(0); h != proto.HealthOK {
		t.Fatalf("probe of a fresh store: %s, %v", proto.HealthName(h), err)
	}
	_, avail, _ := st.space()
	if h, _ := st.probe(avail); h != proto.HealthFull {
		t.Fatalf("probe with the whole room reserved: %s", proto.HealthName(h))
	}
	tmp := filepath.Join(st.dir, tmpDir)
	os.RemoveAll(tmp)
	os.WriteFile(tmp, nil, 0o644)
	if h, err := st.probe(0); h == proto.HealthOK || err == nil {
		t.Fatalf("probe with no temp directory: %s, %v", proto.HealthName(h), err)
	}
}

// The scrub's pacer holds reads to its rate.
func TestPacer_LimitsTheRate(t *testing.T) {
	p := newPacer(context.Background(), 4<<20)
	start := time.Now()
	for range 8 {
		p.wait(256 << 10) // 2 MiB in all: 0.5 s at 4 MiB/s
	}
	if d := time.Since(start); d < 450*time.Millisecond || d > 2*time.Second {
		t.Fatalf("2 MiB at 4 MiB/s took %v", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p = newPacer(ctx, 1)
	start = time.Now()
	p.wait(1 << 20) // would be 12 days
	if d := time.Since(start); d > time.Second {
		t.Fatalf("a cancelled pacer waited %v", d)
	}
}

// breakStore makes a store refuse new files (its temp directory replaced by
// a file; root ignores permissions); fixStore undoes it.
func breakStore(t *testing.T, dir string) {
	t.Helper()
	tmp := filepath.Join(dir, tmpDir)
	if err := os.RemoveAll(tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tmp, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

func fixStore(t *testing.T, dir string) {
	t.Helper()
	tmp := filepath.Join(dir, tmpDir)
	os.Remove(tmp)
	if err := os.Mkdir(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
}

// A node with two stores: one that cannot write is skipped (the node stays
// OK, files go to the other); with both broken the node reports SICK in its
// BEAT and refuses an upload from its head (EROFS) leaving nothing; fixed,
// it is OK again.
func TestUnwritableStores_SkippedThenNodeStepsAside(t *testing.T) {
	e := newEnv(t, sqliteDB(t))
	d1, d2 := t.TempDir(), t.TempDir()
	n := e.start(d1, "", func(c *Config) { c.Stores = []string{d1, d2}; c.HealthInterval = time.Hour })
	breakStore(t, d1)
	probeUntil(t, n, func() bool { return !n.stores[0].writable() })
	if h := n.Health(); h != proto.HealthOK {
		t.Fatalf("health with one good store: %s", proto.HealthName(h))
	}
	for i := range 10 {
		if err := upload(n.addr, ref(fmt.Sprintf("s%d", i)), []byte("data")); err != nil {
			t.Fatal(err)
		}
	}
	if len(dataFiles(t, d1)) != 0 || len(dataFiles(t, d2)) != 10 {
		t.Fatalf("files: %d in the broken store, %d in the good one", len(dataFiles(t, d1)), len(dataFiles(t, d2)))
	}
	breakStore(t, d2)
	probeUntil(t, n, func() bool { return n.Health() == proto.HealthSick })
	waitBeatHealth(t, e, n, proto.HealthSick)
	start := time.Now()
	err := uploadFrom(n.addr, ref("refused"), zeros{}, 1<<30)
	wantErrno(t, err, proto.EROFS, "upload to a node that cannot write")
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("refusal took %v: the body was read", d)
	}
	if rowOf(t, n, ref("refused")) != nil {
		t.Fatal("a row of the refused upload")
	}
	if st := n.Stat(); st.Health != "SICK" || !strings.Contains(st.String(), "health SICK\n") {
		t.Fatalf("NODESTAT: %s", st.String())
	}
	fixStore(t, d2)
	probeUntil(t, n, func() bool { return n.Health() == proto.HealthOK })
	waitBeatHealth(t, e, n, proto.HealthOK)
	if err := upload(n.addr, ref("after"), []byte("data")); err != nil {
		t.Fatal(err)
	}
}

// probeUntil has the node's health loop probe its stores until ok.
func probeUntil(t *testing.T, n *testNode, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("stores probed for 5 s; health %s", proto.HealthName(n.Health()))
		}
		select {
		case n.probeNow <- struct{}{}:
		default:
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitBeatHealth(t *testing.T, e *env, n *testNode, want uint8) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if fn, ok := e.tracker.node(n.addr); ok && fn.beat.Health == want {
			return
		}
		if time.Now().After(deadline) {
			fn, _ := e.tracker.node(n.addr)
			t.Fatalf("tracker has health %s, want %s", proto.HealthName(fn.beat.Health), proto.HealthName(want))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
