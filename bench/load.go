package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

const bucket = "bench"

// payload is the bytes every PUT sends (a prefix of it), random so that
// nothing compresses or deduplicates.
var payload = func() []byte {
	b := make([]byte, 64<<20)
	rand.Read(b)
	return b
}()

// newS3 is the load generator's client: path style, unsigned payloads (the
// SDK would otherwise SHA-256 every body on the client over plain HTTP), no
// optional checksums, no retries (errors are counted), a pool as large as
// the highest concurrency.
func newS3(endpoint, ak, sk string) *s3.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		WriteBufferSize:     256 << 10,
		ReadBufferSize:      256 << 10,
	}
	return s3.New(s3.Options{
		Region:                     "us-east-1",
		BaseEndpoint:               aws.String(endpoint),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(ak, sk, ""),
		HTTPClient:                 &http.Client{Transport: tr},
		Retryer:                    aws.NopRetryer{},
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		APIOptions:                 []func(*middleware.Stack) error{v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware},
	})
}

// repeatReader is size bytes of payload repeated, seekable.
type repeatReader struct {
	size, off int64
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.size-r.off)]
	n := copy(p, payload[r.off%int64(len(payload)):])
	r.off += int64(n)
	return n, nil
}

func (r *repeatReader) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		off += r.off
	case io.SeekEnd:
		off += r.size
	}
	if off < 0 {
		return 0, errors.New("negative seek")
	}
	r.off = off
	return off, nil
}

func put(ctx context.Context, c *s3.Client, key string, size int64) error {
	return putWith(ctx, c, key, size, nil)
}

// putWith is put with the request's input adjusted by set (the SSE
// cells' encryption headers); set may be nil.
func putWith(ctx context.Context, c *s3.Client, key string, size int64, set func(*s3.PutObjectInput)) error {
	var body io.ReadSeeker
	if size <= int64(len(payload)) {
		body = bytes.NewReader(payload[:size])
	} else {
		body = &repeatReader{size: size}
	}
	in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: body, ContentLength: aws.Int64(size)}
	if set != nil {
		set(in)
	}
	_, err := c.PutObject(ctx, in)
	return err
}

// get reads the object (or range) to the end and returns bytes and the time
// to the first byte of the body.
func get(ctx context.Context, c *s3.Client, key, rng string, buf []byte) (int64, time.Duration, error) {
	return getWith(ctx, c, key, rng, buf, nil)
}

// getWith is get with the request's input adjusted by set; set may be nil.
func getWith(ctx context.Context, c *s3.Client, key, rng string, buf []byte, set func(*s3.GetObjectInput)) (int64, time.Duration, error) {
	t0 := time.Now()
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if rng != "" {
		in.Range = aws.String(rng)
	}
	if set != nil {
		set(in)
	}
	out, err := c.GetObject(ctx, in)
	if err != nil {
		return 0, 0, err
	}
	defer out.Body.Close()
	var n int64
	var ttfb time.Duration
	for {
		m, err := out.Body.Read(buf)
		if m > 0 && n == 0 {
			ttfb = time.Since(t0)
		}
		n += int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, ttfb, err
		}
	}
	if out.ContentLength != nil && n != *out.ContentLength {
		return n, ttfb, fmt.Errorf("got %d of %d bytes", n, *out.ContentLength)
	}
	return n, ttfb, nil
}

// Run is one measurement of a workload on a system: one cell of one
// repetition.
type Run struct {
	System    string  `json:"-"`
	Workload  string  `json:"-"`
	Op        string  `json:"-"`
	Size      int64   `json:"-"`
	Conc      int     `json:"-"`
	Rep       int     `json:"rep"`      // 1-based
	Position  int     `json:"position"` // the system's place in its repetition's order, 1-based
	Ops       int     `json:"ops"`
	Errors    int     `json:"errors"`
	FirstErr  string  `json:"first_error,omitempty"`
	Bytes     int64   `json:"bytes"`
	Seconds   float64 `json:"seconds"`
	MiBs      float64 `json:"mib_s"`
	OpsPerSec float64 `json:"ops_s"`
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
	TTFB50ms  float64 `json:"ttfb_p50_ms,omitempty"`
	TTFB99ms  float64 `json:"ttfb_p99_ms,omitempty"`
	RSS       float64 `json:"rss_mib,omitempty"`    // peak of the summed RSS of the system's processes
	DBRSS     float64 `json:"db_rss_mib,omitempty"` // MariaDB's peak, for the systems on it
	// CPU time (user + system) per operation over the cell: the system's
	// processes summed, MariaDB (shared by the MariaDB systems, apart), and
	// the load generator (this process: its SDK, HTTP and the samplers).
	CPUms     float64 `json:"cpu_ms_per_op,omitempty"`
	DBCPUms   float64 `json:"db_cpu_ms_per_op,omitempty"`
	LoadCPUms float64 `json:"client_cpu_ms_per_op,omitempty"`
	// Overwrite cells: how long after the last PUT the collector took to
	// delete every blob the cell replaced (inside Seconds), and how many.
	GCDrainS    float64 `json:"gc_drain_s,omitempty"`
	GCCollected int     `json:"gc_collected,omitempty"`
	// Mixed runs: per-operation counts and p50.
	PerOp map[string]OpStat `json:"per_op,omitempty"`
	// PUT cells of our systems: the phases of the cell's requests.
	Phases map[string]Phase `json:"phases,omitempty"`
	// GET cells of our systems: the reads the storage nodes served, by
	// command (nodeReads).
	NodeReads map[string]int `json:"node_reads,omitempty"`
}

// OpStat is one operation's share of a mixed run.
type OpStat struct {
	Ops   int     `json:"ops"`
	P50ms float64 `json:"p50_ms"`
	P99ms float64 `json:"p99_ms"`
}

type sample struct {
	op   string
	lat  time.Duration
	ttfb time.Duration
}

// memory is what runCell samples: a system's processes, and MariaDB's
// (0: not on MariaDB).
type memory struct {
	pids []int
	db   int
}

// opFunc performs one operation of worker w; it returns bytes moved, the
// time to first byte (GETs) and the operation's name (mixed runs).
type opFunc func(ctx context.Context, w, i int, buf []byte) (op string, n int64, ttfb time.Duration, err error)

// runCell runs conc workers for d; operations started before the deadline
// run to completion and count. The resident sets of mem's processes are
// sampled for their peak sum.
func runCell(ctx context.Context, d time.Duration, conc int, mem memory, fn opFunc) Run {
	var (
		mu       sync.Mutex
		samples  []sample
		bytesN   atomic.Int64
		errs     atomic.Int64
		firstErr atomic.Value
	)
	stopRSS := make(chan struct{})
	rssDone := make(chan [2]float64, 1)
	go func() {
		var peak, db float64
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			peak = max(peak, sumRSS(mem.pids))
			if mem.db > 0 {
				db = max(db, rssMiB(mem.db))
			}
			select {
			case <-stopRSS:
				rssDone <- [2]float64{peak, db}
				return
			case <-t.C:
			}
		}
	}()
	cpu0, db0, self0 := cpuSeconds(mem.pids...), cpuSeconds(mem.db), cpuSeconds(os.Getpid())
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256<<10)
			var local []sample
			for i := 0; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
				t0 := time.Now()
				op, n, ttfb, err := fn(ctx, w, i, buf)
				lat := time.Since(t0)
				if err != nil {
					if errs.Add(1) == 1 {
						firstErr.Store(fmt.Sprintf("%s: %v", op, err))
					}
					if errs.Load() > 1000 {
						return
					}
					time.Sleep(10 * time.Millisecond)
					continue
				}
				bytesN.Add(n)
				local = append(local, sample{op, lat, ttfb})
			}
			mu.Lock()
			samples = append(samples, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(start)
	close(stopRSS)
	c := Run{Conc: conc, Ops: len(samples), Errors: int(errs.Load()), Bytes: bytesN.Load(), Seconds: el.Seconds()}
	if c.Ops > 0 {
		per := func(s float64) float64 { return s * 1000 / float64(c.Ops) }
		c.CPUms = per(cpuSeconds(mem.pids...) - cpu0)
		c.LoadCPUms = per(cpuSeconds(os.Getpid()) - self0)
		if mem.db > 0 {
			c.DBCPUms = per(cpuSeconds(mem.db) - db0)
		}
	}
	if e, ok := firstErr.Load().(string); ok {
		c.FirstErr = e
	}
	c.MiBs = mibs(c.Bytes, el)
	c.OpsPerSec = float64(c.Ops) / el.Seconds()
	c.P50ms, c.P99ms = percentiles(samples, func(s sample) time.Duration { return s.lat })
	var withTTFB []sample
	byOp := map[string][]sample{}
	for _, s := range samples {
		if s.ttfb > 0 {
			withTTFB = append(withTTFB, s)
		}
		byOp[s.op] = append(byOp[s.op], s)
	}
	c.TTFB50ms, c.TTFB99ms = percentiles(withTTFB, func(s sample) time.Duration { return s.ttfb })
	if len(byOp) > 1 {
		c.PerOp = map[string]OpStat{}
		for op, ss := range byOp {
			p50, p99 := percentiles(ss, func(s sample) time.Duration { return s.lat })
			c.PerOp[op] = OpStat{Ops: len(ss), P50ms: p50, P99ms: p99}
		}
	}
	rss := <-rssDone
	c.RSS, c.DBRSS = rss[0], rss[1]
	return c
}

func percentiles(ss []sample, f func(sample) time.Duration) (p50, p99 float64) {
	if len(ss) == 0 {
		return 0, 0
	}
	d := make([]time.Duration, len(ss))
	for i, s := range ss {
		d[i] = f(s)
	}
	slices.Sort(d)
	at := func(q float64) float64 {
		i := int(q*float64(len(d))+0.5) - 1
		i = max(0, min(i, len(d)-1))
		return float64(d[i]) / float64(time.Millisecond)
	}
	return at(0.50), at(0.99)
}

// mixedPool is the set of objects of a mixed run.
type mixedPool struct {
	mu   sync.Mutex
	keys []string
	next int
}

func (p *mixedPool) pick() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keys[mrand.IntN(len(p.keys))]
}

func (p *mixedPool) add(k string) {
	p.mu.Lock()
	p.keys = append(p.keys, k)
	p.mu.Unlock()
}

// take removes a random key for a DELETE; "" keeps the pool from draining.
func (p *mixedPool) take(minKeep int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.keys) <= minKeep {
		return ""
	}
	i := mrand.IntN(len(p.keys))
	k := p.keys[i]
	p.keys[i] = p.keys[len(p.keys)-1]
	p.keys = p.keys[:len(p.keys)-1]
	return k
}

func (p *mixedPool) newKey() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.next++
	return fmt.Sprintf("mixed/n%d", p.next)
}

func isNotFound(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NotFound")
}

// mixedOp is warp's default mix: 45 % GET, 30 % HEAD, 15 % PUT, 10 % DELETE.
func mixedOp(c *s3.Client, p *mixedPool, size int64) opFunc {
	return func(ctx context.Context, w, i int, buf []byte) (string, int64, time.Duration, error) {
		r := mrand.IntN(100)
		switch {
		case r < 45:
			n, ttfb, err := get(ctx, c, p.pick(), "", buf)
			if isNotFound(err) { // deleted under us: a miss, not a failure
				err = nil
			}
			return "GET", n, ttfb, err
		case r < 75:
			_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(p.pick())})
			if isNotFound(err) {
				err = nil
			}
			return "HEAD", 0, 0, err
		case r < 90:
			k := p.newKey()
			if err := put(ctx, c, k, size); err != nil {
				return "PUT", 0, 0, err
			}
			p.add(k)
			return "PUT", size, 0, nil
		default:
			k := p.take(50)
			if k == "" {
				return "DELETE", 0, 0, nil
			}
			_, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)})
			return "DELETE", 0, 0, err
		}
	}
}
