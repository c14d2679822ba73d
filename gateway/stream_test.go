package gateway

import (
	"context"
	"crypto/md5"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// patternStore keeps no bytes: a blob's content is pattern(i) at offset i,
// which Put checks and Get generates. It lets gigabytes stream through the
// gateway in a test without being held anywhere.
type patternStore struct {
	mu    sync.Mutex
	sizes map[string]int64
}

func pattern(i int64) byte { return byte(i*7 + i>>9) }

type patternReader struct{ off, end int64 }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.end {
		return 0, io.EOF
	}
	n := int(min(int64(len(b)), p.end-p.off))
	for i := 0; i < n; i++ {
		b[i] = pattern(p.off + int64(i))
	}
	p.off += int64(n)
	return n, nil
}

func (s *patternStore) Put(ctx context.Context, appid, userid, fileid string, r io.Reader, size int64) error {
	buf := make([]byte, 256<<10)
	var off int64
	for off < size {
		n, err := r.Read(buf[:min(int64(len(buf)), size-off)])
		for i := 0; i < n; i++ {
			if buf[i] != pattern(off+int64(i)) {
				return fmt.Errorf("byte %d differs", off+int64(i))
			}
		}
		off += int64(n)
		if err == io.EOF && off < size {
			return io.ErrUnexpectedEOF
		}
		if err != nil && err != io.EOF {
			return err
		}
	}
	s.mu.Lock()
	s.sizes[appid+userid+fileid] = size
	s.mu.Unlock()
	return nil
}

func (s *patternStore) Get(ctx context.Context, appid, userid, fileid string, off, size int64) (io.ReadCloser, error) {
	s.mu.Lock()
	n, ok := s.sizes[appid+userid+fileid]
	s.mu.Unlock()
	if !ok {
		return nil, ErrBlobNotFound
	}
	end := n
	if size > 0 {
		end = min(n, off+size)
	}
	return io.NopCloser(&patternReader{off: off, end: end}), nil
}

func (s *patternStore) Delete(ctx context.Context, appid, userid, fileid string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sizes, appid+userid+fileid)
	return nil
}

// objectPattern is the body whose every blob (of blobSize) is a pattern run.
type objectPattern struct {
	off, end, blobSize int64
}

func (p *objectPattern) Read(b []byte) (int, error) {
	if p.off >= p.end {
		return 0, io.EOF
	}
	n := int(min(int64(len(b)), p.end-p.off))
	for i := 0; i < n; i++ {
		b[i] = pattern((p.off + int64(i)) % p.blobSize)
	}
	p.off += int64(n)
	return n, nil
}

// heapPeak samples HeapInuse until stop is called and returns the peak.
func heapPeak() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() uint64 { close(done); wg.Wait(); return peak.Load() }
}

func vmHWM() string {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:"))
		}
	}
	return "?"
}

// TestStreaming_BoundedMemory sends a 1 GiB PUT and GET through the
// gateway (256 MiB under the race detector, which is slow) and checks that
// the heap stays small: the body is never held whole.
func TestStreaming_BoundedMemory(t *testing.T) {
	size := int64(1 << 30)
	if raceEnabled {
		size = 256 << 20
	}
	const blob = 64 << 20
	e := newEnv(t, envOpt{store: &patternStore{sizes: map[string]int64{}}, blobSize: blob})
	e.mkBucket("bkt")
	runtime.GC()
	stop := heapPeak()
	ps := s3.NewPresignClient(e.root())
	p, err := ps.PresignPutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("huge")})
	must(t, err)
	req, _ := http.NewRequest("PUT", p.URL, &objectPattern{end: size, blobSize: blob})
	req.ContentLength = size
	start := time.Now()
	resp, err := e.http.Do(req)
	must(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("PUT: %d %s", resp.StatusCode, body)
	}
	putTime := time.Since(start)
	want := md5.New()
	io.Copy(want, &objectPattern{end: size, blobSize: blob})
	if resp.Header.Get("ETag") != fmt.Sprintf(`"%x"`, want.Sum(nil)) {
		t.Fatalf("ETag %s", resp.Header.Get("ETag"))
	}
	g, err := ps.PresignGetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("huge")})
	must(t, err)
	start = time.Now()
	resp, err = e.http.Get(g.URL)
	must(t, err)
	got := md5.New()
	n, err := io.Copy(got, resp.Body)
	resp.Body.Close()
	must(t, err)
	getTime := time.Since(start)
	peak := stop()
	if n != size || fmt.Sprintf("%x", got.Sum(nil)) != fmt.Sprintf("%x", want.Sum(nil)) {
		t.Fatalf("GET returned %d bytes, digest differs", n)
	}
	t.Logf("%d MiB PUT in %v, GET in %v; peak HeapInuse %.1f MiB (client, gateway and store in one process); VmHWM %s",
		size>>20, putTime.Round(time.Millisecond), getTime.Round(time.Millisecond), float64(peak)/(1<<20), vmHWM())
	if peak > 96<<20 {
		t.Fatalf("peak heap %d MiB: bodies are being buffered", peak>>20)
	}
}
