package main

import (
	"context"
	"errors"
	"time"

	"github.com/tnv-s3/tnv/backend/tnv"
	"github.com/tnv-s3/tnv/gateway"
	"github.com/tnv-s3/tnv/metadb"
)

func init() {
	register(command{name: "gateway", summary: "run the S3 gateway in front of a TNV cluster", run: runGateway})
}

func runGateway(ctx context.Context, args []string) error {
	f := newFlags("gateway", "--listen ADDR --trackers A,B --db DSN [--region R] [--domain D] [--tls-cert FILE --tls-key FILE]")
	addr := f.String("listen", ":9000", "address to listen on")
	trackers := f.String("trackers", "", "tracker addresses host:port, comma-separated")
	dsn := f.String("db", "", "metadata database: mysql://user:pass@host:port/db or sqlite:PATH")
	region := f.String("region", "us-east-1", "the S3 region the gateway answers for")
	domain := f.String("domain", "", "base domain(s) of virtual-hosted-style requests (bucket.DOMAIN), comma-separated")
	accessKey := f.String("access-key", "", "root access key")
	secretKey := f.String("secret-key", "", "root secret key")
	tlsCert := f.String("tls-cert", "", "serve HTTPS with this certificate (PEM)")
	tlsKey := f.String("tls-key", "", "the certificate's private key (PEM)")
	blobSize := f.Int64("blob-size", gateway.DefaultBlobSize, "largest TNV blob an object is cut into, bytes")
	gcDelay := f.Duration("gc-delay", 2*time.Minute, "how long replaced or deleted blobs stay readable before they are deleted")
	cluster := f.clusterFlags(false)
	localReads := f.Bool("local-reads", true, "read the files of storage nodes on this machine through their --local-socket (sendfile) instead of over TCP")
	if err := f.parse(args, "listen", "trackers", "db", "access-key", "secret-key"); err != nil {
		return err
	}
	log, err := f.logger()
	if err != nil {
		return err
	}
	auth, err := cluster.key()
	if err != nil {
		return err
	}
	if auth == nil && !*cluster.open {
		log.Warn("gateway: no cluster secret: speaking the open TNV protocol, which servers with a secret refuse")
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	db, err := metadb.Open(*dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	client, err := tnv.New(tnv.Config{Trackers: list(*trackers), Logger: log, LocalReads: *localReads, Auth: auth})
	if err != nil {
		return err
	}
	defer client.Close()
	metrics, extra := gatewayObservability(client)
	cfg := gateway.Config{
		Metrics:   metrics,
		Extra:     extra,
		DB:        db,
		Blobs:     gateway.TNVStore{C: client},
		Region:    *region,
		Domain:    *domain,
		AccessKey: *accessKey,
		SecretKey: *secretKey,
		Logger:    log,
		BlobSize:  *blobSize,
		GCDelay:   *gcDelay,
	}
	if *tlsCert != "" {
		if cfg.TLS, err = tlsConfig(*tlsCert, *tlsKey); err != nil {
			return err
		}
	}
	gw, err := gateway.New(cfg)
	if err != nil {
		return err
	}
	scheme := "http"
	if cfg.TLS != nil {
		scheme = "https"
	}
	// Its metrics are served at /_tnv/metrics on its own port.
	return runServer(ctx, log, "gateway", gw, *addr, "", nil, "scheme", scheme, "trackers", *trackers,
		"db", metadb.Redact(*dsn), "region", *region, "domain", *domain, "access_key", *accessKey)
}
