package gateway

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/s3err"
)

// Component is the name of the gateway's migrations in tnv_schema.
const Component = "gateway"

// steps are the gateway's schema versions. Object keys are byte strings
// (S3 keys are UTF-8 but compared and listed byte-wise), so they live in a
// binary column: VARBINARY(1024) on MySQL keeps (bucket, key) within
// InnoDB's index limit, BLOB on SQLite compares with memcmp.
func steps(d metadb.Dialect) []string {
	key := "BLOB"
	if d == metadb.MySQL {
		key = "VARBINARY(1024)"
	}
	return []string{
		`CREATE TABLE s3_users (
			access_key VARCHAR(128) NOT NULL PRIMARY KEY,
			secret VARCHAR(256) NOT NULL,
			created BIGINT NOT NULL) {{TABLE}}`,
		`CREATE TABLE s3_buckets (
			name VARCHAR(63) NOT NULL PRIMARY KEY,
			appid VARCHAR(15) NOT NULL UNIQUE,
			owner VARCHAR(128) NOT NULL,
			created BIGINT NOT NULL,
			public_read INT NOT NULL DEFAULT 0,
			cors_xml TEXT) {{TABLE}}`,
		`CREATE TABLE s3_objects (
			bucket VARCHAR(63) NOT NULL,
			okey ` + key + ` NOT NULL,
			size BIGINT NOT NULL,
			etag VARCHAR(80) NOT NULL,
			headers TEXT NOT NULL,
			mtime BIGINT NOT NULL,
			blobs TEXT NOT NULL,
			parts INT NOT NULL,
			version BIGINT NOT NULL,
			PRIMARY KEY (bucket, okey)) {{TABLE}}`,
		`CREATE TABLE s3_multipart (
			upload_id VARCHAR(64) NOT NULL PRIMARY KEY,
			bucket VARCHAR(63) NOT NULL,
			okey ` + key + ` NOT NULL,
			initiated BIGINT NOT NULL,
			owner VARCHAR(128) NOT NULL,
			headers TEXT NOT NULL) {{TABLE}}`,
		`CREATE INDEX s3_multipart_key ON s3_multipart (bucket, okey)`,
		`CREATE TABLE s3_parts (
			upload_id VARCHAR(64) NOT NULL,
			part_number INT NOT NULL,
			etag VARCHAR(80) NOT NULL,
			size BIGINT NOT NULL,
			mtime BIGINT NOT NULL,
			blobs TEXT NOT NULL,
			PRIMARY KEY (upload_id, part_number)) {{TABLE}}`,
		`CREATE TABLE s3_gc (
			id {{AUTOID}},
			appid VARCHAR(16) NOT NULL,
			userid VARCHAR(255) NOT NULL,
			fileid VARCHAR(127) NOT NULL,
			due BIGINT NOT NULL,
			tries INT NOT NULL DEFAULT 0) {{TABLE}}`,
		`CREATE INDEX s3_gc_due ON s3_gc (due)`,
	}
}

// Migrate creates or upgrades the gateway's tables.
func Migrate(ctx context.Context, db *metadb.DB) error {
	return db.Migrate(ctx, Component, steps(db.Dialect))
}

// meta is the object index and the rest of the gateway's SQL.
type meta struct {
	db *metadb.DB

	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

// stmt returns q prepared, once per gateway (database/sql prepares it again
// on each connection it runs on). The hot paths use it: a prepared
// statement costs MySQL no parsing; the bucket-and-object join of every GET
// takes ~0.8x the time prepared, 32 in flight (BenchmarkBucketObject).
func (m *meta) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	m.mu.Lock()
	st, ok := m.stmts[q]
	m.mu.Unlock()
	if ok {
		return st, nil
	}
	// Prepared outside the lock: a slow or unreachable database delays
	// only the requests that need this statement.
	st, err := m.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if prev, ok := m.stmts[q]; ok {
		st.Close() // another request was first
		return prev, nil
	}
	if m.stmts == nil {
		m.stmts = map[string]*sql.Stmt{}
	}
	m.stmts[q] = st
	return st, nil
}

// close releases the prepared statements.
func (m *meta) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, st := range m.stmts {
		st.Close()
	}
	m.stmts = nil
}

// stmtIn is q prepared, bound to tx when it is not nil.
func (m *meta) stmtIn(ctx context.Context, tx *sql.Tx, q string) (*sql.Stmt, error) {
	st, err := m.stmt(ctx, q)
	if err != nil || tx == nil {
		return st, err
	}
	return tx.StmtContext(ctx, st), nil
}

// queryRow runs a prepared single-row query, in tx when it is not nil; a
// failed prepare comes out of Scan, as with QueryRowContext.
func (m *meta) queryRow(ctx context.Context, tx *sql.Tx, q string, args ...any) rowScanner {
	st, err := m.stmtIn(ctx, tx, q)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

// exec runs a prepared statement, in tx when it is not nil.
func (m *meta) exec(ctx context.Context, tx *sql.Tx, q string, args ...any) (sql.Result, error) {
	st, err := m.stmtIn(ctx, tx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// rowScanner is a *sql.Row, a *sql.Rows or errRow.
type rowScanner interface{ Scan(...any) error }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

var errNotFound = errors.New("not found")

// forUpdate locks the rows a transaction reads on MySQL; SQLite
// transactions are immediate and hold the write lock already.
func (m *meta) forUpdate() string {
	if m.db.Dialect == metadb.MySQL {
		return " FOR UPDATE"
	}
	return ""
}

// tx runs fn in a transaction, run again when the database gave up on it
// (metadb.RetryTx).
func (m *meta) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return m.db.RetryTx(ctx, fn)
}

// ---- users

// User is an access key of the gateway's user table.
type User struct {
	AccessKey string
	Secret    string
	Created   time.Time
}

func (m *meta) secretOf(ctx context.Context, ak string) (string, bool, error) {
	var s string
	err := m.db.QueryRowContext(ctx, "SELECT secret FROM s3_users WHERE access_key = ?", ak).Scan(&s)
	if err == sql.ErrNoRows {
		return "", false, nil
	}
	return s, err == nil, err
}

// AddUser stores an access key and its secret; an existing key is an error.
func AddUser(ctx context.Context, db *metadb.DB, accessKey, secret string) error {
	if accessKey == "" || len(accessKey) > 128 || secret == "" || len(secret) > 256 {
		return errors.New("access key (1..128 bytes) and secret (1..256 bytes) are required")
	}
	_, err := db.ExecContext(ctx, "INSERT INTO s3_users (access_key, secret, created) VALUES (?, ?, ?)", accessKey, secret, metadb.Now())
	if metadb.IsDuplicate(err) {
		return fmt.Errorf("user %s exists", accessKey)
	}
	return err
}

// RemoveUser deletes an access key. Its buckets stay, owned by nobody who
// can sign in until the key is added again (or the root key manages them).
func RemoveUser(ctx context.Context, db *metadb.DB, accessKey string) error {
	res, err := db.ExecContext(ctx, "DELETE FROM s3_users WHERE access_key = ?", accessKey)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("user %s: %w", accessKey, errNotFound)
	}
	return nil
}

// ListUsers returns the users, by access key.
func ListUsers(ctx context.Context, db *metadb.DB) ([]User, error) {
	rows, err := db.QueryContext(ctx, "SELECT access_key, secret, created FROM s3_users ORDER BY access_key")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		var u User
		var c int64
		if err := rows.Scan(&u.AccessKey, &u.Secret, &c); err != nil {
			return nil, err
		}
		u.Created = time.Unix(c, 0).UTC()
		out = append(out, u)
	}
	return out, rows.Err()
}

// ---- buckets

// Bucket is a row of s3_buckets.
type Bucket struct {
	Name       string
	AppID      string
	Owner      string
	Created    time.Time
	PublicRead bool
	CORS       string // the CORSConfiguration XML as stored, or ""
}

const bucketCols = "name, appid, owner, created, public_read, cors_xml"

func scanBucket(sc rowScanner) (*Bucket, error) {
	var b Bucket
	var created int64
	var pub int
	var cors sql.NullString
	if err := sc.Scan(&b.Name, &b.AppID, &b.Owner, &created, &pub, &cors); err != nil {
		return nil, err
	}
	b.Created = time.Unix(created, 0).UTC()
	b.PublicRead = pub != 0
	b.CORS = cors.String
	return &b, nil
}

func (m *meta) bucket(ctx context.Context, name string) (*Bucket, error) {
	b, err := scanBucket(m.db.QueryRowContext(ctx, "SELECT "+bucketCols+" FROM s3_buckets WHERE name = ?", name))
	if err == sql.ErrNoRows {
		return nil, errNotFound
	}
	return b, err
}

// ListBuckets returns every bucket (owner "" ) or an owner's, by name.
func ListBuckets(ctx context.Context, db *metadb.DB, owner string) ([]Bucket, error) {
	q, args := "SELECT "+bucketCols+" FROM s3_buckets ORDER BY name", []any{}
	if owner != "" {
		q, args = "SELECT "+bucketCols+" FROM s3_buckets WHERE owner = ? ORDER BY name", []any{owner}
	}
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Bucket
	for rows.Next() {
		b, err := scanBucket(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *b)
	}
	return out, rows.Err()
}

// BucketUsage returns how many objects a bucket holds and their total size.
func BucketUsage(ctx context.Context, db *metadb.DB, name string) (objects, bytes int64, err error) {
	err = db.QueryRowContext(ctx, "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM s3_objects WHERE bucket = ?", name).Scan(&objects, &bytes)
	return objects, bytes, err
}

// SetBucketPublic marks a bucket readable by anonymous requests, or not.
func SetBucketPublic(ctx context.Context, db *metadb.DB, name string, on bool) error {
	v := 0
	if on {
		v = 1
	}
	res, err := db.ExecContext(ctx, "UPDATE s3_buckets SET public_read = ? WHERE name = ?", v, name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var x int
		if db.QueryRowContext(ctx, "SELECT 1 FROM s3_buckets WHERE name = ?", name).Scan(&x) != nil {
			return fmt.Errorf("bucket %s: %w", name, errNotFound)
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

// createBucket inserts a bucket; it returns the existing row when the name
// is taken.
func (m *meta) createBucket(ctx context.Context, name, owner string) (existing *Bucket, err error) {
	for range 5 {
		_, err = m.db.ExecContext(ctx, "INSERT INTO s3_buckets (name, appid, owner, created, public_read) VALUES (?, ?, ?, ?, 0)",
			name, newAppID(), owner, metadb.Now())
		if err == nil {
			return nil, nil
		}
		if !metadb.IsDuplicate(err) {
			return nil, err
		}
		if b, e := m.bucket(ctx, name); e == nil {
			return b, nil
		}
		// else the appid collided: draw another
	}
	return nil, err
}

// deleteBucket removes an empty bucket and its unfinished uploads' rows
// (their blobs go to the collector).
func (m *meta) deleteBucket(ctx context.Context, b *Bucket, gcDue int64) error {
	return m.tx(ctx, func(tx *sql.Tx) error {
		var x int
		err := tx.QueryRowContext(ctx, "SELECT 1 FROM s3_objects WHERE bucket = ? LIMIT 1", b.Name).Scan(&x)
		if err == nil {
			return errCode(s3err.BucketNotEmpty)
		}
		if err != sql.ErrNoRows {
			return err
		}
		rows, err := tx.QueryContext(ctx, "SELECT upload_id FROM s3_multipart WHERE bucket = ?", b.Name)
		if err != nil {
			return err
		}
		var ids []string
		for rows.Next() {
			var id string
			rows.Scan(&id)
			ids = append(ids, id)
		}
		rows.Close()
		for _, id := range ids {
			if err := m.dropUploadTx(ctx, tx, b.AppID, id, gcDue); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM s3_buckets WHERE name = ?", b.Name)
		return err
	})
}

func (m *meta) setCORS(ctx context.Context, bucket, doc string) error {
	var v any
	if doc != "" {
		v = doc
	}
	_, err := m.db.ExecContext(ctx, "UPDATE s3_buckets SET cors_xml = ? WHERE name = ?", v, bucket)
	return err
}

// ---- objects

// blob is one TNV file holding a run of an object's bytes.
type blob struct {
	UserID string `json:"u"`
	FileID string `json:"f"`
	Size   int64  `json:"s"`
	Part   int    `json:"p,omitempty"` // multipart part number
}

// headers are what S3 stores with an object and returns on GET.
type headers struct {
	ContentType        string            `json:"ct,omitempty"`
	ContentDisposition string            `json:"cd,omitempty"`
	ContentEncoding    string            `json:"ce,omitempty"`
	ContentLanguage    string            `json:"cl,omitempty"`
	CacheControl       string            `json:"cc,omitempty"`
	Expires            string            `json:"ex,omitempty"`
	Meta               map[string]string `json:"m,omitempty"` // lower-case names without x-amz-meta-
}

// object is a row of the index.
type object struct {
	Bucket  string
	Key     string
	Size    int64
	ETag    string // without quotes
	Headers headers
	MTime   time.Time
	Blobs   []blob
	Parts   int
	Version int64
}

const objectCols = "okey, size, etag, headers, mtime, blobs, parts, version"

func scanObject(sc rowScanner, bucket string) (*object, error) {
	var o object
	var key []byte
	var hdr, blobs string
	var mtime int64
	if err := sc.Scan(&key, &o.Size, &o.ETag, &hdr, &mtime, &blobs, &o.Parts, &o.Version); err != nil {
		return nil, err
	}
	o.Bucket, o.Key = bucket, string(key)
	o.MTime = time.UnixMilli(mtime).UTC()
	if err := json.Unmarshal([]byte(hdr), &o.Headers); err != nil {
		return nil, fmt.Errorf("object %s/%q: headers: %w", bucket, o.Key, err)
	}
	if err := json.Unmarshal([]byte(blobs), &o.Blobs); err != nil {
		return nil, fmt.Errorf("object %s/%q: blobs: %w", bucket, o.Key, err)
	}
	return &o, nil
}

const bucketObjectQuery = "SELECT b.name, b.appid, b.owner, b.created, b.public_read, b.cors_xml, " +
	"o.okey, o.size, o.etag, o.headers, o.mtime, o.blobs, o.parts, o.version " +
	"FROM s3_buckets b LEFT JOIN s3_objects o ON o.bucket = b.name AND o.okey = ? WHERE b.name = ?"

// bucketObject looks up a bucket and one of its objects in one round trip
// (GET and HEAD of an object need both). The object is nil when the bucket
// has no such key; a missing bucket is errNotFound.
func (m *meta) bucketObject(ctx context.Context, bucket, key string) (*Bucket, *object, error) {
	var b Bucket
	var created int64
	var pub int
	var cors sql.NullString
	var okey []byte
	var size, mtime, parts, version sql.NullInt64
	var etag, hdr, blobs sql.NullString
	err := m.queryRow(ctx, nil, bucketObjectQuery, []byte(key), bucket).Scan(&b.Name, &b.AppID, &b.Owner, &created, &pub, &cors,
		&okey, &size, &etag, &hdr, &mtime, &blobs, &parts, &version)
	if err == sql.ErrNoRows {
		return nil, nil, errNotFound
	}
	if err != nil {
		return nil, nil, err
	}
	b.Created = time.Unix(created, 0).UTC()
	b.PublicRead = pub != 0
	b.CORS = cors.String
	if !size.Valid {
		return &b, nil, nil
	}
	o := &object{Bucket: bucket, Key: string(okey), Size: size.Int64, ETag: etag.String,
		MTime: time.UnixMilli(mtime.Int64).UTC(), Parts: int(parts.Int64), Version: version.Int64}
	if err := json.Unmarshal([]byte(hdr.String), &o.Headers); err != nil {
		return nil, nil, fmt.Errorf("object %s/%q: headers: %w", bucket, o.Key, err)
	}
	if err := json.Unmarshal([]byte(blobs.String), &o.Blobs); err != nil {
		return nil, nil, fmt.Errorf("object %s/%q: blobs: %w", bucket, o.Key, err)
	}
	return &b, o, nil
}

func (m *meta) object(ctx context.Context, bucket, key string) (*object, error) {
	o, err := scanObject(m.queryRow(ctx, nil, "SELECT "+objectCols+" FROM s3_objects WHERE bucket = ? AND okey = ?", bucket, []byte(key)), bucket)
	if err == sql.ErrNoRows {
		return nil, errNotFound
	}
	return o, err
}

// gcInsert queues blobs for deletion at due (Unix seconds).
func gcInsert(ctx context.Context, tx interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, appid string, blobs []blob, due int64) error {
	for _, b := range blobs {
		if _, err := tx.ExecContext(ctx, "INSERT INTO s3_gc (appid, userid, fileid, due) VALUES (?, ?, ?, ?)", appid, b.UserID, b.FileID, due); err != nil {
			return err
		}
	}
	return nil
}

// putCond are the preconditions of publishing an object.
type putCond struct {
	ifNoneMatchStar bool  // fail if the key exists
	ifVersion       int64 // > 0: the row must still be this version
}

// putObject publishes o (whose blobs are durable), releasing the blobs of
// the object it replaces to the collector at gcDue and dropping the intent
// records (ids) that guarded o's blobs.
func (m *meta) putObject(ctx context.Context, appid string, o *object, cond putCond, intents []int64, gcDue int64) error {
	return m.tx(ctx, func(tx *sql.Tx) error {
		gone, err := m.putObjectTx(ctx, tx, o, cond)
		if err != nil {
			return err
		}
		return m.release(ctx, tx, appid, gone, intents, gcDue)
	})
}

// release queues blobs for collection at gcDue and drops intent records,
// in tx: an intent's row becomes a queued blob's where there are both (an
// overwrite: one statement instead of a delete and an insert).
func (m *meta) release(ctx context.Context, tx *sql.Tx, appid string, gone []blob, intents []int64, gcDue int64) error {
	for len(gone) > 0 && len(intents) > 0 {
		b := gone[0]
		res, err := m.exec(ctx, tx, "UPDATE s3_gc SET appid = ?, userid = ?, fileid = ?, due = ?, tries = 0 WHERE id = ? AND due > ?",
			appid, b.UserID, b.FileID, gcDue, intents[0], metadb.Now())
		if err := intentHeld(res, err); err != nil {
			return err
		}
		gone, intents = gone[1:], intents[1:]
	}
	if err := gcInsert(ctx, tx, appid, gone, gcDue); err != nil {
		return err
	}
	return dropIntents(ctx, tx, intents)
}

// putObjectTx inserts or replaces the row of o within tx and returns the
// blobs of the object replaced that o no longer lists, for the collector.
func (m *meta) putObjectTx(ctx context.Context, tx *sql.Tx, o *object, cond putCond) ([]blob, error) {
	hdr, _ := json.Marshal(o.Headers)
	blobs, _ := json.Marshal(o.Blobs)
	if o.Blobs == nil {
		blobs = []byte("[]")
	}
	var oldBlobs string
	var version int64
	err := m.queryRow(ctx, tx, "SELECT blobs, version FROM s3_objects WHERE bucket = ? AND okey = ?"+m.forUpdate(), o.Bucket, []byte(o.Key)).Scan(&oldBlobs, &version)
	switch {
	case err == sql.ErrNoRows:
		if cond.ifVersion > 0 {
			return nil, errCode(s3err.ConditionalRequestConflict)
		}
		_, err = m.exec(ctx, tx, "INSERT INTO s3_objects (bucket, okey, size, etag, headers, mtime, blobs, parts, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)",
			o.Bucket, []byte(o.Key), o.Size, o.ETag, string(hdr), o.MTime.UnixMilli(), string(blobs), o.Parts)
		if metadb.IsDuplicate(err) {
			if cond.ifNoneMatchStar {
				return nil, errCode(s3err.PreconditionFailed)
			}
			return nil, errCode(s3err.ConditionalRequestConflict)
		}
		if err != nil {
			return nil, err
		}
		o.Version = 1
		return nil, nil
	case err != nil:
		return nil, err
	}
	if cond.ifNoneMatchStar {
		return nil, errCode(s3err.PreconditionFailed)
	}
	if cond.ifVersion > 0 && cond.ifVersion != version {
		return nil, errCode(s3err.ConditionalRequestConflict)
	}
	if _, err := m.exec(ctx, tx, "UPDATE s3_objects SET size = ?, etag = ?, headers = ?, mtime = ?, blobs = ?, parts = ?, version = ? WHERE bucket = ? AND okey = ?",
		o.Size, o.ETag, string(hdr), o.MTime.UnixMilli(), string(blobs), o.Parts, version+1, o.Bucket, []byte(o.Key)); err != nil {
		return nil, err
	}
	o.Version = version + 1
	var old []blob
	if err := json.Unmarshal([]byte(oldBlobs), &old); err != nil {
		return nil, fmt.Errorf("object %s/%q: blobs: %w", o.Bucket, o.Key, err)
	}
	// A copy onto itself keeps its blobs: only those no longer listed go.
	keep := map[string]bool{}
	for _, b := range o.Blobs {
		keep[b.FileID] = true
	}
	var gone []blob
	for _, b := range old {
		if !keep[b.FileID] {
			gone = append(gone, b)
		}
	}
	return gone, nil
}

// dropIntents deletes the intent records of blobs being published, in tx.
// A record that is gone or due means the collector may be deleting its
// blob (a write that outlived IntentTTL): the publication fails.
func dropIntents(ctx context.Context, tx *sql.Tx, ids []int64) error {
	now := metadb.Now()
	for _, id := range ids {
		res, err := tx.ExecContext(ctx, "DELETE FROM s3_gc WHERE id = ? AND due > ?", id, now)
		if err := intentHeld(res, err); err != nil {
			return err
		}
	}
	return nil
}

// intentHeld checks that a statement on an intent record found it.
func intentHeld(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return errMsg(s3err.InternalError, "The upload outlived its intent record and its data is being collected; send it again.")
	}
	return nil
}

// deleteObject removes a key; a missing key is not an error. It returns
// whether a row was removed.
func (m *meta) deleteObject(ctx context.Context, appid, bucket, key string, gcDue int64) (bool, error) {
	found := false
	err := m.tx(ctx, func(tx *sql.Tx) error {
		found = false
		var blobs string
		err := tx.QueryRowContext(ctx, "SELECT blobs FROM s3_objects WHERE bucket = ? AND okey = ?"+m.forUpdate(), bucket, []byte(key)).Scan(&blobs)
		if err == sql.ErrNoRows {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM s3_objects WHERE bucket = ? AND okey = ?", bucket, []byte(key)); err != nil {
			return err
		}
		var old []blob
		if err := json.Unmarshal([]byte(blobs), &old); err != nil {
			return err
		}
		found = true
		return gcInsert(ctx, tx, appid, old, gcDue)
	})
	return found, err
}

// listRow is what listings need of an object.
type listRow struct {
	Key   string
	Size  int64
	ETag  string
	MTime time.Time
}

// scanKeys returns up to limit objects of bucket with keys after from
// (inclusive when incl), below upTo when upTo is not empty, in byte order.
func (m *meta) scanKeys(ctx context.Context, bucket, from string, incl bool, upTo string, limit int) ([]listRow, error) {
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
	rows, err := m.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []listRow
	for rows.Next() {
		var r listRow
		var k []byte
		var mt int64
		if err := rows.Scan(&k, &r.Size, &r.ETag, &mt); err != nil {
			return nil, err
		}
		r.Key, r.MTime = string(k), time.UnixMilli(mt).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// ---- blob intents and the collector's queue

// expediteIntents makes failed writes' blobs due now.
func (m *meta) expediteIntents(ctx context.Context, ids []int64) {
	for _, id := range ids {
		m.db.ExecContext(ctx, "UPDATE s3_gc SET due = ? WHERE id = ?", metadb.Now(), id)
	}
}

type gcRow struct {
	ID                    int64
	AppID, UserID, FileID string
	Tries                 int
}

func (m *meta) dueBlobs(ctx context.Context, now int64, limit int) ([]gcRow, error) {
	rows, err := m.db.QueryContext(ctx, "SELECT id, appid, userid, fileid, tries FROM s3_gc WHERE due <= ? ORDER BY due LIMIT ?", now, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []gcRow
	for rows.Next() {
		var r gcRow
		if err := rows.Scan(&r.ID, &r.AppID, &r.UserID, &r.FileID, &r.Tries); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
