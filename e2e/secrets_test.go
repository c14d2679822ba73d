package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/tnv-s3/tnv/internal/proctest"
	"github.com/tnv-s3/tnv/metadb/metadbtest"
)

// keptSecret reads the root secret `tnv up` keeps in DATA/credentials.json,
// and checks the file is readable by its owner only.
func keptSecret(t *testing.T, data string) string {
	t.Helper()
	path := filepath.Join(data, "credentials.json")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("%s has mode %v, want 0600", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		SecretKey string `json:"secret_key"`
	}
	if err := json.Unmarshal(b, &c); err != nil || c.SecretKey == "" {
		t.Fatalf("%s: %v\n%s", path, err, b)
	}
	return c.SecretKey
}

// writeSecret writes a secret file (0600) as an operator would, and notes
// the secret for proctest's check of every process log.
func writeSecret(t *testing.T, value string) string {
	t.Helper()
	proctest.Secret(value)
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestUp_PrintsTheSecretOnlyWhenItGeneratedIt starts `tnv up` three times:
// fresh (the generated secret is printed and kept 0600), again on the same
// data with the credentials file made world-readable (nothing printed, the
// file made 0600 again), and with a secret given from a file (never
// printed, nothing written).
func TestUp_PrintsTheSecretOnlyWhenItGeneratedIt(t *testing.T) {
	home := t.TempDir()
	data := filepath.Join(home, "tnv-data")
	addr := proctest.FreeAddr(t)
	u := startUp(t, home, "--s3-addr", addr)
	if u.secret == "" || len(u.secret) < 16 {
		t.Fatalf("first start printed secret %q", u.secret)
	}
	if kept := keptSecret(t, data); kept != u.secret {
		t.Fatalf("printed secret differs from the kept one")
	}
	u.aws(t, "s3", "mb", "s3://once")
	// The status page needs a credential; the link tnv up prints has one.
	if code, body := getWith(t, u.endpoint+"/_tnv/status", "", ""); code != http.StatusForbidden {
		t.Fatalf("status page without a credential: %d %.200s", code, body)
	}
	if code, body := getWith(t, u.status, "", ""); code != http.StatusOK || !strings.Contains(body, "g2") {
		t.Fatalf("status page through the printed link %s: %d %.200s", u.status, code, body)
	}
	u.stop(t)

	os.Chmod(filepath.Join(data, "credentials.json"), 0o644)
	u2 := startUp(t, home, "--s3-addr", addr)
	u2.stop(t)
	if strings.Contains(u2.out.String(), u.secret) {
		t.Fatalf("second start printed the secret:\n%s", u2.out.String())
	}
	if !strings.Contains(u2.out.String(), "Secret key:   (kept in "+filepath.Join(data, "credentials.json")) {
		t.Fatalf("second start does not say where the secret is:\n%s", u2.out.String())
	}
	keptSecret(t, data) // 0600 again

	given := "given-secret-" + strings.Repeat("x", 20)
	home3 := t.TempDir()
	u3 := startUp(t, home3, "--s3-addr", proctest.FreeAddr(t), "--access-key", "GIVENKEY", "--secret-key-file", writeSecret(t, given))
	u3.secret = given
	u3.aws(t, "s3", "mb", "s3://given")
	u3.stop(t)
	if strings.Contains(u3.out.String(), given) {
		t.Fatalf("tnv up printed a secret it was given:\n%s", u3.out.String())
	}
	if _, err := os.Stat(filepath.Join(home3, "tnv-data", "credentials.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("tnv up wrote a credentials file for given credentials: %v", err)
	}
}

// TestSecrets_BadSecretsStopWithOneLine gives secrets that are too short,
// given twice or unreadable: each command exits at once with one line that
// says why, and never shows the value.
func TestSecrets_BadSecretsStopWithOneLine(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "m.db")
	short := "tooShort12345"
	gw := []string{"gateway", "--listen", "127.0.0.1:0", "--trackers", "127.0.0.1:1", "--db", db, "--access-key", "AK"}
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{[]string{"TNV_SECRET_KEY=" + short}, gw, "at least 16 characters"},
		{nil, append(gw[:len(gw):len(gw)], "--secret-key-file", writeSecret(t, short)), "at least 16 characters"},
		{nil, append(gw[:len(gw):len(gw)], "--secret-key-file", filepath.Join(t.TempDir(), "none")), "--secret-key-file"},
		{nil, append(gw[:len(gw):len(gw)], "--secret-key", short+"-long-enough", "--secret-key-file", writeSecret(t, short+"-long-enough")), "give one of them"},
		{[]string{"TNV_SECRET_KEY=" + short + " with space"}, gw, "printable ASCII"},
		{nil, gw, "--secret-key is required"},
		{[]string{"TNV_SECRET_KEY=" + short + "-long-enough", "TNV_METRICS_TOKEN=" + short}, gw, "--metrics-token: a secret needs at least 16 characters"},
		{nil, []string{"up", "--data", t.TempDir(), "--access-key", "AK", "--secret-key", short}, "at least 16 characters"},
		{nil, []string{"admin", "user", "add", "--access-key", "BOB", "--secret-key", short, "--db", db}, "at least 16 characters"},
		{[]string{"TNV_SECRET_KEY_FILE=" + writeSecret(t, short)}, []string{"admin", "user", "add", "--access-key", "BOB", "--db", db}, "at least 16 characters"},
	} {
		stderr := stopsWithOneLine(t, os.Environ(), tc.env, tc.args, tc.want)
		if strings.Contains(stderr, short) {
			t.Errorf("%s: the error shows the secret: %q", strings.Join(append(tc.env, tc.args...), " "), stderr)
		}
	}
}

// TestSecrets_NeverInLogs runs a cluster, two gateways (root secret from
// the environment and from a file) and a user added from a secret file,
// all logging at debug level; signs good and bad requests with both
// secrets; then reads every process's log for either secret.
func TestSecrets_NeverInLogs(t *testing.T) {
	t.Setenv("TNV_LOG_LEVEL", "debug")
	dsn := metadbtest.NewTestMySQL(t)
	c := proctest.StartCluster(t, proctest.Topology{DB: dsn, Groups: 1, Members: 2})
	rootSK := "root-SECRET-" + strings.Repeat("r", 24)
	userSK := "user-SECRET-" + strings.Repeat("u", 24)
	gw1 := startGateway(t, c, "ROOTKEY", rootSK)
	gw2 := proctest.StartFree(t, []string{"TNV_ACCESS_KEY=ROOTKEY"}, "gateway-file", func(addr string) []string {
		return []string{"gateway", "--listen", addr, "--trackers", c.TrackerList(), "--db", dsn, "--secret-key-file", writeSecret(t, rootSK)}
	})
	waitHTTP(t, "http://"+gw2.Addr+"/_tnv/health", 30*time.Second)
	add := exec.Command(proctest.Binary(t), "admin", "user", "add", "--access-key", "USERKEY", "--secret-key-file", writeSecret(t, userSK), "--db", dsn)
	out, err := add.CombinedOutput()
	if err != nil {
		t.Fatalf("admin user add: %v\n%s", err, out)
	}
	if strings.Contains(string(out), userSK) {
		t.Fatalf("admin user add printed a secret it was given:\n%s", out)
	}
	// A secret on the command line works, with a warning that names the
	// flag and not the value.
	gw3 := proctest.StartFree(t, nil, "gateway-argv", func(addr string) []string {
		return []string{"gateway", "--listen", addr, "--trackers", c.TrackerList(), "--db", dsn, "--access-key", "ROOTKEY", "--secret-key", rootSK}
	})
	waitHTTP(t, "http://"+gw3.Addr+"/_tnv/health", 30*time.Second)

	ctx := context.Background()
	for i, gw := range []*proctest.Proc{gw1, gw2, gw3} {
		root, user := s3Client("http://"+gw.Addr, "ROOTKEY", rootSK), s3Client("http://"+gw.Addr, "USERKEY", userSK)
		bucket := []string{"logs-a", "logs-b", "logs-c"}[i]
		if _, err := user.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
			t.Fatalf("%s: create bucket as the user: %v", gw.Name, err)
		}
		if _, err := root.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), Body: strings.NewReader("v")}); err != nil {
			t.Fatalf("%s: put as root: %v", gw.Name, err)
		}
		// Wrong secrets: the logs say why, without either secret.
		for _, bad := range []*s3.Client{
			s3Client("http://"+gw.Addr, "ROOTKEY", userSK),
			s3Client("http://"+gw.Addr, "USERKEY", rootSK),
		} {
			_, err := bad.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("k")})
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != "SignatureDoesNotMatch" {
				t.Fatalf("%s: GET with the wrong secret: %v", gw.Name, err)
			}
		}
		resp, err := http.Get("http://" + gw.Addr + "/" + bucket + "/k")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	argv, _ := os.ReadFile(gw3.Log)
	if !bytes.Contains(argv, []byte("visible to every user of this machine")) {
		t.Errorf("a --secret-key on the command line was not warned about:\n%s", argv)
	}
	procs := append([]*proctest.Proc{gw1, gw2, gw3}, c.Trackers...)
	procs = append(append(procs, c.IDs...), c.Members()...)
	for _, p := range procs {
		b, err := os.ReadFile(p.Log)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 {
			t.Fatalf("%s logged nothing", p.Name)
		}
		for _, s := range []string{rootSK, userSK} {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s's log contains a secret", p.Name)
			}
		}
	}
}
