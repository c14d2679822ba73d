package e2e

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/internal/proctest"
	"github.com/tnv-s3/tnv/metadb/metadbtest"
)

// upRun is one `tnv up` process and what it printed.
type upRun struct {
	cmd      *exec.Cmd
	out      *lockedBuffer
	endpoint string
	access   string
	secret   string // printed only at the first start; else read from credentials.json
	status   string // the status page's link, presigned by the root key
	done     chan struct{}
}

var (
	reEndpoint = regexp.MustCompile(`S3 endpoint:\s+(\S+)`)
	reAccess   = regexp.MustCompile(`Access key:\s+(\S+)`)
	reSecret   = regexp.MustCompile(`Secret key:\s+([^\s(]\S*)`) // only a generated one is shown
	reStatus   = regexp.MustCompile(`Status page:\s+(\S+)`)
)

// lockedBuffer is what tnv up printed: written by the goroutine that
// drains its output after startUp returns, read by the test meanwhile.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) WriteString(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.WriteString(s)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startUp runs `tnv up args...` in dir, as a user would from a shell, and
// waits for it to print the endpoint and the status page's link.
func startUp(t *testing.T, dir string, args ...string) *upRun {
	t.Helper()
	cmd := exec.Command(proctest.Binary(t), append([]string{"up"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TNV_LOG_LEVEL=warn")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out := &lockedBuffer{}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	u := &upRun{cmd: cmd, out: out, done: make(chan struct{})}
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	go func() { cmd.Wait(); pw.Close(); close(u.done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-u.done
		if t.Failed() {
			t.Logf("tnv up output:\n%s", out.String())
		}
	})
	deadline := time.After(90 * time.Second)
	for u.status == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("tnv up exited before printing the endpoint:\n%s", out.String())
			}
			out.WriteString(l + "\n")
			if m := reEndpoint.FindStringSubmatch(l); m != nil {
				u.endpoint = m[1]
			}
			if m := reAccess.FindStringSubmatch(l); m != nil {
				u.access = m[1]
			}
			if m := reSecret.FindStringSubmatch(l); m != nil {
				u.secret = m[1]
			}
			if m := reStatus.FindStringSubmatch(l); m != nil {
				u.status = m[1]
			}
		case <-deadline:
			t.Fatalf("tnv up printed no endpoint in 90s:\n%s", out.String())
		}
	}
	go func() {
		for l := range lines {
			out.WriteString(l + "\n")
		}
	}()
	return u
}

// stop sends Ctrl-C and waits for a clean exit.
func (u *upRun) stop(t *testing.T) {
	t.Helper()
	u.cmd.Process.Signal(os.Interrupt)
	select {
	case <-u.done:
	case <-time.After(30 * time.Second):
		t.Fatal("tnv up did not stop within 30s of Ctrl-C")
	}
	if !u.cmd.ProcessState.Success() {
		t.Fatalf("tnv up exited with %v after Ctrl-C", u.cmd.ProcessState)
	}
}

// aws runs Debian's aws CLI against the endpoint.
func (u *upRun) aws(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(awsCLI(t), append([]string{"--endpoint-url", u.endpoint}, args...)...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+u.access, "AWS_SECRET_ACCESS_KEY="+u.secret,
		"AWS_DEFAULT_REGION=us-east-1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func awsCLI(t *testing.T) string {
	for _, p := range []string{"/usr/bin/aws", "/usr/local/bin/aws"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("aws"); err == nil {
		return p
	}
	t.Fatal("aws CLI not installed (scripts/ensure-clients.sh installs Debian's awscli)")
	return ""
}

// TestUp_AsANewUser runs the README's first command in a fresh directory
// with nothing else running, uploads and downloads with the aws CLI, stops it
// with Ctrl-C, starts it again and finds the data, credentials included.
func TestUp_AsANewUser(t *testing.T) {
	home := t.TempDir()
	addr := proctest.FreeAddr(t)
	u := startUp(t, home, "--s3-addr", addr)
	if _, err := os.Stat(filepath.Join(home, "tnv-data", "meta.db")); err != nil {
		t.Fatalf("no SQLite database under ./tnv-data: %v", err)
	}
	dir := t.TempDir()
	small, smallSum := writeRandom(t, dir, "small", 1000, 1)
	big, bigSum := writeRandom(t, dir, "big", 20<<20, 2)
	u.aws(t, "s3", "mb", "s3://first-bucket")
	u.aws(t, "s3", "cp", "--only-show-errors", small, "s3://first-bucket/small.bin")
	u.aws(t, "s3", "cp", "--only-show-errors", big, "s3://first-bucket/dir/big.bin")
	get := func(u *upRun, key string, want [32]byte) {
		t.Helper()
		out := filepath.Join(dir, "got-"+filepath.Base(key))
		os.Remove(out)
		u.aws(t, "s3", "cp", "--only-show-errors", "s3://first-bucket/"+key, out)
		if fileSHA(t, out) != want {
			t.Fatalf("%s came back different", key)
		}
	}
	get(u, "small.bin", smallSum)
	get(u, "dir/big.bin", bigSum)
	// The admin commands see the same cluster.
	lay, err := os.ReadFile(filepath.Join(home, "tnv-data", "cluster.json"))
	if err != nil {
		t.Fatal(err)
	}
	tracker := regexp.MustCompile(`"tracker":\s*"([^"]+)"`).FindSubmatch(lay)
	if tracker == nil {
		t.Fatalf("cluster.json names no tracker:\n%s", lay)
	}
	st := proctest.Run(t, "admin", "status", "--trackers", string(tracker[1]),
		"--cluster-secret-file", filepath.Join(home, "tnv-data", "cluster-secret"))
	if strings.Count(st, " ACTIVE ") < 4 || !strings.Contains(st, "group g1") || !strings.Contains(st, "group g2") {
		t.Fatalf("tnv admin status:\n%s", st)
	}
	bl := proctest.Run(t, "admin", "bucket", "list", "--db", "sqlite:"+filepath.Join(home, "tnv-data", "meta.db"))
	if !regexp.MustCompile(`first-bucket\s+2\s+20\.0 MiB`).MatchString(bl) {
		t.Fatalf("tnv admin bucket list lacks 2 objects of 20 MiB:\n%s", bl)
	}

	// Server-side encryption with the aws CLI: SSE-S3 under the master key
	// tnv up generated (0600, kept across restarts), and SSE-C.
	u.aws(t, "s3", "cp", "--only-show-errors", "--sse", "AES256", small, "s3://first-bucket/sse-s3.bin")
	if head := u.aws(t, "s3api", "head-object", "--bucket", "first-bucket", "--key", "sse-s3.bin"); !strings.Contains(head, `"ServerSideEncryption": "AES256"`) {
		t.Fatalf("head-object of an SSE-S3 object:\n%s", head)
	}
	ssecKey := strings.Repeat("k", 32)
	u.aws(t, "s3", "cp", "--only-show-errors", "--sse-c", "AES256", "--sse-c-key", ssecKey, small, "s3://first-bucket/sse-c.bin")
	ssecOut := filepath.Join(dir, "got-sse-c")
	u.aws(t, "s3", "cp", "--only-show-errors", "--sse-c", "AES256", "--sse-c-key", ssecKey, "s3://first-bucket/sse-c.bin", ssecOut)
	if fileSHA(t, ssecOut) != smallSum {
		t.Fatal("SSE-C object came back different")
	}
	if kst, err := os.Stat(filepath.Join(home, "tnv-data", "kms.key")); err != nil || kst.Mode().Perm() != 0o600 {
		t.Fatalf("master key file: %v; want it generated with mode 0600", err)
	}

	// The status page lists every node, in a real browser.
	// (It needs a credential: the link tnv up prints is presigned.)
	screenshotStatus(t, u.status, 4, "status-page.png")

	// The cluster secret: generated at the first start, 0600, kept; the
	// internal servers listen on loopback only.
	secretPath := filepath.Join(home, "tnv-data", "cluster-secret")
	st1, err := os.Stat(secretPath)
	if err != nil || st1.Mode().Perm() != 0o600 {
		t.Fatalf("cluster secret file: %v, mode %v; want 0600", err, st1.Mode())
	}
	secret1, _ := os.ReadFile(secretPath)
	for _, a := range regexp.MustCompile(`"([^"]+:[0-9]+)"`).FindAllSubmatch(lay, -1) {
		if !strings.HasPrefix(string(a[1]), "127.0.0.1:") {
			t.Fatalf("internal server on %s, want 127.0.0.1", a[1])
		}
	}
	if _, err := proctest.RunErr(t, "admin", "status", "--trackers", string(tracker[1]), "--open-protocol"); err == nil {
		t.Fatal("tnv up's tracker answered a client without the secret")
	}

	u.stop(t)
	u2 := startUp(t, home, "--s3-addr", addr)
	if u2.secret != "" {
		t.Fatal("tnv up printed the secret key again at the second start")
	}
	if u2.access != u.access || keptSecret(t, filepath.Join(home, "tnv-data")) != u.secret {
		t.Fatal("credentials changed across a restart")
	}
	u2.secret = u.secret
	if secret2, _ := os.ReadFile(secretPath); !bytes.Equal(secret1, secret2) || len(secret1) < 32 {
		t.Fatal("cluster secret changed across a restart, or is short")
	}
	ls := u2.aws(t, "s3", "ls", "--recursive", "s3://first-bucket")
	for _, k := range []string{"small.bin", "dir/big.bin"} {
		if !strings.Contains(ls, k) {
			t.Fatalf("after restart, listing lacks %s:\n%s", k, ls)
		}
	}
	get(u2, "small.bin", smallSum)
	get(u2, "dir/big.bin", bigSum)
	get(u2, "sse-s3.bin", smallSum) // the master key was kept
	u2.stop(t)
}

// TestUp_MySQL runs the same topology with --mysql.
func TestUp_MySQL(t *testing.T) {
	dsn := metadbtest.NewTestMySQL(t)
	u := startUp(t, t.TempDir(), "--s3-addr", proctest.FreeAddr(t), "--mysql", dsn)
	if u.secret == "" {
		t.Fatal("tnv up did not print the secret key it generated")
	}
	dir := t.TempDir()
	p, sum := writeRandom(t, dir, "obj", 3<<20, 7)
	u.aws(t, "s3", "mb", "s3://on-mysql")
	u.aws(t, "s3", "cp", "--only-show-errors", p, "s3://on-mysql/obj")
	out := filepath.Join(dir, "back")
	u.aws(t, "s3", "cp", "--only-show-errors", "s3://on-mysql/obj", out)
	if fileSHA(t, out) != sum {
		t.Fatal("object differs")
	}
	u.stop(t)
}
