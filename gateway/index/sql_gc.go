package index

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/tnv-s3/tnv/metadb"
)

// The collector's queue, s3_gc, holds two kinds of rows: blobs released by
// a replacement or deletion (due after a grace period, for GETs in flight)
// and intent records of blobs being written (due after the intent TTL
// unless the write publishes and drops them first).

func (s *SQL) ReserveIntents(ctx context.Context, appid string, names []BlobName, due int64) ([]int64, error) {
	if s.db.Returning {
		return s.reserveReturning(ctx, appid, names, due)
	}
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

// reserveReturning writes the records in one statement that hands their
// IDs back (INSERT … RETURNING): one round trip and, on its own, one
// commit for a whole refill. The rows come back in no promised order, so
// each is matched to its name by the file ID (fresh and random).
func (s *SQL) reserveReturning(ctx context.Context, appid string, names []BlobName, due int64) ([]int64, error) {
	at := make(map[string]int, len(names))
	args := make([]any, 0, 4*len(names))
	for i, n := range names {
		at[n.FileID] = i
		args = append(args, appid, n.UserID, n.FileID, due)
	}
	q := "INSERT INTO s3_gc (appid, userid, fileid, due) VALUES " + metadb.List("(?, ?, ?, ?)", len(names)) + " RETURNING id, fileid"
	st, err := s.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ids := make([]int64, len(names))
	got := 0
	for rows.Next() {
		var id int64
		var fileid string
		if err := rows.Scan(&id, &fileid); err != nil {
			return nil, err
		}
		i, ok := at[fileid]
		if !ok || ids[i] != 0 {
			return nil, fmt.Errorf("intent records: unexpected row %d %q", id, fileid)
		}
		ids[i] = id
		got++
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if got != len(names) {
		return nil, fmt.Errorf("intent records: %d IDs back for %d rows", got, len(names))
	}
	return ids, nil
}

// DropIntents deletes reservations never used, 64 to a statement.
func (s *SQL) DropIntents(ctx context.Context, ids []int64) error {
	for len(ids) > 0 {
		n := min(len(ids), 64)
		args := make([]any, n)
		for i, id := range ids[:n] {
			args[i] = id
		}
		if _, err := s.db.ExecContext(ctx, "DELETE FROM s3_gc WHERE id IN ("+metadb.List("?", n)+")", args...); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

func (s *SQL) ExpediteIntents(ctx context.Context, ids []int64) error {
	now := s.now()
	for _, id := range ids {
		if _, err := s.exec(ctx, nil, "UPDATE s3_gc SET due = ? WHERE id = ?", now, id); err != nil {
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

// Collected and Postpone run once per blob the collector deletes or fails
// to: prepared (stmt).
func (s *SQL) Collected(ctx context.Context, id int64) error {
	_, err := s.exec(ctx, nil, "DELETE FROM s3_gc WHERE id = ?", id)
	return err
}

func (s *SQL) Postpone(ctx context.Context, id int64, due int64) error {
	_, err := s.exec(ctx, nil, "UPDATE s3_gc SET due = ?, tries = tries + 1 WHERE id = ?", due, id)
	return err
}
