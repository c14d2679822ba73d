package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestPutClock_RecordsEachPhaseOnceAndNothingWithoutMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := &Gateway{cfg: Config{Metrics: NewMetrics(reg)}}
	r := &request{start: time.Now().Add(-time.Millisecond), ctx: context.Background()}
	p := g.putClock(r)
	if putClockOf(r.ctx) != p {
		t.Fatal("the clock is not in the request's context")
	}
	p.add(phaseIntent)
	p.add(phaseBlob) // two blobs: one observation per PUT all the same
	p.add(phaseBlob)
	p.add(phasePublish)
	p.done()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == "tnv_s3_put_phase_seconds" && len(f.GetMetric()) != numPhases {
			t.Fatalf("%d phase series, want %d", len(f.GetMetric()), numPhases)
		}
	}
	for _, ph := range phaseNames {
		h := g.cfg.Metrics.putPhases.vec.WithLabelValues(ph).(prometheus.Histogram)
		if c := histCount(t, h); c != 1 {
			t.Errorf("phase %s observed %d times, want 1", ph, c)
		}
	}
	if tot := histSum(t, g.cfg.Metrics.putPhases.vec.WithLabelValues("total").(prometheus.Histogram)); tot < 0.001 {
		t.Errorf("total %v s, want at least the millisecond before the clock started", tot)
	}

	off := &Gateway{}
	r2 := &request{start: time.Now(), ctx: context.Background()}
	q := off.putClock(r2)
	q.add(phaseBlob) // nil: nothing happens
	q.done()
	if q != nil || putClockOf(r2.ctx) != nil {
		t.Fatal("a gateway without Metrics has a clock")
	}
	var m *Metrics
	m.gcBlob(nil) // nil Metrics count nothing
}

func histCount(t *testing.T, h prometheus.Histogram) uint64 {
	t.Helper()
	var d dtoMetric
	if err := h.Write(&d.m); err != nil {
		t.Fatal(err)
	}
	return d.m.GetHistogram().GetSampleCount()
}

func histSum(t *testing.T, h prometheus.Histogram) float64 {
	t.Helper()
	var d dtoMetric
	if err := h.Write(&d.m); err != nil {
		t.Fatal(err)
	}
	return d.m.GetHistogram().GetSampleSum()
}

// BenchmarkPutClock is what the phase timing costs a PUT.
func BenchmarkPutClock(b *testing.B) {
	g := &Gateway{cfg: Config{Metrics: NewMetrics(prometheus.NewRegistry())}}
	for b.Loop() {
		r := &request{start: time.Now(), ctx: context.Background()}
		p := g.putClock(r)
		p.add(phaseIntent)
		p.add(phaseBlob)
		p.add(phasePublish)
		p.done()
	}
}

type dtoMetric struct{ m dto.Metric }
