package storagenode

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/tnv-s3/tnv/internal/connpool"
	"github.com/tnv-s3/tnv/proto"
)

// peerClient holds connections to the other members of the group and
// remembers which of them failed lately.
type peerClient struct {
	s    *Server
	pool *connpool.Pool

	mu      sync.Mutex
	suspect map[string]suspicion
}

type suspicion struct {
	until   time.Time // skipped by fan-outs until then
	backoff time.Duration
}

func newPeerClient(s *Server) *peerClient {
	return &peerClient{s: s, pool: s.newPool(min(dialTimeout, s.cfg.ReplicaTimeout)), suspect: map[string]suspicion{}}
}

// conn returns an idle connection to addr that is still open, or dials one.
func (p *peerClient) conn(ctx context.Context, addr string) (*connpool.Conn, error) {
	return p.pool.Get(ctx, addr)
}

// put returns a connection whose last reply was read whole.
func (p *peerClient) put(nc *connpool.Conn) { p.pool.Put(nc) }

// failed leaves addr out of fan-outs for PeerBackoff, doubled for each
// failure in a row up to 16 times that: the member catches up from the
// group log instead of stalling uploads (a frozen member costs one upload
// a ReplicaTimeout now and then, not every upload).
func (p *peerClient) failed(addr string, err error) {
	p.mu.Lock()
	sp, already := p.suspect[addr]
	back := p.s.cfg.PeerBackoff
	if already {
		back = min(2*sp.backoff, 16*p.s.cfg.PeerBackoff)
	}
	p.suspect[addr] = suspicion{until: time.Now().Add(back), backoff: back}
	p.mu.Unlock()
	if !already || time.Now().After(sp.until) {
		p.s.log.Warn("storage: member skipped; it will catch up from the group log", "member", addr, "for", back, "err", err)
	}
}

// succeeded clears a member's record of failures.
func (p *peerClient) succeeded(addr string) {
	p.mu.Lock()
	delete(p.suspect, addr)
	p.mu.Unlock()
}

// suspected reports whether addr is left out of fan-outs now. The record
// stays after the time is up, so that the next failure doubles the wait.
func (p *peerClient) suspected(addr string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	sp, ok := p.suspect[addr]
	return ok && time.Now().Before(sp.until)
}

func (p *peerClient) close() { p.pool.Close() }

// fanoutPeers are the members an upload or delete is mirrored to at once:
// those the tracker counts ACTIVE (beating) and able to write, except this
// node and members that failed lately. The others catch up from the group
// log once they can.
func (s *Server) fanoutPeers(ctx context.Context) []string {
	var out []string
	for _, m := range s.trackers.groupMembers(ctx) {
		if m.Addr == s.node || m.State != "ACTIVE" || m.Health != "OK" || s.peers.suspected(m.Addr) {
			continue
		}
		out = append(out, m.Addr)
	}
	return out
}

// sourcePeers are the members a file may be copied from, best first: in
// step and beating, then the others the tracker knows of, then extra (the
// node that coordinated the upload), recently failed ones last.
func (s *Server) sourcePeers(ctx context.Context, extra ...string) []string {
	type cand struct {
		addr string
		rank int
	}
	var cs []cand
	seen := map[string]bool{s.node: true}
	add := func(a string, rank int) {
		if a == "" || seen[a] {
			return
		}
		seen[a] = true
		if s.peers.suspected(a) {
			rank += 10
		}
		cs = append(cs, cand{a, rank})
	}
	for _, m := range s.trackers.groupMembers(ctx) {
		switch {
		case m.State == "ACTIVE" && m.SyncState == "ACTIVE":
			add(m.Addr, 0)
		case m.State != "OFFLINE":
			add(m.Addr, 1)
		default:
			add(m.Addr, 3)
		}
	}
	for _, a := range extra {
		add(a, 2)
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].rank < cs[j].rank })
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.addr
	}
	return out
}

// fanout mirrors one upload to the other ACTIVE members while it is being
// received (REPLICATE, 74).
type fanout struct {
	s    *Server
	size int64
	reps []*replica
	// places: where the members that took REPLICATE_LINKED put their
	// copies, for the rows the put's log transaction inserts (wait).
	places []*proto.ReplicaPlace
}

type replica struct {
	addr   string
	cmd    uint8 // CmdReplicate or proto.CmdStorageReplicateLinked
	nc     *connpool.Conn
	err    error
	pooled bool
	place  *proto.ReplicaPlace
}

func (s *Server) startFanout(ctx context.Context, ref proto.FileRef, size int64) *fanout {
	f := &fanout{s: s, size: size}
	peers := s.fanoutPeers(ctx)
	if len(peers) == 0 {
		return f
	}
	head, err := (&proto.ReplicaHead{FileRef: ref, Size: size, Origin: s.node}).Encode()
	if err != nil {
		s.log.Error("storage: replica head", "err", err)
		return f
	}
	f.reps = make([]*replica, len(peers))
	var wg sync.WaitGroup
	for i, addr := range peers {
		r := &replica{addr: addr}
		f.reps[i] = r
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.cmd = s.replicateCmd(ctx, addr)
			frame := make([]byte, proto.HeaderLen, proto.HeaderLen+len(head))
			proto.Header{BodyLen: proto.ReplicaHeadLen + size + proto.ReplicaTrailerLen, Cmd: r.cmd}.Encode(frame)
			frame = append(frame, head...)
			r.nc, r.err = s.peers.conn(ctx, addr)
			if r.err == nil {
				r.nc.SetWriteDeadline(time.Now().Add(s.cfg.ReplicaTimeout))
				_, r.err = r.nc.Write(frame)
				if r.nc.Stale(ctx, r.err) { // closed while idle: nothing was taken
					r.nc.Close()
					if r.nc, r.err = s.peers.pool.Dial(ctx, addr); r.err == nil {
						r.nc.SetWriteDeadline(time.Now().Add(s.cfg.ReplicaTimeout))
						_, r.err = r.nc.Write(frame)
					}
				}
			}
		}()
	}
	wg.Wait()
	for _, r := range f.reps {
		if r.err != nil {
			f.drop(r, r.err)
		}
	}
	return f
}

func (f *fanout) drop(r *replica, err error) {
	r.err = err
	if r.cmd == proto.CmdStorageReplicateLinked {
		f.s.linkedPeers.Delete(r.addr) // asked again: it may be an older node now
	}
	if r.nc != nil {
		r.nc.Close()
		r.nc = nil
	}
	f.s.peers.failed(r.addr, err)
}

// write sends p to every member still in step. A member that takes longer
// than ReplicaTimeout to take a write is dropped.
func (f *fanout) write(p []byte) {
	for _, r := range f.reps {
		if r.nc == nil {
			continue
		}
		r.nc.SetWriteDeadline(time.Now().Add(f.s.cfg.ReplicaTimeout))
		if _, err := r.nc.Write(p); err != nil {
			f.drop(r, err)
		}
	}
}

// finish sends the CRC32C trailer.
func (f *fanout) finish(crc uint32) {
	var tr [proto.ReplicaTrailerLen]byte
	binary.BigEndian.PutUint32(tr[:], crc)
	f.write(tr[:])
}

// wait collects the members' answers: each has its copy durable (and
// pending) when it says OK. It returns the members that did.
func (f *fanout) wait() []string {
	// A member fsyncs before it answers: allow for that on big files.
	timeout := f.s.cfg.ReplicaTimeout + time.Duration(f.size/(32<<20))*time.Second
	var wg sync.WaitGroup
	for _, r := range f.reps {
		if r.nc == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.nc.SetReadDeadline(time.Now().Add(timeout))
			if r.cmd != proto.CmdStorageReplicateLinked {
				_, _, r.err = proto.ReadReply(r.nc, proto.CmdStorageReply, 0)
				return
			}
			_, b, err := proto.ReadReply(r.nc, proto.CmdStorageReply, proto.ReplicaPlaceLen)
			if err == nil {
				r.place, err = proto.DecodeReplicaPlace(b)
			}
			if err == nil && r.place.Node != r.addr {
				err = fmt.Errorf("member %s says its copy is %s's", r.addr, r.place.Node)
			}
			r.err = err
		}()
	}
	wg.Wait()
	var acked []string
	for _, r := range f.reps {
		if r.nc == nil {
			continue
		}
		if r.err != nil {
			f.drop(r, r.err)
			continue
		}
		acked = append(acked, r.addr)
		if r.place != nil {
			f.places = append(f.places, r.place)
		}
		f.s.peers.succeeded(r.addr)
		f.s.peers.put(r.nc)
		r.nc, r.pooled = nil, true
	}
	return acked
}

// close drops what was not handed back to the pool (an upload that failed
// half-way: the members see the stream end and discard their copies).
func (f *fanout) close() {
	for _, r := range f.reps {
		if r.nc != nil {
			r.nc.Close()
			r.nc = nil
		}
	}
}

// fanoutDelete tells the other ACTIVE members of a delete (75) and waits
// for their answers up to ReplicaTimeout.
func (s *Server) fanoutDelete(ctx context.Context, ref proto.FileRef, deleted int64) {
	peers := s.fanoutPeers(ctx)
	if len(peers) == 0 {
		return
	}
	body, err := (&proto.ReplicateDelete{FileRef: ref, DeletedTime: deleted}).Encode()
	if err != nil {
		return
	}
	var wg sync.WaitGroup
	for _, addr := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A delete told twice is applied once: a stale pooled
			// connection may be replaced.
			err := s.peers.pool.Do(ctx, addr, nil, func(nc *connpool.Conn) error {
				_, err := roundTrip(nc, s.cfg.ReplicaTimeout, CmdReplicateDelete, proto.CmdStorageReply, body, 0)
				if err != nil {
					nc.Fail()
				}
				return err
			})
			if err == nil {
				s.peers.succeeded(addr)
				return
			}
			s.peers.failed(addr, err)
		}()
	}
	wg.Wait()
}

// fetchStream is an open FETCH reply from a peer.
type fetchStream struct {
	s    *Server
	addr string
	nc   *connpool.Conn
	head proto.FetchReplyHead
	left int64 // bytes of the reply not read yet

	pushed time.Time
}

// fetch sends FETCH for d to addr and reads the reply up to the bytes.
func (s *Server) fetch(ctx context.Context, addr string, d *proto.Download) (*fetchStream, error) {
	body, err := d.Encode()
	if err != nil {
		return nil, err
	}
	nc, err := s.peers.conn(ctx, addr)
	if err != nil {
		return nil, err
	}
	h, err := s.fetchHeader(nc, body)
	if nc.Stale(ctx, err) { // closed while idle: ask on a new connection
		nc.Close()
		if nc, err = s.peers.pool.Dial(ctx, addr); err != nil {
			return nil, err
		}
		h, err = s.fetchHeader(nc, body)
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	if h.Status != proto.StatusOK {
		b, err := proto.ReadBody(nc, h, proto.MaxErrorBody)
		if err != nil {
			nc.Close()
			return nil, err
		}
		re, err := proto.DecodeError(b)
		if err != nil {
			nc.Close()
			return nil, err
		}
		s.peers.put(nc)
		return nil, re
	}
	if h.Cmd != proto.CmdStorageReply || h.BodyLen < proto.FetchReplyHeadLen {
		nc.Close()
		return nil, fmt.Errorf("FETCH reply: command %d, %d bytes", h.Cmd, h.BodyLen)
	}
	var hb [proto.FetchReplyHeadLen]byte
	if _, err := io.ReadFull(nc, hb[:]); err != nil {
		nc.Close()
		return nil, err
	}
	fh, err := proto.DecodeFetchReplyHead(hb[:])
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &fetchStream{s: s, addr: addr, nc: nc, head: fh, left: h.BodyLen - proto.FetchReplyHeadLen}, nil
}

// fetchHeader sends FETCH on nc and reads the reply's header.
func (s *Server) fetchHeader(nc *connpool.Conn, body []byte) (proto.Header, error) {
	nc.SetDeadline(time.Now().Add(s.cfg.IOTimeout))
	if err := proto.WriteFrame(nc, CmdFetch, proto.StatusOK, body); err != nil {
		return proto.Header{}, err
	}
	return proto.ReadHeader(nc)
}

func (f *fetchStream) Read(p []byte) (int, error) {
	if f.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > f.left {
		p = p[:f.left]
	}
	if now := time.Now(); now.Sub(f.pushed) > f.s.cfg.IOTimeout/8 {
		f.nc.SetReadDeadline(now.Add(f.s.cfg.IOTimeout))
		f.pushed = now
	}
	n, err := f.nc.Read(p)
	f.left -= int64(n)
	if err == io.EOF && f.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// close hands the connection back when the reply was read whole.
func (f *fetchStream) close() {
	if f.nc == nil {
		return
	}
	if f.left == 0 {
		f.s.peers.put(f.nc)
	} else {
		f.nc.Close()
	}
	f.nc = nil
}

// proxy answers a DOWNLOAD of a file the group has and this node lacks
// with a peer's copy: the bytes pass through (docs/replication.md).
func (s *Server) proxy(c *conn, d *proto.Download, e *logEntry) (bool, error) {
	n, err := rangeOf(d, e.size)
	if err != nil {
		return true, err
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.IOTimeout)
	defer cancel()
	var errs []error
	for _, addr := range s.sourcePeers(ctx, e.origin) {
		fs, err := s.fetch(ctx, addr, d)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", addr, err))
			continue
		}
		if fs.head.FileSize != e.size || fs.head.CRC32C != e.crc || fs.left != n {
			fs.nc.Close()
			errs = append(errs, fmt.Errorf("%s: holds another version", addr))
			continue
		}
		ok := s.relay(c, fs, n)
		fs.close()
		return ok, nil
	}
	s.log.Warn("storage: no member could serve a committed file", "fileid", d.FileID, "errs", errors.Join(errs...))
	return true, proto.Errorf(proto.EAGAIN, "file %s is being copied here and no member could send it now", d.FileID)
}

// relay sends the reply header for n bytes and copies them from fs. It
// reports whether the client connection is still in sync.
func (s *Server) relay(c *conn, fs *fetchStream, n int64) bool {
	var hb [proto.HeaderLen]byte
	proto.Header{BodyLen: n, Cmd: proto.CmdStorageReply}.Encode(hb[:])
	c.nc.SetWriteDeadline(time.Now().Add(s.cfg.IOTimeout))
	if _, err := c.nc.Write(hb[:]); err != nil {
		return false
	}
	bp := s.getBuf()
	defer s.putBuf(bp)
	buf := *bp
	for n > 0 {
		m, err := fs.Read(buf[:min(int64(len(buf)), n)])
		if m > 0 {
			c.nc.SetWriteDeadline(time.Now().Add(s.cfg.IOTimeout))
			if _, werr := c.nc.Write(buf[:m]); werr != nil {
				return false
			}
			n -= int64(m)
		}
		if err != nil && n > 0 {
			s.log.Warn("storage: member failed while relaying a file", "member", fs.addr, "err", err)
			return false
		}
	}
	return true
}

// fetchCopy copies a committed file (size bytes, CRC32C crc) from the first
// source that has it into a new copy here, verifying the CRC32C on the way,
// and records it readable: a new row, or in place of cur.
func (s *Server) fetchCopy(ctx context.Context, ref proto.FileRef, size int64, crc uint32, cur *fileRow, sources []string) (*fileRow, error) {
	if len(sources) == 0 {
		return nil, errors.New("no member to copy from")
	}
	st, release, err := s.pickStore(size)
	if err != nil {
		return nil, err
	}
	defer release()
	bp := s.getBuf()
	defer s.putBuf(bp)
	var errs []error
	for _, addr := range sources {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		row, err := s.fetchFrom(ctx, addr, ref, size, crc, cur, st, *bp)
		if err == nil {
			return row, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
	}
	return nil, errors.Join(errs...)
}

func (s *Server) fetchFrom(ctx context.Context, addr string, ref proto.FileRef, size int64, crc uint32, cur *fileRow, st *store, buf []byte) (*fileRow, error) {
	fs, err := s.fetch(ctx, addr, &proto.Download{FileRef: ref})
	if err != nil {
		return nil, err
	}
	defer fs.close()
	if fs.head.FileSize != size || fs.head.CRC32C != crc || fs.left != size {
		return nil, fmt.Errorf("holds another version (%d bytes, CRC32C %08x)", fs.head.FileSize, fs.head.CRC32C)
	}
	tmp, err := st.createTemp()
	if err != nil {
		s.writeFailed(st, err)
		return nil, err
	}
	defer tmp.abort()
	// The connection the watcher closes is this one, not fs.nc: the
	// deferred fs.close sets that to nil (or pools the connection), and a
	// watcher that ctx's end started just as the copy finished must not
	// read it then.
	nc := fs.nc
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	_, err = io.CopyBuffer(tmp, fs, buf)
	if !stop() {
		fs.nc = nil // closed by the watcher: not pooled
		nc.Close()
		if err == nil {
			err = ctx.Err()
		}
	}
	if err != nil {
		return nil, err
	}
	if tmp.n != size || tmp.crc != crc {
		return nil, fmt.Errorf("copy has CRC32C %08x, want %08x", tmp.crc, crc)
	}
	id, err := s.ids.get(ctx, st.idKey())
	if err != nil {
		return nil, fmt.Errorf("no file ID: %w", err)
	}
	rel, ctime, err := s.commitTemp(ctx, tmp, st, id)
	if err != nil {
		s.writeFailed(st, err)
		return nil, err
	}
	abs, _ := st.abs(rel)
	row, old, err := s.recordCopy(ctx, ref, st, rel, size, crc, ctime, cur)
	if err != nil {
		os.Remove(abs)
		return nil, err
	}
	if old != nil && (old.store != row.store || old.path != row.path) {
		s.removeBytes(old)
	}
	return row, nil
}

// recordCopy records a copy fetched from a peer as readable, replacing cur
// (a corrupt or outdated copy) when given.
func (s *Server) recordCopy(ctx context.Context, ref proto.FileRef, st *store, rel string, size int64, crc uint32, ctime int64, cur *fileRow) (*fileRow, *fileRow, error) {
	if cur != nil {
		res, err := s.st.shard[cur.shard].replace.ExecContext(ctx, st.key, rel, size, int64(crc), statusOK, ctime, s.nowUnix(), cur.id, cur.status)
		s.rows.drop(cur)
		if err != nil {
			return nil, nil, err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return &fileRow{shard: cur.shard, id: cur.id, store: st.key, path: rel, size: size, crc: crc, status: statusOK, vctime: ctime}, cur, nil
		}
	}
	row, old, err := s.putRow(ctx, ref, st, rel, size, crc, statusOK, ctime)
	if errors.Is(err, errExists) {
		// Someone (a replica, another repair) put a readable copy here meanwhile.
		if old.size == size && old.crc == crc {
			os.Remove(filepathOf(st, rel))
			return old, nil, nil
		}
	}
	return row, old, err
}

func filepathOf(st *store, rel string) string {
	p, _ := st.abs(rel)
	return p
}

// repair replaces this node's bad copy of a file by a peer's.
func (s *Server) repair(ctx context.Context, ref proto.FileRef, row *fileRow) (*fileRow, error) {
	nr, err := s.fetchCopy(ctx, ref, row.size, row.crc, row, s.sourcePeers(ctx))
	if err != nil {
		return nil, err
	}
	s.log.Info("storage: copy repaired from a member", "fileid", ref.FileID, "path", nr.path)
	return nr, nil
}

// linkedProbeAge: how long a peer's answer to whether it takes
// REPLICATE_LINKED is trusted before it is asked again (a node upgraded
// meanwhile; one downgraded fails its next linked replica and is asked at
// once).
const linkedProbeAge = 5 * time.Minute

type linkedProbe struct {
	ok bool
	at time.Time
}

// replicateCmd is the command that mirrors an upload to addr:
// REPLICATE_LINKED where the member's NODESTAT lists it among its
// features, else REPLICATE.
func (s *Server) replicateCmd(ctx context.Context, addr string) uint8 {
	linked := false
	if v, ok := s.linkedPeers.Load(addr); ok && time.Since(v.(linkedProbe).at) < linkedProbeAge {
		linked = v.(linkedProbe).ok
	} else if ok, err := s.probeLinked(ctx, addr); err == nil {
		// A failed probe is not remembered: asked again next time.
		s.linkedPeers.Store(addr, linkedProbe{ok: ok, at: time.Now()})
		linked = ok
	}
	if linked {
		return proto.CmdStorageReplicateLinked
	}
	return CmdReplicate
}

// probeLinked asks addr for its NODESTAT and reports whether it lists
// replicate-linked among its features.
func (s *Server) probeLinked(ctx context.Context, addr string) (bool, error) {
	var b []byte
	// NODESTAT reads only: a stale pooled connection may be replaced.
	err := s.peers.pool.Do(ctx, addr, nil, func(nc *connpool.Conn) (err error) {
		b, err = roundTrip(nc, s.cfg.ReplicaTimeout, CmdNodeStat, proto.CmdStorageReply, nil, 1<<16)
		if err != nil {
			nc.Fail()
		}
		return err
	})
	if err != nil {
		return false, err
	}
	text, err := proto.DecodeText(b)
	if err != nil {
		return false, err
	}
	return statFeature(text, featureReplicateLinked), nil
}
