package index

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"time"

	"github.com/tnv-s3/tnv/metadb"
)

const bucketCols = "name, appid, owner, created, public_read, cors_xml, sse_default, versioning, object_lock"

func scanBucket(sc rowScanner) (Bucket, error) {
	var b Bucket
	var created int64
	var pub int
	var cors, sse, lock sql.NullString
	if err := sc.Scan(&b.Name, &b.AppID, &b.Owner, &created, &pub, &cors, &sse, &b.Versioning, &lock); err != nil {
		return b, err
	}
	b.Encryption = sse.String
	b.Created = time.Unix(created, 0).UTC()
	b.PublicRead = pub != 0
	b.CORS = cors.String
	return b, b.decodeLock(lock)
}

// bucketQuery is Bucket's, the read of every request but GET and HEAD:
// prepared, as the hot paths' are (stmt).
const bucketQuery = "SELECT " + bucketCols + " FROM s3_buckets WHERE name = ?"

func (s *SQL) Bucket(ctx context.Context, name string) (*Bucket, error) {
	if b, ok := s.cache.bucket(name); ok {
		return b, nil
	}
	gen := s.cache.begin()
	b, err := s.bucketRow(ctx, name)
	if err == nil {
		s.cache.fillBucket(gen, b)
	}
	return b, err
}

// bucketRow is Bucket from the database.
func (s *SQL) bucketRow(ctx context.Context, name string) (*Bucket, error) {
	b, err := scanBucket(s.queryRow(ctx, nil, bucketQuery, name))
	if err == sql.ErrNoRows {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return &b, nil
}

func (s *SQL) Buckets(ctx context.Context, owner string) ([]Bucket, error) {
	q, args := "SELECT "+bucketCols+" FROM s3_buckets ORDER BY name", []any{}
	if owner != "" {
		q, args = "SELECT "+bucketCols+" FROM s3_buckets WHERE owner = ? ORDER BY name", []any{owner}
	}
	return queryAll(ctx, s.db, q, args, scanBucket)
}

func (s *SQL) Usage(ctx context.Context, name string) (objects, bytes int64, err error) {
	err = s.db.QueryRowContext(ctx, "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM s3_objects WHERE bucket = ?", name).Scan(&objects, &bytes)
	return objects, bytes, err
}

func (s *SQL) SetPublic(ctx context.Context, name string, on bool) error {
	v := 0
	if on {
		v = 1
	}
	n, err := affected(s.fencedExec(ctx, touchedAll, "UPDATE s3_buckets SET public_read = ? WHERE name = ?", v, name))
	if err != nil {
		return err
	}
	if n == 0 { // no such bucket, or (MySQL counts changed rows) no change
		if _, err := s.bucketRow(ctx, name); err != nil {
			return fmt.Errorf("bucket %s: %w", name, err)
		}
	}
	return nil
}

const appIDChars = "abcdefghijklmnopqrstuvwxyz0123456789"

// newAppID returns "s" and 14 random lowercase alphanumerics: 15
// characters, what an appid[16] field holds.
func newAppID() string {
	b := make([]byte, 15)
	rand.Read(b)
	b[0] = 's'
	for i := 1; i < len(b); i++ {
		b[i] = appIDChars[int(b[i])%len(appIDChars)]
	}
	return string(b)
}

func (s *SQL) CreateBucket(ctx context.Context, name, owner string) (existing *Bucket, err error) {
	for range 5 {
		_, err = s.db.ExecContext(ctx, "INSERT INTO s3_buckets (name, appid, owner, created, public_read) VALUES (?, ?, ?, ?, 0)",
			name, newAppID(), owner, s.now())
		if err == nil {
			return nil, nil
		}
		if !metadb.IsDuplicate(err) {
			return nil, err
		}
		if b, e := s.Bucket(ctx, name); e == nil {
			return b, nil
		}
		// else the appid collided: draw another
	}
	return nil, err
}

func (s *SQL) DeleteBucket(ctx context.Context, b *Bucket, gcDue int64) error {
	return s.fencedTx(ctx, touchedAll, func(tx *sql.Tx) error {
		// The bucket's row first, exclusively: writes in flight that hold
		// it (bucketHeld) commit before the look for objects below, which
		// then sees their rows (a locking read starts no snapshot; the
		// first plain read does), and later ones find the bucket gone.
		if err := s.lockBucket(ctx, tx, b.Name, b.AppID, s.forUpdate()); err != nil {
			return err
		}
		var x int
		for _, q := range []string{"SELECT 1 FROM s3_objects WHERE bucket = ? LIMIT 1", "SELECT 1 FROM s3_versions WHERE bucket = ? LIMIT 1"} {
			err := tx.QueryRowContext(ctx, q, b.Name).Scan(&x)
			if err == nil {
				return ErrBucketNotEmpty
			}
			if err != sql.ErrNoRows {
				return err
			}
		}
		ids, err := queryAll(ctx, tx, "SELECT upload_id FROM s3_multipart WHERE bucket = ?", []any{b.Name}, func(sc rowScanner) (string, error) {
			var id string
			err := sc.Scan(&id)
			return id, err
		})
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := s.dropUploadTx(ctx, tx, b.AppID, id, nil, nil, gcDue); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM s3_bucket_access WHERE appid = ?", b.AppID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM s3_lifecycle WHERE bucket = ?", b.Name); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM s3_buckets WHERE name = ?", b.Name)
		return err
	})
}

func (s *SQL) SetEncryption(ctx context.Context, bucket, alg string) error {
	var v any
	if alg != "" {
		v = alg
	}
	if _, err := s.fencedExec(ctx, touchedAll, "UPDATE s3_buckets SET sse_default = ? WHERE name = ?", v, bucket); err != nil {
		return err
	}
	_, err := s.bucketRow(ctx, bucket) // MySQL counts changed rows only: ask
	return err
}

func (s *SQL) SetCORS(ctx context.Context, bucket, doc string) error {
	var v any
	if doc != "" {
		v = doc
	}
	_, err := s.fencedExec(ctx, touchedAll, "UPDATE s3_buckets SET cors_xml = ? WHERE name = ?", v, bucket)
	return err
}
