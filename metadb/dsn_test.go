package metadb

import (
	"net/url"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
)

func TestParseDSN_MySQLInterpolatesParamsUnlessTurnedOff(t *testing.T) {
	_, src, _, err := parseDSN("mysql://u:p@h:3306/db")
	if err != nil || !strings.Contains(src, "interpolateParams=true") {
		t.Fatalf("default DSN %q, %v: want interpolateParams=true", src, err)
	}
	_, src, _, err = parseDSN("mysql://u:p@h:3306/db?interpolateParams=false")
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := mysql.ParseDSN(src); err != nil || cfg.InterpolateParams {
		t.Fatalf("DSN %q, %v: want interpolateParams off", src, err)
	}
	for _, bad := range []string{"mysql://u@h/db?interpolateParams", "mysql://u@h/db?timeout=soon", "mysql://u@h/db?/0=1"} {
		if _, _, _, err := parseDSN(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestMariaDBReturning(t *testing.T) {
	for v, want := range map[string]bool{
		"10.11.19-MariaDB": true, "10.5.0-MariaDB-log": true, "11.4.2-MariaDB-ubu2404": true,
		"5.5.5-10.11.6-MariaDB": true, "10.4.34-MariaDB": false, "8.0.36": false, "8.4.0-mysql": false,
	} {
		if got := mariaDBReturning(v); got != want {
			t.Errorf("%q: %v, want %v", v, got, want)
		}
	}
}

func TestDSNKeepsChangedRows(t *testing.T) {
	_, src, _, err := parseDSN("mysql://u:p@h:3306/db?clientFoundRows=true")
	if err != nil || strings.Contains(src, "clientFoundRows") {
		t.Fatalf("DSN %q, %v: clientFoundRows must not reach the driver", src, err)
	}
}

func TestList(t *testing.T) {
	for _, c := range []struct {
		item string
		n    int
		want string
	}{{"?", 1, "?"}, {"?", 3, "?, ?, ?"}, {"(?, ?)", 2, "(?, ?), (?, ?)"}, {"?", 0, ""}} {
		if got := List(c.item, c.n); got != c.want {
			t.Errorf("List(%q, %d) = %q, want %q", c.item, c.n, got, c.want)
		}
	}
}

// TestParseDSN_UnixSocket: ?socket=PATH is the address (the host is
// ignored) and is not sent to the server as a session variable.
func TestParseDSN_UnixSocket(t *testing.T) {
	_, src, _, err := parseDSN("mysql://u:p@h:3306/db?socket=/run/db.sock&interpolateParams=false")
	if err != nil || !strings.HasPrefix(src, "u:p@unix(/run/db.sock)/db?") || strings.Contains(src, "socket=") {
		t.Fatalf("DSN %q, %v: want the unix socket as the address and no socket parameter", src, err)
	}
}

// FuzzParseDSN: any DSN is refused or turned into a driver source the
// driver reads back, with ?socket= as the address and never a session
// variable, and never clientFoundRows.
func FuzzParseDSN(f *testing.F) {
	for _, s := range []string{
		"mysql://root@127.0.0.1:3306/test", "mysql://u:p@h/db?socket=/run/mysqld/mysqld.sock",
		"mysql://u@h:1/db?interpolateParams=false&clientFoundRows=true", "sqlite:/tmp/x.db", "sqlite://rel/x.db",
		"mysql://h/", "mysql://%zz@h/db", "postgres://h/db",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dsn string) {
		driver, src, dialect, err := parseDSN(dsn)
		if err != nil || dialect != MySQL {
			return
		}
		if driver != "mysql" {
			t.Fatalf("%q: driver %q for MySQL", dsn, driver)
		}
		cfg, err := mysql.ParseDSN(src)
		if err != nil {
			t.Fatalf("%q: the driver refuses its source %q: %v", dsn, src, err)
		}
		if _, ok := cfg.Params["socket"]; ok || cfg.ClientFoundRows {
			t.Fatalf("%q: source %q sends socket or clientFoundRows", dsn, src)
		}
		u, _ := url.Parse(dsn)
		if sock := u.Query().Get("socket"); sock != "" && (cfg.Net != "unix" || cfg.Addr != sock) {
			t.Fatalf("%q: %s(%s), want unix(%s)", dsn, cfg.Net, cfg.Addr, sock)
		}
	})
}
