package index

import (
	"context"
	"database/sql"
)

// The collector's queue, s3_gc, holds two kinds of rows: blobs released by
// a replacement or deletion (due after a grace period, for GETs in flight)
// and intent records of blobs being written (due after the intent TTL
// unless the write publishes and drops them first).

func (s *SQL) ReserveIntents(ctx context.Context, appid string, names []BlobName, due int64) ([]int64, error) {
	ids := make([]int64, len(names))
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for i, n := range names {
			res, err := s.exec(ctx, tx, "INSERT INTO s3_gc (appid, userid, fileid, due) VALUES (?, ?, ?, ?)", appid, n.UserID, n.FileID, due)
			if err != nil {
				return err
			}
			if ids[i], err = res.LastInsertId(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

func (s *SQL) DropIntents(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		for _, id := range ids {
			if _, err := s.exec(ctx, tx, "DELETE FROM s3_gc WHERE id = ?", id); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *SQL) ExpediteIntents(ctx context.Context, ids []int64) error {
	now := s.now()
	for _, id := range ids {
		if _, err := s.db.ExecContext(ctx, "UPDATE s3_gc SET due = ? WHERE id = ?", now, id); err != nil {
			return err
		}
	}
	return nil
}

func (s *SQL) DueBlobs(ctx context.Context, now int64, limit int) ([]GCRow, error) {
	return queryAll(ctx, s.db, "SELECT id, appid, userid, fileid, tries FROM s3_gc WHERE due <= ? ORDER BY due LIMIT ?", []any{now, limit},
		func(sc rowScanner) (GCRow, error) {
			var r GCRow
			err := sc.Scan(&r.ID, &r.AppID, &r.UserID, &r.FileID, &r.Tries)
			return r, err
		})
}

func (s *SQL) Collected(ctx context.Context, id int64) error {
	_, err := s.db.ExecContext(ctx, "DELETE FROM s3_gc WHERE id = ?", id)
	return err
}

func (s *SQL) Postpone(ctx context.Context, id int64, due int64) error {
	_, err := s.db.ExecContext(ctx, "UPDATE s3_gc SET due = ?, tries = tries + 1 WHERE id = ?", due, id)
	return err
}
