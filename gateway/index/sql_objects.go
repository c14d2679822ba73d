package index

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/tnv-s3/tnv/metadb"
)

const objectCols = "okey, size, etag, headers, mtime, blobs, parts, version, version_id"

func scanObject(sc rowScanner, bucket string) (*Object, error) {
	o := &Object{Bucket: bucket}
	var key []byte
	var hdr, blobs string
	var mtime int64
	if err := sc.Scan(&key, &o.Size, &o.ETag, &hdr, &mtime, &blobs, &o.Parts, &o.Version, &o.VersionID); err != nil {
		return nil, err
	}
	o.Key, o.MTime = string(key), millis(mtime)
	return o, o.decode(hdr, blobs)
}

// decode fills the headers and blobs of o from their stored form.
func (o *Object) decode(hdr, blobs string) error {
	err := unmarshalHeaders(hdr, &o.Headers)
	if err == nil {
		o.Blobs, err = unmarshalBlobs(blobs)
	}
	if err != nil {
		// Named only when it fails: every GET decodes a row.
		return fmt.Errorf("object %s/%q: %w", o.Bucket, o.Key, err)
	}
	return nil
}

// bucketObjectQuery is the join of BucketObject.
const bucketObjectQuery = "SELECT " + bucketObjectCols +
	" FROM s3_buckets b LEFT JOIN s3_objects o ON o.bucket = b.name AND o.okey = ? WHERE b.name = ?"

const bucketObjectCols = "b.name, b.appid, b.owner, b.created, b.public_read, b.cors_xml, b.sse_default, b.versioning, b.object_lock, " +
	"o.okey, o.size, o.etag, o.headers, o.mtime, o.blobs, o.parts, o.version, o.version_id"

// bucketObjectsQuery is the join of n BucketObject lookups at once (n > 1):
// the i-th pair of arguments is the i-th lookup's bucket and key, and a
// row's first column its i. The key is compared as bytes, as it is stored.
func bucketObjectsQuery(n int) string {
	return "SELECT q.i, " + bucketObjectCols + " FROM " + metadb.Questions(n, "? AS n", "CAST(? AS BINARY) AS k") +
		" q JOIN s3_buckets b ON b.name = q.n LEFT JOIN s3_objects o ON o.bucket = b.name AND o.okey = q.k"
}

// bucketObjectsQueries are bucketObjectsQuery's of the sizes a batch is
// padded to.
var bucketObjectsQueries = func() map[int]string {
	m := map[int]string{}
	for _, n := range metadb.BatchSizes(lookupBatch) {
		m[n] = bucketObjectsQuery(n)
	}
	return m
}()

// bucketObject is one answer of BucketObject.
type bucketObject struct {
	b *Bucket
	o *Object
}

// bucketKey is one question of BucketObject.
type bucketKey struct{ bucket, key string }

func (s *SQL) BucketObject(ctx context.Context, bucket, key string) (*Bucket, *Object, error) {
	if r, ok := s.cache.object(bucket, key); ok {
		return r.b, r.o, nil
	}
	gen := s.cache.begin()
	var r bucketObject
	var err error
	if s.lookups == nil {
		r, err = s.bucketObject(ctx, bucketKey{bucket, key})
	} else {
		r, err = s.lookups.Do(ctx, bucketKey{bucket, key})
	}
	if err == nil {
		s.cache.fillObject(gen, bucket, key, r)
	}
	return r.b, r.o, err
}

// bucketObject is BucketObject in a query of its own.
func (s *SQL) bucketObject(ctx context.Context, k bucketKey) (bucketObject, error) {
	r, err := scanBucketObject(s.queryRow(ctx, nil, bucketObjectQuery, []byte(k.key), k.bucket), k.bucket)
	if err == sql.ErrNoRows {
		return bucketObject{}, ErrNotFound
	}
	return r, err
}

// bucketObjects is BucketObject for several lookups in one query (MySQL),
// padded (metadb.Padded) by repeating the last lookup.
func (s *SQL) bucketObjects(ctx context.Context, ks []bucketKey) ([]bucketObject, []error, error) {
	n := metadb.Padded(len(ks))
	q, ok := bucketObjectsQueries[n]
	if !ok {
		return nil, nil, fmt.Errorf("index: %d lookups in one query, at most %d", len(ks), lookupBatch)
	}
	args := make([]any, 0, 2*n)
	for i := range n {
		k := ks[min(i, len(ks)-1)]
		args = append(args, k.bucket, []byte(k.key))
	}
	st, err := s.stmtIn(ctx, nil, q)
	if err != nil {
		return nil, nil, err
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	vs := make([]bucketObject, len(ks))
	errs := make([]error, len(ks))
	for i := range errs {
		errs[i] = ErrNotFound // no row: no such bucket
	}
	for rows.Next() {
		row := &metadb.Numbered{Row: rows}
		r, err := scanBucketObject(row, "")
		i := row.N
		if row.Err != nil {
			return nil, nil, row.Err
		}
		if i < 0 || i >= n {
			return nil, nil, fmt.Errorf("index: lookup %d of %d", i, n)
		}
		if i >= len(ks) {
			continue // padding
		}
		if r.o != nil {
			r.o.Bucket = ks[i].bucket
		}
		vs[i], errs[i] = r, err
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	return vs, errs, nil
}

// scanBucketObject reads a row of bucketObjectCols.
func scanBucketObject(sc rowScanner, bucket string) (bucketObject, error) {
	var b Bucket
	var created int64
	var pub int
	var cors, sse, lock sql.NullString
	var okey []byte
	var size, mtime, parts, version sql.NullInt64
	var etag, hdr, blobs, vid sql.NullString
	err := sc.Scan(&b.Name, &b.AppID, &b.Owner, &created, &pub, &cors, &sse, &b.Versioning, &lock,
		&okey, &size, &etag, &hdr, &mtime, &blobs, &parts, &version, &vid)
	if err != nil {
		return bucketObject{}, err
	}
	b.Created = time.Unix(created, 0).UTC()
	b.PublicRead = pub != 0
	b.CORS = cors.String
	b.Encryption = sse.String
	if err := b.decodeLock(lock); err != nil {
		return bucketObject{}, err
	}
	if !size.Valid {
		return bucketObject{b: &b}, nil
	}
	o := &Object{Bucket: bucket, Key: string(okey), Size: size.Int64, ETag: etag.String,
		MTime: millis(mtime.Int64), Parts: int(parts.Int64), Version: version.Int64, VersionID: vid.String}
	if err := o.decode(hdr.String, blobs.String); err != nil {
		return bucketObject{}, err
	}
	return bucketObject{b: &b, o: o}, nil
}

func (s *SQL) Object(ctx context.Context, bucket, key string) (*Object, error) {
	if s.cache != nil { // BucketObject's answer, which the cache keeps
		_, o, err := s.BucketObject(ctx, bucket, key)
		if err == nil && o == nil {
			err = ErrNotFound
		}
		return o, err
	}
	o, err := scanObject(s.queryRow(ctx, nil, "SELECT "+objectCols+" FROM s3_objects WHERE bucket = ? AND okey = ?", bucket, []byte(key)), bucket)
	if err == sql.ErrNoRows {
		return nil, ErrNotFound
	}
	return o, err
}

// execer is a *sql.Tx or the database.
type execer interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}

// gcInsert queues blobs for deletion at due (Unix seconds).
func gcInsert(ctx context.Context, tx execer, appid string, blobs []Blob, due int64) error {
	for _, b := range blobs {
		if _, err := tx.ExecContext(ctx, "INSERT INTO s3_gc (appid, userid, fileid, due) VALUES (?, ?, ?, ?)", appid, b.UserID, b.FileID, due); err != nil {
			return err
		}
	}
	return nil
}

// PutObject's transaction may be shared with other PUTs' (metadb.GroupTx:
// on SQLite, one commit and one fsync for all the rows published at once).
func (s *SQL) PutObject(ctx context.Context, appid string, o *Object, cond PutCond, intents []int64, gcDue int64) error {
	fn := func(tx *sql.Tx) error {
		gone, err := s.putObjectTx(ctx, tx, appid, o, cond)
		if err != nil {
			return err
		}
		return s.release(ctx, tx, appid, gone, intents, gcDue)
	}
	run := s.groupTx
	if c := committerOf(ctx); c != nil {
		// The first try through the committer (committer.go). Fenced, it
		// commits its own part alone, and the row is published as
		// without one once the lease is over.
		tried := false
		run = func(ctx context.Context, fn func(*sql.Tx) error) error {
			if tried {
				return s.groupTx(ctx, fn)
			}
			tried = true
			return c(fn)
		}
	}
	return s.fencedRun(ctx, touchedKey(o.Bucket, o.Key), run, fn)
}

// release queues blobs for collection at gcDue and drops intent records,
// in tx: an intent's row becomes a queued blob's where there are both (an
// overwrite: one statement instead of a delete and an insert).
func (s *SQL) release(ctx context.Context, tx *sql.Tx, appid string, gone []Blob, intents []int64, gcDue int64) error {
	for len(gone) > 0 && len(intents) > 0 {
		b := gone[0]
		n, err := affected(s.exec(ctx, tx, "UPDATE s3_gc SET appid = ?, userid = ?, fileid = ?, due = ?, tries = 0 WHERE id = ? AND due > ?",
			appid, b.UserID, b.FileID, gcDue, intents[0], s.now()))
		if err := intentHeld(n, err); err != nil {
			return err
		}
		gone, intents = gone[1:], intents[1:]
	}
	if err := gcInsert(ctx, tx, appid, gone, gcDue); err != nil {
		return err
	}
	return s.dropIntents(ctx, tx, intents)
}

// insertObject inserts an object's row, version 1, unless its key is
// there or its bucket is gone; either way it affects no row. The row is
// selected from the bucket's, which it locks as bucketHeld does (at no
// statement of its own). On MySQL the object row found is locked
// exclusively (ON DUPLICATE KEY UPDATE), as the locking read that follows
// would: a plain INSERT's duplicate error takes a shared lock, and two
// writers of one key then deadlock raising it to exclusive.
func (s *SQL) insertObject() string {
	const q = "INSERT INTO s3_objects (bucket, okey, size, etag, headers, mtime, blobs, parts, version) SELECT ?, ?, ?, ?, ?, ?, ?, ?, 1" + bucketRow
	if s.db.Dialect == metadb.MySQL {
		return q + s.shareLock() + " ON DUPLICATE KEY UPDATE s3_objects.version = s3_objects.version"
	}
	return q + " ON CONFLICT DO NOTHING"
}

// putObjectTx inserts or replaces the row of o within tx and returns the
// blobs of the object replaced that o no longer lists, for the collector;
// a bucket no longer under appid is ErrNoSuchBucket.
func (s *SQL) putObjectTx(ctx context.Context, tx *sql.Tx, appid string, o *Object, cond PutCond) ([]Blob, error) {
	if cond.Versioning != Unversioned {
		if err := s.bucketHeld(ctx, tx, o.Bucket, appid); err != nil {
			return nil, err
		}
		return s.putVersionTx(ctx, tx, o, cond) // sql_versions.go
	}
	o.VersionID = NullVersion
	hdr, blobs := headersJSON(o.Headers), blobsJSON(o.Blobs)
	var oldBlobs, etag string
	var version int64
	// A new key is inserted first (insertObject): most PUTs write new keys,
	// and an insert that finds the key costs what a look ahead would. Only
	// an existing row is read with a lock, to replace it; on MySQL a
	// locking read of a key that does not exist would take a gap lock, and
	// concurrent PUTs of new keys into the same gap then deadlock on their
	// inserts.
	const row = "SELECT blobs, version, etag FROM s3_objects WHERE bucket = ? AND okey = ?"
	exists := false
	var err error
	if cond.check(nil) != nil {
		// Only an existing row can satisfy cond: a first look without a
		// lock, for the reason above. It is not repeated: in a REPEATABLE
		// READ transaction it would read the same snapshot again.
		var x int
		err = s.queryRow(ctx, tx, "SELECT 1 FROM s3_objects WHERE bucket = ? AND okey = ?", o.Bucket, []byte(o.Key)).Scan(&x)
		if err != nil && err != sql.ErrNoRows {
			return nil, err
		}
		exists = err == nil
	}
	for try := 0; ; try++ {
		if !exists {
			if err := cond.check(nil); err != nil {
				return nil, err
			}
			n, err := affected(s.exec(ctx, tx, s.insertObject(), o.Bucket, []byte(o.Key), o.Size, o.ETag, hdr, o.MTime.UnixMilli(), blobs, o.Parts, o.Bucket, appid))
			if err != nil {
				return nil, err
			}
			if n == 1 {
				o.Version = 1
				return nil, nil
			}
			// The key is there, or the bucket is gone.
			if cond.IfNoneMatchStar {
				if err := s.bucketHeld(ctx, tx, o.Bucket, appid); err != nil {
					return nil, err
				}
				return nil, ErrExists
			}
		}
		// there already, or written meanwhile by another PUT: replaced
		err = s.queryRow(ctx, tx, row+s.forUpdate(), o.Bucket, []byte(o.Key)).Scan(&oldBlobs, &version, &etag)
		if err == nil {
			break
		}
		if err != sql.ErrNoRows {
			return nil, err
		}
		// Not there: the bucket gone, or the key deleted meanwhile, then a
		// new key again (a writer that keeps losing this race gives up as
		// a conflict).
		if err := s.bucketHeld(ctx, tx, o.Bucket, appid); err != nil {
			return nil, err
		}
		if try == 3 {
			return nil, ErrConflict
		}
		exists = false
	}
	if err := cond.check(&Object{ETag: etag, Version: version}); err != nil {
		return nil, err
	}
	// The row is replaced only while its bucket is held (bucketHeld's
	// lock, in the same statement: an overwrite costs no statement more).
	n, err := affected(s.exec(ctx, tx, "UPDATE s3_objects SET size = ?, etag = ?, headers = ?, mtime = ?, blobs = ?, parts = ?, version = ? WHERE bucket = ? AND okey = ?"+
		" AND EXISTS (SELECT 1"+bucketRow+s.shareLock()+")",
		o.Size, o.ETag, hdr, o.MTime.UnixMilli(), blobs, o.Parts, version+1, o.Bucket, []byte(o.Key), o.Bucket, appid))
	if err != nil {
		return nil, err
	}
	if n != 1 {
		return nil, ErrNoSuchBucket // the row is locked: only the bucket can be missing
	}
	o.Version = version + 1
	old, err := parseBlobs(fmt.Sprintf("object %s/%q", o.Bucket, o.Key), oldBlobs)
	if err != nil {
		return nil, err
	}
	return gone(old, o.Blobs), nil
}

// dropIntents deletes the intent records of blobs being published, in tx.
// A record that is gone or due means the collector may be deleting its
// blob (a write that outlived IntentTTL): the publication fails.
func (s *SQL) dropIntents(ctx context.Context, tx *sql.Tx, ids []int64) error {
	now := s.now()
	for _, id := range ids {
		n, err := affected(tx.ExecContext(ctx, "DELETE FROM s3_gc WHERE id = ? AND due > ?", id, now))
		if err := intentHeld(n, err); err != nil {
			return err
		}
	}
	return nil
}

// intentHeld checks that a statement on an intent record found it.
func intentHeld(n int64, err error) error {
	if err != nil {
		return err
	}
	if n != 1 {
		return ErrIntentLost
	}
	return nil
}

func (s *SQL) DeleteObject(ctx context.Context, appid, bucket, key string, gcDue int64) (bool, error) {
	found := false
	err := s.fencedTx(ctx, touchedKey(bucket, key), func(tx *sql.Tx) error {
		found = false
		// A key that is not there is left without taking a lock: on MySQL a
		// locking read of a missing key takes a gap lock that the inserts of
		// concurrent PUTs into that gap then deadlock on.
		var x int
		err := tx.QueryRowContext(ctx, "SELECT 1 FROM s3_objects WHERE bucket = ? AND okey = ?", bucket, []byte(key)).Scan(&x)
		if err == sql.ErrNoRows {
			return nil
		}
		if err != nil {
			return err
		}
		var blobs string
		err = tx.QueryRowContext(ctx, "SELECT blobs FROM s3_objects WHERE bucket = ? AND okey = ?"+s.forUpdate(), bucket, []byte(key)).Scan(&blobs)
		if err == sql.ErrNoRows {
			return nil // deleted meanwhile
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM s3_objects WHERE bucket = ? AND okey = ?", bucket, []byte(key)); err != nil {
			return err
		}
		old, err := parseBlobs(fmt.Sprintf("object %s/%q", bucket, key), blobs)
		if err != nil {
			return err
		}
		found = true
		return gcInsert(ctx, tx, appid, old, gcDue)
	})
	return found, err
}

func (s *SQL) ScanKeys(ctx context.Context, bucket, from string, incl bool, upTo string, limit int) ([]ListRow, error) {
	q := "SELECT okey, size, etag, mtime FROM s3_objects WHERE bucket = ? AND okey > ?"
	if incl {
		q = "SELECT okey, size, etag, mtime FROM s3_objects WHERE bucket = ? AND okey >= ?"
	}
	args := []any{bucket, []byte(from)}
	if upTo != "" {
		q += " AND okey < ?"
		args = append(args, []byte(upTo))
	}
	q += " ORDER BY okey LIMIT ?"
	args = append(args, limit)
	return queryAll(ctx, s.db, q, args, func(sc rowScanner) (ListRow, error) {
		var r ListRow
		var k []byte
		var mt int64
		err := sc.Scan(&k, &r.Size, &r.ETag, &mt)
		r.Key, r.MTime = string(k), millis(mt)
		return r, err
	})
}
