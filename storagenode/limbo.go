package storagenode

import (
	"context"
	"os"
	"sync"
	"time"

	"github.com/tnv-s3/tnv/proto"
)

// limboMax bounds limboCopies. Past it a copy is not remembered: if its
// upload's commit fails, its bytes stay behind without a row, as a
// coordinator's own do when it is killed before its commit.
const limboMax = 65536

// limboCopies remembers the copies this node received by REPLICATE_LINKED
// (83): linked into place with no row of this node's, because the
// coordinator inserts that row in the transaction that appends the put to
// the group log. When the put reaches this node's syncer, the row is
// there and the entry goes (settle). An entry older than PendingTTL whose
// row never came — the coordinator's commit failed, or it was killed
// before it — has its bytes removed (sweepLimbo), as the purge drops a
// pending row's. A node that restarts forgets its entries: their bytes,
// if their commit failed, stay without a row (docs/replication.md, Limits).
type limboCopies struct {
	mu sync.Mutex
	// m: a file's copies; more than one when a client sends the same file
	// ID again after a try whose commit failed.
	m map[proto.FileRef][]limboCopy
	n int
}

type limboCopy struct {
	st   *store
	rel  string
	size int64
	crc  uint32
	at   time.Time
}

type limboEntry struct {
	ref proto.FileRef
	c   limboCopy
}

func (l *limboCopies) add(ref proto.FileRef, c limboCopy) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n >= limboMax {
		return false
	}
	if l.m == nil {
		l.m = map[proto.FileRef][]limboCopy{}
	}
	l.m[ref] = append(l.m[ref], c)
	l.n++
	return true
}

// check settles the copy of a put the syncer applies: when this node
// holds it in limbo with the put's size and CRC32C and its row (inserted by
// the put's transaction) names it, readable, the copy leaves limbo and the
// put is applied (done). Otherwise the syncer applies the put as any other
// (the copy, if any, stays in limbo until sweepLimbo).
func (l *limboCopies) check(ctx context.Context, s *Server, e *logEntry) (done bool, err error) {
	l.mu.Lock()
	var c limboCopy
	ok := false
	for _, x := range l.m[e.ref] {
		if x.size == e.size && x.crc == e.crc {
			c, ok = x, true
		}
	}
	l.mu.Unlock()
	if !ok {
		return false, nil
	}
	row, err := s.getRow(ctx, e.ref)
	if err != nil || row == nil || row.status != statusOK || row.store != c.st.key || row.path != c.rel {
		return false, err
	}
	l.drop(e.ref, c)
	return true, nil
}

func (l *limboCopies) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// expired returns the copies received before cutoff.
func (l *limboCopies) expired(cutoff time.Time) []limboEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []limboEntry
	for ref, cs := range l.m {
		for _, c := range cs {
			if c.at.Before(cutoff) {
				out = append(out, limboEntry{ref, c})
			}
		}
	}
	return out
}

// drop forgets the copy c of ref.
func (l *limboCopies) drop(ref proto.FileRef, c limboCopy) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cs := l.m[ref]
	for i, x := range cs {
		if x == c {
			cs = append(cs[:i:i], cs[i+1:]...)
			l.n--
			break
		}
	}
	if len(cs) == 0 {
		delete(l.m, ref)
	} else {
		l.m[ref] = cs
	}
}

// sweepLimbo settles the copies received more than PendingTTL ago: one
// whose row the coordinator committed is kept, one without is removed.
// It returns how many files it removed.
func (s *Server) sweepLimbo(ctx context.Context) (int, error) {
	n := 0
	for _, x := range s.limbo.expired(s.cfg.Now().Add(-s.cfg.PendingTTL)) {
		ref, c := x.ref, x.c
		row, err := s.getRow(ctx, ref)
		if err != nil {
			return n, err
		}
		if row == nil || row.store != c.st.key || row.path != c.rel {
			if abs, err := c.st.abs(c.rel); err == nil {
				if err := os.Remove(abs); err == nil {
					n++
				} else if !os.IsNotExist(err) {
					s.log.Warn("storage: removing an uncommitted copy", "path", abs, "err", err)
					continue
				}
			}
			s.log.Info("storage: dropped a copy whose upload was never committed", "appid", ref.AppID, "userid", ref.UserID, "fileid", ref.FileID)
		}
		s.limbo.drop(ref, c)
	}
	return n, nil
}
