package gateway

import "github.com/prometheus/client_golang/prometheus"

// lifecycleMetrics count what the lifecycle passes did.
type lifecycleMetrics struct {
	passes, expired, bytes, aborted, locked, errors prometheus.Counter
}

func newLifecycleMetrics() *lifecycleMetrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	return &lifecycleMetrics{
		passes:  c("tnv_s3_lifecycle_passes_total", "Lifecycle passes of a bucket finished by this gateway."),
		expired: c("tnv_s3_lifecycle_objects_expired_total", "Object versions expired by lifecycle rules: objects deleted (in a versioned bucket: made noncurrent under a delete marker), noncurrent versions and expired delete markers deleted."),
		bytes:   c("tnv_s3_lifecycle_bytes_expired_total", "Bytes of the object versions deleted by lifecycle rules (an object kept as a noncurrent version counts none)."),
		aborted: c("tnv_s3_lifecycle_uploads_aborted_total", "Incomplete multipart uploads aborted by lifecycle rules."),
		locked:  c("tnv_s3_lifecycle_locked_skipped_total", "Object versions due for deletion by lifecycle rules but kept by object lock (retention or legal hold)."),
		errors:  c("tnv_s3_lifecycle_errors_total", "Lifecycle passes (or their listing) that failed; a failed pass resumes later where it stopped."),
	}
}

func (l *lifecycleMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{l.passes, l.expired, l.bytes, l.aborted, l.locked, l.errors}
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

func (m *Metrics) lifecycleLocked() {
	if m == nil {
		return
	}
	m.lifecycle.locked.Inc()
}
