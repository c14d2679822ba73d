package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

// chaosS3 is the load's client: no retries (every error is counted as the
// gateway gave it), unsigned payloads and no optional checksums (the
// ledger's SHA-256 is the check), a deadline per request so a hung request
// is counted too.
func chaosS3(endpoint, ak, sk string) *s3.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 32,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return s3.New(s3.Options{
		Region:                     "us-east-1",
		BaseEndpoint:               aws.String(endpoint),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(ak, sk, ""),
		HTTPClient:                 &http.Client{Transport: tr, Timeout: chaosRequestTimeout},
		Retryer:                    aws.NopRetryer{},
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		APIOptions:                 []func(*middleware.Stack) error{v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware},
	})
}

// chaosRequestTimeout bounds one request; a request that takes longer is
// counted as a "timeout" error.
const chaosRequestTimeout = 60 * time.Second

// opEvent is one request of the load or of a probe.
type opEvent struct {
	Op         string // PUT, MPU, GET, DEL
	GW         int    // index of the gateway it went to
	Start, End time.Time
	Kind       string // "" on success, else the error's kind (errKind)
	Lie        bool   // a 200 whose body was cut short or differs from the ledger
	Detail     string // the error, for the log
}

// recorder collects the events of the chaos run.
type recorder struct {
	mu     sync.Mutex
	events []opEvent
}

func (r *recorder) add(e opEvent) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// since returns the events that started at or after t.
func (r *recorder) since(t time.Time) []opEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []opEvent
	for _, e := range r.events {
		if !e.Start.Before(t) {
			out = append(out, e)
		}
	}
	return out
}

// errKind names an error by kind: "503 SlowDown" for an S3 error answer,
// "conn refused" / "conn reset" / "conn closed" for a connection that
// failed, "timeout" for a request that took too long.
func errKind(err error) string {
	var re *awshttp.ResponseError
	// A request that got no answer is a ResponseError too, of status 0.
	if errors.As(err, &re) && re.HTTPStatusCode() != 0 {
		code := "-"
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() != "" {
			code = ae.ErrorCode()
		}
		return fmt.Sprintf("%d %s", re.HTTPStatusCode(), code)
	}
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "conn refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "conn reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		// net.ErrClosed: the client's transport closed the connection
		// under a write when the gateway's end went away.
		return "conn closed"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "other"
}

// is5xx reports whether kind is a clean S3 error answer with a 5xx status.
func is5xx(kind string) bool { return strings.HasPrefix(kind, "5") }

// isConn reports whether kind is a failed connection.
func isConn(kind string) bool { return strings.HasPrefix(kind, "conn ") }

// payload returns size deterministic pseudo-random bytes for seed.
func payload(seed uint64, size int64) []byte {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	b := make([]byte, size)
	rand.NewChaCha8(s).Read(b)
	return b
}

// loadShape bounds the chaos load: per phase, Workers workers each start
// a request every Interval at most, MaxOps requests at most; object sizes
// are 4 KiB–MaxSize, MultipartShare of the writes are multipart uploads of
// 5 MiB + up to 3 MiB. The pace keeps what a run writes (it all stays on
// the members' tmpfs stores) and what each verification reads bounded.
type loadShape struct {
	Workers        int
	Interval       time.Duration
	MaxOps         int
	MaxSize        int64
	MultipartShare float64
}

// workerState is what one worker keeps between phases: its live keys and
// the next key number. A key is written once and belongs to one worker, so
// no two requests race on a key.
type workerState struct {
	live []string
	next int
	rng  *rand.Rand
}

// runLoad runs the load until stop is closed or every worker has done its
// MaxOps; it returns when every request in flight has ended.
func (h *chaosHarness) runLoad(stop <-chan struct{}) {
	var wg sync.WaitGroup
	for w := range h.shape.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.worker(w, stop)
		}()
	}
	wg.Wait()
}

// startLoad runs the load in the background; the returned function stops it
// and waits for the requests in flight.
func (h *chaosHarness) startLoad() (stop func()) {
	ch := make(chan struct{})
	done := make(chan struct{})
	go func() { h.runLoad(ch); close(done) }()
	var once sync.Once
	return func() { once.Do(func() { close(ch) }); <-done }
}

func (h *chaosHarness) worker(w int, stop <-chan struct{}) {
	st := h.workers[w]
	gw := w % len(h.gws)
	next := time.Now()
	for range h.shape.MaxOps {
		select {
		case <-stop:
			return
		case <-time.After(time.Until(next)):
		}
		next = time.Now().Add(h.shape.Interval)
		r := st.rng.Float64()
		switch {
		case len(st.live) < 3 || r < 0.35:
			h.put(st, w, gw, st.rng.Float64() < h.shape.MultipartShare)
		case r < 0.85:
			h.get(gw, st.live[st.rng.IntN(len(st.live))])
		default:
			i := st.rng.IntN(len(st.live))
			key := st.live[i]
			st.live = append(st.live[:i], st.live[i+1:]...)
			h.del(gw, key)
		}
	}
}

// objectSize draws a size: most objects small, some medium, a few large,
// as a media store sees them.
func (h *chaosHarness) objectSize(rng *rand.Rand) int64 {
	logUniform := func(lo, hi int64) int64 {
		return int64(float64(lo) * math.Pow(float64(hi)/float64(lo), rng.Float64()))
	}
	switch r := rng.Float64(); {
	case r < 0.70:
		return logUniform(4<<10, 64<<10)
	case r < 0.95:
		return logUniform(64<<10, 1<<20)
	default:
		return logUniform(1<<20, h.shape.MaxSize)
	}
}

// put writes a new key of worker w through gateway gw and records the
// outcome in the ledger.
func (h *chaosHarness) put(st *workerState, w, gw int, multipart bool) {
	key := fmt.Sprintf("w%d/%06d", w, st.next)
	st.next++
	size := h.objectSize(st.rng)
	if multipart {
		size = 5<<20 + 4<<10 + st.rng.Int64N(3<<20)
	}
	data := payload(uint64(w)<<32|uint64(st.next), size)
	e := ledgerEntry{Key: key, Size: size, Sum: sha256.Sum256(data), Multipart: multipart}
	ev := opEvent{Op: "PUT", GW: gw, Start: time.Now()}
	var err error
	if multipart {
		ev.Op = "MPU"
		err = h.multipartPut(h.s3[gw], key, data)
	} else {
		_, err = h.s3[gw].PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(h.bucket), Key: aws.String(key),
			Body: bytes.NewReader(data), ContentLength: aws.Int64(size)})
	}
	ev.End = time.Now()
	e.At = ev.End
	if err != nil {
		ev.Kind, ev.Detail = errKind(err), err.Error()
		h.led.failedWrite(e)
	} else {
		h.led.wrote(e)
		st.live = append(st.live, key)
	}
	h.rec.add(ev)
}

// multipartPut uploads data in two parts: 5 MiB and the rest. An upload
// that fails before its completion is aborted (best effort).
func (h *chaosHarness) multipartPut(c *s3.Client, key string, data []byte) error {
	ctx := context.Background()
	cr, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(h.bucket), Key: aws.String(key)})
	if err != nil {
		return err
	}
	var parts []types.CompletedPart
	for i, chunk := range [][]byte{data[:5<<20], data[5<<20:]} {
		n := int32(i + 1)
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(h.bucket), Key: aws.String(key), UploadId: cr.UploadId,
			PartNumber: aws.Int32(n), Body: bytes.NewReader(chunk), ContentLength: aws.Int64(int64(len(chunk)))})
		if err != nil {
			c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(h.bucket), Key: aws.String(key), UploadId: cr.UploadId})
			return err
		}
		parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(n)})
	}
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(h.bucket), Key: aws.String(key),
		UploadId: cr.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	return err
}

// get reads a live key through gateway gw and checks it against the ledger.
func (h *chaosHarness) get(gw int, key string) {
	h.led.mu.Lock()
	e, ok := h.led.live[key]
	h.led.mu.Unlock()
	if !ok {
		return
	}
	ev := opEvent{Op: "GET", GW: gw, Start: time.Now()}
	ev.Kind, ev.Lie, ev.Detail = h.readCheck(h.s3[gw], e)
	ev.End = time.Now()
	h.rec.add(ev)
}

// readCheck GETs e's key and compares the body with the ledger. A 200
// whose body is cut short or differs is a lie.
func (h *chaosHarness) readCheck(c *s3.Client, e ledgerEntry) (kind string, lie bool, detail string) {
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(h.bucket), Key: aws.String(e.Key)})
	if err != nil {
		return errKind(err), false, err.Error()
	}
	defer out.Body.Close()
	sum := sha256.New()
	n, err := io.Copy(sum, out.Body)
	switch {
	case err != nil:
		return "200 then cut (" + errKind(err) + ")", true, fmt.Sprintf("%s: 200, then %d of %d bytes: %v", e.Key, n, e.Size, err)
	case n != e.Size || !bytes.Equal(sum.Sum(nil), e.Sum[:]):
		return "200 wrong bytes", true, fmt.Sprintf("%s: 200 with %d bytes (want %d) that differ from the ledger", e.Key, n, e.Size)
	}
	return "", false, ""
}

// del deletes a live key through gateway gw.
func (h *chaosHarness) del(gw int, key string) {
	ev := opEvent{Op: "DEL", GW: gw, Start: time.Now()}
	_, err := h.s3[gw].DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(h.bucket), Key: aws.String(key)})
	ev.End = time.Now()
	if err != nil {
		ev.Kind, ev.Detail = errKind(err), err.Error()
		h.led.failedRemove(key)
	} else {
		h.led.removed(key)
	}
	h.rec.add(ev)
}

// probeSeq numbers the probes' keys.
var probeSeq atomic.Int64

// probe writes a 4 KiB object through gateway gw and reads it back; the
// write joins the ledger. It reports whether both succeeded.
func (h *chaosHarness) probe(gw int) bool {
	key := fmt.Sprintf("probe/%06d", probeSeq.Add(1))
	data := payload(uint64(1)<<63|uint64(probeSeq.Load()), 4<<10)
	e := ledgerEntry{Key: key, Size: int64(len(data)), Sum: sha256.Sum256(data)}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := h.s3[gw].PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(h.bucket), Key: aws.String(key),
		Body: bytes.NewReader(data), ContentLength: aws.Int64(e.Size)})
	e.At = time.Now()
	if err != nil {
		h.led.failedWrite(e)
		return false
	}
	h.led.wrote(e)
	kind, lie, detail := h.readCheck(h.s3[gw], e)
	if lie {
		h.rec.add(opEvent{Op: "GET", GW: gw, Start: e.At, End: time.Now(), Kind: kind, Lie: true, Detail: "probe: " + detail})
	}
	return kind == ""
}
