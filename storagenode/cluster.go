package storagenode

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tnv-s3/tnv/internal/connpool"
	"github.com/tnv-s3/tnv/internal/tnvtls"
	"github.com/tnv-s3/tnv/proto"
)

const dialTimeout = 3 * time.Second

// roundTrip sends one request on nc and reads the reply (body at most max).
func roundTrip(nc net.Conn, timeout time.Duration, cmd, want uint8, body []byte, max int64) ([]byte, error) {
	nc.SetDeadline(time.Now().Add(timeout))
	if err := proto.WriteFrame(nc, cmd, proto.StatusOK, body); err != nil {
		return nil, err
	}
	_, b, err := proto.ReadReply(nc, want, max)
	return b, err
}

// newPool is a pool of connections dialed within dial: with Config.Dial
// when set, else TCP (TLS with PeerTLS) with the cluster's handshake.
func (s *Server) newPool(dial time.Duration) *connpool.Pool {
	d := s.cfg.Dial
	if d == nil {
		d = tnvtls.Dialer(s.cfg.PeerTLS, s.cfg.Auth, dial)
	} else {
		outer := d
		d = func(ctx context.Context, addr string) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(ctx, dial)
			defer cancel()
			return outer(ctx, addr)
		}
	}
	return connpool.New(connpool.Config{Dial: d, MaxIdle: poolIdle, IdleTimeout: s.cfg.PoolIdleTimeout})
}

// poolIdle is how many idle connections are kept per address: as many as
// uploads run at once at the concurrencies the bench drives (32), so a
// burst gives its connections back instead of closing them and dialing
// again, with the cluster's handshake, on the next (seen at 8 under 4 KiB
// PUTs at c = 32: nodes dialing the ID server and their mirrors).
const poolIdle = 64

// idClient asks the ID servers for file IDs, failing over between them, on
// pooled connections. It takes them idBlockSize at a time (ID_GET_BLOCK) and
// hands them out from memory, so an upload seldom waits for the ID server;
// the IDs of a block not used when the node stops are skipped, as are those
// of an ID server's own block when it stops. An ID server that does not
// know ID_GET_BLOCK (ENOSYS) is asked with ID_GET, one ID at a time.
type idClient struct {
	addrs   []string
	timeout time.Duration
	next    atomic.Uint32
	pool    *connpool.Pool

	mu     sync.Mutex
	blocks map[string]*idBlock
	single sync.Map // addr -> true: it refused ID_GET_BLOCK

	// asked counts the requests made to ID servers (tests).
	asked atomic.Int64
}

// idBlock is the IDs of one key not yet handed out, next .. end.
type idBlock struct {
	mu        sync.Mutex
	next, end int64
}

// idBlockSize is how many IDs a node takes at once: one ID server round
// trip per this many uploads and replicas of a store.
const idBlockSize = 32

func newIDClient(addrs []string, timeout time.Duration, pool *connpool.Pool) *idClient {
	return &idClient{addrs: addrs, timeout: min(timeout, 10*time.Second), pool: pool, blocks: map[string]*idBlock{}}
}

// get returns a new ID for key.
func (c *idClient) get(ctx context.Context, key string) (int64, error) {
	c.mu.Lock()
	b := c.blocks[key]
	if b == nil {
		b = &idBlock{}
		c.blocks[key] = b
	}
	c.mu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.next == 0 || b.next > b.end {
		first, n, err := c.fetch(ctx, key)
		if err != nil {
			return 0, err
		}
		b.next, b.end = first, first+n-1
	}
	id := b.next
	b.next++
	return id, nil
}

// fetch asks the ID servers for a block of key's IDs.
func (c *idClient) fetch(ctx context.Context, key string) (first, n int64, err error) {
	if len(c.addrs) == 0 {
		return 0, 0, errors.New("no ID server configured")
	}
	start := int(c.next.Add(1))
	var errs []error
	for i := range c.addrs {
		addr := c.addrs[(start+i)%len(c.addrs)]
		first, n, err := c.try(ctx, addr, key)
		if err == nil {
			return first, n, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
		if ctx.Err() != nil {
			break
		}
	}
	return 0, 0, errors.Join(errs...)
}

// try asks addr once; a pooled connection the server had closed is
// replaced (an ID asked twice is only a number skipped).
func (c *idClient) try(ctx context.Context, addr, key string) (first, n int64, err error) {
	_, old := c.single.Load(addr)
	block := !old
	cmd, body := proto.CmdIDGet, []byte(nil)
	if block {
		cmd = proto.CmdIDGetBlock
		body, err = proto.EncodeIDBlock(key, idBlockSize)
	} else {
		body, err = proto.EncodeIDKey(key)
	}
	if err != nil {
		return 0, 0, err
	}
	c.asked.Add(1)
	err = c.pool.Do(ctx, addr, nil, func(nc *connpool.Conn) error {
		b, err := roundTrip(nc, c.timeout, cmd, proto.CmdIDReply, body, proto.IDBlockReplyLen)
		if err == nil {
			if block {
				first, n, err = proto.DecodeIDRange(b, idBlockSize)
			} else {
				n = 1
				first, err = proto.DecodeInt64(b)
			}
		}
		if err != nil {
			nc.Fail()
		}
		return err
	})
	var re *proto.ErrorReply
	if block && errors.As(err, &re) && re.Errno == proto.ENOSYS {
		c.single.Store(addr, true)
		return c.try(ctx, addr, key)
	}
	return first, n, err
}

// member is a line of the tracker's MEMBERS answer.
type member = proto.Member

// trackerClient joins the node to every tracker and beats to each; it also
// asks them for the group's members.
type trackerClient struct {
	s     *Server
	stime int64

	kmu   sync.Mutex
	kicks []chan struct{}

	mmu       sync.Mutex
	members   []member
	membersAt time.Time
	fetching  chan struct{} // closed when an in-flight MEMBERS query ends
}

func newTrackerClient(s *Server) *trackerClient {
	return &trackerClient{s: s, stime: time.Now().Unix()}
}

func (t *trackerClient) run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, addr := range t.s.cfg.Trackers {
		k := make(chan struct{}, 1)
		t.kmu.Lock()
		t.kicks = append(t.kicks, k)
		t.kmu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.loop(ctx, addr, k)
		}()
	}
	wg.Wait()
}

// kick makes every tracker loop beat now (the node's state changed).
func (t *trackerClient) kick() {
	if t == nil {
		return
	}
	t.kmu.Lock()
	defer t.kmu.Unlock()
	for _, k := range t.kicks {
		nudge(k)
	}
}

// loop keeps one tracker informed: JOIN, then BEAT every Beat on the same
// connection; any failure (the tracker restarted, the connection broke, a
// BEAT refused) leads to a new connection and a new JOIN.
func (t *trackerClient) loop(ctx context.Context, addr string, kick chan struct{}) {
	s := t.s
	log := s.log.With("tracker", addr)
	backoff := 200 * time.Millisecond
	joined := false
	for ctx.Err() == nil {
		err := t.session(ctx, addr, kick, log, &joined)
		if ctx.Err() != nil {
			return
		}
		if joined {
			log.Warn("storage: tracker connection lost; joining again", "err", err)
			joined = false
			backoff = 200 * time.Millisecond
		} else {
			log.Debug("storage: tracker unreachable", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, max(s.cfg.Beat, time.Second))
	}
}

func (t *trackerClient) session(ctx context.Context, addr string, kick chan struct{}, log interface {
	Info(string, ...any)
}, joined *bool) error {
	s := t.s
	// A connection of its own, not pooled: it beats for as long as it lives.
	nc, err := s.pool.Dial(ctx, addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	timeout := max(s.cfg.Beat, 5*time.Second)
	j := &proto.Join{Version: Version, Group: s.cfg.Group, Host: s.host, Port: s.port, STime: t.stime, JTime: time.Now().Unix()}
	body, err := j.Encode()
	if err != nil {
		return err
	}
	if _, err := roundTrip(nc, timeout, proto.CmdTrackerJoin, proto.CmdTrackerReply, body, 0); err != nil {
		return fmt.Errorf("join: %w", err)
	}
	*joined = true
	log.Info("storage: joined tracker")
	tick := time.NewTicker(s.cfg.Beat)
	defer tick.Stop()
	for {
		if err := t.beat(nc, timeout); err != nil {
			return fmt.Errorf("beat: %w", err)
		}
		if !wait(ctx, tick.C, kick) {
			return ctx.Err()
		}
	}
}

func (t *trackerClient) beat(nc net.Conn, timeout time.Duration) error {
	s := t.s
	total, free := s.space()
	state, pct, lag := s.sync.stateOf()
	b := &proto.Beat{Group: s.cfg.Group, Host: s.host, Extended: true, Port: s.port,
		Total: total, Free: free, SyncState: state, SyncPct: pct, Lag: lag, Health: s.Health()}
	body, err := b.Encode()
	if err != nil {
		return err
	}
	_, err = roundTrip(nc, timeout, proto.CmdTrackerBeat, proto.CmdTrackerReply, body, 0)
	return err
}

// groupMembers returns the group's members as the trackers last said,
// asking again when the answer is older than MembersTTL. When no tracker
// answers, the last answer is kept.
func (t *trackerClient) groupMembers(ctx context.Context) []member {
	if t == nil {
		return nil
	}
	for {
		t.mmu.Lock()
		if time.Since(t.membersAt) < t.s.cfg.MembersTTL {
			m := t.members
			t.mmu.Unlock()
			return m
		}
		if t.fetching != nil { // someone is asking: wait for the answer
			ch := t.fetching
			t.mmu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return t.cached()
			}
		}
		ch := make(chan struct{})
		t.fetching = ch
		t.mmu.Unlock()

		m, err := t.queryMembers(ctx)
		t.mmu.Lock()
		if err == nil {
			t.members = m
		} else {
			t.s.log.Debug("storage: MEMBERS failed", "err", err)
		}
		t.membersAt = time.Now() // a failure is not retried at once either
		t.fetching = nil
		close(ch)
		m = t.members
		t.mmu.Unlock()
		return m
	}
}

func (t *trackerClient) cached() []member {
	t.mmu.Lock()
	defer t.mmu.Unlock()
	return t.members
}

// forget drops the cached members, so that the next request asks again.
func (t *trackerClient) forget() {
	if t == nil {
		return
	}
	t.mmu.Lock()
	t.membersAt = time.Time{}
	t.mmu.Unlock()
}

func (t *trackerClient) queryMembers(ctx context.Context) ([]member, error) {
	body := make([]byte, proto.MembersBodyLen)
	if err := proto.PutString(body, t.s.cfg.Group); err != nil {
		return nil, err
	}
	var errs []error
	for _, addr := range t.s.cfg.Trackers {
		var b []byte
		err := t.s.pool.Do(ctx, addr, nil, func(nc *connpool.Conn) (err error) {
			b, err = roundTrip(nc, 5*time.Second, proto.CmdTrackerMembers, proto.CmdTrackerReply, body, proto.MaxTextReply)
			if err != nil {
				nc.Fail()
			}
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", addr, err))
			continue
		}
		text, err := proto.DecodeText(b)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", addr, err))
			continue
		}
		return proto.ParseMembers(text), nil
	}
	if len(errs) == 0 {
		return nil, errors.New("no tracker configured")
	}
	return nil, errors.Join(errs...)
}
