package storagenode

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"time"

	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/proto"
)

// syncBatch is how many log entries a catch-up round reads at once.
const syncBatch = 256

// holeGrace is how long a number missing from the group's log above its
// compacted floor is waited for before this member gives it up (voidSeq).
// A writer reserves its number just before its transaction, so such a hole
// normally lives for milliseconds; one whose writer died or stalls stays
// until given up. Entries beyond a hole are applied meanwhile; only the
// cursor waits. A variable for tests.
var holeGrace = 5 * time.Second

// syncer applies the group log to this node: on start (WAIT_SYNC, then
// SYNCING until caught up, then ACTIVE) and every SyncInterval after.
type syncer struct {
	s     *Server
	kickc chan struct{}

	mu       sync.Mutex
	state    uint8
	pct      uint8
	lag      int64
	cursor   int64               // gseq: every entry up to it is applied
	done     map[int64]bool      // applied entries (gseq) above cursor
	scan     int64               // the highest gseq read
	holes    map[int64]time.Time // numbers missing above cursor, first seen
	floor    int64               // holes up to here are final (compacted)
	caughtUp bool
	loaded   bool
	target   int64 // log end when the catch-up started
	start    int64 // cursor when the catch-up started
}

func newSyncer(s *Server) *syncer {
	return &syncer{s: s, kickc: make(chan struct{}, 1), state: proto.SyncWait, done: map[int64]bool{}, holes: map[int64]time.Time{}}
}

// state is what the node beats: sync state, progress and lag.
func (y *syncer) stateOf() (uint8, uint8, int64) {
	y.mu.Lock()
	defer y.mu.Unlock()
	return y.state, y.pct, y.lag
}

func (y *syncer) kick() {
	nudge(y.kickc)
}

// noteLocal records a log entry (gseq) this node wrote itself (and so
// applied).
func (y *syncer) noteLocal(gseq int64) {
	y.mu.Lock()
	if gseq > y.cursor && y.loaded {
		y.done[gseq] = true
		delete(y.holes, gseq) // committed after a read that missed it
	}
	y.mu.Unlock()
}

func (y *syncer) run(ctx context.Context) {
	t := time.NewTicker(y.s.cfg.SyncInterval)
	defer t.Stop()
	for {
		if err := y.round(ctx); err != nil && ctx.Err() == nil {
			y.s.log.Warn("storage: catching up from the group log", "err", err)
		}
		if !wait(ctx, t.C, y.kickc) {
			return
		}
	}
}

func (y *syncer) setState(st uint8, pct uint8, lag int64) {
	y.mu.Lock()
	changed := y.state != st
	y.state, y.pct, y.lag = st, pct, lag
	y.mu.Unlock()
	if changed {
		y.s.log.Info("storage: sync state", "state", proto.SyncName(st), "pct", pct, "lag", lag)
		y.s.trackers.kick()
	}
}

// round applies every log entry it can; the first catch-up sets the state.
// A node caught up once that cannot write now waits (reads follow the log
// meanwhile) instead of failing every copy: the health loop kicks it when
// a store takes writes again.
func (y *syncer) round(ctx context.Context) error {
	s := y.s
	if y.caughtUp && s.Health() != proto.HealthOK {
		return nil
	}
	if !y.loaded {
		var cur int64
		err := s.st.cursorGet.QueryRowContext(ctx, s.node, s.cfg.Group).Scan(&cur)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		y.mu.Lock()
		y.cursor, y.start, y.scan, y.loaded = cur, cur, cur, true
		y.mu.Unlock()
	}
	var end, floor int64
	if err := s.st.logMax.QueryRowContext(ctx, s.cfg.Group).Scan(&end); err != nil {
		return err
	}
	if err := s.st.seqFloor.QueryRowContext(ctx, s.cfg.Group).Scan(&floor); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	y.mu.Lock()
	y.floor = max(y.floor, floor)
	if !y.caughtUp && y.target == 0 {
		y.target = end
	}
	y.mu.Unlock()
	syncing := func() {
		if pending := y.pending(end); !y.caughtUp && pending > 0 {
			y.setState(proto.SyncSyncing, y.progress(), pending)
		}
	}
	syncing()
	var failed error
	for ctx.Err() == nil {
		moved, err := y.batch(ctx)
		if err != nil {
			failed = err
			break
		}
		syncing()
		if !moved {
			break
		}
	}
	y.mu.Lock()
	target := y.target
	y.mu.Unlock()
	if failed == nil && !y.caughtUp && y.pending(target) == 0 {
		y.caughtUp = true
		s.log.Info("storage: caught up with the group log", "gseq", target)
	}
	if y.caughtUp {
		y.setState(proto.SyncActive, 100, y.pending(end))
	}
	return failed
}

// pending is how many of the group's entries up to gseq end this node has
// not applied: the numbers above the cursor less those applied and the
// holes.
func (y *syncer) pending(end int64) int64 {
	y.mu.Lock()
	defer y.mu.Unlock()
	n := end - y.cursor
	for q := range y.done {
		if q <= end {
			n--
		}
	}
	for q := range y.holes {
		if q <= end {
			n--
		}
	}
	return max(n, 0)
}

func (y *syncer) progress() uint8 {
	y.mu.Lock()
	total := y.target - y.start
	y.mu.Unlock()
	if total <= 0 {
		return 100
	}
	p := (total - y.pending(y.target)) * 100 / total
	return uint8(min(max(p, 0), 99))
}

// batch reads up to syncBatch entries after the cursor and as many after
// the highest one read so far, applies those not yet applied (different
// files in parallel, one file's entries in order) and moves the cursor
// over what is applied. It reports whether anything moved.
//
// A number missing between entries is a hole: below the group's compacted
// floor an entry compacted away, passed at once; above it the number of a
// writer that has not committed yet (or died): entries beyond it are
// applied, the cursor waits for it up to holeGrace, and then the member
// gives it up (voidSeq) — the no-op entry that takes the number, or the
// writer's entry if it won, is read and applied like any other.
func (y *syncer) batch(ctx context.Context) (bool, error) {
	s := y.s
	y.mu.Lock()
	cursor, scan := y.cursor, y.scan
	y.mu.Unlock()
	first, err := y.read(ctx, cursor)
	if err != nil {
		return false, err
	}
	es := first
	last := cursor // (cursor, last] is complete in first
	if len(es) > 0 {
		last = es[len(es)-1].gseq
	}
	if len(es) == syncBatch { // more after it, maybe past a hole
		more, err := y.read(ctx, max(scan, last))
		if err != nil {
			return false, err
		}
		es = append(es, more...)
	}

	now := y.s.cfg.Now()
	y.mu.Lock()
	present := map[int64]bool{}
	for _, e := range es {
		present[e.gseq] = true
		delete(y.holes, e.gseq)
		y.scan = max(y.scan, e.gseq)
	}
	// Holes above the floor (below it they are final, passed below).
	for q := max(cursor, y.floor) + 1; q < last; q++ {
		if _, ok := y.holes[q]; !ok && !present[q] && !y.done[q] {
			y.holes[q] = now
		}
	}
	// Entries per file, in order; files in parallel.
	byFile := map[proto.FileRef][]*logEntry{}
	var order []proto.FileRef
	applied := 0
	for _, e := range es {
		if y.done[e.gseq] {
			continue
		}
		if e.op == opNop {
			y.done[e.gseq] = true
			applied++
			continue
		}
		if _, ok := byFile[e.ref]; !ok {
			order = append(order, e.ref)
		}
		byFile[e.ref] = append(byFile[e.ref], e)
	}
	y.mu.Unlock()
	work := make(chan proto.FileRef)
	var wg sync.WaitGroup
	var emu sync.Mutex
	var firstErr error
	fail := func(err error) {
		emu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		emu.Unlock()
	}
	flips := &flipSet{}
	for range min(s.cfg.SyncWorkers, max(len(order), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ref := range work {
				ents := byFile[ref]
				for i, e := range ents {
					var fs *flipSet
					if i == len(ents)-1 {
						fs = flips // the file's last entry here: nothing after it depends on the flip
					}
					deferred, err := y.apply(ctx, e, fs)
					if err != nil {
						fail(err)
						break // later entries of this file wait for this one
					}
					if deferred {
						continue // done once its flip is committed
					}
					y.mu.Lock()
					y.done[e.gseq] = true
					applied++
					y.mu.Unlock()
				}
			}
		}()
	}
	for _, r := range order {
		work <- r
	}
	close(work)
	wg.Wait()
	if len(flips.list) > 0 {
		n, err := y.commitFlips(ctx, flips.list)
		applied += n
		if err != nil {
			fail(err)
		}
	}

	// Move the cursor over applied entries and final holes, in first's
	// order (it holds every entry of its range).
	y.mu.Lock()
	old := y.cursor
	for _, e := range first {
		for y.cursor+1 < e.gseq && y.done[y.cursor+1] { // this node's own, committed after the read
			y.cursor++
		}
		if e.gseq > y.cursor+1 { // a hole before e
			if e.gseq-1 > y.floor {
				y.cursor = max(y.cursor, y.floor) // the final part of it
				break
			}
			y.cursor = e.gseq - 1
		}
		if !y.done[e.gseq] {
			break
		}
		y.cursor = e.gseq
	}
	var giveUp []int64
	for q, t := range y.holes {
		if q <= y.cursor {
			delete(y.holes, q)
		} else if q > y.floor && now.Sub(t) >= holeGrace {
			giveUp = append(giveUp, q)
		}
	}
	for q := range y.done {
		if q <= y.cursor {
			delete(y.done, q)
		}
	}
	cur := y.cursor
	y.mu.Unlock()
	for _, q := range giveUp {
		s.log.Info("storage: giving up a group log number not committed in time", "gseq", q, "waited", holeGrace)
		s.voidSeq(q)
	}
	if cur != old {
		if _, err := s.st.cursorSet.ExecContext(ctx, s.node, s.cfg.Group, cur, s.nowUnix()); err != nil {
			return false, err
		}
	}
	return cur != old || applied > 0 || len(giveUp) > 0, firstErr
}

// read returns up to syncBatch of the group's entries after gseq from.
func (y *syncer) read(ctx context.Context, from int64) ([]*logEntry, error) {
	rows, err := y.s.st.logAfter.QueryContext(ctx, y.s.cfg.Group, from)
	if err != nil {
		return nil, err
	}
	return metadb.ScanAll(rows, scanLogEntry)
}

// flipSet collects the pending copies a batch makes readable, so that they
// are flipped in one transaction (commitFlips) rather than one commit each:
// under many small PUTs a replica made a commit (on SQLite an fsync under
// the write lock every writer of `tnv up` shares) per upload here.
type flipSet struct {
	mu   sync.Mutex
	list []flip
}

type flip struct {
	e   *logEntry
	row *fileRow
}

func (f *flipSet) add(e *logEntry, row *fileRow) {
	f.mu.Lock()
	f.list = append(f.list, flip{e, row})
	f.mu.Unlock()
}

// commitFlips makes the collected pending copies readable in one
// transaction and marks their entries applied once it is committed. A copy
// whose row changed meanwhile (the flip finds it no longer pending with the
// entry's contents) is applied again, alone. It returns how many entries it applied.
func (y *syncer) commitFlips(ctx context.Context, flips []flip) (int, error) {
	s := y.s
	var flipped []bool
	err := metadb.Retry(ctx, metadb.IsRetryable, func() error {
		// GroupTx: on SQLite the flips share a commit with the uploads'.
		return s.db.GroupTx(ctx, func(tx *sql.Tx) error {
			flipped = make([]bool, len(flips))
			for i, f := range flips {
				var err error
				if flipped[i], err = s.flipIn(ctx, tx, f.row, f.e.size, f.e.crc); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		return 0, err
	}
	applied := 0
	for i, f := range flips {
		if !flipped[i] {
			if _, err := y.apply(ctx, f.e, nil); err != nil {
				return applied, err
			}
		}
		y.mu.Lock()
		y.done[f.e.gseq] = true
		y.mu.Unlock()
		applied++
	}
	return applied, nil
}

// apply makes this node agree with one log entry. An entry that a later one
// supersedes is left to that one. With flips set, a pending copy that the
// entry makes readable is added to it instead of flipped here (deferred).
func (y *syncer) apply(ctx context.Context, e *logEntry, flips *flipSet) (deferred bool, err error) {
	s := y.s
	if flips != nil && e.op == opPut {
		// A copy this node received pending: flipped without a read. A
		// later entry of the file, if any, is applied after the flip
		// commits (it is the file's last entry in this batch).
		if row := s.pending.take(e.ref, e.size, e.crc); row != nil {
			flips.add(e, row)
			return true, nil
		}
	}
	if e.op == opPut {
		// A copy taken by REPLICATE_LINKED: its row, inserted by the put's
		// transaction, is all there is to check (one key lookup instead of
		// the row and the file's last entry).
		if done, err := s.limbo.check(ctx, s, e); done || err != nil {
			return false, err
		}
	}
	row, latest, err := s.fileState(ctx, e.ref)
	if err != nil {
		return false, err
	}
	if latest != nil && latest.seq > e.seq {
		return false, nil
	}
	if e.op == opDel {
		// Only a readable copy: a pending one is an upload in flight that
		// reuses the ID, or an older one the purge drops.
		if row != nil && row.status == statusOK {
			_, err = s.setStatus(ctx, row, statusOK, statusDeleted, e.created)
		}
		return false, err
	}
	if row != nil && row.size == e.size && row.crc == e.crc {
		switch row.status {
		case statusOK:
			return false, nil
		case statusPending:
			if flips != nil {
				flips.add(e, row)
				return true, nil
			}
			if ok, err := s.setStatus(ctx, row, statusPending, statusOK, 0); err != nil || ok {
				return false, err
			}
		}
	}
	var cur *fileRow
	if row != nil && row.status == statusOK {
		cur = row // an outdated copy
	}
	_, err = s.fetchCopy(ctx, e.ref, e.size, e.crc, cur, s.sourcePeers(ctx, e.origin))
	if err != nil {
		return false, err
	}
	s.log.Debug("storage: copied from a member", "fileid", e.ref.FileID, "seq", e.seq)
	return false, nil
}
