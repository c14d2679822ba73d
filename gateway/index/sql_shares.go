package index

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/tnv-s3/tnv/metadb"
)

const shareCols = "s.token_hash, s.bucket, s.appid, s.prefix, s.owner, s.created, s.expires, s.max_viewers, s.rate, s.revoked, " +
	"(SELECT COUNT(*) FROM s3_share_viewers v WHERE v.token_hash = s.token_hash)"

func scanShare(sc rowScanner) (Share, error) {
	var s Share
	var prefix []byte
	var created, expires, revoked int64
	err := sc.Scan(&s.Hash, &s.Bucket, &s.AppID, &prefix, &s.Owner, &created, &expires, &s.MaxViewers, &s.Rate, &revoked, &s.Viewers)
	s.Prefix, s.Revoked = string(prefix), revoked != 0
	s.Created, s.Expires = time.Unix(created, 0).UTC(), time.Unix(expires, 0).UTC()
	return s, err
}

func (s *SQL) CreateShare(ctx context.Context, sh *Share) error {
	_, err := s.db.ExecContext(ctx, "INSERT INTO s3_shares (token_hash, bucket, appid, prefix, owner, created, expires, max_viewers, rate, revoked) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
		sh.Hash, sh.Bucket, sh.AppID, []byte(sh.Prefix), sh.Owner, sh.Created.Unix(), sh.Expires.Unix(), sh.MaxViewers, sh.Rate)
	if metadb.IsDuplicate(err) {
		return fmt.Errorf("share: %w", ErrExists)
	}
	return err
}

func (s *SQL) Share(ctx context.Context, hash string) (*Share, error) {
	sh, err := scanShare(s.queryRow(ctx, nil, "SELECT "+shareCols+" FROM s3_shares s WHERE s.token_hash = ?", hash))
	if err == sql.ErrNoRows {
		return nil, fmt.Errorf("share: %w", ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return &sh, nil
}

func (s *SQL) ShareList(ctx context.Context) ([]Share, error) {
	return queryAll(ctx, s.db, "SELECT "+shareCols+" FROM s3_shares s ORDER BY s.created DESC, s.token_hash", nil, scanShare)
}

func (s *SQL) RevokeShare(ctx context.Context, hash string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var x int
		err := tx.QueryRowContext(ctx, "SELECT 1 FROM s3_shares WHERE token_hash = ?"+s.forUpdate(), hash).Scan(&x)
		if err == sql.ErrNoRows {
			return fmt.Errorf("share: %w", ErrNotFound)
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "UPDATE s3_shares SET revoked = 1 WHERE token_hash = ?", hash)
		return err
	})
}

// AdmitViewer locks the link's row, so that two gateways admitting the
// last free place at once admit one viewer, not two.
func (s *SQL) AdmitViewer(ctx context.Context, hash, addr string, now time.Time) (bool, error) {
	admitted := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		admitted = false
		var max int
		err := tx.QueryRowContext(ctx, "SELECT max_viewers FROM s3_shares WHERE token_hash = ?"+s.forUpdate(), hash).Scan(&max)
		if err == sql.ErrNoRows {
			return fmt.Errorf("share: %w", ErrNotFound)
		}
		if err != nil {
			return err
		}
		var x int
		err = tx.QueryRowContext(ctx, "SELECT 1 FROM s3_share_viewers WHERE token_hash = ? AND addr = ?", hash, addr).Scan(&x)
		if err == nil {
			admitted = true
			return nil
		}
		if err != sql.ErrNoRows {
			return err
		}
		if max > 0 {
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM s3_share_viewers WHERE token_hash = ?", hash).Scan(&n); err != nil {
				return err
			}
			if n >= max {
				return nil
			}
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO s3_share_viewers (token_hash, addr, first_seen) VALUES (?, ?, ?)", hash, addr, now.Unix()); err != nil {
			return err
		}
		admitted = true
		return nil
	})
	return admitted, err
}
