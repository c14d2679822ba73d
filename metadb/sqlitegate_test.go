package metadb_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Writers of one process on one SQLite file — transactions, autocommit
// statements, prepared statements, a RETURNING query, and the Unsynced
// pool — take turns at the write gate: none meets SQLITE_BUSY and none
// sleeps in SQLite's busy handler (whose back-off made a writer wait up to
// 25 ms at a time for a lock long free). Every row arrives.
func TestSQLiteWriteGate_ConcurrentWritersOfEveryKind(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "gate.db")
	db := openGroupDemo(t, dsn)
	lazy, err := db.Unsynced()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ins, err := db.PrepareContext(ctx, `INSERT INTO t_demo (k, v) VALUES (?, ?)`)
	if err != nil {
		t.Fatal(err)
	}
	defer ins.Close()
	const writers, each = 8, 40
	kinds := []func(k string, i int) error{
		func(k string, i int) error { // a transaction of two statements
			return db.RetryTx(ctx, func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, `INSERT INTO t_demo (k, v) VALUES (?, ?)`, k, i); err != nil {
					return err
				}
				_, err := tx.ExecContext(ctx, `UPDATE t_demo SET v = v + 1 WHERE k = ?`, k)
				return err
			})
		},
		func(k string, i int) error { // autocommit
			_, err := db.ExecContext(ctx, `INSERT INTO t_demo (k, v) VALUES (?, ?)`, k, i+1)
			return err
		},
		func(k string, i int) error { // prepared, autocommit
			_, err := ins.ExecContext(ctx, k, i+1)
			return err
		},
		func(k string, i int) error { // a writing query: the gate is held until its rows close
			var v int64
			return db.QueryRowContext(ctx, `INSERT INTO t_demo (k, v) VALUES (?, ?) RETURNING v`, k, i+1).Scan(&v)
		},
		func(k string, i int) error { // the Unsynced pool shares the gate
			_, err := lazy.ExecContext(ctx, `INSERT INTO t_demo (k, v) VALUES (?, ?)`, k, i+1)
			return err
		},
		func(k string, i int) error { // group commit
			return db.GroupTx(ctx, func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO t_demo (k, v) VALUES (?, ?)`, k, i+1)
				return err
			})
		},
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	start := time.Now()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				k := fmt.Sprintf("w%d-%d", w, i)
				if err := kinds[(w+i)%len(kinds)](k, i); err != nil {
					errs <- fmt.Errorf("%s (kind %d): %w", k, (w+i)%len(kinds), err)
				}
			}
		}()
	}
	// Readers meanwhile never wait for the gate.
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				var n int
				if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM t_demo`).Scan(&n); err != nil {
					errs <- fmt.Errorf("reader: %w", err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var n, sum int64
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*), SUM(v) FROM t_demo`).Scan(&n, &sum); err != nil {
		t.Fatal(err)
	}
	if n != writers*each {
		t.Fatalf("%d rows, want %d", n, writers*each)
	}
	// Each row is i+1 (the transaction's i, then +1).
	want := int64(writers * each * (each + 1) / 2)
	if sum != want {
		t.Fatalf("sum of v %d, want %d", sum, want)
	}
	t.Logf("%d writes of 6 kinds by %d writers in %v", n, writers, time.Since(start))
}

// Migrate's BEGIN IMMEDIATE … COMMIT, run as statements on one connection,
// holds the gate across them: a writer on another connection waits for the
// COMMIT rather than failing, and then runs.
func TestSQLiteWriteGate_StatementTransactions(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "gate.db")
	db := openGroupDemo(t, dsn)
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `INSERT INTO t_demo (k, v) VALUES ('a', 1)`); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := db.ExecContext(ctx, `INSERT INTO t_demo (k, v) VALUES ('b', 2)`)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("a writer ran inside another connection's open transaction: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the waiting writer: %v", err)
	}
	// A writer whose context ends while it waits gets the context's error.
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := db.ExecContext(short, `INSERT INTO t_demo (k, v) VALUES ('c', 3)`); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("writer with an ended context: %v, want the deadline", err)
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM t_demo`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("rows %d (%v), want 2", n, err)
	}
}
