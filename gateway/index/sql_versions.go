package index

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/tnv-s3/tnv/metadb"
)

// versionCols are the columns of an s3_versions row, as scanVersionRow
// reads them.
const versionCols = "id, okey, version_id, marker, size, etag, headers, mtime, blobs, parts, version, noncurrent_since"

// versionRow is an s3_versions row.
type versionRow struct {
	id int64
	*Object
}

func scanVersionRow(sc rowScanner, bucket string) (versionRow, error) {
	o := &Object{Bucket: bucket}
	var key []byte
	var hdr, blobs string
	var marker int
	var mtime, since int64
	var id int64
	if err := sc.Scan(&id, &key, &o.VersionID, &marker, &o.Size, &o.ETag, &hdr, &mtime, &blobs, &o.Parts, &o.Version, &since); err != nil {
		return versionRow{}, err
	}
	o.Key, o.MTime, o.DeleteMarker = string(key), millis(mtime), marker != 0
	if since != 0 {
		o.NoncurrentSince = millis(since)
	}
	return versionRow{id, o}, o.decode(hdr, blobs)
}

// decodeLock fills b.ObjectLock from its stored form.
func (b *Bucket) decodeLock(s sql.NullString) error {
	b.ObjectLock = nil
	if !s.Valid {
		return nil
	}
	b.ObjectLock = &LockConfig{}
	if err := json.Unmarshal([]byte(s.String), b.ObjectLock); err != nil {
		return fmt.Errorf("bucket %s: object lock: %w", b.Name, err)
	}
	return nil
}

func (s *SQL) nowMillis() int64 {
	if s.Clock != nil {
		return s.Clock().UnixMilli()
	}
	return time.Now().UnixMilli()
}

func (s *SQL) clockNow() time.Time { return millis(s.nowMillis()) }

func (s *SQL) SetVersioning(ctx context.Context, bucket string, v Versioning) error {
	return s.setBucketColumn(ctx, bucket, "versioning", int(v))
}

func (s *SQL) SetObjectLock(ctx context.Context, bucket string, cfg *LockConfig) error {
	var v any
	if cfg != nil {
		b, _ := json.Marshal(cfg)
		v = string(b)
	}
	return s.setBucketColumn(ctx, bucket, "object_lock", v)
}

// setBucketColumn sets one of the columns above (a constant name).
func (s *SQL) setBucketColumn(ctx context.Context, bucket, col string, v any) error {
	n, err := affected(s.fencedExec(ctx, touchedAll, "UPDATE s3_buckets SET "+col+" = ? WHERE name = ?", v, bucket))
	if err != nil {
		return err
	}
	if n == 0 { // no such bucket, or (MySQL counts changed rows) no change
		if _, err := s.bucketRow(ctx, bucket); err != nil {
			return fmt.Errorf("bucket %s: %w", bucket, err)
		}
	}
	return nil
}

// currentTx reads and locks the current object of a key (nil: none).
func (s *SQL) currentTx(ctx context.Context, tx *sql.Tx, bucket, key string) (*Object, error) {
	o, err := scanObject(s.queryRow(ctx, tx, "SELECT "+objectCols+" FROM s3_objects WHERE bucket = ? AND okey = ?"+s.forUpdate(), bucket, []byte(key)), bucket)
	if err == sql.ErrNoRows {
		return nil, nil
	}
	return o, err
}

// archiveTx keeps o as a noncurrent version (or, marker, a delete marker)
// made noncurrent at since (ms; 0 for a latest marker) and returns its
// row's id.
func (s *SQL) archiveTx(ctx context.Context, tx *sql.Tx, o *Object, since int64) (int64, error) {
	marker := 0
	if o.DeleteMarker {
		marker = 1
	}
	res, err := s.exec(ctx, tx, "INSERT INTO s3_versions (bucket, okey, version_id, marker, size, etag, headers, mtime, blobs, parts, version, noncurrent_since) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		o.Bucket, []byte(o.Key), o.VersionID, marker, o.Size, o.ETag, headersJSON(o.Headers), o.MTime.UnixMilli(), blobsJSON(o.Blobs), o.Parts, o.Version, since)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// supersedeTx makes room for a new latest version of a key: the current
// object (cur, read by currentTx) is kept as noncurrent unless it is the
// null version being replaced (Suspended), and a latest delete marker
// becomes noncurrent. In a Suspended bucket, the key's noncurrent null
// version goes too. It returns the blobs released. The caller replaces or
// deletes the current object's row.
func (s *SQL) supersedeTx(ctx context.Context, tx *sql.Tx, bucket, key string, cur *Object, v Versioning, now int64) ([]Blob, error) {
	var release []Blob
	if cur != nil {
		if v == VersioningSuspended && cur.VersionID == NullVersion {
			release = cur.Blobs
		} else if _, err := s.archiveTx(ctx, tx, cur, now); err != nil {
			return nil, err
		}
	} else if _, err := s.exec(ctx, tx, "UPDATE s3_versions SET noncurrent_since = ? WHERE bucket = ? AND okey = ? AND noncurrent_since = 0", now, bucket, []byte(key)); err != nil {
		return nil, err
	}
	if v == VersioningSuspended {
		nv, err := scanVersionRow(tx.QueryRowContext(ctx, "SELECT "+versionCols+" FROM s3_versions WHERE bucket = ? AND okey = ? AND version_id = ?"+s.forUpdate(), bucket, []byte(key), NullVersion), bucket)
		switch {
		case err == nil:
			if _, err := tx.ExecContext(ctx, "DELETE FROM s3_versions WHERE id = ?", nv.id); err != nil {
				return nil, err
			}
			release = append(release, nv.Blobs...)
		case err != sql.ErrNoRows:
			return nil, err
		}
	}
	return release, nil
}

// putVersionTx publishes o in a versioned bucket (PutObject and
// CompleteUpload) and returns the blobs released.
//
// As putObjectTx, it first looks at the key without a lock: on MySQL a
// locking read of a key that does not exist takes a gap lock, and
// concurrent PUTs of new keys into the same gap then deadlock on their
// inserts. A new key's row is inserted first (its lock orders the writers
// of the key), and only then are the key's older versions (a delete
// marker, a null version) read with a lock; an existing row is read again
// with a lock, to supersede it. A duplicate-key insert means another
// writer came first: it is superseded as an existing row.
func (s *SQL) putVersionTx(ctx context.Context, tx *sql.Tx, o *Object, cond PutCond) ([]Blob, error) {
	var x int
	err := s.queryRow(ctx, tx, "SELECT 1 FROM s3_objects WHERE bucket = ? AND okey = ?", o.Bucket, []byte(o.Key)).Scan(&x)
	if err != nil && err != sql.ErrNoRows {
		return nil, err
	}
	exists := err == nil
	var cur *Object
	for try := 0; cur == nil; try++ {
		if !exists {
			if err := cond.check(nil); err != nil {
				return nil, err
			}
			o.Version, o.VersionID = 1, NullVersion
			if cond.Versioning == VersioningEnabled {
				o.VersionID = newVersionID(s.Clock)
			}
			_, err := s.exec(ctx, tx, "INSERT INTO s3_objects (bucket, okey, size, etag, headers, mtime, blobs, parts, version, version_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
				o.Bucket, []byte(o.Key), o.Size, o.ETag, headersJSON(o.Headers), o.MTime.UnixMilli(), blobsJSON(o.Blobs), o.Parts, o.Version, o.VersionID)
			if err == nil {
				release, err := s.supersedeTx(ctx, tx, o.Bucket, o.Key, nil, cond.Versioning, s.nowMillis())
				if err != nil {
					return nil, err
				}
				return gone(release, o.Blobs), nil
			}
			if !metadb.IsDuplicate(err) {
				return nil, err
			}
			if cond.IfNoneMatchStar {
				return nil, ErrExists
			}
		}
		if cur, err = s.currentTx(ctx, tx, o.Bucket, o.Key); err != nil {
			return nil, err
		}
		if cur == nil { // deleted meanwhile: a new key again
			if try == 2 {
				return nil, ErrConflict
			}
			exists = false
		}
	}
	if err := cond.check(cur); err != nil {
		return nil, err
	}
	release, err := s.supersedeTx(ctx, tx, o.Bucket, o.Key, cur, cond.Versioning, s.nowMillis())
	if err != nil {
		return nil, err
	}
	o.Version, o.VersionID = cur.Version+1, NullVersion
	if cond.Versioning == VersioningEnabled {
		o.VersionID = newVersionID(s.Clock)
	}
	_, err = s.exec(ctx, tx, "UPDATE s3_objects SET size = ?, etag = ?, headers = ?, mtime = ?, blobs = ?, parts = ?, version = ?, version_id = ? WHERE bucket = ? AND okey = ?",
		o.Size, o.ETag, headersJSON(o.Headers), o.MTime.UnixMilli(), blobsJSON(o.Blobs), o.Parts, o.Version, o.VersionID, o.Bucket, []byte(o.Key))
	if err != nil {
		return nil, err
	}
	return gone(release, o.Blobs), nil
}

func (s *SQL) PutDeleteMarker(ctx context.Context, appid, bucket, key string, v Versioning, mtime time.Time, gcDue int64) (*Object, error) {
	var m *Object
	err := s.fencedTx(ctx, touchedKey(bucket, key), func(tx *sql.Tx) error {
		if err := s.bucketHeld(ctx, tx, bucket, appid); err != nil {
			return err
		}
		cur, err := s.currentTx(ctx, tx, bucket, key)
		if err != nil {
			return err
		}
		m, err = s.putDeleteMarkerTx(ctx, tx, appid, bucket, key, cur, v, mtime, gcDue)
		return err
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// putDeleteMarkerTx is PutDeleteMarker in tx, cur the current object as
// currentTx read it.
func (s *SQL) putDeleteMarkerTx(ctx context.Context, tx *sql.Tx, appid, bucket, key string, cur *Object, v Versioning, mtime time.Time, gcDue int64) (*Object, error) {
	if cur == nil {
		return s.markAbsentTx(ctx, tx, appid, bucket, key, v, mtime, gcDue)
	}
	release, err := s.supersedeTx(ctx, tx, bucket, key, cur, v, s.nowMillis())
	if err != nil {
		return nil, err
	}
	if cur != nil {
		if _, err := tx.ExecContext(ctx, "DELETE FROM s3_objects WHERE bucket = ? AND okey = ?", bucket, []byte(key)); err != nil {
			return nil, err
		}
	}
	m := &Object{Bucket: bucket, Key: key, DeleteMarker: true, MTime: mtime.Truncate(time.Millisecond), Version: 1, VersionID: NullVersion}
	if cur != nil {
		m.Version = cur.Version + 1
	}
	if v == VersioningEnabled {
		m.VersionID = newVersionID(s.Clock)
	}
	if _, err := s.archiveTx(ctx, tx, m, 0); err != nil {
		return nil, err
	}
	return m, gcInsert(ctx, tx, appid, release, gcDue)
}

// markAbsentTx is putDeleteMarkerTx for a key without a current object:
// the marker's row is inserted first, and only then are the key's other
// rows changed (an earlier latest marker made noncurrent). Made the other
// way round, the UPDATE's and the SELECT ... FOR UPDATE's gap locks (a new
// key has no row in s3_versions) let concurrent DELETEs of neighbouring
// new keys deadlock on their inserts into the same gap (MariaDB). In a
// Suspended bucket a duplicate-key insert means the key has a null version
// already: it is released, and the marker inserted again.
func (s *SQL) markAbsentTx(ctx context.Context, tx *sql.Tx, appid, bucket, key string, v Versioning, mtime time.Time, gcDue int64) (*Object, error) {
	m := &Object{Bucket: bucket, Key: key, DeleteMarker: true, MTime: mtime.Truncate(time.Millisecond), Version: 1, VersionID: NullVersion}
	if v == VersioningEnabled {
		m.VersionID = newVersionID(s.Clock)
	}
	id, err := s.archiveTx(ctx, tx, m, 0)
	var release []Blob
	if metadb.IsDuplicate(err) && v == VersioningSuspended {
		nv, serr := scanVersionRow(tx.QueryRowContext(ctx, "SELECT "+versionCols+" FROM s3_versions WHERE bucket = ? AND okey = ? AND version_id = ?"+s.forUpdate(), bucket, []byte(key), NullVersion), bucket)
		if serr == sql.ErrNoRows {
			return nil, ErrConflict // deleted meanwhile
		}
		if serr != nil {
			return nil, serr
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM s3_versions WHERE id = ?", nv.id); err != nil {
			return nil, err
		}
		release = nv.Blobs
		id, err = s.archiveTx(ctx, tx, m, 0) // the outer err
	}
	if err != nil {
		return nil, err
	}
	if _, err := s.exec(ctx, tx, "UPDATE s3_versions SET noncurrent_since = ? WHERE bucket = ? AND okey = ? AND noncurrent_since = 0 AND id < ?", s.nowMillis(), bucket, []byte(key), id); err != nil {
		return nil, err
	}
	return m, gcInsert(ctx, tx, appid, release, gcDue)
}

func (s *SQL) DeleteVersion(ctx context.Context, appid, bucket, key, versionID string, bypass bool, gcDue int64) (*Object, error) {
	var out *Object
	err := s.fencedTx(ctx, touchedKey(bucket, key), func(tx *sql.Tx) error {
		now := s.clockNow()
		cur, err := s.currentTx(ctx, tx, bucket, key)
		if err != nil {
			return err
		}
		if cur != nil && cur.VersionID == versionID {
			if cur.Headers.Lock.Locked(now, bypass) {
				return ErrLocked
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM s3_objects WHERE bucket = ? AND okey = ?", bucket, []byte(key)); err != nil {
				return err
			}
			out = cur
			if err := gcInsert(ctx, tx, appid, cur.Blobs, gcDue); err != nil {
				return err
			}
			return s.promoteTx(ctx, tx, bucket, key, cur.Version+1)
		}
		v, err := scanVersionRow(tx.QueryRowContext(ctx, "SELECT "+versionCols+" FROM s3_versions WHERE bucket = ? AND okey = ? AND version_id = ?"+s.forUpdate(), bucket, []byte(key), versionID), bucket)
		if err == sql.ErrNoRows {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if v.Headers.Lock.Locked(now, bypass) {
			return ErrLocked
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM s3_versions WHERE id = ?", v.id); err != nil {
			return err
		}
		out = v.Object
		if err := gcInsert(ctx, tx, appid, v.Blobs, gcDue); err != nil {
			return err
		}
		if cur == nil && v.NoncurrentSince.IsZero() { // the latest (a marker) went
			return s.promoteTx(ctx, tx, bucket, key, v.Version+1)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// promoteTx makes the newest noncurrent version of a key its latest after
// the latest was deleted: an object moves back to s3_objects (as
// replacement number version), a marker stays, latest.
func (s *SQL) promoteTx(ctx context.Context, tx *sql.Tx, bucket, key string, version int64) error {
	v, err := scanVersionRow(tx.QueryRowContext(ctx, "SELECT "+versionCols+" FROM s3_versions WHERE bucket = ? AND okey = ? ORDER BY id DESC LIMIT 1"+s.forUpdate(), bucket, []byte(key)), bucket)
	if err == sql.ErrNoRows {
		return nil
	}
	if err != nil {
		return err
	}
	if v.DeleteMarker {
		_, err := tx.ExecContext(ctx, "UPDATE s3_versions SET noncurrent_since = 0 WHERE id = ?", v.id)
		return err
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM s3_versions WHERE id = ?", v.id); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, "INSERT INTO s3_objects (bucket, okey, size, etag, headers, mtime, blobs, parts, version, version_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		bucket, []byte(key), v.Size, v.ETag, headersJSON(v.Headers), v.MTime.UnixMilli(), blobsJSON(v.Blobs), v.Parts, max(version, v.Version+1), v.VersionID)
	return err
}

func (s *SQL) ObjectVersion(ctx context.Context, bucket, key, versionID string) (*Object, error) {
	o, err := scanObject(s.queryRow(ctx, nil, "SELECT "+objectCols+" FROM s3_objects WHERE bucket = ? AND okey = ? AND version_id = ?", bucket, []byte(key), versionID), bucket)
	if err == nil {
		return o, nil
	}
	if err != sql.ErrNoRows {
		return nil, err
	}
	v, err := scanVersionRow(s.queryRow(ctx, nil, "SELECT "+versionCols+" FROM s3_versions WHERE bucket = ? AND okey = ? AND version_id = ?", bucket, []byte(key), versionID), bucket)
	if err == sql.ErrNoRows {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return v.Object, nil
}

func (s *SQL) UpdateVersion(ctx context.Context, bucket, key, versionID string, fn func(*Object) error) (*Object, error) {
	var out *Object
	err := s.fencedTx(ctx, touchedKey(bucket, key), func(tx *sql.Tx) error {
		cur, err := s.currentTx(ctx, tx, bucket, key)
		if err != nil {
			return err
		}
		if cur != nil && (versionID == "" || cur.VersionID == versionID) {
			if err := fn(cur); err != nil {
				return err
			}
			out = cur
			_, err := tx.ExecContext(ctx, "UPDATE s3_objects SET headers = ?, version = ? WHERE bucket = ? AND okey = ?", headersJSON(cur.Headers), cur.Version+1, bucket, []byte(key))
			return err
		}
		if versionID == "" {
			return ErrNotFound
		}
		v, err := scanVersionRow(tx.QueryRowContext(ctx, "SELECT "+versionCols+" FROM s3_versions WHERE bucket = ? AND okey = ? AND version_id = ?"+s.forUpdate(), bucket, []byte(key), versionID), bucket)
		if err == sql.ErrNoRows {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if err := fn(v.Object); err != nil {
			return err
		}
		out = v.Object
		_, err = tx.ExecContext(ctx, "UPDATE s3_versions SET headers = ? WHERE id = ?", headersJSON(v.Headers), v.id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *SQL) ListVersions(ctx context.Context, bucket, key string, incl bool, afterVersion, upTo string, limit int) ([]Version, error) {
	var out []Version
	if afterVersion != "" {
		// the rest of key's versions first
		cur, err := s.Object(ctx, bucket, key)
		if err != nil && err != ErrNotFound {
			return nil, err
		}
		after := int64(-1) // id bound of s3_versions rows still to list; -1: none
		if cur != nil && cur.VersionID == afterVersion {
			after = 1 << 62
		} else {
			var id int64
			err := s.db.QueryRowContext(ctx, "SELECT id FROM s3_versions WHERE bucket = ? AND okey = ? AND version_id = ?", bucket, []byte(key), afterVersion).Scan(&id)
			if err != nil && err != sql.ErrNoRows {
				return nil, err
			}
			if err == nil {
				after = id
			}
		}
		if after >= 0 {
			rows, err := s.versionRows(ctx, "bucket = ? AND okey = ? AND id < ?", []any{bucket, []byte(key), after}, limit)
			if err != nil {
				return nil, err
			}
			for _, r := range rows {
				out = append(out, r.version(r.NoncurrentSince.IsZero() && cur == nil))
			}
		}
		incl = false
	}
	if len(out) >= limit {
		return out[:limit], nil
	}
	limit -= len(out)
	op := ">"
	if incl {
		op = ">="
	}
	where, args := "bucket = ? AND okey "+op+" ?", []any{bucket, []byte(key)}
	if upTo != "" {
		where += " AND okey < ?"
		args = append(args, []byte(upTo))
	}
	curs, err := queryAll(ctx, s.db, "SELECT "+objectCols+" FROM s3_objects WHERE "+where+" ORDER BY okey LIMIT ?", append(args, limit),
		func(sc rowScanner) (*Object, error) { return scanObject(sc, bucket) })
	if err != nil {
		return nil, err
	}
	olds, err := s.versionRows(ctx, where, args, limit)
	if err != nil {
		return nil, err
	}
	out = mergeVersions(out, curs, olds, len(out)+limit)
	return out, nil
}

// mergeVersions appends to out, up to total entries, current objects and
// older versions (each by key, older ones newest first), by key, a key's
// current object before its older versions.
func mergeVersions(out []Version, curs, olds []*Object, total int) []Version {
	for len(out) < total && (len(curs) > 0 || len(olds) > 0) {
		if len(curs) > 0 && (len(olds) == 0 || curs[0].Key <= olds[0].Key) {
			out = append(out, curs[0].version(true))
			curs = curs[1:]
		} else {
			out = append(out, olds[0].version(olds[0].NoncurrentSince.IsZero()))
			olds = olds[1:]
		}
	}
	return out
}

// versionRows reads up to limit s3_versions rows matching where, by key
// then newest first.
func (s *SQL) versionRows(ctx context.Context, where string, args []any, limit int) ([]*Object, error) {
	bucket, _ := args[0].(string)
	return queryAll(ctx, s.db, "SELECT "+versionCols+" FROM s3_versions WHERE "+where+" ORDER BY okey, id DESC LIMIT ?", append(slices.Clone(args), limit),
		func(sc rowScanner) (*Object, error) {
			r, err := scanVersionRow(sc, bucket)
			return r.Object, err
		})
}

func (s *SQL) ExpiredDeleteMarkers(ctx context.Context, bucket, afterKey string, limit int) ([]Version, error) {
	rows, err := s.versionRows(ctx, "bucket = ? AND okey > ? AND marker = 1 AND noncurrent_since = 0 AND NOT EXISTS "+
		"(SELECT 1 FROM s3_versions w WHERE w.bucket = s3_versions.bucket AND w.okey = s3_versions.okey AND w.id <> s3_versions.id)",
		[]any{bucket, []byte(afterKey)}, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Version, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.version(true))
	}
	return out, nil
}
