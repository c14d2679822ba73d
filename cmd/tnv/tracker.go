package main

import (
	"context"
	"fmt"
	"net"

	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/tracker"
)

func init() {
	register(command{name: "tracker", summary: "run a tracker (storage node registry, user routing)", run: runTracker})
}

func runTracker(ctx context.Context, args []string) error {
	f := newFlags("tracker", "--listen ADDR --db DSN [--offline-after DURATION] [--registered-groups-only]")
	listen := f.String("listen", ":21000", "address to listen on")
	dsn := f.String("db", "", "metadata database: mysql://user:pass@host:port/db or sqlite:PATH")
	offline := f.Duration("offline-after", tracker.DefaultOfflineAfter, "a storage node without JOIN or BEAT this long is OFFLINE")
	registered := f.Bool("registered-groups-only", false, "refuse nodes of groups not already in t_groups_info")
	if err := f.parse(args, "listen", "db"); err != nil {
		return err
	}
	log, err := f.logger()
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
	srv, err := tracker.New(tracker.Config{DB: db, OfflineAfter: *offline, RegisteredOnly: *registered, Logger: log})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		srv.Close()
		return fmt.Errorf("listen %s: %w", *listen, err)
	}
	log.Info("tracker: listening", "addr", ln.Addr().String(), "db", metadb.Redact(*dsn),
		"offline_after", offline.String(), "registered_groups_only", *registered)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		srv.Close()
		return err
	case <-ctx.Done():
	}
	log.Info("tracker: shutting down")
	srv.Close()
	return <-errc
}
