package main

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// The SSE cells (-sse, or -only SSE…): what server-side encryption costs
// on 64 MiB PUT and GET and on 256 KiB seeks, each plain, SSE-S3 and
// SSE-C, run one mode after the other so that the SSE cost table can put
// each encrypted run over the plain run of the same system and repetition.

// sseMode is how an SSE cell's requests ask for encryption.
type sseMode string

const (
	ssePlain sseMode = "plain"
	sseS3    sseMode = "SSE-S3"
	sseC     sseMode = "SSE-C"
)

var sseModes = []sseMode{ssePlain, sseS3, sseC}

// sseWorkloads are the SSE cells' workloads, without their mode.
var sseWorkloads = []struct {
	base string // "GET 64MiB c=1": the cost table's row
	op   string
	size int64 // bytes per operation
	conc int
}{
	{"PUT 64MiB c=1", "PUT", 64 << 20, 1},
	{"GET 64MiB c=1", "GET", 64 << 20, 1},
	{"SEEK 256KiB c=8", "GET", 256 << 10, 8},
}

// sseObjectSize is the size of the objects the GET and SEEK cells read.
const sseObjectSize = 64 << 20

// sseWorkload is the name of an SSE cell: "SSE GET 64MiB c=1 SSE-C".
func sseWorkload(base string, m sseMode) string { return "SSE " + base + " " + string(m) }

// sseCustomerKey is the SSE-C key of this bench run (random: the key is the
// client's, and no server keeps it).
var sseCustomerKey = func() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}()

// ssecHeaders are the three x-amz-server-side-encryption-customer-*
// values for a key: the algorithm, the key and its MD5, both base64.
func ssecHeaders(key []byte) (alg, keyB64, keyMD5 string) {
	sum := md5.Sum(key)
	return "AES256", base64.StdEncoding.EncodeToString(key), base64.StdEncoding.EncodeToString(sum[:])
}

// onPut sets a PUT's encryption headers: x-amz-server-side-encryption:
// AES256 for SSE-S3, the customer key's three for SSE-C.
func (m sseMode) onPut(key []byte) func(*s3.PutObjectInput) {
	return func(in *s3.PutObjectInput) {
		switch m {
		case sseS3:
			in.ServerSideEncryption = types.ServerSideEncryptionAes256
		case sseC:
			alg, k, sum := ssecHeaders(key)
			in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = aws.String(alg), aws.String(k), aws.String(sum)
		}
	}
}

// onGet sets a GET's: the customer key for SSE-C; nothing for SSE-S3 (the
// server decrypts by itself) or plain.
func (m sseMode) onGet(key []byte) func(*s3.GetObjectInput) {
	return func(in *s3.GetObjectInput) {
		if m == sseC {
			alg, k, sum := ssecHeaders(key)
			in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = aws.String(alg), aws.String(k), aws.String(sum)
		}
	}
}

// runsSSE reports whether an SSE cell is to run: all of them with -sse,
// those -only names otherwise; never in the default set or with -all (they
// would lengthen the default run).
func (o options) runsSSE(workload string) bool {
	return o.sse || (o.only != "" && o.selected(workload))
}

// anySSE reports whether any SSE cell is to run.
func (o options) anySSE() bool {
	for _, w := range sseWorkloads {
		for _, m := range sseModes {
			if o.runsSSE(sseWorkload(w.base, m)) {
				return true
			}
		}
	}
	return false
}

// writeMasterKey writes a random SSE-S3 master key for a gateway's
// --kms-key-file: 64 hex digits, mode 0600 (the gateway refuses a file
// others may read).
func writeMasterKey(path string) error {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(hex.EncodeToString(k)+"\n"), 0o600)
}

// sseProbe tries a mode with a 1 KiB PUT and GET. A system of ours must
// take every mode (its gateway has a master key); MinIO may refuse one
// (SSE-C over plain HTTP, SSE-S3 without a KMS): its answer is recorded in
// sys.SSERefused and the mode's cells are left out.
func sseProbe(ctx context.Context, c *s3.Client, sys *System, m sseMode) (bool, error) {
	k := "sse-probe/" + string(m)
	err := putWith(ctx, c, k, 1024, m.onPut(sseCustomerKey))
	if err == nil {
		_, _, err = getWith(ctx, c, k, "", make([]byte, 4096), m.onGet(sseCustomerKey))
	}
	if err == nil {
		return true, nil
	}
	var ae smithy.APIError
	if sys.Key == "minio" && errors.As(err, &ae) {
		if sys.SSERefused == nil {
			sys.SSERefused = map[string]string{}
		}
		sys.SSERefused[string(m)] = fmt.Sprintf("%s: %s", ae.ErrorCode(), ae.ErrorMessage())
		logf("%s refuses %s: %s", sys.Key, m, sys.SSERefused[string(m)])
		return false, nil
	}
	return false, fmt.Errorf("%s probe: %w", m, err)
}

// sseCells runs the SSE cells that o selects on one system.
func sseCells(ctx context.Context, c *s3.Client, sys *System, o options, withPhases func(func() Run) Run, add func(Run, string, string, int64)) error {
	if !o.anySSE() {
		return nil
	}
	var modes []sseMode
	for _, m := range sseModes {
		ok, err := sseProbe(ctx, c, sys, m)
		if err != nil {
			return err
		}
		if ok {
			modes = append(modes, m)
		}
	}
	// The objects the GET and SEEK cells read, one per mode, read whole
	// twice (both mirrors may serve) so that every mode starts warm.
	reads := false
	for _, w := range sseWorkloads[1:] {
		for _, m := range modes {
			reads = reads || o.runsSSE(sseWorkload(w.base, m))
		}
	}
	if reads {
		for _, m := range modes {
			k := "sse-read/" + string(m)
			if err := putWith(ctx, c, k, sseObjectSize, m.onPut(sseCustomerKey)); err != nil {
				return fmt.Errorf("preparing the %s object: %w", m, err)
			}
			for range 2 {
				if _, _, err := getWith(ctx, c, k, "", make([]byte, 256<<10), m.onGet(sseCustomerKey)); err != nil {
					return fmt.Errorf("reading the %s object: %w", m, err)
				}
			}
		}
	}
	for _, w := range sseWorkloads {
		for _, m := range modes {
			name := sseWorkload(w.base, m)
			if !o.runsSSE(name) {
				continue
			}
			var op opFunc
			switch {
			case w.op == "PUT":
				op = func(ctx context.Context, wk, i int, buf []byte) (string, int64, time.Duration, error) {
					if err := putWith(ctx, c, fmt.Sprintf("sse-put/%s/w%d/%d", m, wk, i), w.size, m.onPut(sseCustomerKey)); err != nil {
						return "PUT", 0, 0, err
					}
					return "PUT", w.size, 0, nil
				}
			case w.size == sseObjectSize:
				op = func(ctx context.Context, wk, i int, buf []byte) (string, int64, time.Duration, error) {
					n, ttfb, err := getWith(ctx, c, "sse-read/"+string(m), "", buf, m.onGet(sseCustomerKey))
					return "GET", n, ttfb, err
				}
			default: // a seek: a random range of the object
				op = func(ctx context.Context, wk, i int, buf []byte) (string, int64, time.Duration, error) {
					off := randInt63n(sseObjectSize - w.size)
					n, ttfb, err := getWith(ctx, c, "sse-read/"+string(m), fmt.Sprintf("bytes=%d-%d", off, off+w.size-1), buf, m.onGet(sseCustomerKey))
					return "GET", n, ttfb, err
				}
			}
			r := withPhases(func() Run {
				r := runCell(ctx, o.cellDur, w.conc, sys.mem, op)
				r.Op = w.op
				return r
			})
			add(r, name, w.op, w.size)
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	return nil
}

// sseRatio is an encrypted run's throughput over the plain run's (< 1:
// encryption costs); NaN (left out of the spread) without a plain figure.
func sseRatio(enc, plain Run) float64 {
	if plain.MiBs == 0 {
		return math.NaN()
	}
	return enc.MiBs / plain.MiBs
}

// sseCost is the SSE cost table: per system and SSE workload, the plain
// figure, each encrypted mode's figure and its ratio to plain (the median
// of the per-repetition ratios, [lowest–highest]), and the p50 latencies.
// nil when no SSE cell ran.
func (r *Results) sseCost() [][]string {
	rows := [][]string{{"system", "workload", "plain", "SSE-S3", "SSE-S3 ÷ plain", "SSE-C", "SSE-C ÷ plain", "p50 ms plain / SSE-S3 / SSE-C"}}
	for _, k := range append(append([]string{}, ours...), "minio") {
		for _, w := range sseWorkloads {
			plain, ok := r.cell(k, sseWorkload(w.base, ssePlain))
			if !ok {
				continue
			}
			row := []string{k, w.base, headline(plain)}
			lat := []string{fmt.Sprintf("%.1f", plain.P50ms)}
			for _, m := range []sseMode{sseS3, sseC} {
				enc, ok := r.cell(k, sseWorkload(w.base, m))
				if !ok {
					why := "–"
					if s, _ := r.system(k); s.SSERefused[string(m)] != "" {
						why = "refused"
					}
					row = append(row, why, "–")
					lat = append(lat, "–")
					continue
				}
				sp := ratios(enc, plain, sseRatio)
				x := fmt.Sprintf("%.2f×", sp.Median)
				if len(enc.Runs) > 1 {
					x = fmt.Sprintf("%.2f× [%.2f–%.2f]", sp.Median, sp.Min, sp.Max)
				}
				row = append(row, headline(enc), x)
				lat = append(lat, fmt.Sprintf("%.1f", enc.P50ms))
			}
			rows = append(rows, append(row, strings.Join(lat, " / ")))
		}
	}
	if len(rows) == 1 {
		return nil
	}
	return rows
}

// sseRefusedText lists the modes a system refused, with its answer.
func (r *Results) sseRefusedText() string {
	var parts []string
	for _, s := range r.Systems {
		for _, m := range sseModes {
			if why := s.SSERefused[string(m)]; why != "" {
				parts = append(parts, fmt.Sprintf("%s refused %s (%s)", s.Key, m, why))
			}
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "Left out: " + strings.Join(parts, "; ") + "."
}
