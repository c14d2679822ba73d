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
