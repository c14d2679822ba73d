// Package storagenode is the TNV storage node: it keeps files on disk in
// 512-ary paths under its store directories, answers UPLOAD, FILESIZE,
// DOWNLOAD and DELETE (commands 70..73), joins and beats to every tracker,
// and mirrors its group: every upload and delete is fanned out to the other
// members and recorded in a per-group log in SQL, from which a member that
// was away catches up (docs/replication.md).
package storagenode

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tnv-s3/tnv/internal/rpcmetrics"
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

	IdleTimeout     time.Duration // an idle client connection is closed after it, default 5m
	IOTimeout       time.Duration // progress deadline of a transfer, default 60s
	ShutdownTimeout time.Duration // how long Close lets requests in flight finish, default 10s

	// Replication (docs/replication.md).
	ReplicaTimeout time.Duration // a member that makes no progress for this long is skipped, default 5s
	PeerBackoff    time.Duration // a skipped member is left out of fan-outs this long, default 10s
	MembersTTL     time.Duration // how long the tracker's MEMBERS answer is cached, default 3s
	SyncInterval   time.Duration // how often the group log is read, default 1s
	PendingTTL     time.Duration // an uncommitted copy older than this is dropped, default 10m
	ScrubInterval  time.Duration // background scrub with repair, default 0 = off
	SyncWorkers    int           // files fetched in parallel while catching up, default 16

	// LocalSocket, when set, is a Unix socket (mode 0600) on which
	// processes of this machine running as this user — a gateway — open
	// the node's files directly (LOCAL_OPEN) and send them with sendfile,
	// instead of receiving them over TCP. NODESTAT names it.
	LocalSocket string

	Metrics *rpcmetrics.Metrics // counts requests for --metrics-listen; nil = not counted
	Logger  *slog.Logger        // nil = slog.Default()
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
	d(&c.Beat, 10*time.Second)
	d(&c.Retention, 24*time.Hour)
	d(&c.PurgeInterval, min(c.Retention/4, 10*time.Minute))
	c.PurgeInterval = max(c.PurgeInterval, time.Second)
	d(&c.IdleTimeout, 5*time.Minute)
	d(&c.IOTimeout, 60*time.Second)
	d(&c.ShutdownTimeout, 10*time.Second)
	d(&c.ReplicaTimeout, 5*time.Second)
	d(&c.PeerBackoff, 10*time.Second)
	d(&c.MembersTTL, 3*time.Second)
	d(&c.SyncInterval, time.Second)
	d(&c.PendingTTL, 10*time.Minute)
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
	cfg    Config
	db     *metadb.DB
	st     *stmts
	log    *slog.Logger
	stores []*store
	byKey  map[string]*store

	scrub scrubProgress

	node string // advertised host:port, the node's identity in SQL; set by Serve
	host string
	port uint16

	ids      *idClient
	trackers *trackerClient
	peers    *peerClient
	sync     *syncer

	ctx    context.Context // background work; cancelled by Close
	cancel context.CancelFunc
	bg     sync.WaitGroup

	mu       sync.Mutex
	ln       net.Listener
	uln      net.Listener // LocalSocket's
	conns    map[*conn]struct{}
	served   bool
	closing  atomic.Bool
	handlers sync.WaitGroup

	bufs sync.Pool

	inflightMu sync.Mutex
	inflight   map[proto.FileRef]bool
}

const bufSize = 256 << 10

// New checks cfg, opens the store directories and migrates the tables.
func New(cfg Config) (*Server, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, db: cfg.DB, log: cfg.Logger.With("group", cfg.Group), byKey: map[string]*store{}, conns: map[*conn]struct{}{},
		inflight: map[proto.FileRef]bool{}}
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
	// The group's log counter, made now rather than by the first appends
	// racing to make it.
	if _, err := st.seqSeed.ExecContext(ctx, cfg.Group, cfg.Group, cfg.Group); err != nil {
		st.close()
		return nil, fmt.Errorf("storagenode: group log counter: %w", err)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.ids = newIDClient(cfg.IDServers, cfg.IOTimeout)
	s.peers = newPeerClient(s)
	s.sync = newSyncer(s)
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
	s.ln = ln
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
		go s.accept(s.uln)
	}
	return s.accept(ln)
}

// accept serves the connections of ln until Close.
func (s *Server) accept(ln net.Listener) error {
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		c := &conn{s: s, nc: nc, br: bufio.NewReaderSize(nc, 16<<10)}
		s.mu.Lock()
		if s.closing.Load() {
			s.mu.Unlock()
			nc.Close()
			return nil
		}
		s.conns[c] = struct{}{}
		s.handlers.Add(1)
		s.mu.Unlock()
		go c.serve()
	}
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
	if s.cfg.ScrubInterval > 0 {
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
	s.mu.Lock()
	if s.ln != nil {
		s.ln.Close()
	}
	if s.uln != nil {
		s.uln.Close() // removes the socket file
	}
	for c := range s.conns {
		c.closeIfIdle()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.handlers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(s.cfg.ShutdownTimeout):
		s.log.Warn("storage: requests still running at shutdown; cutting them")
		s.mu.Lock()
		for c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		<-done
	}
	s.cancel()
	s.bg.Wait()
	s.ids.close()
	s.peers.close()
	s.st.close()
	return nil
}

func (s *Server) getBuf() *[]byte  { return s.bufs.Get().(*[]byte) }
func (s *Server) putBuf(b *[]byte) { s.bufs.Put(b) }

// conn is one client (or peer) connection, serving requests in sequence.
type conn struct {
	s  *Server
	nc net.Conn
	br *bufio.Reader

	mu     sync.Mutex
	busy   bool
	closed bool

	pushed time.Time
}

func (c *conn) closeIfIdle() {
	c.mu.Lock()
	if !c.busy && !c.closed {
		c.closed = true
		c.nc.Close()
	}
	c.mu.Unlock()
}

// begin marks a request in progress; false if the server is closing.
func (c *conn) begin() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.s.closing.Load() {
		return false
	}
	c.busy = true
	return true
}

func (c *conn) end() {
	c.mu.Lock()
	c.busy = false
	c.mu.Unlock()
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

func (c *conn) serve() {
	s := c.s
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("storage: panic serving a request", "remote", c.nc.RemoteAddr().String(), "panic", p)
		}
		c.nc.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.handlers.Done()
	}()
	for {
		c.nc.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		var hb [proto.HeaderLen]byte
		if _, err := io.ReadFull(c.br, hb[:]); err != nil {
			return
		}
		if !c.begin() {
			return
		}
		c.pushed = time.Time{}
		keep := s.handle(c, hb[:])
		c.end()
		if !keep || s.closing.Load() {
			return
		}
	}
}

// handle serves one request whose header is hb; it reports whether the
// connection is still in sync and may carry another request.
func (s *Server) handle(c *conn, hb []byte) bool {
	h, err := proto.DecodeHeader(hb)
	if err != nil {
		c.replyErr(proto.CmdStorageReply, proto.Errorf(proto.EMSGSIZE, "%v", err))
		return false
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
	case proto.CmdStorageFilesize:
		keep, err = s.handleFilesize(c, h)
	case proto.CmdStorageDownload:
		keep, err = s.handleDownload(c, h, false)
	case CmdFetch:
		keep, err = s.handleDownload(c, h, true)
	case proto.CmdStorageDelete:
		keep, err = s.handleDelete(c, h, false)
	case CmdReplicateDelete:
		keep, err = s.handleDelete(c, h, true)
	case CmdScrub:
		keep, err = s.handleScrub(c, h)
	case CmdNodeStat:
		keep, err = s.handleStat(c, h)
	case proto.CmdStorageLocalOpen:
		keep, err = s.handleLocalOpen(c, h)
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
	if h.Cmd == proto.CmdStorageUpload || h.Cmd == CmdReplicate {
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
	return context.WithTimeout(s.ctx, 30*time.Second)
}
