package storagenode

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/tnv-s3/tnv/proto"
)

// A store's write health: whether uploads may go to it. A node reports the
// best of its stores' (it can take uploads while one store can) in its
// BEAT, so that the trackers stop handing it out for uploads and its peers
// stop waiting for it, while it keeps serving reads (docs/protocol.md,
// "BEAT with write health").

// fullBelow is the room under which a store counts as FULL: a small file
// would no longer fit with pickStore's overhead.
const fullBelow = 1 << 20

// probeSize is what a probe writes and fsyncs.
const probeSize = 4 << 10

// healthOf classifies a failed write, fsync or create.
func healthOf(err error) uint8 {
	switch {
	case err == nil:
		return proto.HealthOK
	case errors.Is(err, syscall.EROFS), errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return proto.HealthReadOnly
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return proto.HealthFull
	}
	return proto.HealthSick
}

// probe tries what an upload does in the store: create a temp file, write,
// fsync; and checks the room left beyond reserve.
func (st *store) probe(reserve int64) (uint8, error) {
	_, avail, err := st.space()
	if err != nil {
		return proto.HealthSick, err
	}
	st.mu.Lock()
	free := avail - reserve - st.reserved
	st.mu.Unlock()
	if free < fullBelow {
		return proto.HealthFull, fmt.Errorf("%d bytes free beyond the reserve", max(free, 0))
	}
	t, err := st.createTemp()
	if err != nil {
		return healthOf(err), err
	}
	defer t.abort()
	if _, err := t.f.Write(make([]byte, probeSize)); err != nil {
		return healthOf(err), err
	}
	if err := t.f.Sync(); err != nil {
		return healthOf(err), err
	}
	return proto.HealthOK, nil
}

// storeState is a store's last verdict.
type storeState struct {
	health uint8
	err    string
}

// writable reports whether uploads may go to st.
func (st *store) writable() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.state.health == proto.HealthOK
}

// setState records a verdict and reports whether it changed.
func (st *store) setState(h uint8, err error) (changed bool, was uint8) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	was = st.state.health
	st.state = storeState{health: h, err: msg}
	return was != h, was
}

// Health is the node's write health: OK while any store takes writes,
// else the worst of its stores' (SICK over FULL over READONLY).
func (s *Server) Health() uint8 {
	worst := proto.HealthOK
	for _, st := range s.stores {
		st.mu.Lock()
		h := st.state.health
		st.mu.Unlock()
		if h == proto.HealthOK {
			return proto.HealthOK
		}
		worst = max(worst, h)
	}
	return worst
}

// checkStores probes every store, records the verdicts and, when the node's
// health changed, logs it and beats at once.
func (s *Server) checkStores() {
	before := s.Health()
	for _, st := range s.stores {
		h, err := st.probe(s.cfg.Reserve)
		if changed, was := st.setState(h, err); changed {
			if h == proto.HealthOK {
				s.log.Info("storage: store writable again", "store", st.dir, "was", proto.HealthName(was))
			} else {
				s.log.Warn("storage: store cannot take writes", "store", st.dir, "health", proto.HealthName(h), "err", err)
			}
		}
	}
	if after := s.Health(); after != before {
		if after == proto.HealthOK {
			s.log.Info("storage: node takes uploads again; copying what it missed from the group log", "was", proto.HealthName(before))
			s.sync.kick()
		} else {
			s.log.Warn("storage: node cannot take uploads; reads go on, uploads go to other members", "health", proto.HealthName(after))
		}
		s.trackers.kick()
	}
}

// writeFailed notes a failed write into st (an upload, a copy) and has the
// stores probed at once: a disk that turned read-only or full is reported
// within a round trip of the first failure, not the next probe.
func (s *Server) writeFailed(st *store, err error) {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, os.ErrExist) {
		return
	}
	s.log.Warn("storage: write into a store failed; probing the stores", "store", st.dir, "err", err)
	nudge(s.probeNow)
}

// healthLoop probes the stores every HealthInterval, and at once after a
// failed write.
func (s *Server) healthLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.HealthInterval)
	defer t.Stop()
	for wait(ctx, t.C, s.probeNow) {
		s.checkStores()
	}
}

// refusal is the error reply for an upload whose temp file could not be
// created: another member should take it.
func refusal(err error) *proto.ErrorReply {
	if healthOf(err) == proto.HealthFull {
		return proto.Errorf(proto.ENOSPC, "store full: %v", err)
	}
	return proto.Errorf(proto.EROFS, "store cannot take writes: %v", err)
}

// unwritable is the refusal of an upload or copy when no store takes writes.
func (s *Server) unwritable() *proto.ErrorReply {
	h := s.Health()
	if h == proto.HealthFull {
		return proto.Errorf(proto.ENOSPC, "node is FULL: no store has room; another member takes the upload")
	}
	return proto.Errorf(proto.EROFS, "node is %s: no store takes writes; another member takes the upload", proto.HealthName(h))
}
