package main

import (
	"encoding/json"
	"math"
	"net/http/httptest"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/tnv-s3/tnv/internal/rpcmetrics"
)

func TestSpreadOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []float64
		want Spread
	}{
		{"odd count: the middle one", []float64{5, 1, 3}, Spread{3, 1, 5}},
		{"even count: mean of the middle two", []float64{4, 1, 2, 10}, Spread{3, 1, 10}},
		{"one", []float64{7}, Spread{7, 7, 7}},
		{"NaN left out", []float64{math.NaN(), 2, 4}, Spread{3, 2, 4}},
		{"empty", nil, Spread{}},
	} {
		if got := spreadOf(tc.in); got != tc.want {
			t.Errorf("%s: spreadOf(%v) = %+v, want %+v", tc.name, tc.in, got, tc.want)
		}
	}
}

func TestRepOrder_RotatesSoEverySystemTakesEveryPlace(t *testing.T) {
	sys := []string{"up", "mirror", "mirror-tcp", "single", "minio"}
	if got := repOrder(sys, 0); !slices.Equal(got, sys) {
		t.Fatalf("first repetition %v, want the order given %v", got, sys)
	}
	if got, want := repOrder(sys, 1), []string{"mirror", "mirror-tcp", "single", "minio", "up"}; !slices.Equal(got, want) {
		t.Fatalf("second repetition %v, want %v", got, want)
	}
	places := map[string]map[int]bool{}
	for rep := range len(sys) {
		o := repOrder(sys, rep)
		if len(o) != len(sys) {
			t.Fatalf("repetition %d has %d systems", rep, len(o))
		}
		for i, s := range o {
			if places[s] == nil {
				places[s] = map[int]bool{}
			}
			places[s][i] = true
		}
	}
	for _, s := range sys {
		if len(places[s]) != len(sys) {
			t.Errorf("%s took places %v in %d repetitions, want each of %d", s, places[s], len(sys), len(sys))
		}
	}
}

// putRun is a measurement of workload "PUT 4KiB c=1" in repetition rep.
func putRun(sys string, rep int, ops float64) Run {
	return Run{System: sys, Workload: "PUT 4KiB c=1", Op: "PUT", Size: 4096, Conc: 1, Rep: rep, Position: rep,
		Ops: int(ops), OpsPerSec: ops, MiBs: ops * 4096 / (1 << 20), P50ms: 1000 / ops, RSS: 100 + ops}
}

func TestAggregate_MediansRangesRatiosAndJSON(t *testing.T) {
	runs := []Run{putRun("minio", 1, 200), putRun("up", 1, 100), putRun("up", 2, 300), putRun("minio", 2, 400),
		putRun("up", 3, 50), putRun("minio", 3, 100)}
	runs[1].Errors, runs[1].FirstErr = 2, "PUT: boom"
	cells := aggregate(runs)
	if len(cells) != 2 {
		t.Fatalf("%d cells, want 2 (one per system and workload)", len(cells))
	}
	up := cells[1]
	if up.System != "up" || up.Repetitions != 3 || up.OpsPerSec != 100 || up.Range["ops_s"] != [2]float64{50, 300} {
		t.Fatalf("up cell %+v: want 3 repetitions, median 100 obj/s, range 50–300", up)
	}
	if up.Errors != 2 || up.FirstErr != "PUT: boom" {
		t.Fatalf("errors %d %q, want those of the runs", up.Errors, up.FirstErr)
	}
	if !slices.IsSortedFunc(up.Runs, func(a, b Run) int { return a.Rep - b.Rep }) {
		t.Fatalf("runs not in repetition order: %+v", up.Runs)
	}
	// Ratios pair the runs of one repetition: 100/200, 300/400, 50/100.
	r := ratios(up, cells[0], ratio)
	if r.Median != 0.5 || r.Min != 0.5 || r.Max != 0.75 {
		t.Fatalf("ratios %+v, want median 0.5, range 0.5–0.75", r)
	}

	res := &Results{Repetitions: 3, Orders: [][]string{{"up", "minio"}, {"minio", "up"}, {"up", "minio"}},
		Systems: []System{{Key: "minio", Label: "MinIO"}, {Key: "up", Label: "up"}}, Cells: cells}
	dir := t.TempDir()
	md, js, err := res.write(dir, "x")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Repetitions int        `json:"repetitions"`
		Orders      [][]string `json:"orders"`
		Cells       []struct {
			System      string               `json:"system"`
			Workload    string               `json:"workload"`
			Repetitions int                  `json:"repetitions"`
			OpsPerSec   float64              `json:"ops_s"`
			Range       map[string][]float64 `json:"range"`
			Runs        []map[string]any     `json:"runs"`
		} `json:"cells"`
	}
	b, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Repetitions != 3 || len(got.Orders) != 3 || len(got.Cells) != 2 {
		t.Fatalf("JSON: repetitions %d, %d orders, %d cells; want 3, 3, 2", got.Repetitions, len(got.Orders), len(got.Cells))
	}
	c := got.Cells[1]
	if c.System != "up" || c.Workload != "PUT 4KiB c=1" || c.Repetitions != 3 || c.OpsPerSec != 100 ||
		!slices.Equal(c.Range["ops_s"], []float64{50, 300}) || len(c.Runs) != 3 || c.Runs[2]["rep"] != float64(3) {
		t.Fatalf("JSON cell %+v", c)
	}
	if _, ok := c.Runs[0]["system"]; ok {
		t.Fatal("a run repeats its cell's system")
	}
	text, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| PUT 4KiB c=1 | 200 [100–400] obj/s | 100 [50–300] obj/s (2 err) | 0.50× [0.50–0.75] |", "3 repetitions", "1: up minio; 2: minio up; 3: up minio"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("Markdown lacks %q:\n%s", want, text)
		}
	}
}

func TestStatPPID(t *testing.T) {
	for _, tc := range []struct {
		stat string
		want int
		ok   bool
	}{
		{"123 (tnv) S 45 123 123 0 -1", 45, true},
		{"9 (a ) (b) R 1 9 9", 1, true}, // a command name with spaces and parentheses
		{"garbage", 0, false},
	} {
		got, ok := statPPID(tc.stat)
		if got != tc.want || ok != tc.ok {
			t.Errorf("statPPID(%q) = %d, %v; want %d, %v", tc.stat, got, ok, tc.want, tc.ok)
		}
	}
}

func TestDescendants(t *testing.T) {
	ppid := map[int]int{10: 1, 11: 10, 12: 11, 13: 10, 20: 1, 21: 20}
	if got, want := descendants(ppid, []int{10}), []int{10, 11, 12, 13}; !slices.Equal(got, want) {
		t.Fatalf("descendants of 10 = %v, want %v", got, want)
	}
	if got, want := descendants(ppid, []int{21, 10}), []int{10, 11, 12, 13, 21}; !slices.Equal(got, want) {
		t.Fatalf("descendants of 21 and 10 = %v, want %v", got, want)
	}
}

// TestProcessTree_FindsGrandchildren walks the real /proc: a shell whose
// child shell runs a sleep is three processes, all with resident memory.
func TestProcessTree_FindsGrandchildren(t *testing.T) {
	cmd := exec.Command("sh", "-c", `sh -c 'sleep 120; :' & sleep 120; :`)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() })
	var tree []int
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if tree = processTree([]int{cmd.Process.Pid}); len(tree) >= 4 {
			break
		}
	}
	// sh, its sleep, the child sh and its sleep.
	if len(tree) != 4 || !slices.Contains(tree, cmd.Process.Pid) {
		t.Fatalf("process tree of %d: %v, want it and 3 descendants", cmd.Process.Pid, tree)
	}
	if self := processTree([]int{os.Getpid()}); !slices.Contains(self, cmd.Process.Pid) || !slices.IsSorted(self) {
		t.Fatalf("this test's tree %v lacks its child %d", self, cmd.Process.Pid)
	}
	total := sumRSS(tree)
	if total <= 0 || total < rssMiB(cmd.Process.Pid) {
		t.Fatalf("summed RSS %.2f MiB, one process alone %.2f", total, rssMiB(cmd.Process.Pid))
	}
	if rssMiB(1<<30) != 0 {
		t.Fatal("RSS of no process is not 0")
	}
}

func TestHisto_QuantileAndMinus(t *testing.T) {
	inf := math.Inf(1)
	h := &histo{bounds: []float64{1, 2, 4, inf}, counts: []float64{10, 30, 40, 40}, sum: 70, count: 40}
	for _, tc := range []struct{ q, want float64 }{
		{0.25, 1},   // rank 10: the top of the first bucket
		{0.5, 1.5},  // rank 20: half-way through (1, 2]
		{0.875, 3},  // rank 35: half-way through (2, 4]
		{0.125, .5}, // rank 5: half-way through (0, 1]
	} {
		if got := h.quantile(tc.q); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	over := &histo{bounds: []float64{1, inf}, counts: []float64{1, 10}, count: 10}
	if got := over.quantile(0.5); got != 1 {
		t.Errorf("a median beyond the last bound = %v, want that bound", got)
	}
	before := &histo{bounds: h.bounds, counts: []float64{10, 10, 10, 10}, sum: 5, count: 10}
	d := h.minus(before)
	if d.count != 30 || d.sum != 65 || !slices.Equal(d.counts, []float64{0, 20, 30, 30}) {
		t.Fatalf("minus: %+v", d)
	}
	if got := d.quantile(0.5); math.Abs(got-1.75) > 1e-9 {
		t.Fatalf("median of the difference %v, want 1.75 (rank 15 of 20 in (1, 2])", got)
	}
	if !math.IsNaN((&histo{}).quantile(0.5)) {
		t.Fatal("the median of nothing is not NaN")
	}
}

// TestScrapeAll_AddsNodesAndTakesTheCellsPhases reads two real Prometheus
// endpoints (as two storage nodes' --metrics-listen) before and after some
// observations.
func TestScrapeAll_AddsNodesAndTakesTheCellsPhases(t *testing.T) {
	var eps []metricsEndpoint
	var ms []*rpcmetrics.Metrics
	var gcs []*prometheus.CounterVec
	for range 2 {
		reg := prometheus.NewRegistry()
		ms = append(ms, rpcmetrics.New("storage", reg))
		gc := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tnv_s3_gc_blobs_total"}, []string{"result"})
		reg.MustRegister(gc)
		gcs = append(gcs, gc)
		srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		t.Cleanup(srv.Close)
		eps = append(eps, metricsEndpoint{url: srv.URL})
	}
	const upload = 70                                  // proto.CmdStorageUpload
	ms[0].Phase(upload, "fsync", 100*time.Millisecond) // before: not the cell's
	before, err := scrapeAll(eps)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		ms[i%2].Phase(upload, "fsync", time.Millisecond)
		ms[i%2].Phase(upload, "log", 3*time.Millisecond)
	}
	gcs[0].WithLabelValues("deleted").Add(3)
	gcs[1].WithLabelValues("deleted").Add(2)
	gcs[1].WithLabelValues("failed").Add(7)
	after, err := scrapeAll(eps)
	if err != nil {
		t.Fatal(err)
	}
	ph := phasesBetween(before, after)
	fs, lg := ph["UPLOAD/fsync"], ph["UPLOAD/log"]
	if fs.Count != 10 || lg.Count != 10 {
		t.Fatalf("phases %+v: want 10 fsyncs and 10 logs over both nodes", ph)
	}
	// 1 ms lies in (0.8, 1.13] ms of the √2 buckets, 3 ms in (2.26, 3.2].
	if fs.P50ms < 0.8 || fs.P50ms > 1.14 || math.Abs(fs.MeanMs-1) > 1e-6 || lg.P50ms < 2.26 || lg.P50ms > 3.2 {
		t.Fatalf("fsync %+v, log %+v: want medians within the buckets of 1 and 3 ms, exact means", fs, lg)
	}
	if got := after.counter("tnv_s3_gc_blobs_total", "result=deleted"); got != 5 {
		t.Fatalf("deleted blobs over both endpoints %v, want 5", got)
	}
	if _, err := scrapeAll([]metricsEndpoint{{url: eps[0].url + "/nothing-here"}}); err != nil {
		// promhttp serves every path: a 200 with the same families.
		t.Fatalf("scrape of a served path: %v", err)
	}
	srv := httptest.NewServer(nil) // 404 for everything
	defer srv.Close()
	if _, err := scrapeAll([]metricsEndpoint{{url: srv.URL + "/metrics"}}); err == nil {
		t.Fatal("a 404 endpoint scraped without error")
	}
}

func TestOptions_DefaultSetAllAndOnly(t *testing.T) {
	def := options{}
	if !def.runs("PUT 4KiB c=1") || !def.runs("GET 64MiB c=32") || !def.runs(owWorkload) || def.runs("PUT 64MiB c=1") || def.runsGroup("SEEK") {
		t.Fatal("default set: want 4 KiB/1 MiB PUT, GETs, overwrite; not PUT 64MiB or SEEK")
	}
	if all := (options{all: true}); !all.runs("PUT 64MiB c=8") || !all.runsGroup("MIXED") {
		t.Fatal("-all: want PUT 64MiB and MIXED")
	}
	only := options{only: "PUT 4KiB,SEEK 256KiB c=1"}
	if !only.runs("PUT 4KiB c=32") || only.runs("GET 4KiB c=1") || !only.runsGroup("SEEK") || only.runsGroup("MIXED") {
		t.Fatal("-only: want what it names, nothing else")
	}
	if _, err := parseSystems("up,nope"); err == nil {
		t.Fatal("an unknown system accepted")
	}
	if got, err := parseSystems(" minio, up "); err != nil || !slices.Equal(got, []string{"minio", "up"}) {
		t.Fatalf("parseSystems = %v, %v", got, err)
	}
}

// FuzzStatPPID: any line, however odd its command name, gives a parent or
// no verdict, never a panic; a well-formed line gives its fourth field.
func FuzzStatPPID(f *testing.F) {
	f.Add("123 (tnv) S 45 123 123 0 -1", "tnv")
	f.Add("9 (a ) (b) R 1 9 9", "a ) (b")
	f.Add(")", "")
	f.Fuzz(func(t *testing.T, line, comm string) {
		statPPID(line)
		if strings.ContainsAny(comm, "\n") {
			return
		}
		got, ok := statPPID("77 (" + comm + ") S 4242 77 77 0")
		if !ok || got != 4242 {
			t.Fatalf("command name %q: parent %d, %v; want 4242", comm, got, ok)
		}
	})
}

func TestReadsText_SumsTheNodesReadsOverTheGETRuns(t *testing.T) {
	get := func(sys string, rep, dl, lo, hit, miss int) Run {
		return Run{System: sys, Workload: "GET 4KiB c=1", Op: "GET", Rep: rep,
			NodeReads: map[string]int{"DOWNLOAD": dl, "LOCAL_OPEN": lo, rowCacheHit: hit, rowCacheMiss: miss, lookupCacheHit: hit + 1, lookupCacheMiss: miss}}
	}
	res := &Results{Cells: aggregate([]Run{get("mirror", 1, 2, 100, 97, 5), get("mirror", 2, 0, 120, 118, 2), get("mirror-tcp", 1, 90, 0, 0, 0), putRun("up", 1, 10)})}
	want := "mirror: DOWNLOAD 2, LOCAL_OPEN 220 (row cache: 215 of 222 live reads answered without a query), the gateway's index lookups 217 of 224 from its lookup cache; mirror-tcp: DOWNLOAD 90, LOCAL_OPEN 0, the gateway's index lookups 1 of 1 from its lookup cache."
	if got := res.readsText(); !strings.HasSuffix(got, want) {
		t.Fatalf("readsText = %q, want it to end %q", got, want)
	}
	if (&Results{Cells: aggregate([]Run{putRun("up", 1, 10)})}).readsText() != "" {
		t.Fatal("reads reported without GET runs that counted any")
	}
}

func TestCheckMachineAndTable(t *testing.T) {
	md5s, fsyncMs := checkMachine(t.TempDir())
	if md5s <= 0 || fsyncMs <= 0 {
		t.Fatalf("checkMachine: MD5 %.0f MiB/s, fsync %.3f ms", md5s, fsyncMs)
	}
	r := &Results{Repetitions: 2, Systems: []System{{Key: "up"}, {Key: "minio"}},
		Checks: []Check{{Rep: 1, Position: 1, System: "up", MD5MiBs: 700, FsyncMs: 0.5}, {Rep: 2, Position: 2, System: "up", MD5MiBs: 350, FsyncMs: 1.25},
			{Rep: 1, Position: 2, System: "minio", MD5MiBs: 710, FsyncMs: 0.45}}}
	rows := r.checkTable()
	want := [][]string{{"system", "repetition 1", "repetition 2"},
		{"up", "700 / 0.50 (position 1)", "350 / 1.25 (position 2)"},
		{"minio", "710 / 0.45 (position 2)", "–"}}
	if !reflect.DeepEqual(rows, want) {
		t.Fatalf("checkTable:\n%q\nwant\n%q", rows, want)
	}
	if !strings.Contains(r.markdown(), "700 / 0.50 (position 1)") {
		t.Fatal("the check table is not in the Markdown")
	}
}

func TestWithDatabase(t *testing.T) {
	for base, want := range map[string]string{
		"mysql://root@127.0.0.1:3306/mysql":                              "mysql://root@127.0.0.1:3306/tnvbench_x",
		"mysql://u:p@localhost/mysql?socket=/run/mysqld/mysqld.sock":     "mysql://u:p@localhost/tnvbench_x?socket=/run/mysqld/mysqld.sock",
		"mysql://u@h:3306/db?interpolateParams=false&socket=/tmp/m.sock": "mysql://u@h:3306/tnvbench_x?interpolateParams=false&socket=/tmp/m.sock",
	} {
		if got := withDatabase(base, "tnvbench_x"); got != want {
			t.Errorf("withDatabase(%q) = %q, want %q", base, got, want)
		}
	}
}
