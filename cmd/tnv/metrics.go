package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gofiber/fiber/v2"
	"github.com/tnv-s3/tnv/backend/tnv"
	"github.com/tnv-s3/tnv/gateway"
	"github.com/tnv-s3/tnv/gateway/status"
	"github.com/tnv-s3/tnv/metadb"
)

// metricsFlag adds --metrics-listen to a server command.
func (f *flags) metricsFlag() *string {
	return f.String("metrics-listen", "", "serve Prometheus metrics at http://ADDR/metrics (empty = off)")
}

// newRegistry is a registry with the Go runtime's and the process's metrics.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// serveMetrics serves reg at http://addr/metrics until ctx ends. A listen
// failure is returned at once; later errors are logged.
func serveMetrics(ctx context.Context, log *slog.Logger, addr string, reg *prometheus.Registry) error {
	if addr == "" {
		return nil
	}
	ln, err := listen(addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics: serve", "err", err)
		}
	}()
	context.AfterFunc(ctx, func() { srv.Close() })
	log.Info("metrics: listening", "addr", ln.Addr().String())
	return nil
}

// gatewayObservability returns the gateway's request metrics, the /_tnv/
// routes (health, status page, metrics) that serve them with the cluster's
// state as client's trackers report it, and the registry they gather, for
// --metrics-listen. The trackers' answer is kept a second: a scraper or a
// reloading page costs them one GROUPS a second at most.
func gatewayObservability(client *tnv.Client, db *metadb.DB) (*gateway.Metrics, func(fiber.Router), *prometheus.Registry) {
	reg := prometheus.NewRegistry() // status.Routes adds the Go and process collectors
	groups := status.Cached(client.Groups, time.Second)
	probe := func(ctx context.Context) error { return gateway.ProbeDB(ctx, db) }
	shares := func(ctx context.Context) ([]gateway.Share, error) { return gateway.ListShares(ctx, db) }
	return gateway.NewMetrics(reg), status.Routes(status.Config{Groups: groups, Registry: reg, Database: probe, Shares: shares}), reg
}
