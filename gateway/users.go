package gateway

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/tnv-s3/tnv/metadb"
)

// MinSecretLen is the shortest secret key accepted where one is created or
// given (AddUser, the root key on the command line): AWS's own are 40
// characters; 16 random ones are out of reach of guessing.
const MinSecretLen = 16

// RemoveUserOptions say what becomes of the buckets of a user removed.
// Without either, RemoveUser refuses while the user owns a bucket: a bucket
// whose owner cannot sign in is reachable by the root key only, which is
// seldom what the one removing the user meant.
type RemoveUserOptions struct {
	ReassignTo    string // hand the buckets to this user
	DeleteBuckets bool   // delete the buckets; empty ones only
}

// OwnsBucketsError is RemoveUser's refusal: the user owns buckets.
type OwnsBucketsError struct {
	User    string
	Buckets []string
}

func (e *OwnsBucketsError) Error() string {
	return fmt.Sprintf("user %s owns %s: --reassign-to KEY hands them to another user, --delete-buckets deletes them (empty ones only)",
		e.User, bucketList(e.Buckets))
}

// NotEmptyError is RemoveUser's refusal to delete buckets that hold
// objects: those are the users' data, deleted by S3 requests, not by an
// administrator's side effect.
type NotEmptyError struct {
	Buckets []string
}

func (e *NotEmptyError) Error() string {
	return fmt.Sprintf("%s not empty: --delete-buckets deletes empty buckets only; empty them first (aws s3 rm --recursive) or use --reassign-to KEY; nothing was changed",
		bucketList(e.Buckets))
}

func bucketList(bs []string) string {
	if len(bs) == 1 {
		return "bucket " + bs[0]
	}
	return fmt.Sprintf("%d buckets (%s)", len(bs), strings.Join(bs, ", "))
}

// RemoveUser deletes an access key and, as opt says, hands its buckets to
// another user or deletes them. It returns the names of the buckets moved
// or deleted.
func RemoveUser(ctx context.Context, db *metadb.DB, accessKey string, opt RemoveUserOptions) ([]string, error) {
	if opt.ReassignTo != "" && opt.DeleteBuckets {
		return nil, errors.New("--reassign-to and --delete-buckets: give one of them")
	}
	if opt.ReassignTo == accessKey {
		return nil, fmt.Errorf("cannot reassign the buckets of %s to itself", accessKey)
	}
	if err := userExists(ctx, db, accessKey); err != nil {
		return nil, err
	}
	owned, err := ListBuckets(ctx, db, accessKey)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, b := range owned {
		names = append(names, b.Name)
	}
	m := &meta{db: db}
	defer m.close()
	switch {
	case len(owned) == 0:
	case opt.ReassignTo != "":
		if err := userExists(ctx, db, opt.ReassignTo); err != nil {
			return nil, err
		}
	case opt.DeleteBuckets:
		var full []string
		for _, b := range owned {
			n, _, err := BucketUsage(ctx, db, b.Name)
			if err != nil {
				return nil, err
			}
			if n > 0 {
				full = append(full, b.Name)
			}
		}
		if len(full) > 0 {
			return nil, &NotEmptyError{Buckets: full}
		}
		for i := range owned {
			// Its unfinished uploads' blobs go to the gateways' collector.
			if err := m.deleteBucket(ctx, &owned[i], metadb.Now()); err != nil {
				return names[:i], fmt.Errorf("delete bucket %s (an object arrived?): %w; user %s kept", owned[i].Name, err, accessKey)
			}
		}
	default:
		return nil, &OwnsBucketsError{User: accessKey, Buckets: names}
	}
	// One transaction: the user goes and its buckets (those it created
	// meanwhile too) change hands together.
	err = m.tx(ctx, func(tx *sql.Tx) error {
		if opt.ReassignTo != "" {
			if _, err := tx.ExecContext(ctx, "UPDATE s3_buckets SET owner = ? WHERE owner = ?", opt.ReassignTo, accessKey); err != nil {
				return err
			}
		} else {
			var x int
			err := tx.QueryRowContext(ctx, "SELECT 1 FROM s3_buckets WHERE owner = ? LIMIT 1"+m.forUpdate(), accessKey).Scan(&x)
			if err == nil {
				return fmt.Errorf("user %s created a bucket meanwhile: run the command again", accessKey)
			}
			if err != sql.ErrNoRows {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM s3_users WHERE access_key = ?", accessKey)
		return err
	})
	if err != nil {
		return nil, err
	}
	return names, nil
}

// SetBucketOwner hands a bucket to another user.
func SetBucketOwner(ctx context.Context, db *metadb.DB, bucket, accessKey string) error {
	if err := userExists(ctx, db, accessKey); err != nil {
		return err
	}
	res, err := db.ExecContext(ctx, "UPDATE s3_buckets SET owner = ? WHERE name = ?", accessKey, bucket)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var x int
		if err := db.QueryRowContext(ctx, "SELECT 1 FROM s3_buckets WHERE name = ?", bucket).Scan(&x); err == sql.ErrNoRows {
			return fmt.Errorf("bucket %s: %w", bucket, errNotFound)
		} else if err != nil {
			return err
		}
	}
	return nil
}

func userExists(ctx context.Context, db *metadb.DB, accessKey string) error {
	var x int
	err := db.QueryRowContext(ctx, "SELECT 1 FROM s3_users WHERE access_key = ?", accessKey).Scan(&x)
	if err == sql.ErrNoRows {
		return fmt.Errorf("user %s: %w (tnv admin user list shows the users)", accessKey, errNotFound)
	}
	return err
}

// SetUserAdmin lets a user read the cluster's status page and metrics on
// the S3 port (/_tnv/status, /_tnv/metrics), or no longer. It gives no
// access to other users' buckets.
func SetUserAdmin(ctx context.Context, db *metadb.DB, accessKey string, on bool) error {
	v := 0
	if on {
		v = 1
	}
	res, err := db.ExecContext(ctx, "UPDATE s3_users SET admin = ? WHERE access_key = ?", v, accessKey)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return userExists(ctx, db, accessKey) // not found, or unchanged
	}
	return nil
}

// Admins returns the access keys of the admin users.
func Admins(ctx context.Context, db *metadb.DB) (map[string]bool, error) {
	rows, err := db.QueryContext(ctx, "SELECT access_key FROM s3_users WHERE admin <> 0")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		out[k] = true
	}
	return out, rows.Err()
}

// isAdmin reports whether an access key is an admin user's.
func (m *meta) isAdmin(ctx context.Context, accessKey string) (bool, error) {
	var v int
	err := m.queryRow(ctx, nil, "SELECT admin FROM s3_users WHERE access_key = ?", accessKey).Scan(&v)
	if err == sql.ErrNoRows {
		return false, nil
	}
	return v != 0, err
}
