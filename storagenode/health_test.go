package storagenode

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
