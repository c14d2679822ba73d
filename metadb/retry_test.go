package metadb_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/metadb/metadbtest"
)

func openDemo(t *testing.T, dsn string) *metadb.DB {
	t.Helper()
	db, err := metadb.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background(), "demo", steps); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b"} {
		if _, err := db.Exec("INSERT INTO t_demo (k, v) VALUES (?, 0)", k); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func value(t *testing.T, db *metadb.DB, k string) int {
	t.Helper()
	var v int
	if err := db.QueryRow("SELECT v FROM t_demo WHERE k = ?", k).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// Two transactions lock a and b in opposite orders: InnoDB kills one with
// a deadlock (1213), RetryTx runs it again, and both increments land.
func TestRetryTx_MySQLDeadlockIsRunAgain(t *testing.T) {
	db := openDemo(t, metadbtest.NewTestMySQL(t))
	ctx := context.Background()
	var attempts atomic.Int32
	var mu sync.Mutex
	var failures []error
	var barrier sync.WaitGroup
	barrier.Add(2)
	bump := func(first, second string) error {
		try := 0
		return db.RetryTx(ctx, func(tx *sql.Tx) error {
			attempts.Add(1)
			try++
			if _, err := tx.Exec("UPDATE t_demo SET v = v + 1 WHERE k = ?", first); err != nil {
				return err
			}
			if try == 1 { // both hold their first row before either asks for the second
				barrier.Done()
				barrier.Wait()
			}
			_, err := tx.Exec("UPDATE t_demo SET v = v + 1 WHERE k = ?", second)
			if err != nil {
				mu.Lock()
				failures = append(failures, err)
				mu.Unlock()
			}
			return err
		})
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Add(2)
	go func() { defer wg.Done(); errs[0] = bump("a", "b") }()
	go func() { defer wg.Done(); errs[1] = bump("b", "a") }()
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("RetryTx: %v, %v", errs[0], errs[1])
	}
	if len(failures) == 0 || attempts.Load() < 3 {
		t.Fatalf("no deadlock happened (%d attempts); the test proves nothing", attempts.Load())
	}
	for _, err := range failures {
		if !metadb.IsRetryable(err) || !strings.Contains(err.Error(), "1213") {
			t.Errorf("failure %v: want a retryable deadlock", err)
		}
	}
	if a, b := value(t, db, "a"), value(t, db, "b"); a != 2 || b != 2 {
		t.Fatalf("a=%d b=%d, want both increments once each (2, 2)", a, b)
	}
}

func TestIsRetryable_MySQLLockWaitTimeout(t *testing.T) {
	db := openDemo(t, metadbtest.NewTestMySQL(t))
	ctx := context.Background()
	holder, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()
	if _, err := holder.Exec("UPDATE t_demo SET v = 1 WHERE k = 'a'"); err != nil {
		t.Fatal(err)
	}
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, "SET SESSION innodb_lock_wait_timeout = 1"); err != nil {
		t.Fatal(err)
	}
	_, err = c.ExecContext(ctx, "UPDATE t_demo SET v = 2 WHERE k = 'a'")
	if !metadb.IsRetryable(err) || !strings.Contains(fmt.Sprint(err), "1205") {
		t.Fatalf("update of a locked row: %v; want a retryable lock wait timeout", err)
	}
}

// SQLite without a busy timeout answers SQLITE_BUSY while another
// connection writes; RetryTx waits it out.
func TestRetryTx_SQLiteBusyIsRunAgain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	db := openDemo(t, "sqlite:"+path)
	impatient, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(0)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer impatient.Close()
	idb := &metadb.DB{DB: impatient, Dialect: metadb.SQLite}
	ctx := context.Background()

	holder, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := holder.Exec("UPDATE t_demo SET v = 1 WHERE k = 'a'"); err != nil {
		t.Fatal(err)
	}
	if _, err := impatient.BeginTx(ctx, nil); !metadb.IsRetryable(err) {
		t.Fatalf("begin while another connection writes: %v; want retryable busy", err)
	}
	released := make(chan struct{})
	go func() {
		time.Sleep(15 * time.Millisecond)
		holder.Commit()
		close(released)
	}()
	attempts := 0
	err = idb.RetryTx(ctx, func(tx *sql.Tx) error {
		attempts++
		_, err := tx.Exec("UPDATE t_demo SET v = v + 10 WHERE k = 'a'")
		return err
	})
	<-released
	if err != nil {
		t.Fatalf("RetryTx: %v (%d attempts)", err, attempts)
	}
	if v := value(t, db, "a"); v != 11 {
		t.Fatalf("a = %d, want 11 (holder's 1, then +10)", v)
	}
}

func TestRetryTx_OtherErrorsRollBackAndReturnAtOnce(t *testing.T) {
	for name, dsn := range dialects(t) {
		t.Run(name, func(t *testing.T) {
			db := openDemo(t, dsn)
			ctx := context.Background()
			boom := errors.New("boom")
			attempts := 0
			err := db.RetryTx(ctx, func(tx *sql.Tx) error {
				attempts++
				if _, err := tx.Exec("UPDATE t_demo SET v = 5 WHERE k = 'a'"); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) || attempts != 1 {
				t.Fatalf("err %v after %d attempts; want boom after 1", err, attempts)
			}
			attempts = 0
			err = db.RetryTx(ctx, func(tx *sql.Tx) error {
				attempts++
				_, err := tx.Exec("INSERT INTO t_demo (k, v) VALUES ('b', 1)")
				return err
			})
			if !metadb.IsDuplicate(err) || metadb.IsRetryable(err) || attempts != 1 {
				t.Fatalf("duplicate: err %v after %d attempts; want the duplicate after 1", err, attempts)
			}
			if v := value(t, db, "a"); v != 0 {
				t.Fatalf("a = %d: the failed transaction was not rolled back", v)
			}
		})
	}
}

func TestRetryTx_GivesUpAfterBoundedAttemptsAndOnCancel(t *testing.T) {
	db := openDemo(t, "sqlite:"+filepath.Join(t.TempDir(), "meta.db"))
	deadlock := &mysql.MySQLError{Number: 1213, Message: "Deadlock found when trying to get lock"}
	attempts := 0
	err := db.RetryTx(context.Background(), func(*sql.Tx) error { attempts++; return deadlock })
	if !errors.Is(err, deadlock) || attempts != 6 {
		t.Fatalf("err %v after %d attempts; want the deadlock after 6", err, attempts)
	}
	ctx, cancel := context.WithCancel(context.Background())
	attempts = 0
	err = db.RetryTx(ctx, func(*sql.Tx) error { attempts++; cancel(); return deadlock })
	if !errors.Is(err, deadlock) || attempts != 1 {
		t.Fatalf("cancelled: err %v after %d attempts; want the deadlock after 1", err, attempts)
	}
}

// Retry takes the caller's notion of retryable: a storage node also runs
// an append again when its reserved log number was given up.
func TestRetry_CallerPredicate(t *testing.T) {
	voided := errors.New("number given up")
	attempts := 0
	err := metadb.Retry(context.Background(), func(err error) bool { return metadb.IsRetryable(err) || errors.Is(err, voided) },
		func() error {
			attempts++
			if attempts < 3 {
				return voided
			}
			return nil
		})
	if err != nil || attempts != 3 {
		t.Fatalf("err %v after %d attempts; want success after 3", err, attempts)
	}
	attempts = 0
	err = metadb.Retry(context.Background(), metadb.IsRetryable, func() error { attempts++; return voided })
	if !errors.Is(err, voided) || attempts != 1 {
		t.Fatalf("IsRetryable alone: err %v after %d attempts; want voided after 1", err, attempts)
	}
}
