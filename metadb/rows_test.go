package metadb_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/tnv-s3/tnv/metadb"
)

// ScanAll returns every row in order, and stops at the first row scan
// refuses with that error; either way the rows are closed, so the one
// connection of a single-connection pool is free again.
func TestScanAll_AllRowsOrFirstError(t *testing.T) {
	db, err := metadb.Open("sqlite:" + filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "CREATE TABLE t (n INTEGER)"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 2, 3} {
		if _, err := db.ExecContext(ctx, "INSERT INTO t (n) VALUES (?)", n); err != nil {
			t.Fatal(err)
		}
	}
	scanInt := func(sc metadb.Scanner) (int, error) {
		var n int
		err := sc.Scan(&n)
		return n, err
	}
	rows, err := db.QueryContext(ctx, "SELECT n FROM t ORDER BY n")
	if err != nil {
		t.Fatal(err)
	}
	got, err := metadb.ScanAll(rows, scanInt)
	if err != nil || len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 3 {
		t.Fatalf("ScanAll = %v, %v; want [1 2 3]", got, err)
	}

	bad := errors.New("row 2 refused")
	rows, err = db.QueryContext(ctx, "SELECT n FROM t ORDER BY n")
	if err != nil {
		t.Fatal(err)
	}
	got, err = metadb.ScanAll(rows, func(sc metadb.Scanner) (int, error) {
		n, err := scanInt(sc)
		if n == 2 {
			return 0, bad
		}
		return n, err
	})
	if !errors.Is(err, bad) || got != nil {
		t.Fatalf("ScanAll = %v, %v; want nil, %v", got, err, bad)
	}
	// The one connection is free: this would block forever otherwise.
	ctx2, cancel := context.WithTimeout(ctx, 5e9)
	defer cancel()
	var n int
	if err := db.QueryRowContext(ctx2, "SELECT COUNT(*) FROM t").Scan(&n); err != nil || n != 3 {
		t.Fatalf("after ScanAll: %d, %v", n, err)
	}
}
