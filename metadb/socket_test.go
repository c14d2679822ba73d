package metadb_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/metadb/metadbtest"
)

// TestMySQLOverUnixSocket: a DSN with ?socket= set to the socket the test
// server reports reaches the same database through that socket.
func TestMySQLOverUnixSocket(t *testing.T) {
	dsn := metadbtest.NewTestMySQL(t)
	tcp, err := metadb.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	ctx := context.Background()
	var sock string
	if err := tcp.QueryRowContext(ctx, "SELECT @@socket").Scan(&sock); err != nil || sock == "" {
		t.Fatalf("the server's socket: %q, %v", sock, err)
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	db, err := metadb.Open(dsn + sep + "socket=" + url.QueryEscape(sock))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE TABLE t_sock (k INT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO t_sock VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	// Written through the socket, read over TCP: the same database.
	var n int
	if err := tcp.QueryRowContext(ctx, "SELECT COUNT(*) FROM t_sock").Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows seen over TCP: %d, %v", n, err)
	}
	// The server sees a local client: a Unix socket connection's host is
	// "localhost", a TCP one's an address with a port.
	var host string
	if err := db.QueryRowContext(ctx, "SELECT HOST FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID()").Scan(&host); err != nil {
		t.Fatal(err)
	}
	if host != "localhost" {
		t.Fatalf("connection's host %q: not the Unix socket", host)
	}
}
