package main

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The per-phase breakdown of a PUT: the gateway's tnv_s3_put_phase_seconds
// and the storage nodes' tnv_phase_seconds (gateway/phases.go,
// storagenode/phases.go), read from their metrics before and after a cell;
// the difference is that cell's requests. Medians are read off the
// histograms' buckets (steps of √2, interpolated within the bucket).

// metricsEndpoint is one Prometheus endpoint of a system's processes.
type metricsEndpoint struct {
	url    string
	bearer string // Authorization: Bearer (tnv up's /_tnv/metrics)
}

// histo is a cumulative histogram: counts at upper bounds (ascending, the
// last +Inf), its sum and count.
type histo struct {
	bounds []float64
	counts []float64
	sum    float64
	count  float64
}

// scrape is what one reading of a system's endpoints found: histograms by
// "family|label=value,...", counters by the same.
type scrape struct {
	hist     map[string]*histo
	counters map[string]float64
}

// scrapeAll reads every endpoint and adds up series of the same name and
// labels (the storage nodes').
func scrapeAll(eps []metricsEndpoint) (*scrape, error) {
	s := &scrape{hist: map[string]*histo{}, counters: map[string]float64{}}
	cl := &http.Client{Timeout: 10 * time.Second}
	for _, ep := range eps {
		req, err := http.NewRequest("GET", ep.url, nil)
		if err != nil {
			return nil, err
		}
		if ep.bearer != "" {
			req.Header.Set("Authorization", "Bearer "+ep.bearer)
		}
		resp, err := cl.Do(req)
		if err != nil {
			return nil, err
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return nil, fmt.Errorf("%s: status %d", ep.url, resp.StatusCode)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ep.url, err)
		}
		s.add(fams)
	}
	return s, nil
}

// wanted are the families the bench reads.
var wanted = map[string]bool{"tnv_s3_put_phase_seconds": true, "tnv_phase_seconds": true, "tnv_s3_gc_blobs_total": true,
	"tnv_requests_total": true, "tnv_row_cache_reads_total": true, "tnv_index_lookup_cache_total": true}

// nodeReads is how the storage nodes served the reads between two
// readings: DOWNLOAD (over TNV TCP) and LOCAL_OPEN (a file handle passed
// over the node's local socket to a gateway on its machine), each counted
// with its _LIVE form (the gateway's reads, vouched by its index).
// mirror-tcp must show no LOCAL_OPEN; tnv up reads its in-process nodes
// without either.
func nodeReads(before, after *scrape) map[string]int {
	out := map[string]int{}
	for _, cmd := range []string{"DOWNLOAD", "LOCAL_OPEN"} {
		for _, name := range []string{cmd, cmd + "_LIVE"} {
			out[cmd] += int(after.counter("tnv_requests_total", "cmd="+name) - before.counter("tnv_requests_total", "cmd="+name))
		}
	}
	// The live reads the nodes' row caches answered, and those they did not.
	for key, result := range map[string]string{rowCacheHit: "result=hit", rowCacheMiss: "result=miss"} {
		out[key] = int(after.counter("tnv_row_cache_reads_total", result) - before.counter("tnv_row_cache_reads_total", result))
	}
	// And the gateway's index lookups its lookup cache answered, and not.
	for key, result := range map[string]string{lookupCacheHit: "result=hit", lookupCacheMiss: "result=miss"} {
		out[key] = int(after.counter("tnv_index_lookup_cache_total", result) - before.counter("tnv_index_lookup_cache_total", result))
	}
	return out
}

// Keys of Run.NodeReads for the row caches' answers and the gateway's
// lookup cache's.
const (
	rowCacheHit     = "row cache hit"
	rowCacheMiss    = "row cache miss"
	lookupCacheHit  = "lookup cache hit"
	lookupCacheMiss = "lookup cache miss"
)

func (s *scrape) add(fams map[string]*dto.MetricFamily) {
	for name, f := range fams {
		if !wanted[name] {
			continue
		}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				if l.GetName() == "role" {
					continue
				}
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			slices.Sort(labels)
			key := name + "|" + strings.Join(labels, ",")
			switch {
			case m.GetHistogram() != nil:
				h := m.GetHistogram()
				cur := s.hist[key]
				if cur == nil {
					cur = &histo{}
					for _, b := range h.GetBucket() {
						cur.bounds = append(cur.bounds, b.GetUpperBound())
					}
					if len(cur.bounds) == 0 || !math.IsInf(cur.bounds[len(cur.bounds)-1], 1) {
						cur.bounds = append(cur.bounds, math.Inf(1))
					}
					cur.counts = make([]float64, len(cur.bounds))
					s.hist[key] = cur
				}
				for i, b := range h.GetBucket() {
					if i < len(cur.counts) {
						cur.counts[i] += float64(b.GetCumulativeCount())
					}
				}
				cur.sum += h.GetSampleSum()
				cur.count += float64(h.GetSampleCount())
			case m.GetCounter() != nil:
				s.counters[key] += m.GetCounter().GetValue()
			}
		}
	}
	for _, h := range s.hist {
		h.counts[len(h.counts)-1] = h.count
	}
}

// counter is the sum of a family's series whose labels contain all of
// match ("result=deleted").
func (s *scrape) counter(family string, match ...string) float64 {
	var v float64
	for k, c := range s.counters {
		name, labels, _ := strings.Cut(k, "|")
		if name != family {
			continue
		}
		ok := true
		for _, m := range match {
			if !slices.Contains(strings.Split(labels, ","), m) {
				ok = false
			}
		}
		if ok {
			v += c
		}
	}
	return v
}

// minus is h − before (the observations between two readings).
func (h *histo) minus(before *histo) *histo {
	d := &histo{bounds: h.bounds, counts: slices.Clone(h.counts), sum: h.sum, count: h.count}
	if before == nil || len(before.counts) != len(h.counts) {
		return d
	}
	for i := range d.counts {
		d.counts[i] -= before.counts[i]
	}
	d.sum -= before.sum
	d.count -= before.count
	return d
}

// quantile reads the q-quantile off a cumulative histogram, interpolating
// linearly within the bucket that holds it (from 0 for the first bucket);
// a quantile in the +Inf bucket is the highest finite bound. NaN when empty.
func (h *histo) quantile(q float64) float64 {
	if h.count <= 0 || len(h.counts) == 0 {
		return math.NaN()
	}
	rank := q * h.count
	lowB, lowC := 0.0, 0.0
	for i, c := range h.counts {
		if c >= rank && c > lowC {
			if math.IsInf(h.bounds[i], 1) {
				return lowB
			}
			return lowB + (h.bounds[i]-lowB)*(rank-lowC)/(c-lowC)
		}
		lowB, lowC = h.bounds[i], c
	}
	return lowB
}

// Phase is one phase of the requests of a cell.
type Phase struct {
	Count  int     `json:"count"`
	P50ms  float64 `json:"p50_ms"`
	MeanMs float64 `json:"mean_ms"`
}

// phaseOrder lists the phases of a PUT in the order they happen, by the
// key phasesBetween gives them, with what each is.
var phaseOrder = []struct{ key, what string }{
	{"gateway/request", "gateway: parse, authenticate (SigV4), look the bucket up, check conditions"},
	{"gateway/intent", "gateway: take a blob name and its intent record (ID; a batched commit when its pool is empty)"},
	{"UPLOAD/id", "node: a file ID (ID server, batched)"},
	{"UPLOAD/receive", "node: receive the body and write it, streaming it to the mirrors"},
	{"UPLOAD/fsync", "node: fsync the file, link it, fsync the directory"},
	{"UPLOAD/row", "node: commit its row as pending (database commit)"},
	{"REPLICATE/id", "mirror: a file ID"},
	{"REPLICATE/receive", "mirror: receive and write the copy"},
	{"REPLICATE/fsync", "mirror: fsync file and directory"},
	{"REPLICATE/row", "mirror: commit its row as pending (REPLICATE; with REPLICATE_LINKED no commit: the coordinator inserts the row)"},
	{"UPLOAD/mirror", "node: wait for the mirrors' answers after its own row"},
	{"UPLOAD/log", "node: commit the group log entry and its row readable (database commit; on tnv up, UPLOAD_STAGED: from its answer to the commit the gateway runs with the index row)"},
	{"gateway/blob", "gateway: the whole node round trip (the UPLOAD phases plus the TNV link)"},
	{"gateway/publish", "gateway: commit the index row (database commit; on tnv up with the upload's group log entry)"},
	{"gateway/total", "gateway: the whole request, head to answer"},
}

// phasesBetween is each phase's requests between two readings.
func phasesBetween(before, after *scrape) map[string]Phase {
	out := map[string]Phase{}
	for key, h := range after.hist {
		name, labels, _ := strings.Cut(key, "|")
		var k string
		lm := map[string]string{}
		for _, l := range strings.Split(labels, ",") {
			if a, b, ok := strings.Cut(l, "="); ok {
				lm[a] = b
			}
		}
		switch name {
		case "tnv_s3_put_phase_seconds":
			k = "gateway/" + lm["phase"]
		case "tnv_phase_seconds":
			k = lm["cmd"] + "/" + lm["phase"]
		default:
			continue
		}
		d := h.minus(before.hist[key])
		if d.count <= 0 {
			continue
		}
		out[k] = Phase{Count: int(d.count), P50ms: 1000 * d.quantile(0.5), MeanMs: 1000 * d.sum / d.count}
	}
	return out
}
