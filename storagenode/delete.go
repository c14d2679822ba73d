package storagenode

import (
	"context"
	"time"

	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/proto"
)

// handleDelete serves DELETE (73) and, with replica set, REPLICATE_DELETE
// (75). A DELETE is soft: one transaction appends "del" to the group log
// and marks this node's row deleted, so that the file is unreadable on
// every member at once (reads follow the log); then the other ACTIVE
// members are told, and the client answered. The bytes go after the
// retention period (purge).
func (s *Server) handleDelete(c *conn, h proto.Header, replica bool) (bool, error) {
	b, err := c.readBody(h)
	if err != nil {
		return false, nil
	}
	var ref proto.FileRef
	deleted := s.nowUnix()
	if replica {
		d, err := proto.DecodeReplicateDelete(b)
		if err != nil {
			return true, decodeErr(err)
		}
		ref, deleted = d.FileRef, d.DeletedTime
	} else {
		r, err := proto.DecodeFileRef(b)
		if err != nil {
			return true, decodeErr(err)
		}
		ref = *r
	}
	if err := checkRef(ref); err != nil {
		return true, err
	}
	ctx, cancel := s.dbctx()
	defer cancel()
	if !replica {
		if err := s.checkHold(ctx, ref); err != nil { // hold.go
			return true, err
		}
	}
	var row *fileRow
	var latest *logEntry
	if replica {
		row, err = s.getRow(ctx, ref)
	} else {
		row, latest, err = s.fileState(ctx, ref)
	}
	if err != nil {
		return true, err
	}
	live := row != nil && row.status == statusOK
	if replica {
		if live {
			if _, err := s.setStatus(ctx, row, row.status, statusDeleted, deleted); err != nil {
				return true, err
			}
		}
		return true, c.reply(nil)
	}
	exists := latest != nil && latest.op == opPut || latest == nil && row != nil && row.status == statusOK
	if !exists {
		if live && latest != nil {
			s.setStatus(ctx, row, statusOK, statusDeleted, latest.created)
		}
		return true, proto.Errorf(proto.ENOENT, "no file %s/%s/%s", ref.AppID, ref.UserID, ref.FileID)
	}
	e := &logEntry{op: opDel, ref: ref, origin: s.node, created: deleted}
	if latest != nil {
		e.size, e.crc = latest.size, latest.crc
	}
	var mv *rowMove
	switch {
	case live:
		mv = &rowMove{row: row, from: statusOK, to: statusDeleted, deleted: deleted}
	case row != nil && row.status == statusPending && latest != nil && row.crc == latest.crc && row.size == latest.size:
		// This node's not yet flipped copy of the committed upload.
		mv = &rowMove{row: row, from: statusPending, to: statusDeleted, deleted: deleted}
	}
	seq, err := s.appendLog(ctx, e, mv)
	if err != nil {
		return true, err
	}
	s.sync.noteLocal(seq)
	s.fanoutDelete(ctx, ref, deleted)
	s.log.Debug("storage: deleted", "appid", ref.AppID, "userid", ref.UserID, "fileid", ref.FileID, "seq", seq)
	return true, c.reply(nil)
}

// purgeLoop removes, every PurgeInterval, what this node no longer needs.
func (s *Server) purgeLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.PurgeInterval)
	defer t.Stop()
	for wait(ctx, t.C, nil) {
		if n, err := s.Purge(ctx); err != nil {
			s.log.Warn("storage: purge", "err", err, "removed", n)
		} else if n > 0 {
			s.log.Info("storage: purged", "files", n)
		}
	}
}

// Purge removes the bytes and rows of files deleted more than Retention ago
// and of uncommitted copies older than PendingTTL whose upload never made it
// into the group log. It returns how many files went. Each member purges its
// own copies.
func (s *Server) Purge(ctx context.Context) (int, error) {
	total := 0
	if err := s.compactLog(ctx); err != nil {
		s.log.Warn("storage: compacting the group log", "err", err)
	}
	n, err := s.sweepLimbo(ctx)
	total += n
	if err != nil {
		return total, err
	}
	for sh := 1; sh <= 3; sh++ {
		for {
			n, more, err := s.purgeShard(ctx, sh)
			total += n
			if err != nil {
				return total, err
			}
			if !more {
				break
			}
		}
	}
	return total, nil
}

func (s *Server) purgeShard(ctx context.Context, sh int) (int, bool, error) {
	now := s.cfg.Now()
	h := s.st.shard[sh]
	rows, err := h.purgeable.QueryContext(ctx, s.node, now.Add(-s.cfg.Retention).Unix(), now.Add(-s.cfg.PendingTTL).Unix())
	if err != nil {
		return 0, false, err
	}
	type cand struct {
		row fileRow
		ref proto.FileRef
	}
	cs, err := metadb.ScanAll(rows, func(rows metadb.Scanner) (cand, error) {
		c := cand{row: fileRow{shard: sh}}
		return c, rows.Scan(&c.row.id, &c.ref.AppID, &c.ref.UserID, &c.ref.FileID, &c.row.store, &c.row.path, &c.row.status)
	})
	if err != nil {
		return 0, false, err
	}
	n := 0
	progress := false
	for _, c := range cs {
		if c.row.status == statusPending {
			// Committed after all (the log has it)? Then it is kept: resolve
			// makes it readable.
			if _, _, err := s.resolve(ctx, c.ref); err == nil {
				if r, _ := s.getRow(ctx, c.ref); r != nil && r.status != statusPending {
					progress = true
					continue
				}
			}
		}
		res, err := h.del.ExecContext(ctx, c.row.id, c.row.status)
		if err != nil {
			return n, false, err
		}
		if k, _ := res.RowsAffected(); k == 1 {
			s.removeBytes(&c.row)
			n++
			progress = true
		}
	}
	return n, len(cs) == 200 && progress, nil
}

// compactLog drops from the group log every entry of a file whose last
// entry is a delete older than the retention that every member with a
// cursor has applied: no member needs them any more, and a new member
// replaying the log from the start need not copy a file only to delete it.
// A member that is gone for good but keeps its row in t_sync_cursor holds
// compaction back (delete its row).
func (s *Server) compactLog(ctx context.Context) error {
	var upto int64
	if err := s.st.cursorMin.QueryRowContext(ctx, s.cfg.Group).Scan(&upto); err != nil {
		return err
	}
	rows, err := s.st.logOldDels.QueryContext(ctx, s.cfg.Group, s.cfg.Now().Add(-s.cfg.Retention).Unix(), upto)
	if err != nil {
		return err
	}
	type del struct {
		seq int64
		ref proto.FileRef
	}
	ds, err := metadb.ScanAll(rows, func(rows metadb.Scanner) (del, error) {
		var d del
		return d, rows.Scan(&d.seq, &d.ref.AppID, &d.ref.UserID, &d.ref.FileID)
	})
	if err != nil {
		return err
	}
	// Every number up to upto is resolved (every member with a cursor has
	// passed it), so the holes left below it are final: the syncers pass
	// them without waiting. Recorded before the entries go.
	if len(ds) > 0 {
		if _, err := s.st.seqCompacted.ExecContext(ctx, upto, s.cfg.Group, upto); err != nil {
			return err
		}
	}
	for _, d := range ds {
		latest, err := s.latestOp(ctx, d.ref)
		if err != nil {
			return err
		}
		if latest == nil || latest.seq != d.seq {
			continue // uploaded again since: its entries stay
		}
		if _, err := s.st.logCompactAt.ExecContext(ctx, s.cfg.Group, fileKey(d.ref), d.ref.AppID, d.ref.UserID, d.ref.FileID, d.seq); err != nil {
			return err
		}
	}
	return nil
}
