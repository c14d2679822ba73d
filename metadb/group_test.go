package metadb_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/metadb/metadbtest"
)

func openGroupDemo(t testing.TB, dsn string) *metadb.DB {
	db, err := metadb.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background(), "demo", steps); err != nil {
		t.Fatal(err)
	}
	return db
}

func insertDemo(ctx context.Context, db *metadb.DB, k string, v int64) func(*sql.Tx) error {
	return func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, db.Q(`INSERT INTO t_demo (k, v) VALUES (?, ?)`), k, v)
		return err
	}
}

// Concurrent callers share transactions; each one's rows are committed when
// it is answered nil, and a caller whose function fails (a duplicate key,
// here) gets its own error while the others' rows are committed all the
// same.
func TestGroupTx_SharesCommitsAndIsolatesFailures(t *testing.T) {
	for name, dsn := range dialects(t) {
		t.Run(name, func(t *testing.T) {
			db := openGroupDemo(t, dsn)
			ctx := context.Background()
			const writers, each = 16, 20
			var wg sync.WaitGroup
			errs := make(chan error, writers*each)
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range each {
						k := fmt.Sprintf("w%d-%d", w, i)
						if err := metadb.Retry(ctx, metadb.IsRetryable, func() error { return db.GroupTx(ctx, insertDemo(ctx, db, k, int64(i))) }); err != nil {
							errs <- fmt.Errorf("%s: %w", k, err)
							continue
						}
						// Answered nil: committed, visible to anyone.
						var v int64
						if err := db.QueryRowContext(ctx, db.Q(`SELECT v FROM t_demo WHERE k = ?`), k).Scan(&v); err != nil {
							errs <- fmt.Errorf("%s after its commit: %w", k, err)
						}
						// Every fifth one also tries a duplicate: refused,
						// and nobody else's row is lost with it.
						if i%5 == 0 {
							err := db.GroupTx(ctx, insertDemo(ctx, db, k, -1))
							if !metadb.IsDuplicate(err) {
								errs <- fmt.Errorf("%s again: %v, want a duplicate-key error", k, err)
							}
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			var n, neg int64
			if err := db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN v < 0 THEN 1 ELSE 0 END), 0) FROM t_demo`).Scan(&n, &neg); err != nil {
				t.Fatal(err)
			}
			if n != writers*each || neg != 0 {
				t.Errorf("%d rows (%d from refused duplicates), want %d and 0", n, neg, writers*each)
			}
			batches, grouped := db.GroupStats()
			if name == "sqlite" && batches == 0 {
				t.Error("16 writers never shared a transaction")
			}
			t.Logf("%s: %d shared transactions held %d of %d functions", name, batches, grouped, writers*each*6/5)
		})
	}
}

// A function that fails in a shared transaction rolls back only its own
// work: the caller sees its error and no row of it, even when its failure
// came after statements that succeeded.
func TestGroupTx_FailedFunctionLeavesNothing(t *testing.T) {
	for name, dsn := range dialects(t) {
		t.Run(name, func(t *testing.T) {
			db := openGroupDemo(t, dsn)
			ctx := context.Background()
			boom := errors.New("boom")
			var wg sync.WaitGroup
			results := make([]error, 24)
			for i := range results {
				wg.Add(1)
				go func() {
					defer wg.Done()
					k := fmt.Sprintf("k%d", i)
					results[i] = metadb.Retry(ctx, metadb.IsRetryable, func() error {
						return db.GroupTx(ctx, func(tx *sql.Tx) error {
							if err := insertDemo(ctx, db, k, int64(i))(tx); err != nil {
								return err
							}
							if i%3 == 0 {
								return boom // after its insert
							}
							return nil
						})
					})
				}()
			}
			wg.Wait()
			for i, err := range results {
				var n int
				if err := db.QueryRowContext(ctx, db.Q(`SELECT COUNT(*) FROM t_demo WHERE k = ?`), fmt.Sprintf("k%d", i)).Scan(&n); err != nil {
					t.Fatal(err)
				}
				switch {
				case i%3 == 0 && (!errors.Is(err, boom) || n != 0):
					t.Errorf("k%d: %v, %d rows; want boom and none", i, err, n)
				case i%3 != 0 && (err != nil || n != 1):
					t.Errorf("k%d: %v, %d rows; want nil and one", i, err, n)
				}
			}
		})
	}
}

// A caller whose context has ended before its turn is answered with that,
// and its function never runs.
func TestGroupTx_EndedContextDoesNotRun(t *testing.T) {
	db := openGroupDemo(t, dialects(t)["sqlite"])
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	err := db.GroupTx(ctx, func(tx *sql.Tx) error { ran = true; return nil })
	if !errors.Is(err, context.Canceled) || ran {
		t.Fatalf("GroupTx with an ended context: %v, ran %v", err, ran)
	}
}

// BenchmarkGroupTx compares one-row transactions committed alone (RetryTx)
// and through GroupTx, 16 writers at once.
func BenchmarkGroupTx(b *testing.B) {
	for name, dsn := range map[string]string{"sqlite": "sqlite:" + b.TempDir() + "/m.db", "mysql": metadbtest.NewTestMySQL(b)} {
		db := openGroupDemo(b, dsn)
		for _, mode := range []string{"alone", "group"} {
			b.Run(name+"/"+mode, func(b *testing.B) {
				ctx := context.Background()
				var mu sync.Mutex
				n := 0
				b.SetParallelism(8) // 16 writers on 2 cores
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						mu.Lock()
						n++
						k := fmt.Sprintf("%s-%s-%d-%d", name, mode, start.UnixNano(), n)
						mu.Unlock()
						var err error
						if mode == "alone" {
							err = db.RetryTx(ctx, insertDemo(ctx, db, k, 1))
						} else {
							err = metadb.Retry(ctx, metadb.IsRetryable, func() error { return db.GroupTx(ctx, insertDemo(ctx, db, k, 1)) })
						}
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}
