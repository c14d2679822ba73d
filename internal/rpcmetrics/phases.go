package rpcmetrics

import (
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// PhaseBuckets are the bounds of the per-phase histograms: 25 µs to 6.7 s in
// steps of √2, fine enough that a median read off the buckets (bench/) is
// within a few per cent of the true one.
var PhaseBuckets = prometheus.ExponentialBuckets(25e-6, math.Sqrt2, 37)

func newPhases(labels prometheus.Labels) *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "tnv_phase_seconds",
		Help: "Time spent in each phase of a successful request, by command and phase " +
			"(UPLOAD: lookup, id, receive, fsync, row, mirror, log; REPLICATE: lookup, id, receive, fsync, row).",
		ConstLabels: labels, Buckets: PhaseBuckets,
	}, []string{"cmd", "phase"})
}

// Phase records that a request of cmd spent d in phase.
func (m *Metrics) Phase(cmd uint8, phase string, d time.Duration) {
	if m == nil {
		return
	}
	m.phases.WithLabelValues(CmdName(cmd), phase).Observe(d.Seconds())
}
