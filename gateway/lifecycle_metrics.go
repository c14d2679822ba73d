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

// lifecycleCount adds a pass's figures.
func (m *Metrics) lifecycleCount(s lifecycleStats) {
	if m == nil {
		return
	}
	l := m.lifecycle
	l.passes.Add(float64(s.Passes))
	l.expired.Add(float64(s.Expired))
	l.bytes.Add(float64(s.Bytes))
	l.aborted.Add(float64(s.Aborted))
	l.errors.Add(float64(s.Errors))
}
