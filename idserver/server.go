// Package idserver is the TNV ID server: it hands out unique, never-reused,
// per-key increasing IDs (ID_GET, command 40). IDs are reserved from SQL in
// blocks of Config.Step with one atomic statement, so any number of ID
// servers on one database, restarted any number of times, never hand out
// the same ID twice; a block is then served from memory.
package idserver

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
	DB     *metadb.DB   // required, already opened; New migrates it
	Step   int64        // IDs reserved per SQL round trip, default 100, at most 1e9
	Logger *slog.Logger // nil = slog.Default()
	// Metrics counts requests for --metrics-listen; nil = not counted.
	Metrics *rpcmetrics.Metrics
	// Auth is the cluster secret every connection must prove; nil = open protocol.
	Auth *tnvauth.Key
	// TLS makes the server listen on TLS (tnvtls.Files.Server); nil = plain TCP.
	TLS *tls.Config

	IdleTimeout  time.Duration // a connection idle this long is closed, default 5m
	IOTimeout    time.Duration // deadline to read a body and write a reply, default 30s
	CloseTimeout time.Duration // how long Close waits for requests in flight, default 5s
	MaxKeys      int           // keys whose blocks are kept in memory, default 10000

	// Now stamps t_id_gen's create_time and update_time (the ID server
	// makes no decision by time). Default time.Now.
	Now func() time.Time
}

// DefaultStep is the block size when Config.Step is zero.
const DefaultStep = 100

// Server is an ID server. Create it with New, run it with Serve.
type Server struct {
	cfg Config
	db  *metadb.DB
	log *slog.Logger

	keysMu sync.Mutex
	keys   map[string]*block

	conns frameserver.Set
}

// block is the part of a reserved range not yet handed out: next..end.
type block struct {
	mu   sync.Mutex
	next int64
	end  int64 // last ID of the block; next > end means empty
}

// New checks cfg and migrates the ID server's tables.
func New(cfg Config) (*Server, error) {
	if cfg.DB == nil {
		return nil, errors.New("idserver: Config.DB is nil")
	}
	if cfg.Step == 0 {
		cfg.Step = DefaultStep
	}
	if cfg.Step < 1 || cfg.Step > 1e9 {
		return nil, fmt.Errorf("idserver: step %d not in [1, 1e9]", cfg.Step)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
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
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = 10000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := Migrate(ctx, cfg.DB); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, db: cfg.DB, log: cfg.Logger, keys: map[string]*block{}}
	s.conns.Auth, s.conns.AuthReply, s.conns.Log, s.conns.TLS = cfg.Auth, proto.CmdIDReply, cfg.Logger, cfg.TLS
	return s, nil
}

// Next returns the next ID of key, reserving a new block from the database
// when the current one is used up. IDs of one key increase strictly within
// one Server.
func (s *Server) Next(ctx context.Context, key string) (int64, error) {
	id, _, err := s.NextBlock(ctx, key, 1)
	return id, err
}

// NextBlock returns up to want consecutive IDs of key, first .. first+n-1:
// what is left of the block in memory, or the start of a new block when
// it is empty (so n < want only at a block's end; n >= 1).
func (s *Server) NextBlock(ctx context.Context, key string, want int64) (first, n int64, err error) {
	if !proto.ValidIDKey(key) {
		return 0, 0, proto.Errorf(proto.EINVAL, "invalid ID key %q", key)
	}
	if want < 1 {
		return 0, 0, proto.Errorf(proto.EINVAL, "want %d IDs", want)
	}
	b := s.block(key)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.next > b.end || b.next == 0 {
		v, err := reserve(ctx, s.db, key, s.cfg.Step, s.cfg.Now().Unix())
		if err != nil {
			return 0, 0, err
		}
		// Blocks from the shared counter only grow, so a new block lies
		// above everything this server handed out before.
		b.next, b.end = v-s.cfg.Step+1, v
		s.log.Debug("idserver: reserved block", "key", key, "first", b.next, "last", b.end)
	}
	first, n = b.next, min(want, b.end-b.next+1)
	b.next += n
	return first, n, nil
}

func (s *Server) block(key string) *block {
	s.keysMu.Lock()
	defer s.keysMu.Unlock()
	b := s.keys[key]
	if b == nil {
		if len(s.keys) >= s.cfg.MaxKeys {
			// Forgetting a block wastes the rest of it, never reuses it:
			// the key's next block comes from the database again.
			clear(s.keys)
		}
		b = &block{}
		s.keys[key] = b
	}
	return b
}

// Serve accepts connections on ln until Close. It returns nil after Close.
func (s *Server) Serve(ln net.Listener) error {
	return s.conns.Serve(ln, s.handle)
}

// Close stops accepting, closes idle connections and waits up to
// CloseTimeout for requests in flight, then closes the rest.
func (s *Server) Close() error {
	s.conns.Close(s.cfg.CloseTimeout)
	return nil
}

// handle serves one connection: requests in sequence until EOF, an idle
// timeout, a frame it cannot resync after, or Close.
func (s *Server) handle(c *conn) {
	log := s.log.With("peer", c.RemoteAddr().String())
	c.Requests(s.cfg.IdleTimeout, s.cfg.IOTimeout, proto.CmdIDReply, log, func(h proto.Header) bool {
		return s.request(c, h, log)
	})
}

// request serves one frame whose header has been read; false means the
// connection must be closed.
func (s *Server) request(c *conn, h proto.Header, log *slog.Logger) bool {
	start := time.Now()
	c.SetDeadline(start.Add(s.cfg.IOTimeout))
	var errno int16
	defer func() { s.cfg.Metrics.Observe(h.Cmd, errno, time.Since(start)) }()
	refuse := func(e *proto.ErrorReply) bool {
		errno = e.Errno
		return s.reply(c, e, nil)
	}
	if h.Cmd != proto.CmdIDGet && h.Cmd != proto.CmdIDGetBlock {
		e := proto.Errorf(proto.ENOSYS, "command %d is not served by the ID server", h.Cmd)
		if !c.Discard(h) {
			refuse(e)
			return false
		}
		return refuse(e)
	}
	if err := proto.CheckRequest(h); err != nil {
		refuse(proto.Errorf(proto.EMSGSIZE, "%v", err))
		return false
	}
	body, err := proto.ReadBody(c, h, proto.MaxIDRequestBody)
	if err != nil {
		log.Debug("idserver: read body", "err", err)
		return false
	}
	key, want, err := proto.DecodeIDRequest(h.Cmd, body)
	if err != nil {
		return refuse(proto.Errorf(proto.EPROTO, "ID key: %v", err))
	}
	if !proto.ValidIDKey(key) {
		return refuse(proto.Errorf(proto.EINVAL, "invalid ID key %q", key))
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.IOTimeout)
	id, n, err := s.NextBlock(ctx, key, int64(want))
	cancel()
	if err != nil {
		log.Error("idserver: ID_GET", "key", key, "err", err)
		var re *proto.ErrorReply
		if !errors.As(err, &re) {
			re = proto.Errorf(proto.EIO, "ID reservation failed")
		}
		return refuse(re)
	}
	log.Debug("idserver: ID_GET", "key", key, "id", id, "n", n, "took", time.Since(start))
	if h.Cmd == proto.CmdIDGetBlock {
		return s.reply(c, nil, proto.EncodeIDRange(id, n))
	}
	return s.reply(c, nil, proto.EncodeInt64(id))
}

// reply writes an error reply when e is set, else an OK reply with body.
func (s *Server) reply(c *conn, e *proto.ErrorReply, body []byte) bool {
	return c.Reply(proto.CmdIDReply, s.cfg.IOTimeout, e, body)
}

// conn is a client connection.
type conn = frameserver.Conn
