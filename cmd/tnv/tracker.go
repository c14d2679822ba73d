package main

import (
	"context"
	"fmt"
	"time"

	"github.com/tnv-s3/tnv/gateway/status"
	"github.com/tnv-s3/tnv/internal/rpcmetrics"
	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/tracker"
)

func init() {
	register(command{name: "tracker", summary: "run a tracker (storage node registry, user routing)", run: runTracker})
}

func runTracker(ctx context.Context, args []string) error {
	f := newFlags("tracker", "--listen ADDR --db DSN [--offline-after DURATION] [--registered-groups-only]")
	addr := f.String("listen", ":21000", "address to listen on")
	dsn := f.String("db", "", "metadata database: mysql://user:pass@host:port/db[?socket=PATH] or sqlite:PATH")
	offline := f.Duration("offline-after", tracker.DefaultOfflineAfter, "a storage node without JOIN or BEAT this long is OFFLINE")
	registered := f.Bool("registered-groups-only", false, "refuse nodes of groups not already in t_groups_info")
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
	if *offline <= 0 {
		return fmt.Errorf("--offline-after must be positive, got %v", *offline)
	}
	db, err := metadb.Open(*dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	reg := newRegistry()
	srv, err := tracker.New(tracker.Config{DB: db, OfflineAfter: *offline, RegisteredOnly: *registered,
		Logger: log, Metrics: rpcmetrics.New("tracker", reg), Auth: auth, TLS: tc})
	if err != nil {
		return err
	}
	// The tracker's own view of the nodes, as the gateway's /_tnv/metrics shows it.
	reg.MustRegister(status.NewClusterCollector(func(context.Context) (string, error) {
		return srv.GroupsText(time.Now()), nil
	}))
	return runServer(ctx, log, "tracker", srv, *addr, *metrics, reg,
		"db", metadb.Redact(*dsn), "offline_after", offline.String(), "registered_groups_only", *registered, "auth", auth.String(), "tls", onOff(tc))
}
