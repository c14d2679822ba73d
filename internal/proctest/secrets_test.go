package proctest

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestMain(m *testing.M) { Main(m) }

// recorder is a test whose Errorf calls are recorded instead of failing it.
type recorder struct {
	*testing.T
	mu     sync.Mutex
	errors []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, format)
}

// TestSecrets_ALogHoldingASecretFailsTheTest runs a real tracker whose
// database path holds a noted secret (the tracker logs its DSN): at the
// end of the test, proctest reports that log. A tracker given a secret in
// its environment, which it never logs, is not reported.
func TestSecrets_ALogHoldingASecretFailsTheTest(t *testing.T) {
	canary := "proctest-canary-secret-0123456789"
	rec := &recorder{T: t}
	t.Cleanup(func() { // runs after the processes' cleanups
		if len(rec.errors) != 1 || !strings.Contains(rec.errors[0], "holds a secret") {
			t.Fatalf("reports %q, want one about the tracker that logged a secret", rec.errors)
		}
	})
	Secret(canary)
	db := "sqlite:" + filepath.Join(t.TempDir(), canary+".db")
	StartFree(rec, nil, "leaky-tracker", func(addr string) []string {
		return []string{"tracker", "--listen", addr, "--db", db}
	})
	quiet := "sqlite:" + filepath.Join(t.TempDir(), "m.db")
	StartFree(rec, []string{"TNV_SOME_SECRET=env-secret-never-logged-0123"}, "quiet-tracker", func(addr string) []string {
		return []string{"tracker", "--listen", addr, "--db", quiet}
	})
	if _, err := os.Stat(strings.TrimPrefix(db, "sqlite:")); err != nil {
		t.Fatalf("the tracker did not open its database: %v", err)
	}
}
