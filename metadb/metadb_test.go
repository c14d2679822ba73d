package metadb_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/metadb/metadbtest"
)

func dialects(t *testing.T) map[string]string {
	return map[string]string{
		"sqlite": "sqlite:" + filepath.Join(t.TempDir(), "meta.db"),
		"mysql":  metadbtest.NewTestMySQL(t),
	}
}

var steps = []string{
	`CREATE TABLE t_demo (id {{AUTOID}}, k VARCHAR(64) NOT NULL UNIQUE, v BIGINT NOT NULL) {{TABLE}}`,
	`CREATE INDEX t_demo_v ON t_demo (v)`,
}

func TestMigrate_RerunIsNoOpAndConcurrentStartersAgree(t *testing.T) {
	for name, dsn := range dialects(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			var wg sync.WaitGroup
			errs := make([]error, 4)
			for i := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					db, err := metadb.Open(dsn)
					if err != nil {
						errs[i] = err
						return
					}
					defer db.Close()
					errs[i] = db.Migrate(ctx, "demo", steps)
				}()
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			db, err := metadb.Open(dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := db.Migrate(ctx, "demo", steps); err != nil {
				t.Fatalf("re-run: %v", err)
			}
			var v int
			if err := db.QueryRow("SELECT version FROM tnv_schema WHERE component = 'demo'").Scan(&v); err != nil || v != 2 {
				t.Fatalf("version = %d, %v; want 2", v, err)
			}
			if err := db.Migrate(ctx, "demo", steps[:1]); err == nil {
				t.Fatal("older binary against a newer schema: want an error")
			}
		})
	}
}

func TestUpsertAndDuplicate(t *testing.T) {
	for name, dsn := range dialects(t) {
		t.Run(name, func(t *testing.T) {
			db, err := metadb.Open(dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := db.Migrate(context.Background(), "demo", steps); err != nil {
				t.Fatal(err)
			}
			up := db.Upsert("t_demo", []string{"k"}, []string{"k", "v"})
			for _, v := range []int{1, 2} {
				if _, err := db.Exec(up, "a", v); err != nil {
					t.Fatal(err)
				}
			}
			var v int
			if err := db.QueryRow("SELECT v FROM t_demo WHERE k = ?", "a").Scan(&v); err != nil || v != 2 {
				t.Fatalf("v = %d, %v", v, err)
			}
			_, err = db.Exec("INSERT INTO t_demo (k, v) VALUES (?, ?)", "a", 3)
			if !metadb.IsDuplicate(err) {
				t.Fatalf("IsDuplicate(%v) = false", err)
			}
			if _, err := db.Exec(db.Q("{{INSERT_IGNORE}} INTO t_demo (k, v) VALUES (?, ?)"), "a", 4); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestOpen_BadDSN(t *testing.T) {
	for _, dsn := range []string{"", "postgres://x", "sqlite:", "mysql://root@127.0.0.1:3306/"} {
		if _, err := metadb.Open(dsn); err == nil {
			t.Errorf("Open(%q): want error", dsn)
		}
	}
	if got := metadb.Redact("mysql://u:secret@h:1/db"); got != "mysql://u:xxxxx@h:1/db" {
		t.Errorf("Redact = %q", got)
	}
}

// A commit must survive a power loss: SQLite's WAL is synced at every
// commit (synchronous FULL = 2), on every connection of the pool.
func TestOpen_SQLiteSyncsEveryCommit(t *testing.T) {
	db, err := metadb.Open("sqlite:" + filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	var conns []interface{ Close() error }
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 4 {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		var mode string
		var sync int
		if err := c.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
			t.Fatal(err)
		}
		if mode != "wal" || sync != 2 {
			t.Fatalf("journal_mode %q, synchronous %d; want wal, 2 (FULL)", mode, sync)
		}
	}
}

// Unsynced is a second SQLite pool on the same file that does not sync at
// each commit (synchronous NORMAL = 1); what it writes is seen through the
// main handle at once. On MySQL it is the handle itself.
func TestUnsynced(t *testing.T) {
	ctx := context.Background()
	for name, dsn := range dialects(t) {
		t.Run(name, func(t *testing.T) {
			db, err := metadb.Open(dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			lazy, err := db.Unsynced()
			if err != nil {
				t.Fatal(err)
			}
			if name == "mysql" {
				if lazy != db {
					t.Fatal("MySQL: Unsynced is not the handle itself")
				}
				return
			}
			if lazy == db {
				t.Fatal("SQLite: Unsynced is the synced handle")
			}
			var sync int
			if err := lazy.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil || sync != 1 {
				t.Fatalf("Unsynced: synchronous %d, %v; want 1 (NORMAL)", sync, err)
			}
			if err := db.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil || sync != 2 {
				t.Fatalf("main handle: synchronous %d, %v; want 2 (FULL)", sync, err)
			}
			if err := db.Migrate(ctx, "demo", steps); err != nil {
				t.Fatal(err)
			}
			if _, err := lazy.ExecContext(ctx, "INSERT INTO t_demo (k, v) VALUES ('a', 1)"); err != nil {
				t.Fatal(err)
			}
			var v int
			if err := db.QueryRowContext(ctx, "SELECT v FROM t_demo WHERE k = 'a'").Scan(&v); err != nil || v != 1 {
				t.Fatalf("row written through Unsynced: %d, %v", v, err)
			}
			if again, _ := db.Unsynced(); again != lazy {
				t.Fatal("a second Unsynced opened another pool")
			}
		})
	}
}
