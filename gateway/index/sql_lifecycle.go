package index

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/tnv-s3/tnv/metadb"
)

var _ Lifecycles = (*SQL)(nil)

func (s *SQL) LifecycleConfig(ctx context.Context, bucket string) (string, error) {
	var doc sql.NullString
	err := s.db.QueryRowContext(ctx, "SELECT l.config FROM s3_buckets b LEFT JOIN s3_lifecycle l ON l.bucket = b.name WHERE b.name = ?", bucket).Scan(&doc)
	if err == sql.ErrNoRows {
		return "", ErrNotFound
	}
	return doc.String, err
}

func (s *SQL) SetLifecycleConfig(ctx context.Context, bucket, doc string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var x int
		err := tx.QueryRowContext(ctx, "SELECT 1 FROM s3_buckets WHERE name = ?"+s.forUpdate(), bucket).Scan(&x)
		if err == sql.ErrNoRows {
			return fmt.Errorf("bucket %s: %w", bucket, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if doc == "" {
			_, err := tx.ExecContext(ctx, "DELETE FROM s3_lifecycle WHERE bucket = ?", bucket)
			return err
		}
		// The epoch moves on, so that a pass running under the old
		// configuration loses its lease at its next action.
		update := func() (int64, error) {
			return affected(tx.ExecContext(ctx, "UPDATE s3_lifecycle SET config = ?, updated = ?, lease_owner = '', lease_until = 0, lease_epoch = lease_epoch + 1, "+
				"phase = 0, next_key = NULL, next_upload = '', pass_started = 0 WHERE bucket = ?", doc, s.now(), bucket))
		}
		n, err := update()
		if err != nil || n > 0 {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO s3_lifecycle (bucket, config, updated) VALUES (?, ?, ?)", bucket, doc, s.now())
		if metadb.IsDuplicate(err) { // another PUT was first
			_, err = update()
		}
		return err
	})
}

const lifecycleStateCols = "bucket, updated, lease_owner, lease_until, lease_epoch, phase, next_key, next_upload, pass_started, pass_done"

func scanLifecycleState(sc rowScanner) (LifecycleState, error) {
	var st LifecycleState
	var next []byte
	err := sc.Scan(&st.Bucket, &st.Updated, &st.Owner, &st.Until, &st.Epoch, &st.Phase, &next, &st.NextUpload, &st.Started, &st.Done)
	st.NextKey = string(next)
	return st, err
}

func (s *SQL) LifecycleStates(ctx context.Context) ([]LifecycleState, error) {
	return queryAll(ctx, s.db, "SELECT "+lifecycleStateCols+" FROM s3_lifecycle ORDER BY bucket", nil, scanLifecycleState)
}

func (s *SQL) TakeLifecycleLease(ctx context.Context, bucket, owner string, now, until int64) (*LifecycleState, bool, error) {
	var st *LifecycleState
	err := s.tx(ctx, func(tx *sql.Tx) error {
		st = nil
		n, err := affected(tx.ExecContext(ctx, "UPDATE s3_lifecycle SET lease_owner = ?, lease_until = ?, lease_epoch = lease_epoch + 1 "+
			"WHERE bucket = ? AND (lease_owner = '' OR lease_until <= ?)", owner, until, bucket, now))
		if err != nil || n == 0 {
			return err
		}
		var doc string
		got, err := scanLifecycleState(rowFunc(func(dest ...any) error {
			return tx.QueryRowContext(ctx, "SELECT config, "+lifecycleStateCols+" FROM s3_lifecycle WHERE bucket = ?", bucket).Scan(append([]any{&doc}, dest...)...)
		}))
		if err != nil {
			return err
		}
		got.Doc = doc
		st = &got
		return nil
	})
	return st, st != nil, err
}

// rowFunc adapts a Scan function to a rowScanner.
type rowFunc func(dest ...any) error

func (f rowFunc) Scan(dest ...any) error { return f(dest...) }

func (s *SQL) SaveLifecycleProgress(ctx context.Context, l LeaseRef, p LifecycleProgress, now, until int64) (bool, error) {
	var next any
	if p.NextKey != "" {
		next = []byte(p.NextKey)
	}
	q := "UPDATE s3_lifecycle SET phase = ?, next_key = ?, next_upload = ?, pass_started = ?, pass_done = ?, lease_until = ? " +
		"WHERE bucket = ? AND lease_epoch = ? AND lease_until > ?"
	if until == 0 {
		q = "UPDATE s3_lifecycle SET phase = ?, next_key = ?, next_upload = ?, pass_started = ?, pass_done = ?, lease_until = ?, lease_owner = '' " +
			"WHERE bucket = ? AND lease_epoch = ? AND lease_until > ?"
	}
	n, err := affected(s.db.ExecContext(ctx, q, p.Phase, next, p.NextUpload, p.Started, p.Done, until, l.Bucket, l.Epoch, now))
	if err != nil || n == 1 {
		return n == 1, err
	}
	// MySQL counts changed rows: a save that changed nothing (the same
	// progress and expiry within a second) matched all the same.
	var x int
	err = s.db.QueryRowContext(ctx, "SELECT 1 FROM s3_lifecycle WHERE bucket = ? AND lease_epoch = ? AND lease_until > ? AND lease_until = ?",
		l.Bucket, l.Epoch, now, until).Scan(&x)
	if err == sql.ErrNoRows {
		return false, nil
	}
	return err == nil, err
}

func (s *SQL) ExpiryScan(ctx context.Context, bucket, after string, limit int) ([]ExpiryRow, error) {
	return queryAll(ctx, s.db, "SELECT okey, size, mtime, version, headers FROM s3_objects WHERE bucket = ? AND okey > ? ORDER BY okey LIMIT ?",
		[]any{bucket, []byte(after), limit}, func(sc rowScanner) (ExpiryRow, error) {
			var r ExpiryRow
			var k []byte
			var hdr string
			if err := sc.Scan(&k, &r.Size, &r.MTime, &r.Version, &hdr); err != nil {
				return r, err
			}
			r.Key = string(k)
			var h Headers
			err := parseHeaders(fmt.Sprintf("object %s/%q", bucket, r.Key), hdr, &h)
			r.Tags = h.Tags
			return r, err
		})
}

// holdsLease checks, in tx, that l holds its bucket's lease at now, and
// keeps the row locked until tx ends (MySQL; SQLite's transaction holds
// the write lock), so that the lease cannot change hands meanwhile.
func (s *SQL) holdsLease(ctx context.Context, tx *sql.Tx, l LeaseRef, now int64) error {
	var epoch, until int64
	err := tx.QueryRowContext(ctx, "SELECT lease_epoch, lease_until FROM s3_lifecycle WHERE bucket = ?"+s.forUpdate(), l.Bucket).Scan(&epoch, &until)
	if err == sql.ErrNoRows || (err == nil && (epoch != l.Epoch || until <= now)) {
		return ErrLeaseLost
	}
	return err
}

func (s *SQL) ExpireObject(ctx context.Context, l LeaseRef, appid, key string, version, now, gcDue int64) (bool, error) {
	done := false
	err := s.fencedTx(ctx, touchedKey(l.Bucket, key), func(tx *sql.Tx) error {
		done = false
		if err := s.holdsLease(ctx, tx, l, now); err != nil {
			return err
		}
		var blobs string
		var v int64
		err := tx.QueryRowContext(ctx, "SELECT blobs, version FROM s3_objects WHERE bucket = ? AND okey = ?"+s.forUpdate(), l.Bucket, []byte(key)).Scan(&blobs, &v)
		if err == sql.ErrNoRows || (err == nil && v != version) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM s3_objects WHERE bucket = ? AND okey = ?", l.Bucket, []byte(key)); err != nil {
			return err
		}
		old, err := parseBlobs(fmt.Sprintf("object %s/%q", l.Bucket, key), blobs)
		if err != nil {
			return err
		}
		done = true
		return gcInsert(ctx, tx, appid, old, gcDue)
	})
	return done, err
}

func (s *SQL) ExpireUpload(ctx context.Context, l LeaseRef, appid, key, id string, now, gcDue int64) (bool, error) {
	done := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		done = false
		if err := s.holdsLease(ctx, tx, l, now); err != nil {
			return err
		}
		_, err := s.upload(ctx, tx, id, l.Bucket, key, s.forUpdate())
		if err == ErrNoSuchUpload {
			return nil
		}
		if err != nil {
			return err
		}
		done = true
		return s.dropUploadTx(ctx, tx, appid, id, nil, nil, gcDue)
	})
	return done, err
}

func (s *SQL) ExpireCurrentVersion(ctx context.Context, l LeaseRef, appid string, ver Version, v Versioning, at time.Time, gcDue int64) (bool, error) {
	done := false
	err := s.fencedTx(ctx, touchedKey(l.Bucket, ver.Key), func(tx *sql.Tx) error {
		done = false
		if err := s.holdsLease(ctx, tx, l, at.Unix()); err != nil {
			return err
		}
		cur, err := s.currentTx(ctx, tx, l.Bucket, ver.Key)
		if err != nil || cur == nil || cur.VersionID != ver.VersionID || !cur.MTime.Equal(ver.MTime) {
			return err
		}
		// A marker only hides an Enabled bucket's object, locked or not;
		// a Suspended bucket's null version it releases. (Object lock
		// keeps a bucket's versioning Enabled: this is for safety.)
		if v == VersioningSuspended && cur.VersionID == NullVersion && cur.Headers.Lock.Locked(at, false) {
			return ErrLocked
		}
		if _, err := s.putDeleteMarkerTx(ctx, tx, appid, l.Bucket, ver.Key, cur, v, at, gcDue); err != nil {
			return err
		}
		done = true
		return nil
	})
	return done, err
}

func (s *SQL) ExpireVersion(ctx context.Context, l LeaseRef, appid string, ver Version, at time.Time, gcDue int64) (bool, error) {
	done := false
	err := s.fencedTx(ctx, touchedKey(l.Bucket, ver.Key), func(tx *sql.Tx) error {
		done = false
		if err := s.holdsLease(ctx, tx, l, at.Unix()); err != nil {
			return err
		}
		row, err := scanVersionRow(tx.QueryRowContext(ctx, "SELECT "+versionCols+" FROM s3_versions WHERE bucket = ? AND okey = ? AND version_id = ?"+s.forUpdate(),
			l.Bucket, []byte(ver.Key), ver.VersionID), l.Bucket)
		if err == sql.ErrNoRows {
			return nil
		}
		if err != nil {
			return err
		}
		if ver.IsLatest {
			// still the latest, a marker, and alone (a latest marker means
			// the key has no current object)
			if !row.DeleteMarker || !row.NoncurrentSince.IsZero() {
				return nil
			}
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM s3_versions WHERE bucket = ? AND okey = ?"+s.forUpdate(), l.Bucket, []byte(ver.Key)).Scan(&n); err != nil {
				return err
			}
			if n != 1 {
				return nil
			}
		} else if row.NoncurrentSince.IsZero() {
			return nil
		}
		if row.Headers.Lock.Locked(at, false) {
			return ErrLocked
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM s3_versions WHERE id = ?", row.id); err != nil {
			return err
		}
		done = true
		return gcInsert(ctx, tx, appid, row.Blobs, gcDue)
	})
	return done, err
}
