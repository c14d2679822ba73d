package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// settleMax bounds settle's wait.
const settleMax = 60 * time.Second

// settle waits, before a system starts, until the disk under the data
// directory is quiet: the kernel's dirty pages written (sync), then less
// than 1 MiB written to the disk in half a second (MariaDB flushing the
// pages of a dropped database, the kernel's writeback), for at most
// settleMax, so that no system pays for its predecessor's writes. A
// precaution more than a cure: it was added after `tnv up`'s fsyncs and
// commits took twice as long in the repetitions of
// bench/results/2026-12-02T0650Z.md where it followed MinIO, but in the
// next run the disk was quiet within 0.6 s before every system, so that
// slowdown had another cause. It returns how long it waited.
func settle(dev string) time.Duration {
	t0 := time.Now()
	syscall.Sync()
	prev, ok := sectorsWritten(dev)
	for ok && time.Since(t0) < settleMax {
		time.Sleep(500 * time.Millisecond)
		cur, ok2 := sectorsWritten(dev)
		if !ok2 {
			break
		}
		if (cur-prev)*512 < 1<<20 {
			break
		}
		prev = cur
	}
	return time.Since(t0)
}

// diskOf is the block device (as /proc/diskstats names it) that holds dir,
// or "" when it cannot be told.
func diskOf(dir string) string {
	out, err := exec.Command("findmnt", "-n", "-o", "SOURCE", "-T", dir).Output()
	if err != nil {
		return ""
	}
	src := strings.TrimSpace(string(out))
	if !strings.HasPrefix(src, "/dev/") {
		return ""
	}
	return filepath.Base(src)
}

// sectorsWritten reads the device's sectors written from /proc/diskstats.
func sectorsWritten(dev string) (int64, bool) {
	if dev == "" {
		return 0, false
	}
	b, err := os.ReadFile("/proc/diskstats")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 9 && f[2] == dev {
			n, err := strconv.ParseInt(f[9], 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}
