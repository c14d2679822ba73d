package index

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tnv-s3/tnv/metadb"
)

func (s *SQL) Secret(ctx context.Context, ak string) (string, bool, error) {
	var sec string
	err := s.db.QueryRowContext(ctx, "SELECT secret FROM s3_users WHERE access_key = ?", ak).Scan(&sec)
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
	_, err := s.db.ExecContext(ctx, "INSERT INTO s3_users (access_key, secret, created) VALUES (?, ?, ?)", accessKey, secret, metadb.Now())
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

func (s *SQL) RemoveUser(ctx context.Context, accessKey string) error {
	n, err := affected(s.db.ExecContext(ctx, "DELETE FROM s3_users WHERE access_key = ?", accessKey))
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("user %s: %w", accessKey, ErrNotFound)
	}
	return nil
}

func (s *SQL) Users(ctx context.Context) ([]User, error) {
	return queryAll(ctx, s.db, "SELECT access_key, secret, created FROM s3_users ORDER BY access_key", nil, func(sc rowScanner) (User, error) {
		var u User
		var c int64
		err := sc.Scan(&u.AccessKey, &u.Secret, &c)
		u.Created = time.Unix(c, 0).UTC()
		return u, err
	})
}
