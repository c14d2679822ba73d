package main

import (
	"context"
	"fmt"
	"net"

	"github.com/tnv-s3/tnv/idserver"
	"github.com/tnv-s3/tnv/metadb"
)

func init() {
	register(command{name: "idserver", summary: "run an ID server (unique IDs per key, reserved from SQL)", run: runIDServer})
}

func runIDServer(ctx context.Context, args []string) error {
	f := newFlags("idserver", "--listen ADDR --db DSN [--step N]")
	listen := f.String("listen", ":22000", "address to listen on")
	dsn := f.String("db", "", "metadata database: mysql://user:pass@host:port/db or sqlite:PATH")
	step := f.Int64("step", idserver.DefaultStep, "IDs reserved from the database per round trip")
	if err := f.parse(args, "listen", "db"); err != nil {
		return err
	}
	log, err := f.logger()
	if err != nil {
		return err
	}
	db, err := metadb.Open(*dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	srv, err := idserver.New(idserver.Config{DB: db, Step: *step, Logger: log})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", *listen, err)
	}
	log.Info("idserver: listening", "addr", ln.Addr().String(), "db", metadb.Redact(*dsn), "step", *step)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		srv.Close()
		return err
	case <-ctx.Done():
	}
	log.Info("idserver: shutting down")
	srv.Close()
	return <-errc
}
