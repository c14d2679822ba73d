// Package tracker is the TNV tracker: the registry of storage nodes and
// their groups, fed by JOIN and BEAT, that tells clients which nodes serve a
// user (SADDRS), lists the cluster (GROUPS) and tells storage nodes their
// group's members (MEMBERS, an extension).
//
// Node state is soft and lives in memory, rebuilt from JOIN and BEAT after a
// restart. What must agree between several trackers on one database lives
// in SQL: the valid group names (t_groups_info) and each user's group
// (t_router).
package tracker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/tnv-s3/tnv/internal/frameserver"
	"github.com/tnv-s3/tnv/internal/rpcmetrics"
	"github.com/tnv-s3/tnv/internal/tnvauth"
	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/proto"
)

// Config configures a Server. Zero values take the defaults shown.
type Config struct {
	DB             *metadb.DB          // required, already opened; New migrates it
	OfflineAfter   time.Duration       // a node without JOIN or BEAT this long is OFFLINE, default 120s
	RegisteredOnly bool                // admit only groups already in t_groups_info (else JOIN registers them)
	Logger         *slog.Logger        // nil = slog.Default()
	Metrics        *rpcmetrics.Metrics // nil = not counted
	Auth           *tnvauth.Key        // cluster secret every connection must prove; nil = open protocol
	TLS            *tls.Config         // serve TLS (tnvtls.Files.Server); nil = plain TCP

	ForgetAfter  time.Duration // an OFFLINE node is dropped from the lists after this, default 24h
	SweepEvery   time.Duration // how often OFFLINE nodes are marked and logged, default OfflineAfter/10 within [10ms, 5s]
	RouterCache  int           // (appid, userid) → group entries kept in memory, default 100000
	MaxNodes     int           // nodes kept in memory; JOINs of more get EAGAIN, default 10000
	IdleTimeout  time.Duration // a connection idle this long is closed, default 5m
	IOTimeout    time.Duration // deadline to read a body, answer and write the reply, default 30s
	CloseTimeout time.Duration // how long Close waits for requests in flight, default 5s

	// Now is the clock nodes' silence is measured by (OfflineAfter,
	// ForgetAfter). Default time.Now; tests pass a clocktest.Clock to let a
	// node go silent without waiting. Socket deadlines stay on the wall clock.
	Now func() time.Time
}

// DefaultOfflineAfter is the seed's: nodes beat every 10 s, OFFLINE after 120 s.
const DefaultOfflineAfter = 120 * time.Second

// Server is a tracker. Create it with New, run it with Serve.
type Server struct {
	cfg    Config
	db     *metadb.DB
	log    *slog.Logger
	nodes  *registry
	groups *groups
	router *router
	conns  frameserver.Set

	stop     chan struct{}
	stopOnce sync.Once
	sweeper  sync.WaitGroup
}

// New checks cfg, migrates the tracker's tables, loads the group names and
// starts the sweeper that marks silent nodes OFFLINE.
func New(cfg Config) (*Server, error) {
	if cfg.DB == nil {
		return nil, errors.New("tracker: Config.DB is nil")
	}
	if cfg.OfflineAfter == 0 {
		cfg.OfflineAfter = DefaultOfflineAfter
	}
	if cfg.OfflineAfter < 0 {
		return nil, fmt.Errorf("tracker: negative OfflineAfter %v", cfg.OfflineAfter)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ForgetAfter <= 0 {
		cfg.ForgetAfter = 24 * time.Hour
	}
	if cfg.SweepEvery <= 0 {
		cfg.SweepEvery = min(max(cfg.OfflineAfter/10, 10*time.Millisecond), 5*time.Second)
	}
	if cfg.RouterCache <= 0 {
		cfg.RouterCache = 100000
	}
	if cfg.MaxNodes <= 0 {
		cfg.MaxNodes = 10000
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 5 * time.Minute
	}
	if cfg.IOTimeout <= 0 {
		cfg.IOTimeout = 30 * time.Second
	}
	if cfg.CloseTimeout <= 0 {
		cfg.CloseTimeout = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := Migrate(ctx, cfg.DB); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:    cfg,
		db:     cfg.DB,
		log:    cfg.Logger,
		nodes:  newRegistry(cfg.OfflineAfter, cfg.MaxNodes),
		groups: &groups{db: cfg.DB, m: map[string]bool{}},
		router: &router{db: cfg.DB, max: cfg.RouterCache, m: map[userKey]string{}},
		stop:   make(chan struct{}),
	}
	s.conns.Auth, s.conns.AuthReply, s.conns.Log, s.conns.TLS = cfg.Auth, proto.CmdTrackerReply, cfg.Logger, cfg.TLS
	if err := s.groups.refresh(ctx); err != nil {
		return nil, err
	}
	s.sweeper.Add(1)
	go s.sweep()
	return s, nil
}

// Serve accepts connections on ln until Close. It returns nil after Close.
func (s *Server) Serve(ln net.Listener) error {
	return s.conns.Serve(ln, s.handle)
}

// Close stops accepting, closes idle connections, waits up to CloseTimeout
// for requests in flight, then closes the rest and stops the sweeper.
func (s *Server) Close() error {
	s.conns.Close(s.cfg.CloseTimeout)
	s.stopOnce.Do(func() { close(s.stop) })
	s.sweeper.Wait()
	return nil
}

// Nodes returns a snapshot of every node the tracker knows, sorted by group
// and address.
func (s *Server) Nodes() []NodeInfo { return s.nodes.snapshot(s.cfg.Now()) }

// sweep marks silent nodes OFFLINE (logging each once), forgets long-gone
// ones, and reloads the group names other trackers may have registered.
func (s *Server) sweep() {
	defer s.sweeper.Done()
	t := time.NewTicker(s.cfg.SweepEvery)
	defer t.Stop()
	lastLoad := time.Now()
	for {
		select {
		case <-s.stop:
			return
		case tick := <-t.C:
			now := s.cfg.Now()
			off, gone := s.nodes.sweep(now, s.cfg.ForgetAfter)
			for _, n := range off {
				s.log.Info("tracker: node OFFLINE", "group", n.Group, "addr", n.Addr, "host", n.Host,
					"silent", now.Sub(n.LastSeen).Round(time.Millisecond))
			}
			for _, n := range gone {
				s.log.Info("tracker: node forgotten", "group", n.Group, "addr", n.Addr, "host", n.Host)
			}
			if tick.Sub(lastLoad) >= 10*time.Second { // wall clock: a reload is I/O pacing
				lastLoad = tick
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				if err := s.groups.refresh(ctx); err != nil {
					s.log.Warn("tracker: reload groups", "err", err)
				}
				cancel()
			}
		}
	}
}

// handle serves one connection: requests in sequence until EOF, an idle
// timeout, a frame it cannot resync after, or Close.
func (s *Server) handle(c *conn) {
	log := s.log.With("peer", c.RemoteAddr().String())
	c.Requests(s.cfg.IdleTimeout, s.cfg.IOTimeout, proto.CmdTrackerReply, log, func(h proto.Header) bool {
		return s.request(c, h, log)
	})
}

// request serves one frame whose header has been read; false means the
// connection must be closed.
func (s *Server) request(c *conn, h proto.Header, log *slog.Logger) bool {
	start := time.Now()
	c.SetDeadline(start.Add(s.cfg.IOTimeout))
	var e *proto.ErrorReply
	defer func() { s.cfg.Metrics.Observe(h.Cmd, errnoOf(e), time.Since(start)) }()
	switch h.Cmd {
	case proto.CmdTrackerJoin, proto.CmdTrackerBeat, proto.CmdTrackerSaddrs, proto.CmdTrackerGroups, proto.CmdTrackerMembers:
	default:
		e = proto.Errorf(proto.ENOSYS, "command %d is not served by the tracker", h.Cmd)
		if !c.Discard(h) {
			s.reply(c, e, nil)
			return false
		}
		return s.reply(c, e, nil)
	}
	if err := proto.CheckRequest(h); err != nil {
		// Every tracker request is small: a short wrong body can be
		// skipped and the connection kept; a claim beyond that cannot.
		e = proto.Errorf(proto.EMSGSIZE, "%v", err)
		if !c.Discard(h) {
			s.reply(c, e, nil)
			return false
		}
		return s.reply(c, e, nil)
	}
	body, err := proto.ReadBody(c, h, proto.FileRefLen)
	if err != nil {
		log.Debug("tracker: read body", "cmd", h.Cmd, "err", err)
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.IOTimeout)
	defer cancel()
	var out []byte
	switch h.Cmd {
	case proto.CmdTrackerJoin:
		e = s.join(ctx, c, body)
	case proto.CmdTrackerBeat:
		e = s.beat(ctx, c, body)
	case proto.CmdTrackerSaddrs:
		out, e = s.saddrs(ctx, body)
	case proto.CmdTrackerGroups:
		// GROUPS is an operator's request: worth a query so that groups
		// registered through another tracker show at once.
		if err := s.groups.refresh(ctx); err != nil {
			log.Warn("tracker: reload groups", "err", err)
		}
		out, e = text(s.GroupsText(s.cfg.Now()))
	case proto.CmdTrackerMembers:
		out, e = s.members(body)
	}
	if e != nil {
		log.Debug("tracker: request refused", "cmd", h.Cmd, "errno", e.Errno, "err", e.Desc)
	} else {
		log.Debug("tracker: request", "cmd", h.Cmd, "took", time.Since(start))
	}
	return s.reply(c, e, out)
}

// errnoOf is the errno of a reply, 0 for success.
func errnoOf(e *proto.ErrorReply) int16 {
	if e == nil {
		return 0
	}
	return e.Errno
}

// reply writes an error reply when e is set, else an OK reply with body.
func (s *Server) reply(c *conn, e *proto.ErrorReply, body []byte) bool {
	return c.Reply(proto.CmdTrackerReply, s.cfg.IOTimeout, e, body)
}

// conn is a client connection.
type conn = frameserver.Conn
