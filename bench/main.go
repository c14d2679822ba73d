// Command bench measures TNV-S3 against MinIO and against this machine's
// limits, in one run: disk, loopback TCP and hashing limits; `tnv up`
// (SQLite), a multi-process cluster on MariaDB with mirrored and with
// single-member groups, and a single-node MinIO on the same disk, each
// driven by the same aws-sdk-go-v2 load generator. It prints one table and
// writes Markdown and JSON under bench/results/, with CPU and heap profiles
// of the gateway and a storage node under bench/results/profiles/.
//
//	go run ./bench            (or bench/run.sh)
//
// Not part of `go test ./...` or CI: it takes ~15 minutes and the machine.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/tnv-s3/tnv/internal/proctest"
)

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
}

type options struct {
	results  string
	dataDir  string
	cache    string
	minio    string
	mysql    string
	cellDur  time.Duration
	systems  string
	tnvBin   string
	diskMiB  int
	seekSize int64
	only     string
}

// selected reports whether a workload (e.g. "PUT 4KiB c=8") is to run:
// every one, or those beginning with one of -only's comma-separated prefixes.
func (o options) selected(workload string) bool {
	return o.anyOnly(func(p string) bool { return strings.HasPrefix(workload, p) })
}

// selectedGroup reports whether a group of workloads that run together
// ("MIXED", "SEEK": its cells' names begin with it) is to run: -only names
// the group, a prefix of it, or one of its cells ("SEEK 256KiB c=32").
func (o options) selectedGroup(group string) bool {
	return o.anyOnly(func(p string) bool { return strings.HasPrefix(group, p) || strings.HasPrefix(p, group+" ") })
}

// anyOnly reports whether -only is empty or one of its prefixes matches.
func (o options) anyOnly(match func(prefix string) bool) bool {
	if o.only == "" {
		return true
	}
	for _, p := range strings.Split(o.only, ",") {
		if p = strings.TrimSpace(p); p != "" && match(p) {
			return true
		}
	}
	return false
}

func main() {
	var o options
	flag.StringVar(&o.results, "results", "bench/results", "directory for the Markdown and JSON results (profiles go to its profiles/)")
	flag.StringVar(&o.dataDir, "data", "", "directory on the disk to measure; the servers' data go here (default: a fresh directory under the cache)")
	flag.StringVar(&o.cache, "cache", "", "cache directory for the MinIO binary (default $TNV_BENCH_CACHE, else $XDG_CACHE_HOME/tnv-bench or ~/.cache/tnv-bench)")
	flag.StringVar(&o.minio, "minio", "", "MinIO binary to use (default: CACHE/minio-bin/minio, built with go install github.com/minio/minio@latest when missing)")
	flag.StringVar(&o.mysql, "mysql", envOr("TNV_BENCH_MYSQL", "mysql://root@127.0.0.1:3306/mysql"), "MariaDB/MySQL server (DSN of any existing database); a fresh database is created and dropped per cluster")
	flag.DurationVar(&o.cellDur, "cell", 5*time.Second, "duration of each measured cell")
	flag.StringVar(&o.systems, "systems", "minio,up,mirror,single", "systems to run, comma-separated: minio, up, mirror, single; also mirror-tcp and mirror-tls (mirror with the gateway reading over TNV TCP, and over mutual TLS: the cost of TLS)")
	flag.StringVar(&o.tnvBin, "tnv", "", "tnv binary (default: go build ./cmd/tnv of this checkout)")
	flag.IntVar(&o.diskMiB, "disk-mib", 2048, "size of the disk bandwidth test file, MiB")
	flag.Int64Var(&o.seekSize, "seek-size", 1<<30, "size of the video-seek object, bytes")
	flag.StringVar(&o.only, "only", "", `run only the workloads beginning with one of these comma-separated prefixes, e.g. "PUT 4KiB,GET 4KiB c=32" (for quick comparisons; the full table needs every row)`)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		logf("FAILED: %v", err)
		os.Exit(1)
	}
}

func envOr(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}

func cacheDir(flagv string) (string, error) {
	if flagv != "" {
		return flagv, nil
	}
	if v := os.Getenv("TNV_BENCH_CACHE"); v != "" {
		return v, nil
	}
	if v := os.Getenv("XDG_CACHE_HOME"); v != "" {
		return filepath.Join(v, "tnv-bench"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".cache", "tnv-bench"), nil
}

func run(ctx context.Context, o options) error {
	t0 := time.Now()
	cache, err := cacheDir(o.cache)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return err
	}
	root, err := proctest.ModuleRoot()
	if err != nil {
		return fmt.Errorf("run the bench from inside the tnv module: %w", err)
	}
	work, err := os.MkdirTemp(cache, "run-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if o.dataDir == "" {
		o.dataDir = filepath.Join(work, "data")
	}
	if err := os.MkdirAll(o.dataDir, 0o755); err != nil {
		return err
	}
	logDir := filepath.Join(work, "logs")
	os.MkdirAll(logDir, 0o755)
	stamp := t0.UTC().Format("2006-01-02T1504Z")
	profDir := filepath.Join(o.results, "profiles", stamp)
	if err := os.MkdirAll(profDir, 0o755); err != nil {
		return err
	}

	if o.tnvBin == "" {
		o.tnvBin = filepath.Join(work, "tnv")
		logf("building tnv")
		cmd := exec.Command("go", "build", "-o", o.tnvBin, "./cmd/tnv")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/tnv: %v\n%s", err, out)
		}
	}
	want := map[string]bool{}
	for _, s := range strings.Split(o.systems, ",") {
		want[strings.TrimSpace(s)] = true
	}
	var minioVersion string
	if want["minio"] {
		if o.minio == "" {
			if o.minio, err = ensureMinIO(cache); err != nil {
				return err
			}
		}
		minioVersion = minioVersionOf(o.minio)
		logf("MinIO: %s (%s)", o.minio, minioVersion)
	}
	mach := describe(root, o.dataDir, minioVersion)
	logf("machine: %s, %d cores, %.1f GiB RAM, %s, kernel %s", mach.CPU, mach.Cores, mach.RAMGiB, mach.Disk, mach.Kernel)

	lim, err := measureLimits(o.dataDir, o.diskMiB, 2*time.Second)
	if err != nil {
		return err
	}

	res := &Results{Date: t0.UTC().Format(time.RFC3339), Machine: mach, Limits: lim, CellSeconds: o.cellDur.Seconds(),
		Command: "go run ./bench " + strings.Join(os.Args[1:], " ")}
	order := []string{"minio", "up", "mirror", "mirror-tcp", "mirror-tls", "single"}
	for _, key := range order {
		if !want[key] {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var sys *System
		logf("starting %s", key)
		switch key {
		case "minio":
			sys, err = startMinIO(o.minio, o.dataDir, logDir)
		case "up":
			sys, err = startUp(o.tnvBin, o.dataDir, logDir)
		case "mirror":
			sys, err = startMulti(o.tnvBin, o.dataDir, logDir, o.mysql, 2, 2, LocalReads)
		case "mirror-tcp":
			sys, err = startMulti(o.tnvBin, o.dataDir, logDir, o.mysql, 2, 2, PlainTCP)
		case "mirror-tls":
			sys, err = startMulti(o.tnvBin, o.dataDir, logDir, o.mysql, 2, 2, MutualTLS)
		case "single":
			sys, err = startMulti(o.tnvBin, o.dataDir, logDir, o.mysql, 2, 1, LocalReads)
		}
		if err != nil {
			return fmt.Errorf("%s: %w (logs in %s)", key, err, logDir)
		}
		res.Systems = append(res.Systems, *sys)
		var profile *profiler
		if key == "mirror" {
			profile = &profiler{dir: profDir, addrs: sys.pprof}
		}
		cells, err := drive(ctx, sys, o, profile)
		sys.stop()
		res.Cells = append(res.Cells, cells...)
		if err != nil {
			return fmt.Errorf("%s: %w (logs in %s)", key, err, logDir)
		}
	}
	res.Seconds = time.Since(t0).Seconds()
	res.Machine.LoadEnd = loadavg()
	md, js, err := res.write(o.results, stamp)
	if err != nil {
		return err
	}
	fmt.Println(res.text())
	logf("wrote %s and %s; profiles in %s; took %s", md, js, profDir, time.Since(t0).Round(time.Second))
	return nil
}

// ensureMinIO returns CACHE/minio-bin/minio, building it first when absent.
func ensureMinIO(cache string) (string, error) {
	bin := filepath.Join(cache, "minio-bin", "minio")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	logf("building MinIO: go install github.com/minio/minio@latest into %s (takes minutes)", filepath.Dir(bin))
	cmd := exec.Command("go", "install", "github.com/minio/minio@latest")
	cmd.Dir = cache // outside the repository: its go.mod plays no part
	cmd.Env = append(os.Environ(), "GOBIN="+filepath.Dir(bin), "GOFLAGS=-mod=mod", "GO111MODULE=on")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building MinIO: %w", err)
	}
	return bin, nil
}

// minioVersionOf is `minio --version` and, for a go-install build (which
// reports DEVELOPMENT), the module version from `go version -m`.
func minioVersionOf(bin string) string {
	var parts []string
	if out, err := exec.Command(bin, "--version").Output(); err == nil {
		parts = append(parts, strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0]))
	}
	if out, err := exec.Command("go", "version", "-m", bin).Output(); err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			f := strings.Fields(l)
			if len(f) >= 3 && f[0] == "mod" && f[1] == "github.com/minio/minio" {
				parts = append(parts, "module "+f[2])
			}
		}
	}
	return strings.Join(parts, "; ")
}

// profiler collects CPU and heap profiles of a cluster's processes.
type profiler struct {
	dir   string
	addrs map[string]string
}

// cpu starts a CPU profile of seconds on every process; wait saves them
// and a heap profile each.
func (p *profiler) cpu(phase string, seconds int) (wait func()) {
	if p == nil || seconds == 0 {
		return func() {}
	}
	done := make(chan struct{}, len(p.addrs))
	for role, addr := range p.addrs {
		go func() {
			defer func() { done <- struct{}{} }()
			fetch(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, seconds),
				filepath.Join(p.dir, fmt.Sprintf("%s-%s-cpu.pprof", role, phase)))
		}()
	}
	return func() {
		for range p.addrs {
			<-done
		}
		for role, addr := range p.addrs {
			fetch("http://"+addr+"/debug/pprof/heap", filepath.Join(p.dir, fmt.Sprintf("%s-%s-heap.pprof", role, phase)))
		}
	}
}

func fetch(url, path string) {
	r, err := http.Get(url)
	if err != nil {
		logf("pprof: %v", err)
		return
	}
	defer r.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		logf("pprof: %v", err)
		return
	}
	defer f.Close()
	io.Copy(f, r.Body)
}

var (
	sizes = []struct {
		label string
		n     int64
		keys  int // objects prepared for the GET runs
	}{{"4KiB", 4 << 10, 256}, {"1MiB", 1 << 20, 64}, {"64MiB", 64 << 20, 4}}
	concs = []int{1, 8, 32}
)

// sweepOf counts the selected PUT and GET cells whose workload begins
// with prefix ("PUT", "GET 4KiB ").
func sweepOf(o options, prefix string) int {
	n := 0
	for _, op := range []string{"PUT", "GET"} {
		for _, sz := range sizes {
			for _, conc := range concs {
				w := fmt.Sprintf("%s %s c=%d", op, sz.label, conc)
				if strings.HasPrefix(w, prefix) && o.selected(w) {
					n++
				}
			}
		}
	}
	return n
}

// drive runs every workload on one system.
func drive(ctx context.Context, sys *System, o options, prof *profiler) ([]Cell, error) {
	c := newS3(sys.Endpoint, sys.AK, sys.SK)
	var cells []Cell
	add := func(cell Cell, workload, op string, size int64) {
		cell.System, cell.Workload, cell.Op, cell.Size = sys.Key, workload, op, size
		cells = append(cells, cell)
		extra := ""
		if cell.TTFB99ms > 0 {
			extra = fmt.Sprintf(" ttfb p50 %.1f p99 %.1f ms", cell.TTFB50ms, cell.TTFB99ms)
		}
		if cell.Errors > 0 {
			extra += fmt.Sprintf(" ERRORS %d (%s)", cell.Errors, cell.FirstErr)
		}
		logf("%-7s %-22s %8.1f MiB/s %8.1f op/s  p50 %7.1f p99 %7.1f ms  rss %.0f MiB%s",
			sys.Key, workload, cell.MiBs, cell.OpsPerSec, cell.P50ms, cell.P99ms, cell.PeakRSS, extra)
	}
	// A phase's profile spans its cells: each the duration plus the tail of
	// operations in flight.
	sweep := func(op string) int { return int((o.cellDur.Seconds() + 2) * float64(sweepOf(o, op))) }

	// PUT
	wait := prof.cpu("put", sweep("PUT"))
	for _, sz := range sizes {
		for _, conc := range concs {
			workload := fmt.Sprintf("PUT %s c=%d", sz.label, conc)
			if !o.selected(workload) {
				continue
			}
			keys := max(1, sz.keys/conc)
			cell := runCell(ctx, o.cellDur, conc, sys.rssPID, func(ctx context.Context, w, i int, buf []byte) (string, int64, time.Duration, error) {
				err := put(ctx, c, fmt.Sprintf("put-%s/w%d/%d", sz.label, w, i%keys), sz.n)
				if err != nil {
					return "PUT", 0, 0, err
				}
				return "PUT", sz.n, 0, nil
			})
			add(cell, workload, "PUT", sz.n)
		}
	}
	wait()
	if ctx.Err() != nil {
		return cells, ctx.Err()
	}

	// GET: objects prepared first, outside the measurement.
	for _, sz := range sizes {
		if sweepOf(o, "GET "+sz.label+" ") == 0 {
			continue
		}
		for k := range sz.keys {
			if err := put(ctx, c, fmt.Sprintf("get-%s/%d", sz.label, k), sz.n); err != nil {
				return cells, fmt.Errorf("preparing GET objects: %w", err)
			}
		}
	}
	wait = prof.cpu("get", sweep("GET"))
	for _, sz := range sizes {
		for _, conc := range concs {
			workload := fmt.Sprintf("GET %s c=%d", sz.label, conc)
			if !o.selected(workload) {
				continue
			}
			cell := runCell(ctx, o.cellDur, conc, sys.rssPID, func(ctx context.Context, w, i int, buf []byte) (string, int64, time.Duration, error) {
				k := fmt.Sprintf("get-%s/%d", sz.label, (w*7+i)%sz.keys)
				n, ttfb, err := get(ctx, c, k, "", buf)
				return "GET", n, ttfb, err
			})
			add(cell, workload, "GET", sz.n)
		}
	}
	wait()
	if ctx.Err() != nil {
		return cells, ctx.Err()
	}

	if o.selectedGroup("MIXED") {
		if err := mixed(ctx, c, sys, o, add); err != nil {
			return cells, err
		}
	}
	if o.selectedGroup("SEEK") {
		if err := seek(ctx, c, sys, o, add); err != nil {
			return cells, err
		}
	}
	return cells, nil
}

// mixed runs warp's default shares on 1 MiB objects.
func mixed(ctx context.Context, c *s3.Client, sys *System, o options, add func(Cell, string, string, int64)) error {
	const mixedSize = 1 << 20
	pool := &mixedPool{}
	for k := range 100 {
		key := fmt.Sprintf("mixed/p%d", k)
		if err := put(ctx, c, key, mixedSize); err != nil {
			return fmt.Errorf("preparing mixed objects: %w", err)
		}
		pool.add(key)
	}
	cell := runCell(ctx, o.cellDur*2, 16, sys.rssPID, mixedOp(c, pool, mixedSize))
	add(cell, "MIXED 1MiB c=16", "MIXED", mixedSize)
	return nil
}

// seek reads random 256 KiB ranges of a 1 GiB object, as a video player
// seeking does.
func seek(ctx context.Context, c *s3.Client, sys *System, o options, add func(Cell, string, string, int64)) error {
	if err := put(ctx, c, "seek/video", o.seekSize); err != nil {
		return fmt.Errorf("uploading the seek object: %w", err)
	}
	// First cold (just uploaded: whatever the server left in the page
	// cache), then warm, after one whole read, as a watched video is.
	const rangeSize = 256 << 10
	op := func(ctx context.Context, w, i int, buf []byte) (string, int64, time.Duration, error) {
		off := randInt63n(o.seekSize - rangeSize)
		n, ttfb, err := get(ctx, c, "seek/video", fmt.Sprintf("bytes=%d-%d", off, off+rangeSize-1), buf)
		return "GET", n, ttfb, err
	}
	add(runCell(ctx, o.cellDur, 32, sys.rssPID, op), "SEEK cold 256KiB c=32", "SEEK", rangeSize)
	for range 2 { // both mirrors may serve
		if _, _, err := get(ctx, c, "seek/video", "", make([]byte, 256<<10)); err != nil {
			return fmt.Errorf("reading the seek object: %w", err)
		}
	}
	for _, conc := range []int{32, 1} {
		add(runCell(ctx, o.cellDur, conc, sys.rssPID, op), fmt.Sprintf("SEEK 256KiB c=%d", conc), "SEEK", rangeSize)
	}
	return nil
}
