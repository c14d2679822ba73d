package gateway

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Share requests and bytes are counted with the other requests, by
// operation (ShareGetObject, ShareHeadObject, CreateShare, RevokeShare);
// refusals of reads through a link are counted by reason as well.
func newShareRefusals() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tnv_s3_share_refusals_total",
		Help: "Reads through share links refused, by reason: unknown, revoked, expired, viewers (max_viewers reached), path (malformed link or a path leaving its prefix).",
	}, []string{"reason"})
}

func (g *Gateway) shareMetrics() *Metrics { return g.cfg.Metrics }

// refused counts a refused share request by reason.
func (m *Metrics) refused(op string, err error) {
	if m == nil {
		return
	}
	var rf *refusal
	switch {
	case errors.As(err, &rf):
		m.shareRefusals.WithLabelValues(rf.reason).Inc()
	case op == "ShareRefused":
		m.shareRefusals.WithLabelValues("path").Inc()
	}
}
