package index

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/tnv-s3/tnv/metadb"
)

// The index lease (s3_index_lease, one row) lets one index instance — one
// gateway — cache the rows GETs and PUTs look up (lookup_cache.go) while
// every other instance's writes to those rows wait for it to end.
//
//   - The holder renews it every leaseRenew for leaseTerm, judged by the
//     database's clock, and uses its cache only until leaseTerm after it
//     sent its last successful renewal, less leaseMargin, by its own
//     monotonic clock: the lease it sees ends before the database's does.
//   - Every transaction that writes a bucket's settings or an object's
//     current row (fencedTx) first reads the lease row with a shared lock.
//     Held by another instance and not expired: the transaction is rolled
//     back, the writer marks the lease wanted (for wantFor) and waits it
//     out, then runs again. A holder does not renew a wanted lease: it
//     turns its cache off and gives the lease back at its next renewal, so
//     the wait is about leaseRenew, at most one term. The shared lock keeps the holder from
//     renewing while such a write is in flight: a renewal after it finds
//     the lease expired, and a holder that takes an expired lease again
//     starts with an empty cache.
//   - A writer that is not the holder keeps a wanted mark alive while it
//     writes (again when less than half of wantFor is left), so that two
//     gateways writing at once both run without a cache instead of handing
//     the lease back and forth. A lapsed mark it leaves: a write into a free
//     lease needs none (a holder that takes the lease after it starts
//     empty), and a caching gateway's own first writes would otherwise
//     keep it from ever taking the lease.
//
// The cost when one gateway serves everything: one indexed read per write
// transaction on MySQL (none on SQLite, see fence), one small transaction
// per leaseRenew, nothing per read.
// When another instance starts writing: its first write waits about
// leaseRenew for the lease to be given back.
//
// Variables for tests, which shorten them.
var (
	leaseTerm   = 2 * time.Second
	leaseRenew  = 500 * time.Millisecond
	leaseMargin = 250 * time.Millisecond
	wantFor     = 30 * time.Second
)

// leaseSchema is the migration step that makes the lease row.
var leaseSchema = []string{
	`CREATE TABLE s3_index_lease (
		id INT NOT NULL PRIMARY KEY,
		holder VARCHAR(64) NOT NULL,
		expires BIGINT NOT NULL,
		wanted BIGINT NOT NULL)`,
	`INSERT INTO s3_index_lease (id, holder, expires, wanted) VALUES (1, '', 0, 0)`,
}

// newHolderID names an index instance in the lease row: host, process and
// a random part, so that a restarted gateway is another holder.
func newHolderID() string {
	host, _ := os.Hostname()
	if len(host) > 30 {
		host = host[:30]
	}
	b := make([]byte, 6)
	rand.Read(b)
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
}

// dbNowMillis is the database's clock in Unix milliseconds, in SQL. On
// MySQL it is counted from UTC_TIMESTAMP, which no session time zone (and
// no daylight saving hour that repeats) moves.
func (s *SQL) dbNowMillis() string {
	if s.db.Dialect == metadb.MySQL {
		return "(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) DIV 1000)"
	}
	return "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
}

// leaseRow is the lease as a transaction read it, with the database's
// clock at that read.
type leaseRow struct {
	holder               string
	expires, wanted, now int64
}

func (s *SQL) readLease(ctx context.Context, tx *sql.Tx, lock string) (leaseRow, error) {
	var l leaseRow
	err := s.queryRow(ctx, tx, "SELECT holder, expires, wanted, "+s.dbNowMillis()+" FROM s3_index_lease WHERE id = 1"+lock).
		Scan(&l.holder, &l.expires, &l.wanted, &l.now)
	if err != nil {
		return l, fmt.Errorf("index lease: %w", err)
	}
	return l, nil
}

// fencedError: another instance holds the lease, for wait more.
type fencedError struct{ wait time.Duration }

func (e *fencedError) Error() string {
	return fmt.Sprintf("index: another gateway caches lookups for %v more", e.wait)
}

// fence checks in tx, before its writes, that no other instance holds the
// lease, and holds it off (shared lock on MySQL; SQLite's write
// transactions are serialised) until tx ends.
func (s *SQL) fence(ctx context.Context, tx *sql.Tx) error {
	if s.db.Dialect == metadb.SQLite && s.cache.held() {
		// A holder's own write on SQLite needs no read: tx holds the
		// database's write lock, so no other instance takes the lease
		// before it commits, and none holds it now. (On MySQL another
		// could take it, expired while tx runs, without a lock on its row.)
		return nil
	}
	l, err := s.readLease(ctx, tx, s.shareLock())
	if err != nil {
		return err
	}
	if l.holder == s.holder {
		return nil
	}
	if l.expires > l.now {
		return &fencedError{wait: time.Duration(l.expires-l.now) * time.Millisecond}
	}
	if l.wanted > l.now && l.wanted < l.now+wantFor.Milliseconds()/2 {
		s.wantSoon.Store(true) // several writers: keep the lease unheld
	}
	return nil
}

// touched is what a write changes of the rows the cache holds: one
// object's current row, or everything (a bucket's settings).
type touched struct {
	all bool
	k   bucketKey
}

var touchedAll = touched{all: true}

func touchedKey(bucket, key string) touched { return touched{k: bucketKey{bucket, key}} }

// fencedTx runs fn in a transaction of its own after the lease's fence,
// waiting out another instance's lease, and then drops what fn touched
// from this instance's cache — also when it failed, since a failed commit
// may have committed.
func (s *SQL) fencedTx(ctx context.Context, t touched, fn func(tx *sql.Tx) error) error {
	return s.fencedRun(ctx, t, s.tx, fn)
}

// fencedRun is fencedTx with the transaction run by run (s.tx,
// s.groupTx, a committer's), called again after each wait.
func (s *SQL) fencedRun(ctx context.Context, t touched, run func(context.Context, func(*sql.Tx) error) error, fn func(tx *sql.Tx) error) error {
	for {
		err := run(ctx, func(tx *sql.Tx) error {
			if err := s.fence(ctx, tx); err != nil {
				return err
			}
			return fn(tx)
		})
		s.cache.drop(t)
		if err = s.waitFence(ctx, err); err != errFenceOver {
			return err
		}
	}
}

// errFenceOver: the lease that fenced a write has ended; run it again.
var errFenceOver = errors.New("index: fence over")

// waitFence is err, or errFenceOver once a lease that fenced the write
// is over (marked wanted meanwhile). After a write that went through, it
// marks the lease wanted when fence asked for that.
func (s *SQL) waitFence(ctx context.Context, err error) error {
	var f *fencedError
	if !errors.As(err, &f) {
		if err == nil && s.wantSoon.Swap(false) {
			s.want(ctx)
		}
		return err
	}
	s.fenced.Add(1)
	if err := s.want(ctx); err != nil {
		return err
	}
	// The holder gives the lease back at its next renewal after the mark
	// (leaseRenew) rather than letting it run out: look now and then.
	deadline := time.Now().Add(f.wait + 5*time.Millisecond)
	for {
		wait := min(time.Until(deadline), fencePoll)
		if wait <= 0 {
			return errFenceOver
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		if l, err := s.readLease(ctx, nil, ""); err == nil && (l.holder == s.holder || l.expires <= l.now) {
			return errFenceOver
		}
	}
}

// fencePoll is how often a fenced write looks whether the lease was given
// back.
const fencePoll = 50 * time.Millisecond

// want marks the lease wanted for wantFor: its holder stops renewing it.
func (s *SQL) want(ctx context.Context) error {
	now := s.dbNowMillis()
	_, err := s.db.ExecContext(ctx, "UPDATE s3_index_lease SET wanted = "+now+" + ? WHERE id = 1 AND holder <> ?",
		wantFor.Milliseconds(), s.holder)
	if err != nil {
		return fmt.Errorf("index lease: %w", err)
	}
	return nil
}

// renew takes or extends the lease for the cache. It reports whether it
// holds the lease, whether the lease it holds now follows the one it held
// without a gap (no other instance can have written in between), and
// whether it holds a lease that a writer wants (yield: to be given back
// once the cache is off). Not held when the transaction failed.
func (s *SQL) renew(ctx context.Context) (held, continuous, yield bool, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		held, continuous, yield = false, false, false
		l, err := s.readLease(ctx, tx, s.forUpdate())
		if err != nil {
			return err
		}
		mine := l.holder == s.holder && l.expires > l.now
		if l.wanted > l.now || (!mine && l.expires > l.now) {
			yield = mine
			return nil // wanted by a writer, or another instance's
		}
		if _, err := s.exec(ctx, tx, "UPDATE s3_index_lease SET holder = ?, expires = "+s.dbNowMillis()+" + ? WHERE id = 1",
			s.holder, leaseTerm.Milliseconds()); err != nil {
			return fmt.Errorf("index lease: %w", err)
		}
		held, continuous = true, mine
		return nil
	})
	if err != nil {
		return false, false, yield, err // nothing taken
	}
	return held, continuous, yield, nil
}

// releaseLease ends this instance's lease, so that other writers need not
// wait it out.
func (s *SQL) releaseLease(ctx context.Context) {
	s.db.ExecContext(ctx, "UPDATE s3_index_lease SET expires = 0 WHERE id = 1 AND holder = ?", s.holder)
}
