package main

import (
	"cmp"
	"math"
	"slices"
)

// repOrder is the order the systems run in, in repetition rep (0-based):
// the list rotated by rep, so that each system takes a different place in
// each repetition and a machine that slows down (or speeds up) over the run
// does not favour the system that always runs first.
func repOrder(systems []string, rep int) []string {
	n := len(systems)
	out := make([]string, n)
	for i := range systems {
		out[i] = systems[(i+rep)%n]
	}
	return out
}

// Spread is a figure over the repetitions: median, lowest, highest.
type Spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// spreadOf is the median (of an even count: the mean of the middle two),
// minimum and maximum of v; NaNs are left out. Zero when nothing is left.
func spreadOf(v []float64) Spread {
	var w []float64
	for _, x := range v {
		if !math.IsNaN(x) {
			w = append(w, x)
		}
	}
	if len(w) == 0 {
		return Spread{}
	}
	slices.Sort(w)
	n := len(w)
	med := w[n/2]
	if n%2 == 0 {
		med = (w[n/2-1] + w[n/2]) / 2
	}
	return Spread{Median: med, Min: w[0], Max: w[n-1]}
}

// Cell is one workload on one system over the repetitions: each figure the
// median of its runs (Runs), with the lowest and highest in Range.
type Cell struct {
	System      string  `json:"system"`
	Workload    string  `json:"workload"`
	Op          string  `json:"op"`
	Size        int64   `json:"size"`
	Conc        int     `json:"concurrency"`
	Repetitions int     `json:"repetitions"`
	MiBs        float64 `json:"mib_s"`
	OpsPerSec   float64 `json:"ops_s"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	TTFB50ms    float64 `json:"ttfb_p50_ms,omitempty"`
	TTFB99ms    float64 `json:"ttfb_p99_ms,omitempty"`
	RSS         float64 `json:"rss_mib"`                    // peak of the summed RSS of the system's processes
	DBRSS       float64 `json:"db_rss_mib,omitempty"`       // MariaDB's (shared, not in RSS)
	CPUms       float64 `json:"cpu_ms_per_op"`              // CPU time of the system's processes per operation
	DBCPUms     float64 `json:"db_cpu_ms_per_op,omitempty"` // MariaDB's, per operation
	LoadCPUms   float64 `json:"client_cpu_ms_per_op"`       // the load generator's (this process), per operation
	Errors      int     `json:"errors"`                     // over all runs
	FirstErr    string  `json:"first_error,omitempty"`
	// Range is the lowest and highest of each figure above over the runs,
	// by its JSON name.
	Range map[string][2]float64 `json:"range"`
	Runs  []Run                 `json:"runs"`
}

// figures are the per-run figures a Cell takes the median of.
var figures = []struct {
	name string
	get  func(*Run) float64
	set  func(*Cell, float64)
}{
	{"mib_s", func(r *Run) float64 { return r.MiBs }, func(c *Cell, v float64) { c.MiBs = v }},
	{"ops_s", func(r *Run) float64 { return r.OpsPerSec }, func(c *Cell, v float64) { c.OpsPerSec = v }},
	{"p50_ms", func(r *Run) float64 { return r.P50ms }, func(c *Cell, v float64) { c.P50ms = v }},
	{"p99_ms", func(r *Run) float64 { return r.P99ms }, func(c *Cell, v float64) { c.P99ms = v }},
	{"ttfb_p50_ms", func(r *Run) float64 { return r.TTFB50ms }, func(c *Cell, v float64) { c.TTFB50ms = v }},
	{"ttfb_p99_ms", func(r *Run) float64 { return r.TTFB99ms }, func(c *Cell, v float64) { c.TTFB99ms = v }},
	{"rss_mib", func(r *Run) float64 { return r.RSS }, func(c *Cell, v float64) { c.RSS = v }},
	{"db_rss_mib", func(r *Run) float64 { return r.DBRSS }, func(c *Cell, v float64) { c.DBRSS = v }},
	{"cpu_ms_per_op", func(r *Run) float64 { return r.CPUms }, func(c *Cell, v float64) { c.CPUms = v }},
	{"db_cpu_ms_per_op", func(r *Run) float64 { return r.DBCPUms }, func(c *Cell, v float64) { c.DBCPUms = v }},
	{"client_cpu_ms_per_op", func(r *Run) float64 { return r.LoadCPUms }, func(c *Cell, v float64) { c.LoadCPUms = v }},
}

// aggregate groups runs by system and workload into cells, in the order
// their first runs came.
func aggregate(runs []Run) []Cell {
	type key struct{ sys, w string }
	var keys []key
	byKey := map[key][]Run{}
	for _, r := range runs {
		k := key{r.System, r.Workload}
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], r)
	}
	cells := make([]Cell, 0, len(keys))
	for _, k := range keys {
		rs := byKey[k]
		slices.SortStableFunc(rs, func(a, b Run) int { return cmp.Compare(a.Rep, b.Rep) })
		c := Cell{System: k.sys, Workload: k.w, Op: rs[0].Op, Size: rs[0].Size, Conc: rs[0].Conc,
			Repetitions: len(rs), Range: map[string][2]float64{}, Runs: rs}
		for _, f := range figures {
			v := make([]float64, len(rs))
			for i := range rs {
				v[i] = f.get(&rs[i])
			}
			s := spreadOf(v)
			f.set(&c, s.Median)
			if s.Max > 0 {
				c.Range[f.name] = [2]float64{s.Min, s.Max}
			}
		}
		for _, r := range rs {
			c.Errors += r.Errors
			if c.FirstErr == "" {
				c.FirstErr = r.FirstErr
			}
		}
		cells = append(cells, c)
	}
	return cells
}

// ratios are ours ÷ reference per repetition (runs of the same repetition
// paired: they ran minutes apart at most), as a Spread.
func ratios(our, ref Cell, f func(a, b Run) float64) Spread {
	var v []float64
	for _, a := range our.Runs {
		for _, b := range ref.Runs {
			if a.Rep == b.Rep {
				v = append(v, f(a, b))
			}
		}
	}
	return spreadOf(v)
}

// phaseSpread is a phase's median over the runs of a cell.
func phaseSpread(c Cell, key string) (Spread, int, bool) {
	var v []float64
	n := 0
	for _, r := range c.Runs {
		if p, ok := r.Phases[key]; ok {
			v = append(v, p.P50ms)
			n += p.Count
		}
	}
	return spreadOf(v), n, len(v) > 0
}
