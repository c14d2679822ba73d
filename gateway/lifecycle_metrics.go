package gateway

import "github.com/prometheus/client_golang/prometheus"

// lifecycleMetrics count what the lifecycle passes did.
type lifecycleMetrics struct {
	passes, expired, bytes, aborted, errors prometheus.Counter
}

func newLifecycleMetrics() *lifecycleMetrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	return &lifecycleMetrics{
		passes:  c("tnv_s3_lifecycle_passes_total", "Lifecycle passes of a bucket finished by this gateway."),
		expired: c("tnv_s3_lifecycle_objects_expired_total", "Objects deleted by lifecycle expiration."),
		bytes:   c("tnv_s3_lifecycle_bytes_expired_total", "Bytes of the objects deleted by lifecycle expiration."),
		aborted: c("tnv_s3_lifecycle_uploads_aborted_total", "Incomplete multipart uploads aborted by lifecycle rules."),
		errors:  c("tnv_s3_lifecycle_errors_total", "Lifecycle passes (or their listing) that failed; a failed pass resumes later where it stopped."),
	}
}

func (l *lifecycleMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{l.passes, l.expired, l.bytes, l.aborted, l.errors}
}

// lifecycleCount adds a pass's outcome: finished passes and failures.
// Expirations and aborts are counted as they happen (lifecycleExpired,
// lifecycleAborted), so that a long pass shows its progress.
func (m *Metrics) lifecycleCount(s lifecycleStats) {
	if m == nil {
		return
	}
	m.lifecycle.passes.Add(float64(s.Passes))
	m.lifecycle.errors.Add(float64(s.Errors))
}

func (m *Metrics) lifecycleExpired(bytes int64) {
	if m == nil {
		return
	}
	m.lifecycle.expired.Inc()
	m.lifecycle.bytes.Add(float64(bytes))
}

func (m *Metrics) lifecycleAborted() {
	if m == nil {
		return
	}
	m.lifecycle.aborted.Inc()
}
