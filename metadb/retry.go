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
// SQLite busy) it is rolled back and fn runs again in a new one, after a
// short random pause that grows with each attempt, so two transactions that
// deadlocked do not meet again in step. fn must therefore do nothing
// outside tx that cannot be done twice. Any other error of fn or of the
// commit rolls back and is returned as it is.
func (db *DB) RetryTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = db.tryTx(ctx, fn)
		if err == nil || !IsRetryable(err) {
			return err
		}
		if attempt == retryAttempts {
			return fmt.Errorf("metadb: transaction gave up after %d attempts: %w", attempt, err)
		}
		pause := time.Duration(rand.Int64N(int64(attempt)*int64(10*time.Millisecond))) + time.Millisecond
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
