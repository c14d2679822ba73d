package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tnv-s3/tnv/backend/tnv"
	"github.com/tnv-s3/tnv/gateway"
	"github.com/tnv-s3/tnv/gateway/index"
	"github.com/tnv-s3/tnv/gateway/sse"
	"github.com/tnv-s3/tnv/metadb"
)

func init() {
	register(command{name: "gateway", summary: "run the S3 gateway in front of a TNV cluster", run: runGateway})
}

func runGateway(ctx context.Context, args []string) error {
	f := newFlags("gateway", "--listen ADDR --trackers A,B --db DSN [--region R] [--domain D] [--tls-cert FILE --tls-key FILE]")
	addr := f.String("listen", ":9000", "address to listen on")
	trackers := f.String("trackers", "", "tracker addresses host:port, comma-separated")
	dsn := f.String("db", "", "metadata database: mysql://user:pass@host:port/db[?socket=PATH] or sqlite:PATH")
	region := f.String("region", "us-east-1", "the S3 region the gateway answers for")
	domain := f.String("domain", "", "base domain(s) of virtual-hosted-style requests (bucket.DOMAIN), comma-separated")
	accessKey := f.String("access-key", "", "root access key")
	secretKey := f.secret("secret-key", "root secret key")
	tlsCert := f.String("tls-cert", "", "serve HTTPS with this certificate (PEM)")
	tlsKey := f.String("tls-key", "", "the certificate's private key (PEM)")
	blobSize := f.Int64("blob-size", gateway.DefaultBlobSize, "largest TNV blob an object is cut into, bytes")
	gc := f.gcFlags()
	intentTTL := f.Duration("intent-ttl", 24*time.Hour, "the blobs of a write that never published (its gateway died mid-upload) are deleted after this; keep it above the longest upload")
	metricsToken := f.secret("metrics-token", "bearer token that opens /_tnv/metrics and /_tnv/status on the S3 port (they otherwise need the root key's signature)")
	metricsListen := f.String("metrics-listen", "", "also serve Prometheus metrics at http://ADDR/metrics, without a credential: for a scraper on a private address (empty = off)")
	headerTimeout := f.Duration("header-timeout", 20*time.Second, "a request's headers must arrive within this (slow or stalled clients are disconnected)")
	bodyIdle := f.Duration("body-idle-timeout", time.Minute, "a request body that sends nothing for this long fails with 400 RequestTimeout")
	maxHeader := f.Int("max-header-bytes", 64<<10, "largest request line and headers; larger is answered 431")
	maxConns := f.Int("max-conns-per-client", 1000, "open connections allowed per client address, 0 = no cap (behind a proxy all clients share its address)")
	trustedProxies := f.String("trusted-proxies", "", "CIDRs of proxies whose X-Forwarded-For names the client a share link's viewer is counted by, comma-separated (docs/sharing.md)")
	dbTimeout := f.Duration("db-timeout", 10*time.Second, "deadline of each metadata database call; past it requests fail with 503")
	corsOrigins := f.String("cors-origins", "", "origins that buckets without CORS rules of their own answer cross-origin requests from, comma-separated (* = any; docs/browser.md)")
	cluster := f.clusterFlags(false)
	tnvTLS := f.tlsFlags("tnv-", false) // --tls-* are the S3 port's HTTPS
	kmsKeyFile := f.String("kms-key-file", "", "master key of SSE-S3 encryption: a file of 64 hex digits, mode 0600 (without it SSE-S3 answers NotImplemented; SSE-C needs none)")
	lcInterval := f.Duration("lifecycle-interval", gateway.DefaultLifecycleInterval, "how often each bucket's lifecycle rules are applied (expired objects deleted, stale multipart uploads aborted); 0 = never")
	lcRate := f.Int64("lifecycle-rate", gateway.DefaultLifecycleRate, "most objects and uploads the lifecycle pass expires per second")
	lookupCache := f.Int("lookup-cache", index.DefaultLookupCache, "bucket and object lookups kept in memory while this gateway holds the index lease (one gateway of a database at a time; another's first write waits for it to be given back, about 0.5 s, at most 2 s); 0 or less = none")
	localReads := f.Bool("local-reads", true, "read the files of storage nodes on this machine through their --local-socket (sendfile) instead of over TCP")
	if err := f.parse(args, "listen", "trackers", "db", "access-key"); err != nil {
		return err
	}
	log, err := f.logger()
	if err != nil {
		return err
	}
	secret, err := secretKey.get(log)
	if err != nil {
		return err
	}
	if secret == "" {
		return errors.New("--secret-key is required (or --secret-key-file, $TNV_SECRET_KEY, $TNV_SECRET_KEY_FILE)")
	}
	token, err := metricsToken.get(log)
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
	if *lcRate <= 0 {
		return errors.New("--lifecycle-rate must be a positive number of objects per second")
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	tnvTC, err := tnvTLS.client()
	if err != nil {
		return fmt.Errorf("--tnv-tls-*: %w", err)
	}
	db, err := metadb.Open(*dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	client, err := tnv.New(tnv.Config{Trackers: list(*trackers), Logger: log, LocalReads: *localReads, Auth: auth, TLS: tnvTC})
	if err != nil {
		return err
	}
	defer client.Close()
	metrics, extra, reg := gatewayObservability(client, db)
	cfg := gateway.Config{
		Metrics:    metrics,
		Extra:      extra,
		DB:         db,
		Blobs:      gateway.TNVStore{C: client},
		Region:     *region,
		Domain:     *domain,
		AccessKey:  *accessKey,
		SecretKey:  secret,
		Logger:     log,
		BlobSize:   *blobSize,
		GCDelay:    *gc.delay,
		GCInterval: *gc.interval,
		IntentTTL:  *intentTTL,

		MetricsToken:      token,
		HeaderTimeout:     *headerTimeout,
		BodyIdleTimeout:   *bodyIdle,
		MaxHeaderBytes:    *maxHeader,
		MaxConnsPerClient: *maxConns,
		DBTimeout:         *dbTimeout,
		CORSOrigins:       list(*corsOrigins),
		LifecycleInterval: lifecycleInterval(*lcInterval),
		LifecycleRate:     float64(*lcRate),
		LookupCache:       cmp.Or(max(*lookupCache, 0), -1),
	}
	if *maxConns == 0 {
		cfg.MaxConnsPerClient = -1
	}
	if cfg.TrustedProxies, err = parseCIDRs(*trustedProxies); err != nil {
		return fmt.Errorf("--trusted-proxies: %w", err)
	}
	if *tlsCert != "" {
		if cfg.TLS, err = tlsConfig(*tlsCert, *tlsKey); err != nil {
			return err
		}
	}
	if *kmsKeyFile != "" {
		if cfg.MasterKey, err = sse.LoadMasterKey(*kmsKeyFile); err != nil {
			return fmt.Errorf("--kms-key-file: %w", err)
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
	// Its metrics are served at /_tnv/metrics on its own port (with a
	// credential), and at --metrics-listen without.
	return runServer(ctx, log, "gateway", gw, *addr, *metricsListen, reg, "scheme", scheme, "trackers", *trackers,
		"db", metadb.Redact(*dsn), "region", *region, "domain", *domain, "access_key", *accessKey)
}

// lifecycleInterval is --lifecycle-interval as gateway.Config takes it:
// 0 (never) is negative there, where 0 is the default.
func lifecycleInterval(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}
