// Package storagenode is the TNV storage node: it keeps files on disk in
// 512-ary paths under its store directories, answers UPLOAD, FILESIZE,
// DOWNLOAD and DELETE (commands 70..73), joins and beats to every tracker,
// and mirrors its group: every upload and delete is fanned out to the other
// members and recorded in a per-group log in SQL, from which a member that
// was away catches up (docs/replication.md).
package storagenode

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tnv-s3/tnv/internal/connpool"
	"github.com/tnv-s3/tnv/internal/frameserver"
	"github.com/tnv-s3/tnv/internal/rpcmetrics"
	"github.com/tnv-s3/tnv/internal/tnvauth"
	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/proto"
)

// Version is what the node reports in JOIN.
const Version = "2.0"

// Config configures a Server. Zero values take the defaults shown.
type Config struct {
	Group     string     // required: the node's group
	Stores    []string   // required: store directories (created if missing)
	Trackers  []string   // tracker addresses; the node joins and beats to each
	IDServers []string   // ID server addresses; required for uploads
	DB        *metadb.DB // required, already opened; New migrates it

	// Advertise is the host (IP) peers and clients reach the node at; default
	// the listener's IP, or for a wildcard listener the local address used
	// to reach the first tracker. Port is the advertised port; default the
	// listener's.
	Advertise string
	Port      int

	Beat          time.Duration // BEAT interval, default 10s
	Retention     time.Duration // soft-deleted files are purged after it, default 24h
	PurgeInterval time.Duration // how often the purge runs, default min(Retention/4, 10m), at least 1s
	Reserve       int64         // bytes left free on each store's file system, default 0

	// HealthInterval is how often each store is probed (a small file
	// written and fsynced) to learn whether it takes writes; a failed
	// write probes at once. Default 2s.
	HealthInterval time.Duration

	IdleTimeout     time.Duration // an idle client connection is closed after it, default 5m
	IOTimeout       time.Duration // progress deadline of a transfer, default 60s
	ShutdownTimeout time.Duration // how long Close lets requests in flight finish, default 10s
	// PoolIdleTimeout closes the node's idle pooled connections to ID
	// servers, trackers and peers; it must stay below their idle timeouts
	// (5m by default), so that a server never closes one the pool still
	// trusts. Default 30s.
	PoolIdleTimeout time.Duration
	// Dial opens the node's connections to ID servers, trackers and peers
	// (the seam for a handshake); nil = plain TCP.
	Dial connpool.DialFunc

	// Replication (docs/replication.md).
	ReplicaTimeout time.Duration // a member that makes no progress for this long is skipped, default 5s
	PeerBackoff    time.Duration // a skipped member is left out of fan-outs this long, default 10s
	MembersTTL     time.Duration // how long the tracker's MEMBERS answer is cached, default 3s
	SyncInterval   time.Duration // how often the group log is read, default 1s
	PendingTTL     time.Duration // an uncommitted copy older than this is dropped, default 10m
	// Integrity (docs/replication.md, "Checksums"): every copy is verified
	// against its CRC32C at least once per ScrubEvery by a background
	// scrub with repair reading at most ScrubRate bytes/s, and a read
	// verifies a copy whose last verification is older than ScrubEvery.
	ScrubEvery  time.Duration // default 7 days; negative = no background scrub (reads still verify after 7 days)
	ScrubRate   int64         // bytes/s the background scrub reads at most, default 16 MiB/s
	SyncWorkers int           // files fetched in parallel while catching up, default 16

	// LocalSocket, when set, is a Unix socket (mode 0600) on which
	// processes of this machine running as this user — a gateway — open
	// the node's files directly (LOCAL_OPEN) and send them with sendfile,
	// instead of receiving them over TCP. NODESTAT names it.
	LocalSocket string

	// RowCache bounds the rows kept for the reads a gateway vouches live
	// (DOWNLOAD_LIVE, LOCAL_OPEN_LIVE; rowcache.go): 0 = DefaultRowCache,
	// negative = none (every read asks the database).
	RowCache int

	// Auth is the cluster secret: every TCP connection to the node must
	// prove it before its first frame, and the node proves it to the
	// trackers, ID servers and members it dials. nil = open protocol.
	// The LocalSocket is not authenticated: its mode 0600 admits only
	// this user, who can read the secret anyway (docs/operations.md).
	Auth *tnvauth.Key
	// TLS makes the node listen on TLS (tnvtls.Files.Server), PeerTLS
	// makes it dial the trackers, ID servers and members on TLS
	// (tnvtls.Files.Client); nil = plain TCP. The LocalSocket stays plain.
	TLS, PeerTLS *tls.Config

	Metrics *rpcmetrics.Metrics // counts requests for --metrics-listen; nil = not counted
	Logger  *slog.Logger        // nil = slog.Default()

	// Now is the clock of the node's time decisions and the times it
	// stamps on rows and log entries: retention and purge, PendingTTL, log
	// compaction, holes in the group log. Default time.Now; tests pass a
	// clocktest.Clock to let time pass without waiting. Socket deadlines,
	// pacing and file mtimes stay on the wall clock.
	Now func() time.Time

	// Staging makes the node take UPLOAD_STAGED (staged.go): set only
	// where a client in this process commits what it stages (tnv up's
	// gateway); elsewhere the command is refused with ENOSYS.
	Staging bool
	// StagedTTL is how long a staged upload waits for its commit before
	// it is removed, default 30s.
	StagedTTL time.Duration

	// noLinked: the node neither lists nor takes REPLICATE_LINKED, as a
	// node of an earlier release (tests).
	noLinked bool
}

func (c *Config) defaults() error {
	if c.DB == nil {
		return errors.New("storagenode: Config.DB is nil")
	}
	if !proto.ValidGroupName(c.Group) {
		return fmt.Errorf("storagenode: bad group name %q", c.Group)
	}
	if len(c.Stores) == 0 {
		return errors.New("storagenode: no store directory")
	}
	if c.Advertise != "" && (len(c.Advertise) >= proto.HostNameSize) {
		return fmt.Errorf("storagenode: advertised host %q too long", c.Advertise)
	}
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("storagenode: bad port %d", c.Port)
	}
	d := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	d(&c.Beat, 10*time.Second)
	d(&c.Retention, 24*time.Hour)
	d(&c.PurgeInterval, min(c.Retention/4, 10*time.Minute))
	d(&c.HealthInterval, 2*time.Second)
	if c.ScrubEvery == 0 {
		c.ScrubEvery = DefaultScrubEvery
	}
	if c.ScrubRate <= 0 {
		c.ScrubRate = DefaultScrubRate
	}
	c.PurgeInterval = max(c.PurgeInterval, time.Second)
	d(&c.IdleTimeout, 5*time.Minute)
	d(&c.IOTimeout, 60*time.Second)
	d(&c.ShutdownTimeout, 10*time.Second)
	d(&c.PoolIdleTimeout, 30*time.Second)
	d(&c.ReplicaTimeout, 5*time.Second)
	d(&c.PeerBackoff, 10*time.Second)
	d(&c.MembersTTL, 3*time.Second)
	d(&c.SyncInterval, time.Second)
	d(&c.PendingTTL, 10*time.Minute)
	d(&c.StagedTTL, 30*time.Second)
	if c.SyncWorkers <= 0 {
		c.SyncWorkers = 16
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Server is a storage node. Create it with New, run it with Serve.
type Server struct {
	cfg Config
	db  *metadb.DB
	st  *stmts
	// readables batch the readable checks of concurrent reads, per shard
	// (MySQL; nil on SQLite).
	readables [4]*metadb.ReadBatch[proto.FileRef, *fileRow]
	// rows are this node's rows that reads found readable lately, for the
	// live reads (rowcache.go).
	rows   *rowCache
	log    *slog.Logger
	stores []*store
	byKey  map[string]*store

	scrub scrubProgress

	probeNow        chan struct{} // a write failed: probe the stores now
	underReplicated atomic.Int64  // acknowledged uploads with fewer copies than members

	node string // advertised host:port, the node's identity in SQL; set by Serve
	host string
	port uint16

	pool     *connpool.Pool // to ID servers and trackers
	ids      *idClient
	trackers *trackerClient
	peers    *peerClient
	sync     *syncer

	ctx    context.Context // background work; cancelled by Close
	cancel context.CancelFunc
	bg     sync.WaitGroup

	mu      sync.Mutex
	uln     net.Listener // LocalSocket's
	conns   frameserver.Set
	served  bool
	closing atomic.Bool

	bufs sync.Pool

	inflightMu sync.Mutex
	inflight   map[proto.FileRef]bool

	pending pendingCopies // the mirror's copies awaiting their put (sync.go)
	limbo   limboCopies   // copies received without a row (REPLICATE_LINKED, limbo.go)
	staged  stagedPuts    // uploads whose commit waits for their client (UPLOAD_STAGED, staged.go)
	// linkedPeers: what each peer's NODESTAT said of REPLICATE_LINKED
	// (peers.go).
	linkedPeers sync.Map

	// lateSeq: log numbers reserved after the copies are durable, not
	// while (earlySeq); BenchmarkUploadMirrored4KiB compares the two.
	lateSeq bool
}

const bufSize = 256 << 10

// New checks cfg, opens the store directories and migrates the tables.
func New(cfg Config) (*Server, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, db: cfg.DB, log: cfg.Logger.With("group", cfg.Group), byKey: map[string]*store{},
		inflight: map[proto.FileRef]bool{}, probeNow: make(chan struct{}, 1)}
	s.bufs.New = func() any { b := make([]byte, bufSize); return &b }
	for _, d := range cfg.Stores {
		st, err := openStore(d)
		if err != nil {
			return nil, fmt.Errorf("storagenode: %w", err)
		}
		if o := s.byKey[st.key]; o != nil {
			return nil, fmt.Errorf("storagenode: %s and %s are the same store", o.dir, st.dir)
		}
		s.stores = append(s.stores, st)
		s.byKey[st.key] = st
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := Migrate(ctx, cfg.DB); err != nil {
		return nil, fmt.Errorf("storagenode: %w", err)
	}
	st, err := prepare(ctx, cfg.DB)
	if err != nil {
		return nil, fmt.Errorf("storagenode: %w", err)
	}
	s.st = st
	s.newReadableBatches()
	if n := cmp.Or(cfg.RowCache, DefaultRowCache); n > 0 {
		s.rows = newRowCache(n)
	}
	// The group's log counter, made now rather than by the first appends
	// racing to make it.
	if _, err := st.seqSeed.ExecContext(ctx, cfg.Group, cfg.Group, cfg.Group); err != nil {
		st.close()
		return nil, fmt.Errorf("storagenode: group log counter: %w", err)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	// The cluster handshake on each TCP connection before its first frame
	// (not on the local socket: its mode 0600 is its guard).
	s.conns.Auth, s.conns.AuthReply, s.conns.Log, s.conns.TLS = cfg.Auth, proto.CmdStorageReply, s.log, cfg.TLS
	s.pool = s.newPool(dialTimeout)
	s.ids = newIDClient(cfg.IDServers, cfg.IOTimeout, s.pool)
	s.peers = newPeerClient(s)
	s.sync = newSyncer(s)
	s.checkStores()
	return s, nil
}

// Node is the node's identity, host:port as advertised; empty before Serve.
func (s *Server) Node() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.node
}

// Serve accepts connections on ln until Close. The first call also starts
// joining the trackers, beating, catching up and purging.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return nil
	}
	if s.served {
		s.mu.Unlock()
		return errors.New("storagenode: Serve called twice")
	}
	s.served = true
	if err := s.identify(ln); err != nil {
		s.mu.Unlock()
		return err
	}
	if s.cfg.LocalSocket != "" {
		uln, err := listenLocal(s.cfg.LocalSocket)
		if err != nil {
			s.mu.Unlock()
			return fmt.Errorf("storagenode: local socket: %w", err)
		}
		s.uln = uln
	}
	s.mu.Unlock()
	s.log = s.log.With("node", s.node)
	s.log.Info("storage: serving", "stores", len(s.stores), "local_socket", s.cfg.LocalSocket)
	s.trackers = newTrackerClient(s)
	s.startBackground()
	if s.uln != nil {
		go s.conns.Serve(s.uln, s.serveConn)
	}
	return s.conns.Serve(ln, s.serveConn)
}

// identify settles the advertised host and port.
func (s *Server) identify(ln net.Listener) error {
	host, port := s.cfg.Advertise, s.cfg.Port
	ta, _ := ln.Addr().(*net.TCPAddr)
	if port == 0 {
		if ta == nil {
			return fmt.Errorf("storagenode: listener %s: set Config.Port", ln.Addr())
		}
		port = ta.Port
	}
	if host == "" {
		if ta != nil && !ta.IP.IsUnspecified() {
			host = ta.IP.String()
		} else {
			host = outboundIP(s.cfg.Trackers)
		}
	}
	if len(host) >= proto.HostNameSize {
		return fmt.Errorf("storagenode: advertised host %q too long", host)
	}
	s.host, s.port = host, uint16(port)
	s.node = net.JoinHostPort(host, strconv.Itoa(port))
	return nil
}

// outboundIP is the local address a connection to the first tracker would
// use (no packet is sent), or 127.0.0.1.
func outboundIP(trackers []string) string {
	for _, t := range trackers {
		c, err := net.Dial("udp", t)
		if err != nil {
			continue
		}
		a := c.LocalAddr().(*net.UDPAddr).IP.String()
		c.Close()
		return a
	}
	return "127.0.0.1"
}

func (s *Server) startBackground() {
	s.go_(s.trackers.run)
	s.go_(s.sync.run)
	s.go_(s.purgeLoop)
	s.go_(s.healthLoop)
	if s.cfg.ScrubEvery > 0 {
		s.go_(s.scrubLoop)
	}
}

func (s *Server) go_(f func(ctx context.Context)) {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		f(s.ctx)
	}()
}

// Close stops accepting, closes idle connections, lets requests in flight
// finish for up to ShutdownTimeout (then cuts them: an upload cut short
// leaves no file and no row), and stops the background work.
func (s *Server) Close() error {
	if !s.closing.CompareAndSwap(false, true) {
		return nil
	}
	// The listeners close (the local socket's removes its file), idle
	// connections close, requests in flight get ShutdownTimeout.
	if s.conns.Close(s.cfg.ShutdownTimeout) {
		s.log.Warn("storage: requests still running at shutdown; cut them")
	}
	for _, p := range s.staged.drain() {
		s.abandonStaged(p) // nobody is left to commit them
	}
	s.cancel()
	s.bg.Wait()
	s.pool.Close()
	s.peers.close()
	s.st.close()
	return nil
}

// nowUnix reads the node's clock in the metadata's unit, seconds.
func (s *Server) nowUnix() int64 { return s.cfg.Now().Unix() }

func (s *Server) getBuf() *[]byte  { return s.bufs.Get().(*[]byte) }
func (s *Server) putBuf(b *[]byte) { s.bufs.Put(b) }

// conn is one client (or peer) connection, serving requests in sequence.
// nc is the connection itself (sendfile and descriptor passing need it);
// its frameserver.Conn marks requests in progress for Close.
type conn struct {
	s  *Server
	nc net.Conn
	br *bufio.Reader

	pushed time.Time
}

// Read reads the request stream with a progress deadline.
func (c *conn) Read(p []byte) (int, error) {
	c.progress()
	return c.br.Read(p)
}

func (c *conn) progress() {
	now := time.Now()
	if now.Sub(c.pushed) > c.s.cfg.IOTimeout/8 {
		c.nc.SetDeadline(now.Add(c.s.cfg.IOTimeout))
		c.pushed = now
	}
}

// serveConn reads requests from fc in sequence until EOF, the idle timeout,
// Close, or a request that leaves the stream out of sync. The handler owns
// the connection for the whole request: bodies stream through the buffered
// reader and replies are written as they are produced.
func (s *Server) serveConn(fc *frameserver.Conn) {
	c := &conn{s: s, nc: fc.Conn, br: bufio.NewReaderSize(fc.Conn, 16<<10)}
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("storage: panic serving a request; connection closed", "remote", c.nc.RemoteAddr().String(),
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	for {
		c.nc.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		var hb [proto.HeaderLen]byte
		if _, err := io.ReadFull(c.br, hb[:]); err != nil {
			return
		}
		if !fc.Begin() {
			return
		}
		c.pushed = time.Time{}
		keep := s.handle(c, hb[:])
		if !fc.End() || !keep {
			return
		}
	}
}

// testPanicHook, set only by tests, runs before each request is served (a
// test makes it panic to check that the node survives).
var testPanicHook atomic.Pointer[func(h proto.Header)]

// handle serves one request whose header is hb; it reports whether the
// connection is still in sync and may carry another request.
func (s *Server) handle(c *conn, hb []byte) bool {
	h, err := proto.DecodeHeader(hb)
	if err != nil {
		c.replyErr(proto.CmdStorageReply, proto.Errorf(proto.EMSGSIZE, "%v", err))
		return false
	}
	if hook := testPanicHook.Load(); hook != nil {
		(*hook)(h)
	}
	if h.Status != proto.StatusOK {
		c.replyErr(proto.CmdStorageReply, proto.Errorf(proto.EPROTO, "request with status %d", h.Status))
		return false
	}
	if err := proto.CheckRequest(h); err != nil {
		if errors.Is(err, proto.ErrUnknownCmd) {
			c.replyErr(proto.CmdStorageReply, proto.Errorf(proto.ENOSYS, "unknown command %d", h.Cmd))
		} else {
			c.replyErr(proto.CmdStorageReply, proto.Errorf(proto.EMSGSIZE, "%v", err))
		}
		return false
	}
	start := time.Now()
	var keep bool
	switch h.Cmd {
	case proto.CmdStorageUpload:
		keep, err = s.handleUpload(c, h, false)
	case CmdReplicate:
		keep, err = s.handleUpload(c, h, true)
	case proto.CmdStorageReplicateLinked:
		if s.cfg.noLinked {
			// As a node of the earlier release, which does not know it.
			keep, err = false, proto.Errorf(proto.ENOSYS, "unknown command %d", h.Cmd)
			break
		}
		keep, err = s.handleUpload(c, h, true)
	case proto.CmdStorageUploadStaged:
		if !s.cfg.Staging {
			// Refused from the head, as a node that does not know it
			// refuses it: its body is not read.
			keep, err = false, proto.Errorf(proto.ENOSYS, "UPLOAD_STAGED is for a client in the node's process")
			break
		}
		keep, err = s.handleUpload(c, h, false)
	case proto.CmdStorageFilesize:
		keep, err = s.handleFilesize(c, h)
	case proto.CmdStorageDownload:
		keep, err = s.handleDownload(c, h, readDownload)
	case proto.CmdStorageDownloadLive:
		keep, err = s.handleDownload(c, h, readLive)
	case CmdFetch:
		keep, err = s.handleDownload(c, h, readFetch)
	case proto.CmdStorageDelete:
		keep, err = s.handleDelete(c, h, false)
	case CmdReplicateDelete:
		keep, err = s.handleDelete(c, h, true)
	case CmdScrub:
		keep, err = s.handleScrub(c, h)
	case CmdNodeStat:
		keep, err = s.handleStat(c, h)
	case proto.CmdStorageLocalOpen:
		keep, err = s.handleLocalOpen(c, h, false)
	case proto.CmdStorageLocalOpenLive:
		keep, err = s.handleLocalOpen(c, h, true)
	case proto.CmdStorageHold:
		keep, err = s.handleHold(c, h) // hold.go
	default:
		// A tracker or ID server command: bounded by CheckRequest, so the
		// body can be skipped and the connection kept.
		_, derr := io.CopyN(io.Discard, c, h.BodyLen)
		keep, err = derr == nil, proto.Errorf(proto.ENOSYS, "command %d is not a storage command", h.Cmd)
	}
	if err != nil {
		var re *proto.ErrorReply
		if !errors.As(err, &re) {
			s.log.Error("storage: request failed", "cmd", h.Cmd, "err", err)
			re = proto.Errorf(proto.EIO, "%v", err)
		} else {
			s.log.Debug("storage: request refused", "cmd", h.Cmd, "errno", re.Errno, "desc", re.Desc)
		}
		s.cfg.Metrics.Observe(h.Cmd, re.Errno, time.Since(start))
		if werr := c.replyErr(proto.CmdStorageReply, re); werr != nil {
			return false
		}
		return keep
	}
	s.cfg.Metrics.Observe(h.Cmd, 0, time.Since(start))
	if h.Cmd == proto.CmdStorageUpload || h.Cmd == proto.CmdStorageUploadStaged || h.Cmd == CmdReplicate || h.Cmd == proto.CmdStorageReplicateLinked {
		s.cfg.Metrics.Bytes(h.Cmd, "in", h.BodyLen-proto.UploadHeadLen)
	}
	s.log.Debug("storage: request", "cmd", h.Cmd, "took", time.Since(start))
	return keep
}

func (c *conn) replyErr(cmd uint8, e *proto.ErrorReply) error {
	c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.IOTimeout))
	return proto.WriteError(c.nc, cmd, e)
}

func (c *conn) reply(body []byte) error {
	c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.IOTimeout))
	return proto.WriteFrame(c.nc, proto.CmdStorageReply, proto.StatusOK, body)
}

// readBody reads a whole (bounded) request body.
func (c *conn) readBody(h proto.Header) ([]byte, error) {
	b := make([]byte, h.BodyLen)
	_, err := io.ReadFull(c, b)
	return b, err
}

// checkRef validates the names of a file reference.
func checkRef(r proto.FileRef) error {
	switch {
	case !proto.ValidAppID(r.AppID):
		return proto.Errorf(proto.EINVAL, "bad appid %q", r.AppID)
	case !proto.ValidUserID(r.UserID):
		return proto.Errorf(proto.EINVAL, "bad userid %q", r.UserID)
	case !proto.ValidFileID(r.FileID):
		return proto.Errorf(proto.EINVAL, "bad fileid %q", r.FileID)
	}
	return nil
}

// decodeErr turns a body decoding error into an error reply.
func decodeErr(err error) *proto.ErrorReply {
	if errors.Is(err, proto.ErrStringTooLong) || errors.Is(err, proto.ErrNotTerminated) {
		return proto.Errorf(proto.ENAMETOOLONG, "%v", err)
	}
	return proto.Errorf(proto.EINVAL, "%v", err)
}

// dbctx is a context for one SQL round trip.
func (s *Server) dbctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.ctx, dbTimeout)
}

// dbTimeout bounds a request's database (and repair) work.
const dbTimeout = 30 * time.Second
