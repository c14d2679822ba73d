package storagenode

import (
	"bytes"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/proto"
)

// patternReader yields size bytes of a fixed pattern without holding them.
type patternReader struct{ left int64 }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	for i := range b {
		b[i] = byte(i * 7)
	}
	p.left -= int64(len(b))
	return len(b), nil
}

// downloadTo streams a DOWNLOAD reply into w.
func downloadTo(addr string, r proto.FileRef, w io.Writer) (int64, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	body, _ := (&proto.Download{FileRef: r}).Encode()
	if err := proto.WriteFrame(nc, proto.CmdStorageDownload, 0, body); err != nil {
		return 0, err
	}
	h, err := proto.ReadHeader(nc)
	if err != nil {
		return 0, err
	}
	if h.Status != 0 {
		return 0, io.ErrUnexpectedEOF
	}
	return io.CopyN(w, nc, h.BodyLen)
}

// vmHWM is the process's peak resident set size (Linux), in bytes.
func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			f := strings.Fields(l)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return -1
}

// A 1 GiB upload and download (256 MiB under -race) through one node:
// the Go heap stays bounded by buffer sizes, not by the file size.
func TestMemoryBigFile(t *testing.T) {
	size := int64(1 << 30)
	if raceEnabled {
		size = 256 << 20
	}
	e := newEnv(t, sqliteDB(t))
	n := e.start("", "", nil)
	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if v := ms.HeapInuse + ms.StackInuse; v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	r := ref("big")
	start := time.Now()
	if err := uploadFrom(n.addr, r, &patternReader{left: size}, size); err != nil {
		t.Fatal(err)
	}
	up := time.Since(start)
	var want crcWriter
	io.Copy(&want, &patternReader{left: size})
	var got crcWriter
	start = time.Now()
	m, err := downloadTo(n.addr, r, &got)
	down := time.Since(start)
	close(stop)
	<-done
	if err != nil || m != size || got.crc != want.crc {
		t.Fatalf("download: %d bytes, %v, crc %08x want %08x", m, err, got.crc, want.crc)
	}
	mib := func(v uint64) float64 { return float64(v) / (1 << 20) }
	t.Logf("%d MiB: upload %v (%.0f MiB/s), download %v (%.0f MiB/s); peak Go heap+stacks %.1f MiB; process VmHWM %.1f MiB (client and server in one process)",
		size>>20, up.Round(time.Millisecond), float64(size>>20)/up.Seconds(), down.Round(time.Millisecond), float64(size>>20)/down.Seconds(),
		mib(peak.Load()), mib(uint64(vmHWM())))
	if peak.Load() > 64<<20 {
		t.Fatalf("peak heap %.1f MiB, want < 64 MiB", mib(peak.Load()))
	}
}

func benchNode(b *testing.B) *testNode {
	e := newEnv(b, sqliteDB(b))
	return e.start("", "", nil)
}

func BenchmarkUpload64MiB(b *testing.B) {
	n := benchNode(b)
	const size = 64 << 20
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := uploadFrom(n.addr, ref("b"+strconv.Itoa(i)), &patternReader{left: size}, size); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUpload64KiB(b *testing.B) {
	n := benchNode(b)
	data := bytes.Repeat([]byte("x"), 64<<10)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := upload(n.addr, ref("s"+strconv.Itoa(i)), data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDownload64MiB(b *testing.B) {
	n := benchNode(b)
	const size = 64 << 20
	if err := uploadFrom(n.addr, ref("d"), &patternReader{left: size}, size); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if m, err := downloadTo(n.addr, ref("d"), io.Discard); err != nil || m != size {
			b.Fatal(err)
		}
	}
}
