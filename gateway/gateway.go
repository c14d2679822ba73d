// Package gateway is the S3 HTTP API of a TNV cluster. Buckets map to TNV
// app IDs, objects to lists of TNV blobs recorded in an SQL index; request
// and response bodies stream through (fiber with StreamRequestBody), so
// memory per request is bounded by buffers, never by object size.
package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/tnv-s3/tnv/gateway/index"
	"github.com/tnv-s3/tnv/gateway/sse"
	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/sigv4"
	"github.com/valyala/fasthttp"
)

// Config configures a Gateway. Zero values take the defaults shown.
type Config struct {
	DB     *metadb.DB // opened by the caller; the gateway migrates its s3_* tables
	Blobs  BlobStore  // where the bytes go (TNVStore in production)
	Region string     // default "us-east-1"
	// Domain is the base name of virtual-hosted-style requests: a Host of
	// "photos.s3.example.com" with Domain "s3.example.com" addresses bucket
	// "photos". Several may be given, comma-separated. Empty: path style only.
	Domain string
	// AccessKey and SecretKey are the root credentials; more users live in
	// s3_users. The root key owns every bucket.
	AccessKey, SecretKey string
	Logger               *slog.Logger // nil = slog.Default()
	// TLS, when set, makes Serve speak HTTPS.
	TLS *tls.Config

	BlobSize   int64         // largest blob an object is cut into, default 64 MiB
	GCDelay    time.Duration // replaced blobs stay readable this long (GETs in flight), default 2m
	GCInterval time.Duration // how often the collector looks for due blobs, default 10s
	IntentTTL  time.Duration // a blob whose write never published is collected after this, default 24h
	MaxSkew    time.Duration // allowed clock skew of signed requests, default 15m
	// Now is the clock of the gateway's time decisions: signature skew and
	// presign expiry, intent and collection due times. Default time.Now;
	// tests pass a clocktest.Clock to let time pass without waiting.
	// Socket deadlines and request timing stay on the wall clock.
	Now func() time.Time
	// Metrics counts requests by operation and status; nil = not counted.
	Metrics *Metrics
	// Extra mounts routes under the reserved prefix /_tnv/ (metrics, status).
	// All but /_tnv/health need the root key's signature or MetricsToken.
	Extra func(r fiber.Router)
	// MetricsToken, when set, opens the reserved routes to
	// "Authorization: Bearer <MetricsToken>" (a Prometheus scraper).
	MetricsToken string

	// Limits against slow, stalled and greedy clients.
	HeaderTimeout   time.Duration // a request's headers must arrive within this, default 20s
	BodyIdleTimeout time.Duration // a request body that sends nothing this long fails, default 60s
	MaxHeaderBytes  int           // request line and headers, default 64 KiB; larger is 431
	// MaxConnsPerClient caps the open connections of one client address,
	// default 1000, negative: no cap. Behind a proxy every client has the
	// proxy's address: raise it or turn it off.
	MaxConnsPerClient int
	// TrustedProxies are the proxies whose X-Forwarded-For names the
	// client a share link's viewer is counted by (docs/sharing.md).
	TrustedProxies []netip.Prefix
	// DBTimeout bounds each metadata database call, default 10s: a locked
	// or unreachable database fails requests with 503 instead of holding them.
	DBTimeout time.Duration

	// MasterKey, when set (32 bytes), seals the data keys of SSE-S3
	// objects (gateway/sse); without it SSE-S3 answers NotImplemented.
	MasterKey []byte
	// CORSOrigins are the origins buckets without CORS rules of their own
	// answer cross-origin requests from ("*": any); cors_default.go.
	CORSOrigins []string
	// LifecycleInterval is how often each bucket's lifecycle rules are
	// applied, default DefaultLifecycleInterval (1h); negative: never (the
	// configurations are still stored and answered).
	LifecycleInterval time.Duration
	// LifecycleRate caps the objects and uploads a lifecycle pass expires
	// per second, default DefaultLifecycleRate.
	LifecycleRate float64

	// Index, when set, is the object index instead of the SQL one in DB
	// (index.NewMemory in tests); the caller closes it.
	Index index.Index
	// LookupCache is how many bucket and object lookups the SQL index
	// keeps while this gateway holds the index lease (one gateway of a
	// database at a time; another's write waits for it to be given back):
	// 0 = index.DefaultLookupCache, < 0 = none.
	LookupCache int
}

// Gateway serves the S3 API.
type Gateway struct {
	cfg         Config
	log         *slog.Logger
	idx         index.Index
	ownIdx      bool // built from DB by New, closed by Close
	intents     *intentPool
	app         *fiber.App
	verifier    *sigv4.Verifier
	router      []route
	domains     []string
	blobSize    int64
	masterID    string // sse.MasterKeyID of cfg.MasterKey
	minPartSize int64
	shares      shareState  // share links' cache (share_cache.go)
	accessCache accessCache // buckets' policies and ACLs (access.go)

	defaultCORS *corsConfiguration // from Config.CORSOrigins; nil: none (cors_default.go)
	lc          *lifecycleState    // the lifecycle pass (lifecycle_pass.go)

	ctx    context.Context // ends with Close; outlives requests (bodies stream after handlers return)
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// New checks cfg, migrates the gateway's tables and builds the HTTP app.
// Nothing listens until Serve.
func New(cfg Config) (*Gateway, error) {
	if cfg.DB == nil && cfg.Index == nil {
		return nil, errors.New("gateway: Config.DB (or Config.Index) is required")
	}
	if cfg.Blobs == nil {
		return nil, errors.New("gateway: Config.Blobs is required")
	}
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return nil, errors.New("gateway: root access key and secret key are required")
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.BlobSize <= 0 {
		cfg.BlobSize = DefaultBlobSize
	}
	if cfg.GCDelay <= 0 {
		cfg.GCDelay = 2 * time.Minute
	}
	if cfg.GCInterval <= 0 {
		cfg.GCInterval = 10 * time.Second
	}
	if cfg.IntentTTL <= 0 {
		cfg.IntentTTL = 24 * time.Hour
	}
	if cfg.HeaderTimeout <= 0 {
		cfg.HeaderTimeout = 20 * time.Second
	}
	if cfg.BodyIdleTimeout <= 0 {
		cfg.BodyIdleTimeout = time.Minute
	}
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = 64 << 10 // long presigned URLs and many x-amz-meta-* headers
	}
	if cfg.MaxConnsPerClient == 0 {
		cfg.MaxConnsPerClient = 1000
	}
	if cfg.DBTimeout <= 0 {
		cfg.DBTimeout = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.LifecycleInterval == 0 {
		cfg.LifecycleInterval = DefaultLifecycleInterval
	}
	if cfg.LifecycleRate <= 0 {
		cfg.LifecycleRate = DefaultLifecycleRate
	}
	g := &Gateway{cfg: cfg, log: cfg.Logger, idx: cfg.Index, blobSize: cfg.BlobSize, minPartSize: MinPartSize}
	if cfg.MasterKey != nil {
		if len(cfg.MasterKey) != sse.KeySize {
			return nil, fmt.Errorf("gateway: a master key of %d bytes, want %d", len(cfg.MasterKey), sse.KeySize)
		}
		g.masterID = sse.MasterKeyID(cfg.MasterKey)
	}
	if g.idx == nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := index.Migrate(ctx, cfg.DB)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("gateway: %w", err)
		}
		sqlIdx := index.NewSQL(cfg.DB)
		sqlIdx.Clock = cfg.Now
		if cfg.LookupCache >= 0 {
			sqlIdx.StartCache(cfg.LookupCache)
		}
		g.idx, g.ownIdx = sqlIdx, true
		if cfg.Metrics != nil && cfg.LookupCache >= 0 {
			stats := sqlIdx.CacheStats
			cfg.Metrics.cache.stats.Store(&stats)
		}
	}
	// Every index call has a deadline: a locked or unreachable database
	// fails the request (503) instead of holding it.
	g.idx = index.WithTimeout(g.idx, cfg.DBTimeout)
	g.intents = newIntentPool(g.idx, int64(cfg.IntentTTL.Seconds()), g.nowUnix)
	g.intents.log = g.log
	for _, d := range strings.Split(cfg.Domain, ",") {
		if d = strings.ToLower(strings.TrimSpace(d)); d != "" {
			g.domains = append(g.domains, d)
		}
	}
	g.verifier = &sigv4.Verifier{Credentials: sigv4.CredentialsFunc(g.secretFor), MaxSkew: cfg.MaxSkew}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	g.router = g.routes()
	g.defaultCORS = newDefaultCORS(cfg.CORSOrigins)
	g.app = fiber.New(fiber.Config{
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		DisableStartupMessage:        true,
		DisableDefaultContentType:    true,
		DisableKeepalive:             false,
		ReadBufferSize:               cfg.MaxHeaderBytes, // fasthttp's limit on the header section
		WriteBufferSize:              64 << 10,
		IdleTimeout:                  2 * time.Minute,
		// ReadTimeout runs from a connection's (or a keep-alive request's)
		// first byte: it bounds the headers; the body has its idle timeout.
		ReadTimeout:  cfg.HeaderTimeout,
		ServerHeader: "TNV-S3",
		ErrorHandler: g.fiberError,
	})
	// A connection that times out before its first byte (a client's spare
	// keep-alive connection, never used) is closed without an answer, as
	// fasthttp closes an idle one after its first request: an answer
	// nobody asked for is one a client that sends a request at that
	// moment would take for its own (Go's transport logs it as
	// "Unsolicited response received on idle HTTP channel"). A request cut
	// off in its headers still gets 400 RequestTimeout (fiberError).
	serverError := g.app.Server().ErrorHandler
	g.app.Server().ErrorHandler = func(ctx *fasthttp.RequestCtx, err error) {
		if op, ok := err.(*net.OpError); ok && op.Timeout() {
			ctx.Conn().Close() // nothing read: fasthttp hands the bare read error
			return
		}
		serverError(ctx, err)
	}
	g.app.Server().HeaderReceived = func(*fasthttp.RequestHeader) fasthttp.RequestConfig {
		// Headers are in: the body (if any) gets the idle timeout, pushed
		// on at each read (idleReader).
		return fasthttp.RequestConfig{ReadTimeout: cfg.BodyIdleTimeout}
	}
	g.app.Use(g.recoverPanic)
	g.app.Use(g.serveShare) // before the reserved routes' guard: links have their own rules
	reserved := g.app.Group("/_tnv")
	reserved.Use(g.guardReserved)
	if cfg.Extra != nil {
		cfg.Extra(reserved)
	}
	reserved.Use(func(c *fiber.Ctx) error { return fiber.ErrNotFound })
	g.app.Use(g.serveS3)
	g.wg.Add(1)
	go g.collect()
	g.lc = newLifecycleState(cfg.LifecycleRate, g.idx)
	if cfg.LifecycleInterval > 0 {
		g.wg.Add(1)
		go g.lifecycleLoop()
	}
	return g, nil
}

// App is the fiber app, for tests (app.Test) and for mounting more routes.
func (g *Gateway) App() *fiber.App { return g.app }

// Serve answers S3 requests on ln (HTTPS when Config.TLS is set) until
// Close, then returns nil.
func (g *Gateway) Serve(ln net.Listener) error {
	if g.cfg.MaxConnsPerClient > 0 {
		ln = &clientLimiter{Listener: ln, max: g.cfg.MaxConnsPerClient, log: g.log, open: map[string]int{}}
	}
	if g.cfg.TLS != nil {
		ln = tls.NewListener(ln, g.cfg.TLS)
	}
	err := g.app.Listener(ln)
	if g.ctx.Err() != nil {
		return nil
	}
	return err
}

// ServeTLS serves HTTPS with a certificate and key from files.
func (g *Gateway) ServeTLS(ln net.Listener, certFile, keyFile string) error {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return fmt.Errorf("gateway: tls: %w", err)
	}
	g.cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	return g.Serve(ln)
}

// Close stops accepting, lets requests in flight finish for a while, stops
// the collector and drops the intent records it reserved and never used.
func (g *Gateway) Close() error {
	var err error
	g.once.Do(func() {
		g.cancel()
		err = g.app.ShutdownWithTimeout(10 * time.Second)
		g.wg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		g.intents.close(ctx)
		cancel()
		if g.ownIdx {
			g.idx.Close()
		}
	})
	return err
}

// ProbeDB reads the object index once, as GETs and LISTs do; the health
// check runs it under its deadline, so a locked or unreachable database
// makes the gateway unhealthy.
func ProbeDB(ctx context.Context, db *metadb.DB) error { return index.Probe(ctx, db) }

// secretFor finds the secret of an access key: the root key, then s3_users.
func (g *Gateway) secretFor(ak string) (string, bool) {
	if ak == g.cfg.AccessKey {
		return g.cfg.SecretKey, true
	}
	ctx, cancel := context.WithTimeout(g.ctx, 10*time.Second)
	defer cancel()
	s, ok, err := g.idx.Secret(ctx, ak)
	if err != nil {
		g.log.Warn("gateway: user lookup failed", "access_key", ak, "err", err)
	}
	return s, ok
}

// collect deletes blobs that were replaced, deleted or never published,
// once they are due.
func (g *Gateway) collect() {
	defer g.wg.Done()
	t := time.NewTicker(g.cfg.GCInterval)
	defer t.Stop()
	for {
		select {
		case <-g.ctx.Done():
			return
		case <-t.C:
		}
		for g.collectOnce(g.ctx) == 100 {
		}
	}
}

// collectConcurrency bounds the blob deletions the collector has in
// flight. One at a time, a deletion's round trips (the node's log commit,
// its mirrors told) bounded collection at a few hundred blobs a second, less
// than the PUTs that replace objects produce.
const collectConcurrency = 8

// collectOnce deletes up to 100 due blobs, collectConcurrency at a time,
// and returns how many rows it saw (0 when ctx ended).
func (g *Gateway) collectOnce(ctx context.Context) int {
	rows, err := g.idx.DueBlobs(ctx, g.nowUnix(), 100)
	if err != nil {
		if ctx.Err() == nil {
			g.log.Warn("gateway: gc: query", "err", err)
		}
		return 0
	}
	slots := make(chan struct{}, collectConcurrency)
	var wg sync.WaitGroup
	for _, r := range rows {
		if ctx.Err() != nil {
			break
		}
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			g.collectBlob(ctx, r)
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return 0
	}
	return len(rows)
}

// collectBlob deletes one due blob and forgets its row, or postpones the
// row with a backoff when the deletion failed.
func (g *Gateway) collectBlob(ctx context.Context, r index.GCRow) {
	err := g.cfg.Blobs.Delete(ctx, r.AppID, r.UserID, r.FileID)
	g.cfg.Metrics.gcBlob(err) // phases.go
	if err == nil || errors.Is(err, ErrBlobNotFound) {
		// A row that stays is deleted again next time: the blob is
		// gone, so that finds nothing and removes the row then.
		if err := g.idx.Collected(ctx, r.ID); err != nil && ctx.Err() == nil {
			g.log.Warn("gateway: gc: forget collected blob", "fileid", r.FileID, "err", err)
		}
		return
	}
	if ctx.Err() != nil {
		return
	}
	backoff := min(int64(60)<<min(r.Tries, 6), 3600)
	g.log.Warn("gateway: gc: delete blob", "appid", r.AppID, "userid", r.UserID, "fileid", r.FileID, "tries", r.Tries+1, "err", err)
	if err := g.idx.Postpone(ctx, r.ID, g.nowUnix()+backoff); err != nil && ctx.Err() == nil {
		g.log.Warn("gateway: gc: postpone", "fileid", r.FileID, "err", err)
	}
}
