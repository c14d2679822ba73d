package index

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tnv-s3/tnv/metadb"
)

// Secret runs for every request signed by a key other than the root's:
// prepared (stmt).
func (s *SQL) Secret(ctx context.Context, ak string) (string, bool, error) {
	var sec string
	err := s.queryRow(ctx, nil, "SELECT secret FROM s3_users WHERE access_key = ?", ak).Scan(&sec)
	if err == sql.ErrNoRows {
		return "", false, nil
	}
	return sec, err == nil, err
}

// AddUser stores an access key and its secret; an existing key is an error.
func (s *SQL) AddUser(ctx context.Context, accessKey, secret string) error {
	if err := checkUser(accessKey, secret); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, "INSERT INTO s3_users (access_key, secret, created) VALUES (?, ?, ?)", accessKey, secret, s.now())
	if metadb.IsDuplicate(err) {
		return fmt.Errorf("user %s exists", accessKey)
	}
	return err
}

func checkUser(accessKey, secret string) error {
	if accessKey == "" || len(accessKey) > 128 || secret == "" || len(secret) > 256 {
		return errors.New("access key (1..128 bytes) and secret (1..256 bytes) are required")
	}
	return nil
}

func (s *SQL) RemoveUser(ctx context.Context, accessKey, reassignTo string) error {
	return s.fencedTx(ctx, touchedAll, func(tx *sql.Tx) error {
		if err := userIn(ctx, tx, accessKey); err != nil {
			return err
		}
		if reassignTo != "" {
			if err := userIn(ctx, tx, reassignTo); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "UPDATE s3_buckets SET owner = ? WHERE owner = ?", reassignTo, accessKey); err != nil {
				return err
			}
		} else {
			var x int
			err := tx.QueryRowContext(ctx, "SELECT 1 FROM s3_buckets WHERE owner = ? LIMIT 1"+s.forUpdate(), accessKey).Scan(&x)
			if err == nil {
				return fmt.Errorf("user %s: %w", accessKey, ErrOwnsBuckets)
			}
			if err != sql.ErrNoRows {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM s3_users WHERE access_key = ?", accessKey)
		return err
	})
}

// userIn checks that a user exists, in tx.
func userIn(ctx context.Context, tx *sql.Tx, accessKey string) error {
	var x int
	err := tx.QueryRowContext(ctx, "SELECT 1 FROM s3_users WHERE access_key = ?", accessKey).Scan(&x)
	if err == sql.ErrNoRows {
		return fmt.Errorf("user %s: %w", accessKey, ErrNotFound)
	}
	return err
}

func (s *SQL) Users(ctx context.Context) ([]User, error) {
	return queryAll(ctx, s.db, "SELECT access_key, secret, created, admin FROM s3_users ORDER BY access_key", nil, func(sc rowScanner) (User, error) {
		var u User
		var c, admin int64
		err := sc.Scan(&u.AccessKey, &u.Secret, &c, &admin)
		u.Created, u.Admin = time.Unix(c, 0).UTC(), admin != 0
		return u, err
	})
}

func (s *SQL) SetAdmin(ctx context.Context, accessKey string, on bool) error {
	v := 0
	if on {
		v = 1
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := userIn(ctx, tx, accessKey); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "UPDATE s3_users SET admin = ? WHERE access_key = ?", v, accessKey)
		return err
	})
}

func (s *SQL) IsAdmin(ctx context.Context, accessKey string) (bool, error) {
	var v int
	err := s.queryRow(ctx, nil, "SELECT admin FROM s3_users WHERE access_key = ?", accessKey).Scan(&v)
	if err == sql.ErrNoRows {
		return false, nil
	}
	return v != 0, err
}

func (s *SQL) SetBucketOwner(ctx context.Context, bucket, owner string) error {
	return s.fencedTx(ctx, touchedAll, func(tx *sql.Tx) error {
		if err := userIn(ctx, tx, owner); err != nil {
			return err
		}
		var x int
		err := tx.QueryRowContext(ctx, "SELECT 1 FROM s3_buckets WHERE name = ?"+s.forUpdate(), bucket).Scan(&x)
		if err == sql.ErrNoRows {
			return fmt.Errorf("bucket %s: %w", bucket, ErrNotFound)
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "UPDATE s3_buckets SET owner = ? WHERE name = ?", owner, bucket)
		return err
	})
}
