package main

import (
	"context"
	"fmt"
	"time"

	"github.com/tnv-s3/tnv/idserver"
	"github.com/tnv-s3/tnv/internal/rpcmetrics"
	"github.com/tnv-s3/tnv/metadb"
)

func init() {
	register(command{name: "idserver", summary: "run an ID server (unique IDs for file paths)", run: runIDServer})
}

func runIDServer(ctx context.Context, args []string) error {
	f := newFlags("idserver", "--listen ADDR --db DSN [--step N] [--idle-timeout D]")
	addr := f.String("listen", ":22000", "address to listen on")
	dsn := f.String("db", "", "metadata database: mysql://user:pass@host:port/db[?socket=PATH] or sqlite:PATH")
	step := f.Int64("step", idserver.DefaultStep, "IDs reserved from the database per round trip")
	idle := f.Duration("idle-timeout", 5*time.Minute, "a client connection idle this long is closed (storage nodes keep theirs idle less: 30s)")
	metrics := f.metricsFlag()
	link := f.linkFlags("", true)
	if err := f.parse(args, "listen", "db"); err != nil {
		return err
	}
	log, err := f.logger()
	if err != nil {
		return err
	}
	auth, tc, err := link.server()
	if err != nil {
		return err
	}
	if *step < 1 || *step > 1e9 {
		return fmt.Errorf("--step must be in 1..1000000000, got %d", *step)
	}
	if *idle <= 0 {
		return fmt.Errorf("--idle-timeout must be positive, got %v", *idle)
	}
	db, err := metadb.Open(*dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	reg := newRegistry()
	srv, err := idserver.New(idserver.Config{DB: db, Step: *step, IdleTimeout: *idle, Logger: log, Metrics: rpcmetrics.New("idserver", reg), Auth: auth, TLS: tc})
	if err != nil {
		return err
	}
	return runServer(ctx, log, "idserver", srv, *addr, *metrics, reg,
		"db", metadb.Redact(*dsn), "step", *step, "idle_timeout", *idle, "auth", auth.String(), "tls", onOff(tc))
}
