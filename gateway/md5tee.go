package gateway

import (
	"crypto/md5"
	"hash"
	"io"
	"sync"
	"sync/atomic"

	md5simd "github.com/minio/md5-simd"
)

// md5TeeMin is the body size from which newMD5Tee hashes on a goroutine of
// its own; smaller bodies are hashed inline.
const md5TeeMin = 1 << 20

const md5TeeBuf = 128 << 10

var md5TeeBufs = sync.Pool{New: func() any { b := make([]byte, md5TeeBuf); return &b }}

// From md5SIMDFrom large bodies hashing at once, a new one is hashed by
// md5-simd, which runs up to 16 streams side by side in AVX2/AVX-512 lanes:
// about twice the throughput per core at 8 or more streams, but slower than
// crypto/md5 for one or two.
const md5SIMDFrom = 4

var (
	md5Busy   atomic.Int32
	md5Server = sync.OnceValue(md5simd.NewServer)
)

// md5Tee is io.TeeReader(r, md5.New()) with the hashing on another
// goroutine: what is read is copied into one of a few buffers and hashed
// there while the caller forwards it, so MD5 (about one core's worth at
// ~600 MiB/s) overlaps the network and disk work instead of adding to it.
// Sum waits for the hasher; Close (after Sum, or instead of it) ends it.
type md5Tee struct {
	r    io.Reader
	h    hash.Hash
	jobs chan md5Job
	free chan *[]byte
	done chan struct{}
	bufs []*[]byte
	cur  *[]byte // being filled by Read; handed to the hasher when full
	fill int
	once sync.Once
	// release gives back an md5-simd hasher; nil for crypto/md5.
	release     func()
	releaseOnce sync.Once
}

// newMD5Tee returns a reader of r and its MD5: inline for bodies below
// md5TeeMin, pipelined above.
func newMD5Tee(r io.Reader, size int64) (io.Reader, func() []byte, func()) {
	if size < md5TeeMin {
		h := md5.New()
		return io.TeeReader(r, h), func() []byte { return h.Sum(nil) }, func() {}
	}
	t := &md5Tee{r: r, jobs: make(chan md5Job, 4), free: make(chan *[]byte, 4), done: make(chan struct{})}
	if md5Busy.Add(1) >= md5SIMDFrom {
		h := md5Server().NewHash()
		t.h, t.release = h, func() { h.Close() }
	} else {
		t.h = md5.New()
	}
	for range 4 {
		b := md5TeeBufs.Get().(*[]byte)
		t.bufs = append(t.bufs, b)
		t.free <- b
	}
	go t.run()
	return t, t.sum, t.stop
}

// md5Job is the first n bytes of buffer b to hash.
type md5Job struct {
	b *[]byte
	n int
}

func (t *md5Tee) run() {
	defer close(t.done)
	for j := range t.jobs {
		t.h.Write((*j.b)[:j.n])
		t.free <- j.b
	}
}

// Read hands on what r reads, and collects it into whole buffers for the
// hasher: reads of a request body are often small, and every hand-over
// (and every md5-simd Write) has a cost of its own.
func (t *md5Tee) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	for q := p[:n]; len(q) > 0; {
		if t.cur == nil {
			t.cur, t.fill = <-t.free, 0
		}
		m := copy((*t.cur)[t.fill:], q)
		t.fill += m
		q = q[m:]
		if t.fill == len(*t.cur) {
			t.jobs <- md5Job{t.cur, t.fill}
			t.cur = nil
		}
	}
	return n, err
}

// finish ends the hasher goroutine once every job is hashed.
func (t *md5Tee) finish() {
	t.once.Do(func() {
		if t.cur != nil && t.fill > 0 {
			t.jobs <- md5Job{t.cur, t.fill}
		}
		t.cur = nil
		close(t.jobs)
		<-t.done
		for _, b := range t.bufs {
			md5TeeBufs.Put(b)
		}
		md5Busy.Add(-1)
	})
}

func (t *md5Tee) stop() {
	t.finish()
	t.releaseOnce.Do(func() {
		if t.release != nil {
			t.release()
		}
	})
}

func (t *md5Tee) sum() []byte {
	t.finish()
	s := t.h.Sum(nil)
	t.stop()
	return s
}
