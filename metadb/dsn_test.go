package metadb

import (
	"strings"
	"testing"
)

func TestParseDSN_MySQLInterpolatesParamsUnlessTurnedOff(t *testing.T) {
	_, src, _, err := parseDSN("mysql://u:p@h:3306/db")
	if err != nil || !strings.Contains(src, "interpolateParams=true") {
		t.Fatalf("default DSN %q, %v: want interpolateParams=true", src, err)
	}
	_, src, _, err = parseDSN("mysql://u:p@h:3306/db?interpolateParams=false")
	if err != nil || strings.Contains(src, "interpolateParams=true") || !strings.Contains(src, "interpolateParams=false") {
		t.Fatalf("DSN %q, %v: want interpolateParams=false kept", src, err)
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
