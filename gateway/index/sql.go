package index

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tnv-s3/tnv/metadb"
)

// SQL is the Index in the gateway's s3_* tables (schema.go), on MySQL
// (MariaDB) or SQLite.
type SQL struct {
	db *metadb.DB
	// Clock is the time the index stamps rows with and judges intent
	// records by (the gateway's Config.Now); nil = the wall clock.
	Clock func() time.Time

	mu        sync.Mutex
	stmts     map[string]*sql.Stmt
	preparing map[string]bool // being prepared by prepareLater
	later     sync.WaitGroup  // prepareLater goroutines, which Close waits for
	closed    bool
	// bg is prepareLater's context, cancelled by Close so that its wait
	// is short even when the database does not answer.
	bg     context.Context
	stopBg context.CancelFunc

	// lookups batches BucketObject's concurrent reads (MySQL; nil on
	// SQLite, whose reads cost no round trip).
	lookups *metadb.ReadBatch[bucketKey, bucketObject]

	// holder names this instance in the index lease (lease.go); cache is
	// its lookup cache, nil unless StartCache (lookup_cache.go); wantSoon:
	// a write found the lease's wanted mark running out.
	holder   string
	cache    *lookupCache
	wantSoon atomic.Bool
	fenced   atomic.Int64 // writes that waited out another instance's lease
}

// NewSQL returns the index in db, whose tables Migrate has made.
func NewSQL(db *metadb.DB) *SQL {
	bg, stop := context.WithCancel(context.Background())
	s := &SQL{db: db, bg: bg, stopBg: stop, holder: newHolderID()}
	if db.Dialect == metadb.MySQL {
		s.lookups = &metadb.ReadBatch[bucketKey, bucketObject]{
			One: s.bucketObject, Many: s.bucketObjects,
			Max: lookupBatch, Parallel: lookupQueries,
		}
	}
	return s
}

// The most BucketObject lookups in one query, and such queries in flight
// at once: measured with BenchmarkBucketObject/batched (MariaDB, 32 at a time).
const (
	lookupBatch   = 16
	lookupQueries = 2
)

var _ Index = (*SQL)(nil)

func (s *SQL) now() int64 { return unixNow(s.Clock) }

// unixNow is clock's time in Unix seconds, the wall clock's when nil.
func unixNow(clock func() time.Time) int64 {
	if clock == nil {
		return metadb.Now()
	}
	return clock().Unix()
}

// stmt returns q prepared, once per index (database/sql prepares it again
// on each connection it runs on). The hot paths use it: a prepared
// statement costs MySQL no parsing; the bucket-and-object join of every GET
// takes ~0.8x the time prepared, 32 in flight (BenchmarkBucketObject).
func (s *SQL) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	s.mu.Lock()
	st, ok := s.stmts[q]
	s.mu.Unlock()
	if ok {
		return st, nil
	}
	// Prepared outside the lock: a slow or unreachable database delays
	// only the requests that need this statement.
	st, err := s.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed { // Close began while this was prepared (prepareLater)
		st.Close()
		return nil, errClosed
	}
	if prev, ok := s.stmts[q]; ok {
		st.Close() // another request was first
		return prev, nil
	}
	if s.stmts == nil {
		s.stmts = map[string]*sql.Stmt{}
	}
	s.stmts[q] = st
	return st, nil
}

var errClosed = errors.New("index: closed")

// Close releases the prepared statements. The index is not used after.
// It ends the statements being prepared in the background (prepareLater:
// cancelled, and waited for), which would otherwise take a connection of
// the database after the caller closed it, or open one: on SQLite that
// recreated the -wal and -shm files of a database being removed
// (TestChecksums_StoredWithUploadsPartsAndObjects failed its TempDir
// cleanup, "directory not empty", in 2 of 27 runs of the package).
func (s *SQL) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.stopBg()
	s.later.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.stmts {
		st.Close()
	}
	s.stmts = nil
	return nil
}

// stmtIn is q prepared, bound to tx when it is not nil.
//
// In a transaction, a statement not in the cache yet is prepared on the
// transaction's own connection, and cached for later by a goroutine:
// preparing it on the pool would wait for a free connection while holding
// one, and with every connection in such a transaction none is ever freed
// (TestPreparedStatements_FirstUseInEveryConnectionAtOnce).
func (s *SQL) stmtIn(ctx context.Context, tx *sql.Tx, q string) (*sql.Stmt, error) {
	if tx == nil {
		return s.stmt(ctx, q)
	}
	s.mu.Lock()
	st, ok := s.stmts[q]
	later := !ok && !s.preparing[q] && !s.closed
	if later {
		if s.preparing == nil {
			s.preparing = map[string]bool{}
		}
		s.preparing[q] = true
		s.later.Add(1)
	}
	s.mu.Unlock()
	if ok {
		return tx.StmtContext(ctx, st), nil
	}
	if later {
		go s.prepareLater(q)
	}
	return tx.PrepareContext(ctx, q) // closed with tx
}

// prepareLater puts q in the cache once a connection is free.
func (s *SQL) prepareLater(q string) {
	defer s.later.Done()
	ctx, cancel := context.WithTimeout(s.bg, time.Minute)
	defer cancel()
	s.stmt(ctx, q) // on failure the next transaction tries again
	s.mu.Lock()
	delete(s.preparing, q)
	s.mu.Unlock()
}

// queryRow runs a prepared single-row query, in tx when it is not nil; a
// failed prepare comes out of Scan, as with QueryRowContext.
func (s *SQL) queryRow(ctx context.Context, tx *sql.Tx, q string, args ...any) rowScanner {
	st, err := s.stmtIn(ctx, tx, q)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

// exec runs a prepared statement, in tx when it is not nil.
func (s *SQL) exec(ctx context.Context, tx *sql.Tx, q string, args ...any) (sql.Result, error) {
	st, err := s.stmtIn(ctx, tx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// rowScanner is a *sql.Row, a *sql.Rows or errRow.
type rowScanner = metadb.Scanner

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// forUpdate locks the rows a transaction reads on MySQL; SQLite
// transactions are immediate and hold the write lock already.
func (s *SQL) forUpdate() string {
	if s.db.Dialect == metadb.MySQL {
		return " FOR UPDATE"
	}
	return ""
}

// bucketHeld checks, in tx, that the bucket named name still has app ID
// appid, and on MySQL holds a shared lock on its row until tx ends, which
// DeleteBucket's exclusive lock waits for (and the other way round);
// SQLite's write transactions are serialised already. A bucket gone, or
// created again under the name, is ErrNoSuchBucket. Writes that add rows
// to a bucket call it before they take any other lock, in the order
// DeleteBucket takes them (the bucket, then uploads and objects).
func (s *SQL) bucketHeld(ctx context.Context, tx *sql.Tx, name, appid string) error {
	return s.lockBucket(ctx, tx, name, appid, s.shareLock())
}

// lockBucket reads bucket name's row under app ID appid in tx with lock
// (shareLock or forUpdate): ErrNoSuchBucket when there is none.
func (s *SQL) lockBucket(ctx context.Context, tx *sql.Tx, name, appid, lock string) error {
	var x int
	err := s.queryRow(ctx, tx, "SELECT 1"+bucketRow+lock, name, appid).Scan(&x)
	if err == sql.ErrNoRows {
		return ErrNoSuchBucket
	}
	return err
}

// bucketRow selects a bucket's row by name and app ID (two arguments),
// what every write that holds its bucket reads, with a lock after it.
const bucketRow = " FROM s3_buckets WHERE name = ? AND appid = ?"

// shareLock is forUpdate's shared lock.
func (s *SQL) shareLock() string {
	if s.db.Dialect == metadb.MySQL {
		return " LOCK IN SHARE MODE"
	}
	return ""
}

// tx runs fn in a transaction, run again when the database gave up on it.
func (s *SQL) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.db.RetryTx(ctx, fn)
}

// fencedExec runs one statement as fencedTx (lease.go).
func (s *SQL) fencedExec(ctx context.Context, t touched, q string, args ...any) (res sql.Result, err error) {
	err = s.fencedTx(ctx, t, func(tx *sql.Tx) error {
		res, err = tx.ExecContext(ctx, q, args...)
		return err
	})
	return res, err
}

// groupTx is tx in a transaction that other callers' may share
// (metadb.GroupTx).
func (s *SQL) groupTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return metadb.Retry(ctx, metadb.IsRetryable, func() error { return s.db.GroupTx(ctx, fn) })
}

// Probe reads the object index once, as GETs and LISTs do (the gateway's
// health check, under its deadline).
func Probe(ctx context.Context, db *metadb.DB) error {
	var k []byte
	err := db.QueryRowContext(ctx, "SELECT okey FROM s3_objects LIMIT 1").Scan(&k)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	return err
}

// queryAll runs q and scans each row with scan.
func queryAll[T any](ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, query string, args []any, scan func(rowScanner) (T, error)) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return metadb.ScanAll(rows, scan)
}

// affected is the row count of a statement's result, for statements whose
// callers need to know whether a row was there.
func affected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func millis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// blobsJSON is the stored form of a blob list ("[]" for none).
func blobsJSON(bs []Blob) string {
	if bs == nil {
		return "[]"
	}
	b, _ := json.Marshal(bs)
	return string(b)
}

func headersJSON(h Headers) string {
	b, _ := json.Marshal(h)
	return string(b)
}

func parseBlobs(what, s string) ([]Blob, error) {
	bs, err := unmarshalBlobs(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return bs, nil
}

func parseHeaders(what, s string, h *Headers) error {
	if err := unmarshalHeaders(s, h); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// unmarshalBlobs and unmarshalHeaders are parseBlobs and parseHeaders for
// a caller that names what failed itself, only when it fails.
func unmarshalBlobs(s string) ([]Blob, error) {
	var bs []Blob
	if err := json.Unmarshal([]byte(s), &bs); err != nil {
		return nil, fmt.Errorf("blobs: %w", err)
	}
	return bs, nil
}

func unmarshalHeaders(s string, h *Headers) error {
	if err := json.Unmarshal([]byte(s), h); err != nil {
		return fmt.Errorf("headers: %w", err)
	}
	return nil
}
