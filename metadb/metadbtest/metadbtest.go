// Package metadbtest gives tests a fresh database on the test MariaDB server.
package metadbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/tnv-s3/tnv/metadb"
)

// TestMySQLDSN returns the MariaDB/MySQL server used by tests: TNV_TEST_MYSQL_DSN,
// or the local server as root on 127.0.0.1:3306.
func TestMySQLDSN() string {
	if d := os.Getenv("TNV_TEST_MYSQL_DSN"); d != "" {
		return d
	}
	return "mysql://root@127.0.0.1:3306/test"
}

// NewTestMySQL creates a fresh, uniquely named database on the test server
// and drops it when the test ends. Under CI=true an unreachable server fails
// the test; elsewhere too, since every test command starts MariaDB first.
func NewTestMySQL(t testing.TB) string {
	t.Helper()
	base := TestMySQLDSN()
	admin, err := metadb.Open(base)
	if err != nil {
		t.Fatalf("MariaDB for tests (TNV_TEST_MYSQL_DSN or 127.0.0.1:3306): %v", err)
	}
	defer admin.Close()
	b := make([]byte, 6)
	rand.Read(b)
	name := "tnvtest_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(context.Background(), "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		if a, err := metadb.Open(base); err == nil {
			a.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name)
			a.Close()
		}
	})
	i := strings.LastIndex(base, "/")
	q := ""
	if j := strings.IndexByte(base[i:], '?'); j >= 0 {
		q = base[i+j:]
	}
	return fmt.Sprintf("%s/%s%s", base[:i], name, q)
}

// Access returns how MySQL reads each table of q, whose arguments are
// filled in ("?" replaced by args in turn, as SQL literals the caller
// quotes): table (or alias) → "type key" from EXPLAIN, e.g. "eq_ref
// PRIMARY".
func Access(t testing.TB, db *metadb.DB, q string, args ...string) map[string]string {
	t.Helper()
	for _, a := range args {
		q = strings.Replace(q, "?", a, 1)
	}
	rows, err := db.QueryContext(context.Background(), "EXPLAIN "+q)
	if err != nil {
		t.Fatalf("EXPLAIN %s: %v", q, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	plan := map[string]string{}
	for rows.Next() {
		v := make([]any, len(cols))
		for i := range v {
			v[i] = new(any)
		}
		if err := rows.Scan(v...); err != nil {
			t.Fatal(err)
		}
		row := map[string]string{}
		for i, c := range cols {
			if x := *(v[i].(*any)); x != nil {
				row[c] = fmt.Sprintf("%s", x)
			}
		}
		plan[row["table"]] = row["type"] + " " + row["key"]
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}
