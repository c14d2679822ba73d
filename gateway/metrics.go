package gateway

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts the gateway's S3 requests for /_tnv/metrics: by operation
// and HTTP status, latency by operation, and body bytes in and out. A nil
// *Metrics counts nothing.
type Metrics struct {
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	bytes         *prometheus.CounterVec
	shareRefusals *prometheus.CounterVec // share_metrics.go
	putPhases     *putPhaseMetrics       // phases.go
	gcBlobs       *prometheus.CounterVec // phases.go
	lifecycle     *lifecycleMetrics      // lifecycle_metrics.go
	cache         *cacheMetrics          // cache_metrics.go
}

// NewMetrics makes the gateway's metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tnv_s3_requests_total", Help: "S3 requests answered, by operation and HTTP status.",
		}, []string{"op", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tnv_s3_request_duration_seconds", Help: "Time to answer an S3 request, body included, by operation.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"op"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tnv_s3_bytes_total", Help: "Request body bytes received (in) and response body bytes sent (out).",
		}, []string{"direction"}),
	}
	m.shareRefusals = newShareRefusals()
	m.putPhases, m.gcBlobs = newPutPhases(), newGCBlobs()
	reg.MustRegister(m.requests, m.duration, m.bytes, m.shareRefusals, m.putPhases.vec, m.gcBlobs)
	m.lifecycle = newLifecycleMetrics()
	reg.MustRegister(m.lifecycle.collectors()...)
	m.cache = &cacheMetrics{}
	reg.MustRegister(m.cache)
	return m
}

func (m *Metrics) observe(op string, status int, took time.Duration, in, out int64) {
	if m == nil {
		return
	}
	if op == "" {
		op = "unknown"
	}
	m.requests.WithLabelValues(op, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(op).Observe(took.Seconds())
	if in > 0 {
		m.bytes.WithLabelValues("in").Add(float64(in))
	}
	if out > 0 {
		m.bytes.WithLabelValues("out").Add(float64(out))
	}
}
