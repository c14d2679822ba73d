package index

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// Every connection of the pool (32 on MySQL) in a transaction that meets a
// statement not prepared yet: the statement must not wait for a connection
// of its own, which none of them would give back (seen: a PUT benchmark
// stuck with 32 transactions each waiting to prepare the UPDATE).
func TestPreparedStatements_FirstUseInEveryConnectionAtOnce(t *testing.T) {
	for _, mysql := range []bool{false, true} {
		t.Run(map[bool]string{false: "sqlite", true: "mariadb"}[mysql], func(t *testing.T) {
			s := newSQL(t, mysql)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := s.CreateBucket(ctx, "b", "o"); err != nil {
				t.Fatal(err)
			}
			b, err := s.Bucket(ctx, "b")
			if err != nil {
				t.Fatal(err)
			}
			const n = 64
			for i := range n { // rows to replace, written without the cache
				if _, err := s.db.ExecContext(ctx, "INSERT INTO s3_objects (bucket, okey, size, etag, headers, mtime, blobs, parts, version) VALUES ('b', ?, 0, 'e', '{}', 0, '[]', 0, 1)",
					[]byte(fmt.Sprint("k", i))); err != nil {
					t.Fatal(err)
				}
			}
			s = NewSQL(s.db) // nothing prepared
			defer s.Close()
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					o := &Object{Bucket: "b", Key: fmt.Sprint("k", i), ETag: "e2", Blobs: blobs(fmt.Sprint("f", i))}
					errs <- s.PutObject(ctx, b.AppID, o, PutCond{}, nil, released)
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatalf("put: %v (a transaction waited for a connection to prepare a statement?)", err)
				}
			}
		})
	}
}

// Close ends the statements being prepared in the background before it
// returns: with the pool's one connection held by a transaction, the
// statement that transaction met first waits to be prepared for the
// cache; Close gives that up and returns only once it is over, so nothing
// takes (or opens) a connection of a database the caller is about to
// close.
func TestClose_EndsBackgroundPrepares(t *testing.T) {
	s := newSQL(t, false)
	s.db.SetMaxOpenConns(1)
	ctx := context.Background()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var n int
	if err := s.queryRow(ctx, tx, "SELECT COUNT(*) FROM s3_objects WHERE size >= ?", 0).Scan(&n); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() {
		s.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return while a statement waited for a connection")
	}
	s.mu.Lock()
	left, cached := len(s.preparing), len(s.stmts)
	s.mu.Unlock()
	if left != 0 || cached != 0 {
		t.Fatalf("after Close: %d statements still being prepared, %d cached", left, cached)
	}
}
