package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/tnv-s3/tnv/internal/proctest"
)

// TestConfig_BadSettingsStopStartUpWithOneLine runs each server with a
// missing or bad setting: it must exit non-zero at once, printing one line
// that names the setting.
func TestConfig_BadSettingsStopStartUpWithOneLine(t *testing.T) {
	db := "sqlite:" + t.TempDir() + "/m.db"
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, []string{"tracker", "--listen", "127.0.0.1:0"}, "--db"},
		{nil, []string{"tracker", "--db", db, "--offline-after", "banana"}, "offline-after"},
		{nil, []string{"tracker", "--db", db, "--no-such-flag"}, "no-such-flag"},
		{[]string{"TNV_OFFLINE_AFTER=soon"}, []string{"tracker", "--db", db}, "TNV_OFFLINE_AFTER"},
		{nil, []string{"idserver", "--db", "postgres://x"}, "DSN"},
		{nil, []string{"idserver", "--db", db, "--step", "0"}, "--step"},
		{nil, []string{"idserver", "--db", db, "--idle-timeout", "0s"}, "--idle-timeout"},
		{[]string{"TNV_IDLE_TIMEOUT=later"}, []string{"idserver", "--db", db}, "TNV_IDLE_TIMEOUT"},
		{nil, []string{"storage", "--group", "g1", "--db", db}, "--trackers"},
		{[]string{"TNV_BEAT=often"}, []string{"storage"}, "TNV_BEAT"},
		{nil, []string{"storage", "--group", "g1", "--trackers", "127.0.0.1:1", "--idservers", "127.0.0.1:1", "--store", t.TempDir(), "--db", db, "--pool-idle-timeout", "-1s"}, "--pool-idle-timeout"},
		{nil, []string{"gateway", "--trackers", "127.0.0.1:1", "--db", db}, "--access-key"},
		{nil, []string{"up", "--data", t.TempDir(), "--access-key", "only-one"}, "--secret-key"},
		{nil, []string{"up", "--data", t.TempDir(), "--log-level", "loud"}, "--log-level"},
		{[]string{"TNV_CLUSTER_SECRET="}, []string{"tracker", "--db", db}, "no cluster secret"},
		{[]string{"TNV_CLUSTER_SECRET="}, []string{"storage", "--group", "g1", "--db", db, "--trackers", "127.0.0.1:1",
			"--idservers", "127.0.0.1:1", "--store", t.TempDir()}, "--open-protocol"},
		{[]string{"TNV_CLUSTER_SECRET=too-short"}, []string{"idserver", "--db", db}, "at least 32 bytes"},
		{nil, []string{"tracker", "--db", db, "--open-protocol", "--cluster-secret", proctest.ClusterSecret}, "exclude each other"},
		{nil, []string{"up", "--data", t.TempDir(), "--cluster-secret", "short"}, "at least 32 bytes"},
		{nil, []string{"tracker", "--db", db, "--tls-cert", "/nonexistent/cert.pem"}, "go together"},
		{nil, []string{"idserver", "--db", db, "--tls-cert", "/nonexistent/c.pem", "--tls-key", "/nonexistent/k.pem"}, "/nonexistent/c.pem"},
		{nil, []string{"storage", "--group", "g1", "--db", db, "--trackers", "127.0.0.1:1",
			"--idservers", "127.0.0.1:1", "--store", t.TempDir(), "--tls-ca", "/nonexistent/ca.pem"}, "needs a certificate"},
		{[]string{"TNV_SECRET_KEY=gateway-secret-0123456789"}, []string{"gateway", "--trackers", "127.0.0.1:1", "--db", db,
			"--access-key", "ak", "--tnv-tls-ca", "/nonexistent/ca.pem"}, "--tnv-tls-*"},
		{nil, []string{"client", "--tls-ca", "/nonexistent/ca.pem", "groups"}, "TLS CA"},
		{[]string{"TNV_SECRET_KEY=gateway-secret-0123456789"}, []string{"gateway", "--trackers", "127.0.0.1:1", "--db", db,
			"--access-key", "ak", "--kms-key-file", worldReadableKey(t)}, "chmod 600"},
		{[]string{"TNV_SECRET_KEY=gateway-secret-0123456789"}, []string{"gateway", "--trackers", "127.0.0.1:1", "--db", db,
			"--access-key", "ak", "--lifecycle-rate", "0"}, "--lifecycle-rate"},
		{[]string{"TNV_LIFECYCLE_INTERVAL=hourly"}, []string{"up", "--data", t.TempDir()}, "TNV_LIFECYCLE_INTERVAL"},
	} {
		// Every case has one bad setting: the cluster secret is given
		// unless the case is about it.
		stopsWithOneLine(t, append(os.Environ(), proctest.ClusterEnv), tc.env, tc.args, tc.want)
	}
}

// worldReadableKey writes a well-formed master key file that others may read.
func worldReadableKey(t *testing.T) string {
	p := t.TempDir() + "/kms.key"
	if err := os.WriteFile(p, []byte(strings.Repeat("ab", 32)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// stopsWithOneLine runs `tnv args...` with base and env as its environment
// and checks that it stops at once (it does not start) and says one line
// containing want on stderr, which it returns.
func stopsWithOneLine(t *testing.T, base, env, args []string, want string) string {
	t.Helper()
	cmd := exec.Command(proctest.Binary(t), args...)
	cmd.Env = append(base, env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	name := strings.Join(append(env, args...), " ")
	if err == nil {
		t.Errorf("%s: started", name)
	} else if len(lines) != 1 || !strings.Contains(lines[0], want) {
		t.Errorf("%s: stderr %q, want one line naming %q", name, stderr.String(), want)
	}
	return stderr.String()
}
