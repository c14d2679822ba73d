package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/prometheus/client_golang/prometheus"
)

// server is what every TNV role and the gateway are: Serve until Close.
type server interface {
	Serve(ln net.Listener) error
	Close() error
}

// listen opens a TCP listener with a clear error.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return ln, nil
}

// runServer listens on addr, serves reg at http://metricsAddr/metrics when
// metricsAddr is set, logs that name is listening (with attrs), and runs
// srv until ctx ends. srv is closed on every path.
func runServer(ctx context.Context, log *slog.Logger, name string, srv server, addr, metricsAddr string,
	reg *prometheus.Registry, attrs ...any) error {
	ln, err := listen(addr)
	if err != nil {
		srv.Close()
		return err
	}
	if err := serveMetrics(ctx, log, metricsAddr, reg); err != nil {
		ln.Close()
		srv.Close()
		return err
	}
	log.Info(name+": listening", append([]any{"addr", ln.Addr().String()}, attrs...)...)
	return serveUntil(ctx, log, name, srv, ln)
}

// serveUntil runs srv on ln until ctx ends (then closes it gracefully) or
// Serve fails.
func serveUntil(ctx context.Context, log *slog.Logger, name string, srv server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		srv.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return errors.New(name + ": stopped serving")
	case <-ctx.Done():
	}
	log.Info(name+": shutting down", "addr", ln.Addr().String())
	cerr := srv.Close()
	if err := <-errc; err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return cerr
}

// tlsConfig loads a certificate and key for an HTTPS listener.
func tlsConfig(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}
