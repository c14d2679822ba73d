// Package tnv is the Go client of a TNV cluster: it asks the trackers which
// storage nodes serve a user's group (SADDRS) and talks to those nodes
// (UPLOAD, FILESIZE, DOWNLOAD, DELETE) over pooled connections, failing over
// between trackers and between the mirrors of a group. Bodies are streamed in
// both directions; memory per request is bounded by one 512 KiB buffer.
package tnv

import (
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tnv-s3/tnv/internal/connpool"
	"github.com/tnv-s3/tnv/internal/tnvauth"
	"github.com/tnv-s3/tnv/proto"
)

// Config configures a Client. Zero values take the defaults shown.
type Config struct {
	Trackers    []string      // host:port, tried in turn (start at a random one; fail over on error)
	DialTimeout time.Duration // default 5s
	IOTimeout   time.Duration // per read/write progress deadline, default 60s
	PoolSize    int           // idle connections kept per server address, default 64 (storagenode's poolIdle says why)
	IdleTimeout time.Duration // idle pooled connections older than this are closed, default 30s (below the servers' 5m)
	// Dial opens connections to trackers and storage nodes, within
	// DialTimeout; nil = TCP (TLS with the TLS config) with the handshake
	// of Auth. Downloads splice from the connection it returns when it is
	// the *net.TCPConn itself, and copy through a buffer otherwise.
	Dial connpool.DialFunc
	// TLS, when set, makes every connection to a tracker or storage node
	// TLS (tnvtls.Files.Client); nil = plain TCP. Not used with Dial.
	TLS       *tls.Config
	LocateTTL time.Duration // how long a SADDRS answer is reused per (appid, userid), default 2s; < 0 disables
	Logger    *slog.Logger  // nil = slog.Default()
	// Auth is the cluster secret the client proves on every TCP
	// connection (and the servers prove back) before its first frame;
	// nil = the open protocol. Connections to a node's local socket are
	// not authenticated: the socket's mode 0600 is their guard.
	Auth *tnvauth.Key
	// Local, when set, returns the storage node at addr when it runs in
	// this process (tnv up), else nil. A download from such a node opens
	// its file directly and the bytes go from the page cache to the
	// caller's socket with sendfile(2): no socket between the two, no
	// second TCP stack pass.
	Local func(addr string) LocalNode
	// LocalReads makes the client look for storage nodes on its machine:
	// a node started with a local socket names it in NODESTAT, and its
	// files are then opened through it (LOCAL_OPEN) and sent with
	// sendfile(2) instead of coming over TCP. Ignored when Local is set.
	LocalReads bool
}

// LocalNode is a storage node in this process (storagenode.Server).
type LocalNode interface {
	// OpenLocal decides a read as DOWNLOAD does and returns the file
	// positioned at offset and the number of bytes to read. An
	// *proto.ErrorReply is the node's answer; any other error means "ask
	// over the network" (the node has no good copy of its own). live is
	// DownloadLive's promise (the caller's index holds the file live).
	OpenLocal(ctx context.Context, appid, userid, fileid string, offset, size int64, live bool) (*os.File, int64, error)
}

// Client talks to a TNV cluster. It is safe for concurrent use.
type Client struct {
	cfg      Config
	log      *slog.Logger
	pool     *connpool.Pool
	trackers []string
	next     atomic.Uint64 // rotates the first tracker tried
	spread   atomic.Uint64 // rotates the first storage node tried
	closed   atomic.Bool

	mu     sync.Mutex
	cache  map[userKey]located
	locals map[string]localEntry // LocalReads: what each storage address offers
	down   map[string]time.Time  // storage addresses that failed recently, until when

	// noLive holds the storage addresses that refused DOWNLOAD_LIVE (a
	// node older than the command): they get DOWNLOAD.
	noLive sync.Map
}

type userKey struct{ appid, userid string }

type located struct {
	group      string
	addrs      []string // every readable node, those that take uploads first
	unwritable int      // how many at the end of addrs cannot take uploads
	expires    time.Time
}

const (
	bufSize      = 512 << 10
	maxCached    = 4096
	downFor      = 5 * time.Second
	earlyReplyIn = 2 * time.Second
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// New returns a client of the cluster whose trackers cfg names.
func New(cfg Config) (*Client, error) {
	if len(cfg.Trackers) == 0 {
		return nil, errors.New("tnv: no tracker address")
	}
	for _, t := range cfg.Trackers {
		if t == "" {
			return nil, errors.New("tnv: empty tracker address")
		}
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.IOTimeout <= 0 {
		cfg.IOTimeout = 60 * time.Second
	}
	if cfg.PoolSize <= 0 {
		cfg.PoolSize = 64
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 30 * time.Second
	}
	if cfg.LocateTTL == 0 {
		cfg.LocateTTL = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Client{
		cfg:      cfg,
		log:      cfg.Logger,
		pool:     newPool(cfg),
		trackers: append([]string(nil), cfg.Trackers...),
		cache:    map[userKey]located{},
		down:     map[string]time.Time{},
	}
	c.next.Store(rand.Uint64())
	return c, nil
}

// Close closes the idle connections. Requests in flight finish; their
// connections are closed instead of pooled.
func (c *Client) Close() error {
	c.closed.Store(true)
	c.pool.Close()
	c.mu.Lock()
	for _, e := range c.locals {
		if e.node != nil {
			e.node.close()
		}
	}
	c.mu.Unlock()
	return nil
}

// with runs one request on a connection to addr: ctx ending closes the
// connection, and the connection goes back to the pool only when the request
// left the stream in sync. A reused connection that the server had closed
// while it sat idle (it broke before any byte of the reply) is replaced by a
// new one once, when replay allows: nil means the request is safe to send
// again; Upload passes whether its body can be sent again.
func (c *Client) with(ctx context.Context, addr string, replay func() bool, fn func(cn *conn) error) error {
	if c.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for fresh := false; ; fresh = true {
		cn, err := c.get(ctx, addr, fresh)
		if err != nil {
			return err
		}
		stop := cn.watch(ctx)
		err = fn(cn)
		if !stop() {
			cn.broken = true
			if err != nil {
				err = ctx.Err()
			}
		}
		if cn.broken {
			cn.nc.Fail()
		}
		retry := !fresh && cn.nc.Stale(ctx, err) && !isStop(err) && (replay == nil || replay())
		c.put(cn)
		if !retry {
			return err
		}
		c.log.Debug("tnv: pooled connection closed by the server; sending again on a new one", "addr", addr, "err", err)
	}
}

// request writes one frame and reads the reply into at most max bytes.
func request(cn *conn, cmd, replyCmd uint8, body []byte, max int64) ([]byte, error) {
	if err := proto.WriteFrame(cn, cmd, proto.StatusOK, body); err != nil {
		return nil, err
	}
	_, b, err := proto.ReadReply(cn, replyCmd, max)
	var re *proto.ErrorReply
	if err != nil && !errors.As(err, &re) {
		cn.broken = true // a frame we could not take whole
	}
	return b, err
}

// tracker sends one request to the trackers in turn, starting at a rotating
// one, until one answers. final says whether a remote error ends the search.
func (c *Client) tracker(ctx context.Context, op string, cmd uint8, body []byte, max int64) ([]byte, error) {
	n := len(c.trackers)
	first := int(c.next.Add(1) % uint64(n))
	rotated := make([]string, n)
	for i := range n {
		rotated[i] = c.trackers[(first+i)%n]
	}
	var errs []error
	for _, addr := range c.downLast(rotated) {
		var reply []byte
		err := c.with(ctx, addr, nil, func(cn *conn) (err error) {
			reply, err = request(cn, cmd, proto.CmdTrackerReply, body, max)
			return err
		})
		if err == nil {
			c.markUp(addr)
			return reply, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("tnv: %s: %w", op, ctx.Err())
		}
		if errors.Is(err, ErrClosed) {
			return nil, err
		}
		var re *proto.ErrorReply
		if errors.As(err, &re) {
			err = &RemoteError{Op: op, Addr: addr, Reply: re}
			// A tracker that knows no ACTIVE node (EAGAIN) may lag the
			// others; refusals of the request itself hold everywhere.
			if final(re, true) {
				return nil, err
			}
		} else {
			// Unreachable (a dial or a reply that timed out: a
			// partition, a dead host): tried last for a while, so
			// that it costs one timeout per few seconds rather than
			// one per request it would have come first for.
			c.markDown(addr)
			err = fmt.Errorf("tracker %s: %w", addr, err)
		}
		c.log.Debug("tnv: tracker failed, trying the next", "op", op, "tracker", addr, "err", err)
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("tnv: %s: no tracker answered: %w", op, errors.Join(errs...))
}

// Groups returns the GROUPS text of a tracker: the groups and their storage
// nodes with their states.
func (c *Client) Groups(ctx context.Context) (string, error) {
	b, err := c.tracker(ctx, "groups", proto.CmdTrackerGroups, nil, proto.MaxTextReply)
	if err != nil {
		return "", err
	}
	if len(b) == 0 {
		return "", nil
	}
	s, err := proto.DecodeText(b)
	if err != nil {
		return "", fmt.Errorf("tnv: groups: %w", err)
	}
	return s, nil
}

// Locate returns the group of (appid, userid) and the addresses of its ACTIVE
// storage nodes, in the tracker's order (those that take uploads first).
// Answers are reused for LocateTTL.
func (c *Client) Locate(ctx context.Context, appid, userid, fileid string) (group string, addrs []string, err error) {
	l, err := c.locate(ctx, appid, userid, fileid)
	return l.group, l.addrs, err
}

func (c *Client) locate(ctx context.Context, appid, userid, fileid string) (located, error) {
	ref, err := fileRef(appid, userid, fileid)
	if err != nil {
		return located{}, err
	}
	key := userKey{appid, userid}
	now := time.Now()
	if c.cfg.LocateTTL > 0 {
		c.mu.Lock()
		l, ok := c.cache[key]
		c.mu.Unlock()
		if ok && now.Before(l.expires) {
			return l, nil
		}
	}
	body, err := ref.Encode()
	if err != nil {
		return located{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	b, err := c.tracker(ctx, "saddrs", proto.CmdTrackerSaddrs, body, proto.MaxTextReply)
	if err != nil {
		return located{}, err
	}
	s, err := proto.DecodeSaddrs(b)
	if err != nil {
		return located{}, fmt.Errorf("tnv: saddrs: %w", err)
	}
	l := located{group: s.Group, addrs: s.All(), unwritable: len(s.Unwritable), expires: now.Add(c.cfg.LocateTTL)}
	if len(l.addrs) == 0 {
		return located{}, fmt.Errorf("%w: group %s has no ACTIVE node", ErrNoNode, s.Group)
	}
	if c.cfg.LocateTTL > 0 {
		c.mu.Lock()
		if len(c.cache) >= maxCached {
			for k, v := range c.cache {
				if now.After(v.expires) {
					delete(c.cache, k)
				}
			}
			if len(c.cache) >= maxCached {
				clear(c.cache)
			}
		}
		c.cache[key] = l
		c.mu.Unlock()
	}
	return l, nil
}

// forget drops a cached SADDRS answer that led nowhere.
func (c *Client) forget(appid, userid string) {
	c.mu.Lock()
	delete(c.cache, userKey{appid, userid})
	c.mu.Unlock()
}

// order returns addrs with the nodes that failed recently moved last, so a
// dead mirror costs one failed dial per few seconds rather than one per
// request. The list starts one place further per call: requests spread over
// a group's members even while a cached SADDRS answer is reused (the
// tracker's own rotation reaches a client only once per LocateTTL).
func (c *Client) order(addrs []string) []string {
	out := make([]string, 0, len(addrs))
	var later []string
	now := time.Now()
	k := 0
	if len(addrs) > 1 {
		k = int(c.spread.Add(1) % uint64(len(addrs)))
	}
	c.mu.Lock()
	for i := range addrs {
		a := addrs[(k+i)%len(addrs)]
		if until, ok := c.down[a]; ok {
			if now.Before(until) {
				later = append(later, a)
				continue
			}
			delete(c.down, a)
		}
		out = append(out, a)
	}
	c.mu.Unlock()
	return append(out, later...)
}

// downLast returns addrs in their order with those that failed recently
// moved last.
func (c *Client) downLast(addrs []string) []string {
	out := make([]string, 0, len(addrs))
	var later []string
	now := time.Now()
	c.mu.Lock()
	for _, a := range addrs {
		if until, ok := c.down[a]; ok && now.Before(until) {
			later = append(later, a)
			continue
		}
		out = append(out, a)
	}
	c.mu.Unlock()
	return append(out, later...)
}

func (c *Client) markDown(addr string) {
	c.mu.Lock()
	c.down[addr] = time.Now().Add(downFor)
	c.mu.Unlock()
}

func (c *Client) markUp(addr string) {
	c.mu.Lock()
	if len(c.down) > 0 {
		delete(c.down, addr)
	}
	c.mu.Unlock()
}

// fileRef checks the names before anything is sent, with the servers' rules.
func fileRef(appid, userid, fileid string) (proto.FileRef, error) {
	switch {
	case !proto.ValidAppID(appid):
		return proto.FileRef{}, fmt.Errorf("%w: appid %q", ErrInvalid, appid)
	case !proto.ValidUserID(userid):
		return proto.FileRef{}, fmt.Errorf("%w: userid %q", ErrInvalid, userid)
	case !proto.ValidFileID(fileid):
		return proto.FileRef{}, fmt.Errorf("%w: fileid %q", ErrInvalid, fileid)
	}
	return proto.FileRef{AppID: appid, UserID: userid, FileID: fileid}, nil
}

var fileIDEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// NewFileID returns a new random file ID: 26 characters of [0-9a-v] encoding
// a 48-bit millisecond timestamp, so that IDs sort by creation time, then 80
// random bits.
func NewFileID() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().UnixMilli())<<16)
	crand.Read(b[6:]) // never fails (Go 1.24+)
	return fileIDEncoding.EncodeToString(b[:])
}
