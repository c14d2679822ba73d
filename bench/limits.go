package main

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// Limits are what this machine can do at best, measured the same run.
type Limits struct {
	DiskWriteMiBs    float64 `json:"disk_write_fsync_mib_s"`
	DiskReadMiBs     float64 `json:"disk_read_direct_mib_s"`
	DiskNote         string  `json:"disk_note"`
	DiskFileMiB      int     `json:"disk_file_mib"`
	Loopback1MiBs    float64 `json:"loopback_1_stream_mib_s"`
	Loopback8MiBs    float64 `json:"loopback_8_streams_mib_s"`
	SendfileMiBs     float64 `json:"file_sendfile_1_stream_mib_s"`
	RelayMiBs        float64 `json:"file_splice_relay_1_stream_mib_s"`
	MD5MiBs          float64 `json:"md5_1core_mib_s"`
	CRC32CMiBs       float64 `json:"crc32c_1core_mib_s"`
	SHA256MiBs       float64 `json:"sha256_1core_mib_s"`
	LoopbackDuration string  `json:"loopback_duration"`
}

func mibs(n int64, d time.Duration) float64 { return float64(n) / (1 << 20) / d.Seconds() }

// measureLimits measures disk, loopback and hashing.
func measureLimits(dir string, fileMiB int, tcpDur time.Duration) (Limits, error) {
	l := Limits{DiskFileMiB: fileMiB, LoopbackDuration: tcpDur.String()}
	var err error
	if l.DiskWriteMiBs, l.DiskReadMiBs, l.DiskNote, err = diskBandwidth(dir, fileMiB); err != nil {
		return l, fmt.Errorf("disk: %w", err)
	}
	logf("limits: disk write+fsync %.0f MiB/s, read %.0f MiB/s (%s)", l.DiskWriteMiBs, l.DiskReadMiBs, l.DiskNote)
	// The best of three: a limit is what the machine can do, and a shared
	// machine's other work only ever lowers a measurement.
	for range 3 {
		one, err := loopback(1, tcpDur)
		if err != nil {
			return l, fmt.Errorf("loopback: %w", err)
		}
		eight, err := loopback(8, tcpDur)
		if err != nil {
			return l, fmt.Errorf("loopback: %w", err)
		}
		l.Loopback1MiBs, l.Loopback8MiBs = max(l.Loopback1MiBs, one), max(l.Loopback8MiBs, eight)
	}
	logf("limits: loopback TCP 1 stream %.0f MiB/s, 8 streams %.0f MiB/s", l.Loopback1MiBs, l.Loopback8MiBs)
	if l.SendfileMiBs, err = fileStream(dir, false, tcpDur); err != nil {
		return l, fmt.Errorf("file stream: %w", err)
	}
	if l.RelayMiBs, err = fileStream(dir, true, tcpDur); err != nil {
		return l, fmt.Errorf("file stream through a relay: %w", err)
	}
	logf("limits: a cached 64 MiB file, 1 stream: sendfile to the reader %.0f MiB/s, through a splice relay %.0f MiB/s", l.SendfileMiBs, l.RelayMiBs)
	for range 2 {
		l.MD5MiBs = max(l.MD5MiBs, hashRate(md5.New(), time.Second))
		l.CRC32CMiBs = max(l.CRC32CMiBs, hashRate(crc32.New(crc32.MakeTable(crc32.Castagnoli)), time.Second))
		l.SHA256MiBs = max(l.SHA256MiBs, hashRate(sha256.New(), time.Second))
	}
	logf("limits: one core: MD5 %.0f MiB/s, CRC32C %.0f MiB/s, SHA-256 %.0f MiB/s", l.MD5MiBs, l.CRC32CMiBs, l.SHA256MiBs)
	return l, nil
}

// diskBandwidth writes fileMiB MiB in 1 MiB writes and fsyncs (the time
// includes the fsync), then reads the file back with O_DIRECT so the page
// cache is bypassed (falling back to a cached read where O_DIRECT is refused).
func diskBandwidth(dir string, fileMiB int) (w, r float64, note string, err error) {
	path := filepath.Join(dir, "bench-disk.tmp")
	defer os.Remove(path)
	buf := alignedBuf(1 << 20)
	rand.Read(buf)
	// Buffered writes then fsync, and O_DIRECT writes then fsync (how
	// MinIO and the storage nodes write large files): the better one.
	note = "write: best of buffered and O_DIRECT, 1 MiB writes, fsync included; read: O_DIRECT, 1 MiB reads"
	for _, flag := range []int{0, syscall.O_DIRECT} {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|flag, 0o600)
		if err != nil {
			if flag != 0 {
				continue // no O_DIRECT here
			}
			return 0, 0, "", err
		}
		t0 := time.Now()
		var werr error
		for range fileMiB {
			if _, werr = f.Write(buf); werr != nil {
				break
			}
		}
		if werr != nil {
			f.Close()
			if flag != 0 {
				continue // the file system took the flag, not the writes
			}
			return 0, 0, "", werr
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return 0, 0, "", err
		}
		w = max(w, mibs(int64(fileMiB)<<20, time.Since(t0)))
		f.Close()
	}

	rf, err := os.OpenFile(path, os.O_RDONLY|syscall.O_DIRECT, 0)
	if err != nil {
		note += " (O_DIRECT refused for reads: page cache dropped with fadvise(DONTNEED))"
		if rf, err = os.Open(path); err != nil {
			return 0, 0, "", err
		}
		fadviseDontNeed(rf)
	}
	defer rf.Close()
	t0 := time.Now()
	var n int64
	for {
		m, err := rf.Read(buf)
		n += int64(m)
		if err == io.EOF || m == 0 {
			break
		}
		if err != nil {
			return 0, 0, "", err
		}
	}
	r = mibs(n, time.Since(t0))
	return w, r, note, nil
}

func alignedBuf(n int) []byte {
	b := make([]byte, n+4096)
	off := int(4096 - uintptr(unsafe.Pointer(&b[0]))%4096)
	if off == 4096 {
		off = 0
	}
	return b[off : off+n]
}

func fadviseDontNeed(f *os.File) {
	const fadvDontNeed = 4
	syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, 0, fadvDontNeed, 0, 0)
}

// loopback sends as much as it can over n TCP connections on 127.0.0.1
// for d, with 256 KiB writes and reads, and returns the total MiB/s.
func loopback(n int, d time.Duration) (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	var total int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				buf := make([]byte, 256<<10)
				var got int64
				for {
					m, err := c.Read(buf)
					got += int64(m)
					if err != nil {
						break
					}
				}
				mu.Lock()
				total += got
				mu.Unlock()
			}()
		}
	}()
	var cw sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	errc := make(chan error, n)
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return 0, err
		}
		cw.Add(1)
		go func() {
			defer cw.Done()
			defer c.Close()
			buf := make([]byte, 256<<10)
			for time.Now().Before(deadline) {
				if _, err := c.Write(buf); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	cw.Wait()
	wg.Wait()
	el := time.Since(start)
	select {
	case err := <-errc:
		return 0, err
	default:
	}
	return mibs(total, el), nil
}

// hashRate hashes 1 MiB buffers on one goroutine, 16 at a time, until d
// has passed (at least one round of 16 MiB).
func hashRate(h hash.Hash, d time.Duration) float64 {
	buf := make([]byte, 1<<20)
	rand.Read(buf)
	var n int64
	t0 := time.Now()
	for {
		for range 16 {
			h.Write(buf)
			n += int64(len(buf))
		}
		if time.Since(t0) >= d {
			break
		}
	}
	return mibs(n, time.Since(t0))
}

// fileStream measures one stream of a page-cached file sent with sendfile
// to a reader on loopback, directly or through a relay that splices one
// socket to the other: what a GET of a large object can do at best, from
// MinIO's shape (file → client) and from ours (file → gateway → client).
// It returns MiB/s, the best of three runs of d each.
func fileStream(dir string, relay bool, d time.Duration) (float64, error) {
	const size = 64 << 20
	path := filepath.Join(dir, "bench-stream")
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer os.Remove(path)
	if _, err := f.Write(make([]byte, size)); err != nil {
		f.Close()
		return 0, err
	}
	f.Close()
	if b, err := os.ReadFile(path); err != nil || len(b) != size { // into the page cache
		return 0, fmt.Errorf("reading %s back: %v", path, err)
	}
	src, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer src.Close()
	// One byte asks for the file; the file comes back.
	serve := func(ln net.Listener, handle func(c net.Conn, b []byte) error) {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b := make([]byte, 1)
				for {
					if _, err := c.Read(b); err != nil || handle(c, b) != nil {
						return
					}
				}
			}()
		}
	}
	go serve(src, func(c net.Conn, _ []byte) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(c, f) // sendfile
		return err
	})
	addr := src.Addr().String()
	if relay {
		rl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		defer rl.Close()
		upstream := addr
		go serve(rl, func(c net.Conn, b []byte) error {
			up, err := net.Dial("tcp", upstream)
			if err != nil {
				return err
			}
			defer up.Close()
			if _, err := up.Write(b); err != nil {
				return err
			}
			_, err = c.(*net.TCPConn).ReadFrom(&io.LimitedReader{R: up, N: size}) // splice
			return err
		})
		addr = rl.Addr().String()
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	buf := make([]byte, 256<<10)
	best := 0.0
	for range 3 {
		var n int64
		t0 := time.Now()
		for time.Since(t0) < d {
			if _, err := c.Write([]byte{1}); err != nil {
				return 0, err
			}
			if _, err := io.CopyBuffer(io.Discard, io.LimitReader(c, size), buf); err != nil {
				return 0, err
			}
			n += size
		}
		best = max(best, mibs(n, time.Since(t0)))
	}
	return best, nil
}
