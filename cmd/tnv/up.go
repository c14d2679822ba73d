package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tnv-s3/tnv/backend/tnv"
	"github.com/tnv-s3/tnv/gateway"
	"github.com/tnv-s3/tnv/gateway/sse"
	"github.com/tnv-s3/tnv/idserver"
	"github.com/tnv-s3/tnv/internal/rpcmetrics"
	"github.com/tnv-s3/tnv/internal/tnvauth"
	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/storagenode"
	"github.com/tnv-s3/tnv/tracker"
)

func init() {
	register(command{name: "up", summary: "run a whole cluster and the S3 gateway in one process", run: runUp})
}

// upGroups and upMembers are the shape of the local cluster: 2 groups of 2
// mirrored storage nodes.
const (
	upGroups  = 2
	upMembers = 2
)

// layout is the local cluster's addresses, chosen at the first start and
// kept in DATA/cluster.json: a storage node is known by its address, so it
// must come back on the same one.
type layout struct {
	Tracker  string            `json:"tracker"`
	IDServer string            `json:"idserver"`
	Storage  map[string]string `json:"storage"` // "g1-1" → addr
}

type credentials struct {
	AccessKey string `json:"access_key"`
	SecretKey string `json:"secret_key"`
}

func runUp(ctx context.Context, args []string) error {
	setProcs() // blocking disk syscalls: procs.go
	f := newFlags("up", "[--data DIR] [--s3-addr ADDR] [--mysql DSN]")
	data := f.String("data", "./tnv-data", "directory for the metadata database, the stores and the cluster's settings")
	s3addr := f.String("s3-addr", "127.0.0.1:9000", "address of the S3 endpoint")
	mysql := f.String("mysql", "", "run on this MySQL database (mysql://user:pass@host:port/db[?socket=PATH]) instead of the embedded SQLite")
	region := f.String("region", "us-east-1", "S3 region")
	access := f.String("access-key", "", "root access key (default: generated at the first start and kept in DATA/credentials.json)")
	secretKey := f.secret("secret-key", "root secret key (with --access-key)")
	metricsToken := f.secret("metrics-token", "bearer token that opens /_tnv/metrics and /_tnv/status (they otherwise need the root key's signature)")
	tlsCert := f.String("tls-cert", "", "serve HTTPS with this certificate (PEM)")
	tlsKey := f.String("tls-key", "", "private key of --tls-cert (PEM)")
	kmsKeyFile := f.String("kms-key-file", "", "master key of SSE-S3 encryption (default: generated at the first start in DATA/kms.key, mode 0600)")
	corsOrigins := f.String("cors-origins", "", "origins that buckets without CORS rules of their own answer cross-origin requests from, comma-separated (* = any; docs/browser.md)")
	lcInterval := f.Duration("lifecycle-interval", gateway.DefaultLifecycleInterval, "how often each bucket's lifecycle rules are applied; 0 = never")
	cluster := f.clusterFlags(false) // default: generated at the first start and kept in DATA/cluster-secret
	gc := f.gcFlags()
	if err := f.parse(args); err != nil {
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
	token, err := metricsToken.get(log)
	if err != nil {
		return err
	}
	if (*access == "") != (secret == "") {
		return errors.New("--access-key and --secret-key go together")
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if err := os.MkdirAll(*data, 0o755); err != nil {
		return err
	}
	dir, err := filepath.Abs(*data)
	if err != nil {
		return err
	}
	creds := credentials{*access, secret}
	credsFile := filepath.Join(dir, "credentials.json")
	generated := false
	if creds.AccessKey == "" {
		if creds, generated, err = loadOrCreateCredentials(log, credsFile); err != nil {
			return err
		}
	}
	auth, err := cluster.key()
	if err != nil {
		return err
	}
	secretNote := "given"
	if auth == nil && *cluster.open {
		secretNote = "none (--open-protocol)"
	} else if auth == nil {
		path := filepath.Join(dir, "cluster-secret")
		if auth, err = loadOrCreateClusterSecret(path); err != nil {
			return err
		}
		secretNote = path
	}
	dsn := "sqlite:" + filepath.Join(dir, "meta.db")
	if *mysql != "" {
		dsn = *mysql
	}
	db, err := metadb.Open(dsn)
	if err != nil {
		return err
	}
	defer db.Close()

	// The endpoint first: if its address is taken, nothing is recorded.
	s3ln, err := listen(*s3addr)
	if err != nil {
		return err
	}
	lay, lns, err := openLayout(filepath.Join(dir, "cluster.json"))
	if err != nil {
		s3ln.Close()
		return err
	}
	lns["s3"] = s3ln

	c := &upCluster{log: log, lns: lns}
	defer c.shutdown()
	ids, err := idserver.New(idserver.Config{DB: db, Auth: auth, Logger: log.With("role", "idserver")})
	if err != nil {
		return err
	}
	c.run("idserver", ids)
	trk, err := tracker.New(tracker.Config{DB: db, OfflineAfter: 30 * time.Second, Auth: auth, Logger: log.With("role", "tracker")})
	if err != nil {
		return err
	}
	c.run("tracker", trk)
	var nodes []*storagenode.Server
	// The storage nodes live in this process: the gateway reads their
	// files directly (OpenLocal) and sends them with sendfile.
	local := func(addr string) tnv.LocalNode {
		for _, sn := range nodes {
			if sn.Node() == addr {
				return sn
			}
		}
		return nil
	}
	client, err := tnv.New(tnv.Config{Trackers: []string{lay.Tracker}, Logger: log.With("role", "gateway"), Local: local, Auth: auth})
	if err != nil {
		return err
	}
	defer client.Close()
	metrics, extra, reg := gatewayObservability(client, db)
	// The nodes' request and phase metrics, summed over the four, beside
	// the gateway's at /_tnv/metrics.
	nodeMetrics := rpcmetrics.New("storage", reg)
	for g := 1; g <= upGroups; g++ {
		for m := 1; m <= upMembers; m++ {
			name := fmt.Sprintf("g%d-%d", g, m)
			sn, err := storagenode.New(storagenode.Config{
				Group:     fmt.Sprintf("g%d", g),
				Stores:    []string{filepath.Join(dir, "storage", name)},
				Trackers:  []string{lay.Tracker},
				IDServers: []string{lay.IDServer},
				DB:        db,
				Beat:      2 * time.Second,
				Auth:      auth,
				// The gateway below commits its index rows to db too: a
				// PUT's group log commit joins its index row's
				// (UPLOAD_STAGED, gateway/staged.go).
				Staging: true,
				Metrics: nodeMetrics,
				Logger:  log.With("role", "storage", "name", name),
			})
			if err != nil {
				return err
			}
			c.run(name, sn)
			nodes = append(nodes, sn)
		}
	}
	gcfg := gateway.Config{
		Metrics:    metrics,
		DB:         db,
		Blobs:      gateway.TNVStore{C: client},
		Region:     *region,
		AccessKey:  creds.AccessKey,
		SecretKey:  creds.SecretKey,
		Logger:     log.With("role", "gateway"),
		Extra:      extra,
		GCDelay:    *gc.delay,
		GCInterval: *gc.interval,

		MetricsToken:      token,
		CORSOrigins:       list(*corsOrigins),
		LifecycleInterval: lifecycleInterval(*lcInterval),
	}
	if *tlsCert != "" {
		if gcfg.TLS, err = tlsConfig(*tlsCert, *tlsKey); err != nil {
			return err
		}
	}
	if *kmsKeyFile != "" {
		gcfg.MasterKey, err = sse.LoadMasterKey(*kmsKeyFile)
	} else {
		gcfg.MasterKey, err = sse.EnsureMasterKeyFile(filepath.Join(*data, "kms.key"))
	}
	if err != nil {
		return fmt.Errorf("--kms-key-file: %w", err)
	}
	gw, err := gateway.New(gcfg)
	if err != nil {
		return err
	}
	c.run("s3", gw)

	if err := waitReadable(ctx, trk, upGroups*upMembers); err != nil {
		return err
	}
	scheme := "http"
	if gcfg.TLS != nil {
		scheme = "https"
	}
	endpoint := fmt.Sprintf("%s://%s", scheme, s3ln.Addr())
	printUp(os.Stdout, upBanner{
		DB: metadb.Redact(dsn), Endpoint: endpoint, Region: *region, Creds: creds,
		Generated: generated, Given: *access != "", CredsFile: credsFile, ClusterSecret: secretNote,
	})

	select {
	case <-ctx.Done():
		log.Info("up: shutting down")
		return nil
	case err := <-c.failed:
		return err
	}
}

// upCluster runs the servers of `tnv up` and stops them in reverse order.
type upCluster struct {
	log     *slog.Logger
	lns     map[string]net.Listener
	servers []namedServer
	wg      sync.WaitGroup
	failed  chan error
	once    sync.Once
}

type namedServer struct {
	name string
	srv  server
}

func (c *upCluster) run(name string, srv server) {
	c.once.Do(func() { c.failed = make(chan error, 16) })
	c.servers = append(c.servers, namedServer{name, srv})
	ln := c.lns[name]
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if err := srv.Serve(ln); err != nil {
			c.failed <- fmt.Errorf("%s: %w", name, err)
		}
	}()
}

// shutdown closes the gateway first (requests in flight finish), then the
// storage nodes (uploads in flight finish), then tracker and ID server.
func (c *upCluster) shutdown() {
	for i := len(c.servers) - 1; i >= 0; i-- {
		if err := c.servers[i].srv.Close(); err != nil {
			c.log.Warn("up: close", "server", c.servers[i].name, "err", err)
		}
	}
	c.wg.Wait()
	for name, ln := range c.lns { // those no server took
		if !c.started(name) {
			ln.Close()
		}
	}
}

func (c *upCluster) started(name string) bool {
	for _, s := range c.servers {
		if s.name == name {
			return true
		}
	}
	return false
}

// waitReadable waits until n storage nodes are ACTIVE and in sync.
func waitReadable(ctx context.Context, trk *tracker.Server, n int) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		ready := 0
		for _, nd := range trk.Nodes() {
			if nd.State == tracker.Active && nd.SyncState == 0 {
				ready++
			}
		}
		if ready >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d storage nodes ACTIVE after 60s", ready, n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// openLayout opens the listeners of the local cluster on the addresses kept
// in path, or at the first start on the usual ports (ephemeral ones where
// those are taken), and records them.
func openLayout(path string) (*layout, map[string]net.Listener, error) {
	var lay layout
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &lay); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
	case errors.Is(err, os.ErrNotExist):
		lay = layout{Tracker: "127.0.0.1:21000", IDServer: "127.0.0.1:22000", Storage: map[string]string{}}
		port := 23001
		for g := 1; g <= upGroups; g++ {
			for m := 1; m <= upMembers; m++ {
				lay.Storage[fmt.Sprintf("g%d-%d", g, m)] = fmt.Sprintf("127.0.0.1:%d", port)
				port++
			}
		}
	default:
		return nil, nil, err
	}
	fresh := err != nil
	lns := map[string]net.Listener{}
	fail := func(err error) (*layout, map[string]net.Listener, error) {
		for _, ln := range lns {
			ln.Close()
		}
		return nil, nil, err
	}
	open := func(name string, addr *string) error {
		ln, err := net.Listen("tcp", *addr)
		if err != nil && fresh {
			ln, err = net.Listen("tcp", "127.0.0.1:0")
		}
		if err != nil {
			return fmt.Errorf("%s: listen %s (kept in %s): %w", name, *addr, path, err)
		}
		*addr = ln.Addr().String()
		lns[name] = ln
		return nil
	}
	if err := open("tracker", &lay.Tracker); err != nil {
		return fail(err)
	}
	if err := open("idserver", &lay.IDServer); err != nil {
		return fail(err)
	}
	for g := 1; g <= upGroups; g++ {
		for m := 1; m <= upMembers; m++ {
			name := fmt.Sprintf("g%d-%d", g, m)
			addr, ok := lay.Storage[name]
			if !ok {
				return fail(fmt.Errorf("%s: no address for storage node %s", path, name))
			}
			if err := open(name, &addr); err != nil {
				return fail(err)
			}
			lay.Storage[name] = addr
		}
	}
	if fresh {
		if err := writeJSON(path, lay, 0o644); err != nil {
			return fail(err)
		}
	}
	return &lay, lns, nil
}

// loadOrCreateCredentials reads the root credentials kept in path, or at
// the first start generates them and writes them there (0600). generated
// says which: only then is the secret printed.
func loadOrCreateCredentials(log *slog.Logger, path string) (c credentials, generated bool, err error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if err := json.Unmarshal(b, &c); err != nil || c.AccessKey == "" || c.SecretKey == "" {
			return c, false, fmt.Errorf("%s: not valid credentials", path)
		}
		// Copied or restored with a wider mode: readable by others is
		// not a place for a secret.
		if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
			log.Warn("up: credentials file was readable by others; made it 0600", "path", path, "mode", st.Mode().Perm().String())
			if err := os.Chmod(path, 0o600); err != nil {
				return c, false, fmt.Errorf("%s: %w", path, err)
			}
		}
		return c, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return c, false, err
	}
	c = credentials{AccessKey: "TNV" + strings.ToUpper(randomHex(8)), SecretKey: randomHex(20)}
	return c, true, writeJSON(path, c, 0o600)
}

// loadOrCreateClusterSecret reads the cluster secret kept at path, or at
// the first start writes a new one there (32 random bytes, hex, mode 0600).
func loadOrCreateClusterSecret(path string) (*tnvauth.Key, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		b = []byte(randomHex(32) + "\n")
		if err = os.WriteFile(path+".tmp", b, 0o600); err == nil {
			err = os.Rename(path+".tmp", path)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("cluster secret: %w", err)
	}
	k, err := tnvauth.NewKey([]byte(strings.TrimRight(string(b), "\r\n")))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// writeJSON writes v to path atomically.
func writeJSON(path string, v any, mode os.FileMode) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	// A temporary file left by a crash may have any mode: start afresh,
	// and set the mode explicitly (WriteFile keeps an existing file's).
	tmp := path + ".tmp"
	os.Remove(tmp)
	if err := os.WriteFile(tmp, append(b, '\n'), mode); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
