package gateway

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tnv-s3/tnv/internal/rpcmetrics"
)

// The phases of a PutObject, recorded per request into
// tnv_s3_put_phase_seconds: where the time of a small PUT goes (bench/
// prints their medians). The storage nodes record theirs (tnv_phase_seconds).
const (
	phaseRequest = iota // parse, authenticate, look the bucket up, check conditions
	phaseIntent         // take a blob name and its intent record (a batched commit when the pool is empty)
	phaseBlob           // store the blob on its group (the nodes' write, fsync, mirror and commits)
	phasePublish        // commit the index row
	phaseTotal          // from the request's head to its answer
	numPhases
)

var phaseNames = [numPhases]string{"request", "intent", "blob", "publish", "total"}

// putPhaseMetrics is the histogram and its series per phase, looked up
// once.
type putPhaseMetrics struct {
	vec *prometheus.HistogramVec
	obs [numPhases]prometheus.Observer
}

func newPutPhases() *putPhaseMetrics {
	vec := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "tnv_s3_put_phase_seconds",
		Help: "Time a successful PutObject spent in each phase: request (parse, auth, bucket), intent (blob name), " +
			"blob (storage nodes), publish (index commit), total.",
		Buckets: rpcmetrics.PhaseBuckets,
	}, []string{"phase"})
	m := &putPhaseMetrics{vec: vec}
	for i, name := range phaseNames {
		m.obs[i] = vec.WithLabelValues(name)
	}
	return m
}

// putClock times the phases of one PutObject. nil (no Metrics) does nothing.
type putClock struct {
	m           *Metrics
	start, last time.Time
	took        [numPhases]time.Duration
}

type putClockKey struct{}

// putClock starts the clock of r's PUT, closing its request phase, and
// puts it in r.ctx for writeBlobs.
func (g *Gateway) putClock(r *request) *putClock {
	if g.cfg.Metrics == nil {
		return nil
	}
	now := time.Now()
	p := &putClock{m: g.cfg.Metrics, start: r.start, last: now}
	p.took[phaseRequest] = now.Sub(r.start)
	r.ctx = context.WithValue(r.ctx, putClockKey{}, p)
	return p
}

// putClockOf is the clock of the PUT whose context ctx is, or nil.
func putClockOf(ctx context.Context) *putClock {
	p, _ := ctx.Value(putClockKey{}).(*putClock)
	return p
}

// add counts the time since the last mark to phase.
func (p *putClock) add(phase int) {
	if p == nil {
		return
	}
	now := time.Now()
	p.took[phase] += now.Sub(p.last)
	p.last = now
}

// done records the PUT's phases.
func (p *putClock) done() {
	if p == nil {
		return
	}
	p.took[phaseTotal] = time.Since(p.start)
	for i, d := range p.took {
		p.m.putPhases.obs[i].Observe(d.Seconds())
	}
}

func newGCBlobs() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tnv_s3_gc_blobs_total",
		Help: "Blobs the collector worked off (replaced, deleted or never published), by result: deleted, gone (already), failed (postponed).",
	}, []string{"result"})
}

// gcBlob counts one blob the collector worked off; err is its Delete's.
func (m *Metrics) gcBlob(err error) {
	if m == nil {
		return
	}
	result := "deleted"
	switch {
	case errors.Is(err, ErrBlobNotFound):
		result = "gone"
	case err != nil:
		result = "failed"
	}
	m.gcBlobs.WithLabelValues(result).Inc()
}
