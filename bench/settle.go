package main

import (
	"crypto/md5"
	"os"
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

// Check is how fast the machine was just before one system started, so
// that a slow repetition can be told from a slow system: the VM's speed
// moves by tens of per cent within minutes (see settle).
type Check struct {
	Rep      int     `json:"rep"`
	Position int     `json:"position"`
	System   string  `json:"system"`
	MD5MiBs  float64 `json:"md5_mib_s"`     // MD5 on one core, 16 MiB
	FsyncMs  float64 `json:"fsync_p50_ms"`  // a 4 KiB write + fdatasync in the data directory, median of 20
	SettledS float64 `json:"disk_settle_s"` // settle's wait before it
}

// checkMachine measures MD5 on one core and small writes with fdatasync
// in dir (about a third of a second).
func checkMachine(dir string) (md5MiBs, fsyncMs float64) {
	md5MiBs = hashRate(md5.New(), 0) // one round of 16 MiB

	buf := make([]byte, 4096)
	f, err := os.CreateTemp(dir, ".check-*")
	if err != nil {
		return md5MiBs, 0
	}
	defer os.Remove(f.Name())
	defer f.Close()
	lat := make([]float64, 0, 20)
	for i := range 20 {
		t := time.Now()
		if _, err := f.WriteAt(buf, int64(i)*4096); err != nil {
			return md5MiBs, 0
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return md5MiBs, 0
		}
		lat = append(lat, float64(time.Since(t).Microseconds())/1000)
	}
	return md5MiBs, spreadOf(lat).Median
}
