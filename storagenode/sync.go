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

// syncer applies the group log to this node: on start (WAIT_SYNC, then
// SYNCING until caught up, then ACTIVE) and every SyncInterval after.
type syncer struct {
	s     *Server
	kickc chan struct{}

	mu       sync.Mutex
	state    uint8
	pct      uint8
	lag      int64
	cursor   int64          // gseq: every entry up to it is applied
	done     map[int64]bool // applied entries (gseq) above cursor
	caughtUp bool
	loaded   bool
	target   int64 // log end when the catch-up started
	start    int64 // cursor when the catch-up started
}

func newSyncer(s *Server) *syncer {
	return &syncer{s: s, kickc: make(chan struct{}, 1), state: proto.SyncWait, done: map[int64]bool{}}
}

// state is what the node beats: sync state, progress and lag.
func (y *syncer) stateOf() (uint8, uint8, int64) {
	y.mu.Lock()
	defer y.mu.Unlock()
	return y.state, y.pct, y.lag
}

func (y *syncer) kick() {
	select {
	case y.kickc <- struct{}{}:
	default:
	}
}

// noteLocal records a log entry (gseq) this node wrote itself (and so
// applied).
func (y *syncer) noteLocal(gseq int64) {
	y.mu.Lock()
	if gseq > y.cursor && y.loaded {
		y.done[gseq] = true
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
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-y.kickc:
		}
	}
}

func (y *syncer) setState(st uint8, pct uint8, lag int64) {
	y.mu.Lock()
	changed := y.state != st
	y.state, y.pct, y.lag = st, pct, lag
	y.mu.Unlock()
	if changed {
		y.s.log.Info("storage: sync state", "state", syncName(st), "pct", pct, "lag", lag)
		y.s.trackers.kick()
	}
}

func syncName(st uint8) string {
	switch st {
	case proto.SyncActive:
		return "ACTIVE"
	case proto.SyncWait:
		return "WAIT_SYNC"
	}
	return "SYNCING"
}

// round applies every log entry it can; the first catch-up sets the state.
func (y *syncer) round(ctx context.Context) error {
	s := y.s
	if !y.loaded {
		var cur int64
		err := s.st.cursorGet.QueryRowContext(ctx, s.node, s.cfg.Group).Scan(&cur)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		y.mu.Lock()
		y.cursor, y.start, y.loaded = cur, cur, true
		y.mu.Unlock()
	}
	var end int64
	if err := s.st.logMax.QueryRowContext(ctx, s.cfg.Group).Scan(&end); err != nil {
		return err
	}
	y.mu.Lock()
	if !y.caughtUp && y.target == 0 {
		y.target = end
	}
	cursor := y.cursor
	y.mu.Unlock()
	if !y.caughtUp && cursor < end {
		y.setState(proto.SyncSyncing, y.progress(cursor), end-cursor)
	}
	var failed error
	for ctx.Err() == nil {
		moved, err := y.batch(ctx)
		if err != nil {
			failed = err
			break
		}
		y.mu.Lock()
		cursor = y.cursor
		y.mu.Unlock()
		if !y.caughtUp && cursor < end {
			y.setState(proto.SyncSyncing, y.progress(cursor), end-cursor)
		}
		if !moved {
			break
		}
	}
	y.mu.Lock()
	cursor = y.cursor
	lag := max(end-cursor, 0)
	y.mu.Unlock()
	if failed == nil && !y.caughtUp && cursor >= y.target {
		y.caughtUp = true
		s.log.Info("storage: caught up with the group log", "seq", cursor)
	}
	if y.caughtUp {
		y.setState(proto.SyncActive, 100, lag)
	}
	return failed
}

func (y *syncer) progress(cursor int64) uint8 {
	y.mu.Lock()
	defer y.mu.Unlock()
	if y.target <= y.start {
		return 100
	}
	p := (cursor - y.start) * 100 / (y.target - y.start)
	return uint8(min(max(p, 0), 99))
}

// batch reads up to syncBatch entries after the cursor, applies those not
// yet applied (different files in parallel, one file's entries in order)
// and moves the cursor over what is applied. It reports whether the
// cursor moved.
//
// A group's numbers become visible in order (appendLogOnce), so a number
// missing below a visible one will never appear: its entries were
// compacted away. The cursor passes such a hole at once.
func (y *syncer) batch(ctx context.Context) (bool, error) {
	s := y.s
	y.mu.Lock()
	cursor := y.cursor
	y.mu.Unlock()
	rows, err := s.st.logAfter.QueryContext(ctx, s.cfg.Group, cursor)
	if err != nil {
		return false, err
	}
	var es []*logEntry
	for rows.Next() {
		e := &logEntry{}
		var crc int64
		if err := rows.Scan(&e.seq, &e.gseq, &e.op, &e.ref.AppID, &e.ref.UserID, &e.ref.FileID, &e.size, &crc, &e.origin, &e.created); err != nil {
			rows.Close()
			return false, err
		}
		e.crc = uint32(crc)
		es = append(es, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, err
	}
	if len(es) == 0 {
		return false, nil
	}

	// Entries per file, in order; files in parallel.
	y.mu.Lock()
	byFile := map[proto.FileRef][]*logEntry{}
	var order []proto.FileRef
	for _, e := range es {
		if y.done[e.gseq] {
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
	for range min(s.cfg.SyncWorkers, max(len(order), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ref := range work {
				for _, e := range byFile[ref] {
					if err := y.apply(ctx, e); err != nil {
						emu.Lock()
						if firstErr == nil {
							firstErr = err
						}
						emu.Unlock()
						break // later entries of this file wait for this one
					}
					y.mu.Lock()
					y.done[e.gseq] = true
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

	// Move the cursor over the applied entries, up to the first that is not.
	y.mu.Lock()
	old := y.cursor
	for _, e := range es {
		if !y.done[e.gseq] {
			break
		}
		y.cursor = e.gseq
	}
	for q := range y.done {
		if q <= y.cursor {
			delete(y.done, q)
		}
	}
	cur := y.cursor
	y.mu.Unlock()
	if cur != old {
		if _, err := s.st.cursorSet.ExecContext(ctx, s.node, s.cfg.Group, cur, metadb.Now()); err != nil {
			return false, err
		}
	}
	return cur != old, firstErr
}

// apply makes this node agree with one log entry. An entry that a later one
// supersedes is left to that one.
func (y *syncer) apply(ctx context.Context, e *logEntry) error {
	s := y.s
	row, latest, err := s.fileState(ctx, e.ref)
	if err != nil {
		return err
	}
	if latest != nil && latest.seq > e.seq {
		return nil
	}
	if e.op == opDel {
		// Only a readable copy: a pending one is an upload in flight that
		// reuses the ID, or an older one the purge drops.
		if row != nil && row.status == statusOK {
			_, err = s.setStatus(ctx, row, statusOK, statusDeleted, e.created)
		}
		return err
	}
	if row != nil && row.size == e.size && row.crc == e.crc {
		switch row.status {
		case statusOK:
			return nil
		case statusPending:
			if ok, err := s.setStatus(ctx, row, statusPending, statusOK, 0); err != nil || ok {
				return err
			}
		}
	}
	var cur *fileRow
	if row != nil && row.status == statusOK {
		cur = row // an outdated copy
	}
	_, err = s.fetchCopy(ctx, e.ref, e.size, e.crc, cur, s.sourcePeers(ctx, e.origin))
	if err != nil {
		return err
	}
	s.log.Debug("storage: copied from a member", "fileid", e.ref.FileID, "seq", e.seq)
	return nil
}
