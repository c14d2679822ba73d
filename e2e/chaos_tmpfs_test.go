package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/internal/proctest"
)

// tmpfsStore is a storage member whose --store is a tmpfs of its own, so
// that the chaos suite can turn its disk read-only or full under it.
type tmpfsStore struct {
	p    *proctest.Proc
	dir  string
	size string // the mount's normal size option
}

// tmpfsSize is the store's normal size: far more than the suite writes,
// and tmpfs takes memory only for what is written.
const tmpfsSize = "4g"

// mountTmpfsStore restarts member p on an empty tmpfs mounted at its store
// directory (before any data is written). The mount is undone when the
// test ends, after p is killed. It needs root.
func mountTmpfsStore(t *testing.T, p *proctest.Proc) *tmpfsStore {
	t.Helper()
	dir := argAfter(p.Args, "--store")
	if dir == "" {
		t.Fatalf("%s has no --store", p.Name)
	}
	p.Kill()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := run("mount", "-t", "tmpfs", "-o", "size="+tmpfsSize, "tnv-chaos", dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Kill() // its Cleanup runs after this one: a busy mount cannot go
		if err := run("umount", dir); err != nil {
			t.Logf("umount %s: %v; detaching it", dir, err)
			run("umount", "-l", dir)
		}
	})
	p.Restart()
	return &tmpfsStore{p: p, dir: dir, size: tmpfsSize}
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// readOnly remounts the store read-only. A file system with files open for
// writing refuses (EBUSY), so it tries until uploads in flight leave a gap.
func (s *tmpfsStore) readOnly(timeout time.Duration) error {
	return retryUntil(timeout, func() error { return run("mount", "-o", "remount,ro", s.dir) })
}

// full shrinks the store to what it holds now: the next write of a new
// page fails with ENOSPC. Uploads in flight may grow the store between
// the look and the remount, which tmpfs then refuses (a size below what it
// holds: EINVAL, seen in CI): it looks again and tries until one fits.
func (s *tmpfsStore) full() error {
	return retryUntil(10*time.Second, func() error {
		var st syscall.Statfs_t
		if err := syscall.Statfs(s.dir, &st); err != nil {
			return err
		}
		used := (st.Blocks - st.Bfree) * uint64(st.Bsize)
		return run("mount", "-o", fmt.Sprintf("remount,size=%d", max(used, uint64(st.Bsize))), s.dir)
	})
}

// healthy makes the store writable and of its normal size again.
func (s *tmpfsStore) healthy(timeout time.Duration) error {
	return retryUntil(timeout, func() error { return run("mount", "-o", "remount,rw,size="+s.size, s.dir) })
}

// free returns the bytes free on the store.
func (s *tmpfsStore) free() int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.dir, &st); err != nil {
		return -1
	}
	return int64(st.Bavail) * st.Bsize
}

func retryUntil(timeout time.Duration, fn func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}
