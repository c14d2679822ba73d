package gateway

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"

	"github.com/tnv-s3/tnv/backend/tnv"
	"github.com/tnv-s3/tnv/gateway/index"
)

// A PUT of one blob to storage nodes in this process that commit to the
// index's own database (tnv up) ends in one commit instead of two: the
// node stages its group log commit (UPLOAD_STAGED, tnv.Client.UploadStaged)
// and publish runs it with the object's index row in one transaction
// (index.WithCommitter). Until that transaction commits the blob is not
// readable and the PUT not acknowledged; if the PUT fails before it, the
// staged upload is abandoned and the node removes the file.
//
// The slot rides in the request's context from putObject, through
// whatever BlobStore wraps TNVStore (SSE's sealedStore), to TNVStore.Put.

type stagedSlot struct {
	db    *sql.DB     // the index's database: only a commit in it can be joined
	taken bool        // TNVStore.Put has used the slot (one blob)
	up    *tnv.Staged // the staged upload, nil when the node committed it itself
}

type stagedSlotKey struct{}

// stageOne puts a slot in r.ctx when a PUT of size bytes can join its
// blob's commit to its index row: one blob, the index SQL in cfg.DB, the
// blobs in a TNV cluster. Nil otherwise.
func (g *Gateway) stageOne(r *request, size int64) *stagedSlot {
	if _, ok := g.cfg.Blobs.(TNVStore); !ok || !g.ownIdx || size <= 0 || size > g.blobSize {
		return nil
	}
	slot := &stagedSlot{db: g.cfg.DB.DB}
	r.ctx = context.WithValue(r.ctx, stagedSlotKey{}, slot)
	return slot
}

func stagedSlotOf(ctx context.Context) *stagedSlot {
	s, _ := ctx.Value(stagedSlotKey{}).(*stagedSlot)
	return s
}

// abandon gives up a staged upload that was not committed (the PUT
// failed before or during its publish). Nil-safe.
func (s *stagedSlot) abandon() {
	if s != nil && s.up != nil {
		s.up.Abandon()
	}
}

// put is TNVStore.Put for a PUT with a slot: the upload is staged when
// the node can, and committed at once when its database is not the index's.
func (s *stagedSlot) put(ctx context.Context, c *tnv.Client, appid, userid, fileid string, r io.Reader, size int64) error {
	s.taken = true
	up, err := c.UploadStaged(ctx, appid, userid, fileid, r, size)
	if err != nil {
		return err
	}
	if up != nil && up.DB() != s.db {
		if err := up.Commit(nil); err != nil {
			return err
		}
		up = nil
	}
	s.up = up
	return nil
}

// publishCtx is ctx for publish's index write: with the staged upload's
// commit as the transaction's committer when there is one.
func (s *stagedSlot) publishCtx(ctx context.Context) context.Context {
	if s == nil || s.up == nil {
		return ctx
	}
	return index.WithCommitter(ctx, s.up.Commit)
}

// published makes sure, once the index row is committed, that the staged
// upload is too: an index that did not run the committer (a bug) gets the
// upload committed now, late but before the answer.
func (s *stagedSlot) published(log *slog.Logger) error {
	if s == nil || s.up == nil {
		return nil
	}
	err := s.up.Commit(nil)
	if errors.Is(err, tnv.ErrStagedDone) {
		return nil
	}
	log.Error("gateway: the index did not join a staged upload's commit; committed it after", "err", err)
	return err
}
