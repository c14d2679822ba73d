package storagenode

import (
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/tnv-s3/tnv/proto"
)

// Staged uploads (UPLOAD_STAGED, proto.CmdStorageUploadStaged). A client in
// this process (tnv up's gateway) records each file it uploads in the same
// database, in a transaction of its own right after the upload: two
// commits, two flushes of one disk, one after the other. With
// UPLOAD_STAGED the node does everything UPLOAD does up to the group log
// commit — the copies durable on every member that answered, the rows
// ready to insert — and hands that commit to the client, which runs it
// with its own statements in one transaction (CommitStaged). The put is
// readable, and acknowledged to the S3 client, only once that transaction
// has committed: an acknowledgement means what it meant.
//
// A staged commit nobody takes within StagedTTL, or one given up
// (AbandonStaged), is abandoned as a failed upload is: the node's copy is
// removed, the log number given up, and the members' copies, which have no
// row, are removed by their limbo sweep (limbo.go).

// errStagedGone is CommitStaged's answer for a token it does not hold:
// never handed out, taken already, abandoned or expired.
var errStagedGone = errors.New("storage: staged upload expired or unknown")

type stagedPut struct {
	ref   proto.FileRef
	e     *logEntry
	mv    *rowMove
	pre   *earlySeq // MySQL: the number reserved while the copies were made durable
	abs   string    // the node's copy
	acked []string  // the members that took their copies
	ph    *phaseClock
	log   *slog.Logger
	timer *time.Timer
}

type stagedPuts struct {
	mu   sync.Mutex
	next uint64
	m    map[uint64]*stagedPut
}

// add keeps p under a new token until take, or until ttl passes and
// expire gets it.
func (t *stagedPuts) add(p *stagedPut, ttl time.Duration, expire func(*stagedPut)) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[uint64]*stagedPut{}
	}
	t.next++
	tok := t.next
	t.m[tok] = p
	p.timer = time.AfterFunc(ttl, func() {
		if p := t.take(tok); p != nil {
			expire(p)
		}
	})
	return tok
}

// take removes and returns the put of tok, nil when it is not held.
func (t *stagedPuts) take(tok uint64) *stagedPut {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.m[tok]
	if p != nil {
		delete(t.m, tok)
		p.timer.Stop()
	}
	return p
}

// drain removes and returns every put held (Close).
func (t *stagedPuts) drain() []*stagedPut {
	t.mu.Lock()
	defer t.mu.Unlock()
	var all []*stagedPut
	for tok, p := range t.m {
		delete(t.m, tok)
		p.timer.Stop()
		all = append(all, p)
	}
	return all
}

func (t *stagedPuts) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// StagingDB is the database a staged upload's commit runs in when the
// node takes UPLOAD_STAGED (Config.Staging), else nil (tnv.StagingNode).
func (s *Server) StagingDB() *sql.DB {
	if !s.cfg.Staging {
		return nil
	}
	return s.db.DB
}

// stage keeps the commit of an upload whose copies are durable and
// returns its token for UPLOAD_STAGED's answer. The put holds the file's
// claim (s.claim) until it is committed or abandoned.
func (s *Server) stage(p *stagedPut) uint64 {
	return s.staged.add(p, s.cfg.StagedTTL, func(p *stagedPut) {
		p.log.Warn("storage: staged upload not committed in time; removed", "ttl", s.cfg.StagedTTL)
		s.abandonStaged(p)
	})
}

// CommitStaged commits the staged upload of token: its group log entry
// and rows, and with(tx) in the same transaction (nil: nothing more). When
// with fails, the upload is committed alone, as UPLOAD would have, and
// with's error is returned; when the upload's own part fails, nothing is
// committed, the copy is removed and that error is returned (an
// *proto.ErrorReply where UPLOAD would have answered one). An unknown or
// expired token is an error: nothing of that upload is readable.
func (s *Server) CommitStaged(token uint64, with func(tx *sql.Tx) error) error {
	p := s.staged.take(token)
	if p == nil {
		return errStagedGone
	}
	return s.commitPut(p, with)
}

// commitPut commits an upload whose copies are durable (UPLOAD's last
// step, CommitStaged's), with with's statements if not nil, as
// CommitStaged says, and releases the file's claim either way.
func (s *Server) commitPut(p *stagedPut, with func(tx *sql.Tx) error) error {
	dctx, cancel := s.dbctx()
	defer cancel()
	// The node's statements run under the node's context, as UPLOAD's
	// (with's own statements may use the client's).
	seq, err := s.appendLogJoined(dctx, p.e, p.mv, p.pre, with)
	var je *joinedError
	if errors.As(err, &je) {
		// The client's part failed: the upload is committed alone, as
		// UPLOAD would have, and the client told why its part failed.
		if seq, err = s.appendLogAt(dctx, p.e, p.mv, nil); err == nil {
			s.finishPut(p, seq)
			return je.err
		}
	}
	if err != nil {
		os.Remove(p.abs)
		s.unclaim(p.ref)
		return logRefusal(p.ref, err)
	}
	s.finishPut(p, seq)
	return nil
}

// AbandonStaged gives the staged upload of token up (its client will not
// commit it); an unknown token is ignored.
func (s *Server) AbandonStaged(token uint64) {
	if p := s.staged.take(token); p != nil {
		s.abandonStaged(p)
	}
}

func (s *Server) abandonStaged(p *stagedPut) {
	os.Remove(p.abs)
	p.pre.abandon(s)
	s.unclaim(p.ref)
}

// finishPut is what follows an upload's group log commit: the replaced
// copy's bytes go, the syncer learns the number, the copies are counted.
func (s *Server) finishPut(p *stagedPut, seq int64) {
	p.ph.mark("log")
	if p.mv.replaced != nil {
		s.removeBytes(p.mv.replaced)
	}
	if seq > 0 {
		s.sync.noteLocal(seq)
	}
	s.countCopies(s.ctx, p.ref, p.acked)
	p.log.Debug("storage: uploaded", "seq", seq, "crc32c", p.e.crc, "mirrors", p.acked)
	p.ph.done()
	s.unclaim(p.ref)
}

// logRefusal is the answer to an upload whose group log commit failed.
func logRefusal(ref proto.FileRef, err error) error {
	switch {
	case errors.Is(err, errLogConflict):
		return proto.Errorf(proto.EEXIST, "file %s/%s/%s exists (uploaded meanwhile through another member)", ref.AppID, ref.UserID, ref.FileID)
	case errors.Is(err, errExists):
		return proto.Errorf(proto.EEXIST, "file %s/%s/%s exists", ref.AppID, ref.UserID, ref.FileID)
	}
	return fmt.Errorf("group log: %w", err)
}
