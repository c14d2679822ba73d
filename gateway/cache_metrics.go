package gateway

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tnv-s3/tnv/gateway/index"
)

// cacheMetrics exports the SQL index's lookup cache (index.CacheStats) of
// the gateway that set stats.
type cacheMetrics struct {
	stats atomic.Pointer[func() index.CacheStats]
}

var (
	descLookups = prometheus.NewDesc("tnv_index_lookup_cache_total",
		"Bucket and object lookups of the index answered from the gateway's lookup cache (hit) or from the database while the cache was on (miss).",
		[]string{"result"}, nil)
	descLease = prometheus.NewDesc("tnv_index_lease_held",
		"1 while this gateway holds the index lease and may answer lookups from its cache.", nil, nil)
	descLeaseErrors = prometheus.NewDesc("tnv_index_lease_errors_total",
		"Renewals of the index lease that failed (database unreachable or slow).", nil, nil)
)

func (c *cacheMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- descLookups
	ch <- descLease
	ch <- descLeaseErrors
}

func (c *cacheMetrics) Collect(ch chan<- prometheus.Metric) {
	f := c.stats.Load()
	if f == nil {
		return
	}
	st := (*f)()
	held := 0.0
	if st.Held {
		held = 1
	}
	ch <- prometheus.MustNewConstMetric(descLookups, prometheus.CounterValue, float64(st.Hits), "hit")
	ch <- prometheus.MustNewConstMetric(descLookups, prometheus.CounterValue, float64(st.Misses), "miss")
	ch <- prometheus.MustNewConstMetric(descLease, prometheus.GaugeValue, held)
	ch <- prometheus.MustNewConstMetric(descLeaseErrors, prometheus.CounterValue, float64(st.LeaseErrors))
}
