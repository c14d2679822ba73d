// Command bench measures TNV-S3 against MinIO and against this machine's
// limits, in one run: disk, loopback TCP and hashing limits; `tnv up`
// (SQLite), multi-process clusters on MariaDB (2 × 2 mirrored with the
// gateway reading its nodes' files through their local sockets, the same
// with every byte over TNV TCP, 2 × 1 single), and a single-node MinIO on
// the same disk, each driven by the same aws-sdk-go-v2 load generator,
// several repetitions with the systems' order rotated. It prints the tables
// and writes Markdown and JSON under bench/results/ (bench/README.md).
//
//	bench/run.sh            (= go run ./bench)
//
// Not part of `go test ./...` or CI: it takes ~20 minutes and the machine.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/tnv-s3/tnv/internal/proctest"
)

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
}

// minioVersion is the MinIO the bench compares against: the module
// version the Go module proxy serves (MinIO tags no Go module versions;
// this is @latest as of 2026-11), pinned so that runs compare the same
// MinIO.
const minioVersion = "v0.0.0-20260212201848-7aac2a2c5b7c"

type options struct {
	results  string
	dataDir  string
	cache    string
	minio    string
	minioVer string
	mysql    string
	cellDur  time.Duration
	reps     int
	systems  string
	tnvBin   string
	diskMiB  int
	seekSize int64
	only     string
	all      bool
	sse      bool
	profile  bool
	keepLogs bool
	cooldown time.Duration
}

// systemKeys are the systems the bench knows, in their default order.
var systemKeys = []string{"up", "mirror", "mirror-tcp", "single", "minio", "mirror-tls"}

// runs reports whether a workload (e.g. "PUT 4KiB c=8") is to run: with
// -only, those beginning with one of its prefixes; else the default set
// (everything but PUT 64MiB, MIXED and SEEK), or every one with -all.
func (o options) runs(workload string) bool {
	if o.only != "" {
		return o.selected(workload)
	}
	return o.all || !strings.HasPrefix(workload, "PUT 64MiB")
}

// runsGroup is runs for a group of workloads that run together ("MIXED",
// "SEEK": its cells' names begin with it); not in the default set.
func (o options) runsGroup(group string) bool {
	if o.only != "" {
		return o.selectedGroup(group)
	}
	return o.all
}

// selected reports whether a workload matches one of -only's comma-separated prefixes.
func (o options) selected(workload string) bool {
	return o.anyOnly(func(p string) bool { return strings.HasPrefix(workload, p) })
}

// selectedGroup reports whether -only names the group, a prefix of it, or
// one of its cells ("SEEK 256KiB c=32").
func (o options) selectedGroup(group string) bool {
	return o.anyOnly(func(p string) bool { return strings.HasPrefix(group, p) || strings.HasPrefix(p, group+" ") })
}

// anyOnly reports whether one of -only's prefixes matches.
func (o options) anyOnly(match func(prefix string) bool) bool {
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
	flag.StringVar(&o.minio, "minio", "", "MinIO binary to use (default: CACHE/minio-VERSION/minio, built with go install github.com/minio/minio@VERSION when missing)")
	flag.StringVar(&o.minioVer, "minio-version", minioVersion, "module version of github.com/minio/minio to build (go list -m -versions github.com/minio/minio)")
	flag.StringVar(&o.mysql, "mysql", envOr("TNV_BENCH_MYSQL", "mysql://root@127.0.0.1:3306/mysql"), "MariaDB/MySQL server (DSN of any existing database); a fresh database is created and dropped per cluster")
	flag.DurationVar(&o.cellDur, "cell", 3*time.Second, "duration of each measured cell")
	flag.IntVar(&o.reps, "reps", 3, "repetitions: each starts every system afresh, in an order rotated by one each time; figures are the medians")
	flag.StringVar(&o.systems, "systems", "up,mirror,mirror-tcp,single,minio", "systems to run, comma-separated, in the first repetition's order: up, mirror (2x2, gateway reads through the nodes' local sockets), mirror-tcp (2x2, every byte over TNV TCP), single (2x1), minio; also mirror-tls (mirror-tcp on mutual TLS)")
	flag.StringVar(&o.tnvBin, "tnv", "", "tnv binary (default: go build ./cmd/tnv of this checkout)")
	flag.IntVar(&o.diskMiB, "disk-mib", 2048, "size of the disk bandwidth test file, MiB")
	flag.Int64Var(&o.seekSize, "seek-size", 1<<30, "size of the video-seek object, bytes")
	flag.StringVar(&o.only, "only", "", `run only the workloads beginning with one of these comma-separated prefixes, e.g. "PUT 4KiB,GET 4KiB c=32,OVERWRITE" (any workload, -all's and -sse's too: "SSE", "SSE GET")`)
	flag.BoolVar(&o.all, "all", false, "also PUT 64MiB, the mixed run and the video seeks (not in the default set)")
	flag.BoolVar(&o.sse, "sse", false, `also the SSE cells: PUT 64MiB, GET 64MiB and 256 KiB seeks, each plain, SSE-S3 and SSE-C, and the SSE cost table (not in the default set nor in -all; -only "SSE" runs just them)`)
	flag.BoolVar(&o.profile, "profile", false, "CPU and heap profiles of the gateway and a storage node of mirror and of mirror-tcp, and of tnv up's one process, in the first repetition, each system in a folder of its own (this perturbs that repetition's figures)")
	flag.DurationVar(&o.cooldown, "cooldown", 0, "also wait this long after the disk is quiet before each system (after a sync: ext4 without a journal skips inodes freed in the last 60 s when it allocates, see bench/settle.go)")
	flag.BoolVar(&o.keepLogs, "keep-logs", false, "keep the servers' logs (CACHE/run-*/logs) after a successful run too (a failed run always keeps them)")
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

// parseSystems checks -systems.
func parseSystems(v string) ([]string, error) {
	var out []string
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !slices.Contains(systemKeys, s) {
			return nil, fmt.Errorf("-systems: unknown system %q (known: %s)", s, strings.Join(systemKeys, ", "))
		}
		if slices.Contains(out, s) {
			return nil, fmt.Errorf("-systems: %q twice", s)
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-systems: none")
	}
	return out, nil
}

func run(ctx context.Context, o options) error {
	t0 := time.Now()
	if o.reps < 1 {
		return fmt.Errorf("-reps %d: at least 1", o.reps)
	}
	systems, err := parseSystems(o.systems)
	if err != nil {
		return err
	}
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
	failed := true
	defer func() {
		if failed || o.keepLogs { // the servers' logs stay for a look; their data go
			os.RemoveAll(filepath.Join(work, "data"))
			os.Remove(filepath.Join(work, "tnv"))
			return
		}
		os.RemoveAll(work)
	}()
	if o.dataDir == "" {
		o.dataDir = filepath.Join(work, "data")
	}
	if err := os.MkdirAll(o.dataDir, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(filepath.Join(o.dataDir, retired)) // the systems' data, moved aside (retire)
	logDir := filepath.Join(work, "logs")
	os.MkdirAll(logDir, 0o755)
	stamp := t0.UTC().Format("2006-01-02T1504Z")
	profDir := filepath.Join(o.results, "profiles", stamp)
	if o.profile {
		if err := os.MkdirAll(profDir, 0o755); err != nil {
			return err
		}
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
	var minioDesc string
	if slices.Contains(systems, "minio") {
		if o.minio == "" {
			if o.minio, err = ensureMinIO(cache, o.minioVer); err != nil {
				return err
			}
		}
		minioDesc = minioVersionOf(o.minio)
		logf("MinIO: %s (%s)", o.minio, minioDesc)
	}
	mach := describe(root, o.dataDir, minioDesc)
	logf("machine: %s, %d cores, %.1f GiB RAM, %s, kernel %s", mach.CPU, mach.Cores, mach.RAMGiB, mach.Disk, mach.Kernel)

	lim, err := measureLimits(o.dataDir, o.diskMiB, 2*time.Second)
	if err != nil {
		return err
	}

	res := &Results{Date: t0.UTC().Format(time.RFC3339), Machine: mach, Limits: lim, CellSeconds: o.cellDur.Seconds(),
		Repetitions: o.reps, Command: "bench/run.sh " + strings.Join(os.Args[1:], " ")}
	var runs []Run
	for rep := range o.reps {
		order := repOrder(systems, rep)
		res.Orders = append(res.Orders, order)
		logf("repetition %d of %d: %s", rep+1, o.reps, strings.Join(order, " "))
		for pos, key := range order {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			waited := settle(mach.dev)
			if o.cooldown > 0 {
				time.Sleep(o.cooldown)
				waited += o.cooldown
			}
			md5s, fsyncMs := checkMachine(o.dataDir)
			res.Checks = append(res.Checks, Check{Rep: rep + 1, Position: pos + 1, System: key, MD5MiBs: md5s, FsyncMs: fsyncMs, SettledS: waited.Seconds()})
			logf("starting %s (the disk quiet after %s; MD5 %.0f MiB/s, 4 KiB write+fdatasync %.2f ms)", key, waited.Round(100*time.Millisecond), md5s, fsyncMs)
			sys, err := startSystem(key, o, logDir)
			if err != nil {
				return fmt.Errorf("%s: %w (logs in %s)", key, err, logDir)
			}
			sys.findProcesses()
			var profile *profiler
			if o.profile && (key == "mirror" || key == "mirror-tcp" || key == "up") && rep == 0 {
				profile = &profiler{dir: filepath.Join(profDir, key), addrs: sys.pprof}
				if err := os.MkdirAll(profile.dir, 0o755); err != nil {
					return err
				}
			}
			got, err := drive(ctx, sys, o, rep+1, pos+1, profile)
			sys.stop()
			if _, ok := res.system(key); !ok { // after drive: it notes the SSE modes MinIO refuses
				res.Systems = append(res.Systems, *sys)
			}
			runs = append(runs, got...)
			if err != nil {
				return fmt.Errorf("%s: %w (logs in %s)", key, err, logDir)
			}
		}
	}
	res.Cells = aggregate(runs)
	res.Seconds = time.Since(t0).Seconds()
	res.Machine.LoadEnd = loadavg()
	md, js, err := res.write(o.results, stamp)
	if err != nil {
		return err
	}
	fmt.Println(res.text())
	logf("wrote %s and %s; took %s", md, js, time.Since(t0).Round(time.Second))
	failed = false
	if o.keepLogs {
		logf("servers' logs in %s", logDir)
	}
	return nil
}

// startSystem starts one system afresh (its own data directory, its own
// database).
func startSystem(key string, o options, logDir string) (*System, error) {
	switch key {
	case "minio":
		return startMinIO(o.minio, o.dataDir, logDir)
	case "up":
		return startUp(o.tnvBin, o.dataDir, logDir)
	case "mirror":
		return startMulti(o.tnvBin, o.dataDir, logDir, o.mysql, 2, 2, LocalReads)
	case "mirror-tcp":
		return startMulti(o.tnvBin, o.dataDir, logDir, o.mysql, 2, 2, PlainTCP)
	case "mirror-tls":
		return startMulti(o.tnvBin, o.dataDir, logDir, o.mysql, 2, 2, MutualTLS)
	case "single":
		return startMulti(o.tnvBin, o.dataDir, logDir, o.mysql, 2, 1, LocalReads)
	}
	return nil, fmt.Errorf("unknown system %q", key)
}

// ensureMinIO returns CACHE/minio-VERSION/minio, building it first when
// absent: a cached binary serves every later run.
func ensureMinIO(cache, version string) (string, error) {
	bin := filepath.Join(cache, "minio-"+version, "minio")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	logf("building MinIO: go install github.com/minio/minio@%s into %s (takes minutes)", version, filepath.Dir(bin))
	cmd := exec.Command("go", "install", "github.com/minio/minio@"+version)
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

// overwrite is the overwrite cell: 4 KiB PUTs over existing keys, each
// worker cycling over owKeys of its own.
const (
	owWorkload = "OVERWRITE 4KiB c=8"
	owConc     = 8
	owKeys     = 8
	owSize     = 4 << 10
	// gcWait bounds how long an overwrite cell waits for the collector.
	gcWait = 2 * time.Minute
)

// sweepOf counts the PUT and GET cells to run whose workload begins with
// prefix ("PUT", "GET 4KiB ").
func sweepOf(o options, prefix string) int {
	n := 0
	for _, op := range []string{"PUT", "GET"} {
		for _, sz := range sizes {
			for _, conc := range concs {
				w := fmt.Sprintf("%s %s c=%d", op, sz.label, conc)
				if strings.HasPrefix(w, prefix) && o.runs(w) {
					n++
				}
			}
		}
	}
	return n
}

// gcDone is how many blobs a system's collector has worked off (deleted,
// or found gone) so far.
func gcDone(sys *System) (float64, error) {
	sc, err := scrapeAll(sys.metrics)
	if err != nil {
		return 0, err
	}
	return sc.counter("tnv_s3_gc_blobs_total", "result=deleted") + sc.counter("tnv_s3_gc_blobs_total", "result=gone"), nil
}

// drive runs every workload on one system, in repetition rep, where the
// system runs at position pos.
func drive(ctx context.Context, sys *System, o options, rep, pos int, prof *profiler) ([]Run, error) {
	c := newS3(sys.Endpoint, sys.AK, sys.SK)
	var runs []Run
	add := func(r Run, workload, op string, size int64) {
		r.System, r.Workload, r.Op, r.Size, r.Rep, r.Position = sys.Key, workload, op, size, rep, pos
		runs = append(runs, r)
		extra := ""
		if r.TTFB99ms > 0 {
			extra = fmt.Sprintf(" ttfb p50 %.1f p99 %.1f ms", r.TTFB50ms, r.TTFB99ms)
		}
		if r.GCDrainS > 0 {
			extra += fmt.Sprintf(" (collection of %d blobs finished %.2f s after the last PUT)", r.GCCollected, r.GCDrainS)
		}
		if r.Errors > 0 {
			extra += fmt.Sprintf(" ERRORS %d (%s)", r.Errors, r.FirstErr)
		}
		logf("%-10s %-22s %8.1f MiB/s %8.1f op/s  p50 %7.1f p99 %7.1f ms  rss %.0f MiB%s",
			sys.Key, workload, r.MiBs, r.OpsPerSec, r.P50ms, r.P99ms, r.RSS, extra)
	}
	// withPhases runs a cell between two readings of the system's
	// metrics: the phases of its PUTs, the nodes' reads for its GETs.
	withPhases := func(cell func() Run) Run {
		if len(sys.metrics) == 0 {
			return cell()
		}
		before, err := scrapeAll(sys.metrics)
		r := cell()
		if err != nil {
			logf("%s: metrics: %v", sys.Key, err)
			return r
		}
		after, err := scrapeAll(sys.metrics)
		if err != nil {
			logf("%s: metrics: %v", sys.Key, err)
			return r
		}
		if r.Op == "GET" {
			r.NodeReads = nodeReads(before, after)
		} else {
			r.Phases = phasesBetween(before, after)
		}
		return r
	}
	// A phase's profile spans its cells: each the duration plus the tail of
	// operations in flight.
	sweep := func(op string) int { return int((o.cellDur.Seconds() + 2) * float64(sweepOf(o, op))) }

	// PUT: every key fresh, so that nothing is replaced.
	wait := prof.cpu("put", sweep("PUT"))
	for _, sz := range sizes {
		for _, conc := range concs {
			workload := fmt.Sprintf("PUT %s c=%d", sz.label, conc)
			if !o.runs(workload) {
				continue
			}
			r := withPhases(func() Run {
				return runCell(ctx, o.cellDur, conc, sys.mem, func(ctx context.Context, w, i int, buf []byte) (string, int64, time.Duration, error) {
					if err := put(ctx, c, fmt.Sprintf("put-%s-c%d/w%d/%d", sz.label, conc, w, i), sz.n); err != nil {
						return "PUT", 0, 0, err
					}
					return "PUT", sz.n, 0, nil
				})
			})
			add(r, workload, "PUT", sz.n)
		}
	}
	wait()
	if ctx.Err() != nil {
		return runs, ctx.Err()
	}

	// OVERWRITE: every PUT replaces an object; the cell lasts until the
	// collector has deleted every blob it replaced.
	if o.runs(owWorkload) {
		r, err := overwriteCell(ctx, c, sys, o, withPhases)
		if err != nil {
			return runs, err
		}
		add(r, owWorkload, "PUT", owSize)
	}

	// GET: objects prepared first, outside the measurement.
	for _, sz := range sizes {
		if sweepOf(o, "GET "+sz.label+" ") == 0 {
			continue
		}
		keys := make([]string, sz.keys)
		for k := range keys {
			keys[k] = fmt.Sprintf("get-%s/%d", sz.label, k)
		}
		if err := putMany(ctx, c, keys, sz.n); err != nil {
			return runs, fmt.Errorf("preparing GET objects: %w", err)
		}
	}
	wait = prof.cpu("get", sweep("GET"))
	for _, sz := range sizes {
		for _, conc := range concs {
			workload := fmt.Sprintf("GET %s c=%d", sz.label, conc)
			if !o.runs(workload) {
				continue
			}
			r := withPhases(func() Run {
				r := runCell(ctx, o.cellDur, conc, sys.mem, func(ctx context.Context, w, i int, buf []byte) (string, int64, time.Duration, error) {
					k := fmt.Sprintf("get-%s/%d", sz.label, (w*7+i)%sz.keys)
					n, ttfb, err := get(ctx, c, k, "", buf)
					return "GET", n, ttfb, err
				})
				r.Op = "GET"
				return r
			})
			add(r, workload, "GET", sz.n)
		}
	}
	wait()
	if ctx.Err() != nil {
		return runs, ctx.Err()
	}

	if o.runsGroup("MIXED") {
		if err := mixed(ctx, c, sys, o, add); err != nil {
			return runs, err
		}
	}
	if o.runsGroup("SEEK") {
		if err := seek(ctx, c, sys, o, add); err != nil {
			return runs, err
		}
	}
	if err := sseCells(ctx, c, sys, o, withPhases, add); err != nil {
		return runs, fmt.Errorf("SSE: %w", err)
	}
	return runs, nil
}

// putMany uploads keys, 8 at a time (objects prepared outside a cell).
func putMany(ctx context.Context, c *s3.Client, keys []string, size int64) error {
	sem := make(chan struct{}, 8)
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	for i, k := range keys {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			for try := range 3 { // preparation, not measurement: a failure is retried
				if errs[i] = put(ctx, c, k, size); errs[i] == nil || ctx.Err() != nil {
					return
				}
				logf("preparing %s (try %d of 3): %v", k, try+1, errs[i])
				time.Sleep(time.Second)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// overwriteCell runs the overwrite cell. Its keys exist before it starts,
// so each PUT releases one blob (4 KiB: one blob per object), and the
// gateway, started with gcArgs, collects each at once; the cell's time
// runs until the collector has worked off as many blobs as the cell
// replaced. MinIO replaces in place: nothing to wait for.
func overwriteCell(ctx context.Context, c *s3.Client, sys *System, o options, withPhases func(func() Run) Run) (Run, error) {
	var keys []string
	for w := range owConc {
		for k := range owKeys {
			keys = append(keys, fmt.Sprintf("ow/w%d/%d", w, k))
		}
	}
	if err := putMany(ctx, c, keys, owSize); err != nil {
		return Run{}, fmt.Errorf("preparing the overwrite keys: %w", err)
	}
	var done0 float64
	if len(sys.metrics) > 0 {
		// The preparation released nothing; wait for the collector to be
		// idle all the same (the warm-up's object).
		var err error
		if done0, err = gcDone(sys); err != nil {
			return Run{}, fmt.Errorf("metrics: %w", err)
		}
	}
	r := withPhases(func() Run {
		return runCell(ctx, o.cellDur, owConc, sys.mem, func(ctx context.Context, w, i int, buf []byte) (string, int64, time.Duration, error) {
			if err := put(ctx, c, fmt.Sprintf("ow/w%d/%d", w, i%owKeys), owSize); err != nil {
				return "PUT", 0, 0, err
			}
			return "PUT", owSize, 0, nil
		})
	})
	if len(sys.metrics) == 0 {
		return r, nil
	}
	t := time.Now()
	want := done0 + float64(r.Ops)
	for {
		got, err := gcDone(sys)
		if err != nil {
			return r, fmt.Errorf("metrics: %w", err)
		}
		if got >= want {
			r.GCCollected = int(got - done0)
			break
		}
		if time.Since(t) > gcWait {
			r.Errors++
			if r.FirstErr == "" {
				r.FirstErr = fmt.Sprintf("collector: %d of %d replaced blobs collected after %v", int(got-done0), r.Ops, gcWait)
			}
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.GCDrainS = time.Since(t).Seconds()
	el := time.Duration((r.Seconds + r.GCDrainS) * float64(time.Second))
	r.Seconds = el.Seconds()
	r.OpsPerSec = float64(r.Ops) / r.Seconds
	r.MiBs = mibs(r.Bytes, el)
	return r, nil
}

// mixed runs warp's default shares on 1 MiB objects.
func mixed(ctx context.Context, c *s3.Client, sys *System, o options, add func(Run, string, string, int64)) error {
	const mixedSize = 1 << 20
	pool := &mixedPool{}
	for k := range 100 {
		key := fmt.Sprintf("mixed/p%d", k)
		if err := put(ctx, c, key, mixedSize); err != nil {
			return fmt.Errorf("preparing mixed objects: %w", err)
		}
		pool.add(key)
	}
	cell := runCell(ctx, o.cellDur*2, 16, sys.mem, mixedOp(c, pool, mixedSize))
	add(cell, "MIXED 1MiB c=16", "MIXED", mixedSize)
	return nil
}

// seek reads random 256 KiB ranges of a 1 GiB object, as a video player
// seeking does.
func seek(ctx context.Context, c *s3.Client, sys *System, o options, add func(Run, string, string, int64)) error {
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
	add(runCell(ctx, o.cellDur, 32, sys.mem, op), "SEEK cold 256KiB c=32", "SEEK", rangeSize)
	for range 2 { // both mirrors may serve
		if _, _, err := get(ctx, c, "seek/video", "", make([]byte, 256<<10)); err != nil {
			return fmt.Errorf("reading the seek object: %w", err)
		}
	}
	for _, conc := range []int{32, 1} {
		add(runCell(ctx, o.cellDur, conc, sys.mem, op), fmt.Sprintf("SEEK 256KiB c=%d", conc), "SEEK", rangeSize)
	}
	return nil
}
