package metadb

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"time"
)

// retryAttempts bounds RetryTx: a transaction that deadlocks this often is
// contending with something that will not let go soon.
const retryAttempts = 6

// RetryTx runs fn in a transaction and commits it. When the database gives
// up on the transaction (IsRetryable: a deadlock, a lock wait timeout,
// SQLite busy) it is rolled back and fn runs again in a new one (Retry), so
// fn must do nothing outside tx that cannot be done twice. Any other error
// of fn or of the commit rolls back and is returned as it is.
func (db *DB) RetryTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return Retry(ctx, IsRetryable, func() error { return db.tryTx(ctx, fn) })
}

// Retry runs attempt until it succeeds, fails with an error retryable does
// not accept, or has failed retryAttempts times; between attempts it
// pauses a short random time that grows with each, so that two
// transactions that deadlocked do not meet again in step. It is RetryTx
// for work whose attempt is more than one transaction; retryable is
// IsRetryable or a superset of it.
func Retry(ctx context.Context, retryable func(error) bool, attempt func() error) error {
	for n := 1; ; n++ {
		err := attempt()
		if err == nil || !retryable(err) {
			return err
		}
		if n == retryAttempts {
			return fmt.Errorf("metadb: gave up after %d attempts: %w", n, err)
		}
		pause := time.Duration(rand.Int64N(int64(n)*int64(10*time.Millisecond))) + time.Millisecond
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

func (db *DB) tryTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}
