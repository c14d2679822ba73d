package compat

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tool returns the path of a client program: the first of paths that is
// executable (an absolute path, or a name looked up in PATH). A missing
// client fails the test under CI=true and skips it otherwise.
func tool(t testing.TB, what string, paths ...string) string {
	t.Helper()
	for _, p := range paths {
		if filepath.IsAbs(p) {
			if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
				return p
			}
			continue
		}
		if lp, err := exec.LookPath(p); err == nil {
			return lp
		}
	}
	msg := fmt.Sprintf("%s not installed (looked for %s); run scripts/ensure-clients.sh as root", what, strings.Join(paths, ", "))
	if inCI() {
		t.Fatal("CI=true: " + msg)
	}
	t.Skip(msg)
	return ""
}

// baseEnv is the environment of a client: ours without any AWS_*, RCLONE_*
// or S3CMD settings of the machine, plus extra.
func baseEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "RCLONE_") || strings.HasPrefix(k, "BOTO_") ||
			k == "S3CMD_CONFIG" || k == "http_proxy" || k == "HTTP_PROXY" || k == "https_proxy" || k == "HTTPS_PROXY" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// cmdOut is what a client printed.
type cmdOut struct {
	Stdout, Stderr string
	Err            error
	Took           time.Duration
}

// runCmd runs a client to completion (at most timeout) and returns what it
// printed; a non-zero exit is in Err.
func runCmd(t testing.TB, env []string, dir string, timeout time.Duration, name string, args ...string) cmdOut {
	t.Helper()
	o := runOnce(env, dir, timeout, name, args...)
	// Debian's Python aws CLI has been seen to die of SIGSEGV at interpreter
	// exit after finishing its work (`s3 rb --force` had printed every
	// delete). That is the client's crash, not an answer of ours: run the
	// command once more and judge that run.
	var ee *exec.ExitError
	if errors.As(o.Err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGSEGV {
			t.Logf("%s crashed with SIGSEGV (stderr %q); running it again", filepath.Base(name), tail(o.Stderr, 500))
			o = runOnce(env, dir, timeout, name, args...)
		}
	}
	return o
}

func runOnce(env []string, dir string, timeout time.Duration, name string, args ...string) cmdOut {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	start := time.Now()
	err := cmd.Run()
	out := cmdOut{Stdout: so.String(), Stderr: se.String(), Err: err, Took: time.Since(start)}
	if ctx.Err() != nil {
		out.Err = fmt.Errorf("timed out after %v: %v", timeout, err)
	}
	return out
}

// mustRun is runCmd failing the test on a non-zero exit; it logs the
// command and how long it took.
func mustRun(t testing.TB, env []string, dir string, timeout time.Duration, name string, args ...string) cmdOut {
	t.Helper()
	o := runCmd(t, env, dir, timeout, name, args...)
	line := filepath.Base(name) + " " + strings.Join(args, " ")
	if len(line) > 300 {
		line = line[:300] + "…"
	}
	if o.Err != nil {
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", line, o.Err, tail(o.Stdout, 4000), tail(o.Stderr, 4000))
	}
	t.Logf("%s (%v)", line, o.Took.Round(time.Millisecond))
	return o
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// writeRandom writes size pseudo-random bytes (from seed) to path, creating
// directories, and returns the hex MD5.
func writeRandom(t testing.TB, path string, size int64, seed uint64) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := md5.New()
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24), 't', 'n', 'v'})
	w := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	if _, err := io.CopyN(w, r, size); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// fileMD5 is the hex MD5 of a file.
func fileMD5(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := md5.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// fileSHA is the hex SHA-256 of a file.
func fileSHA(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// sameFile fails the test unless the two files hold the same bytes.
func sameFile(t testing.TB, want, got string) {
	t.Helper()
	ws, gs := fileSHA(t, want), fileSHA(t, got)
	if ws != gs {
		wi, _ := os.Stat(want)
		gi, _ := os.Stat(got)
		t.Fatalf("%s differs from %s: sizes %d vs %d, sha256 %s vs %s", got, want, size(wi), size(gi), gs, ws)
	}
}

func size(fi os.FileInfo) int64 {
	if fi == nil {
		return -1
	}
	return fi.Size()
}

// multipartETag is the S3 ETag (quoted) of a file uploaded in parts of
// partSize bytes.
func multipartETag(t testing.TB, path string, partSize int64) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var sums []byte
	n := 0
	for {
		h := md5.New()
		c, err := io.CopyN(h, f, partSize)
		if c > 0 {
			sums = append(sums, h.Sum(nil)...)
			n++
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	s := md5.Sum(sums)
	return fmt.Sprintf(`"%s-%d"`, hex.EncodeToString(s[:]), n)
}

// tree is relative path → size of the regular files under a directory.
func tree(t testing.TB, root string) map[string]int64 {
	t.Helper()
	m := map[string]int64{}
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			rel, _ := filepath.Rel(root, p)
			m[filepath.ToSlash(rel)] = fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// sameTree fails the test unless both directories hold the same files with
// the same bytes.
func sameTree(t testing.TB, want, got string) {
	t.Helper()
	wt, gt := tree(t, want), tree(t, got)
	diffMaps(t, "tree "+got+" vs "+want, wt, gt)
	if t.Failed() {
		t.FailNow()
	}
	for rel := range wt {
		sameFile(t, filepath.Join(want, rel), filepath.Join(got, rel))
	}
}

// diffMaps marks the test failed (and goes on) with the differences between
// two maps.
func diffMaps[V comparable](t testing.TB, what string, want, got map[string]V) {
	t.Helper()
	var d []string
	for k, v := range want {
		g, ok := got[k]
		if !ok {
			d = append(d, fmt.Sprintf("missing %q", k))
		} else if g != v {
			d = append(d, fmt.Sprintf("%q: got %v, want %v", k, g, v))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			d = append(d, fmt.Sprintf("unexpected %q", k))
		}
	}
	if len(d) > 0 {
		sort.Strings(d)
		if len(d) > 20 {
			d = append(d[:20], fmt.Sprintf("… %d more", len(d)-20))
		}
		t.Errorf("%s: %d entries want, %d got:\n  %s", what, len(want), len(got), strings.Join(d, "\n  "))
	}
}

// makeTree writes n files of varied sizes (some empty, some with spaces,
// plus signs and non-ASCII letters in their names) under root and returns
// relative path → size.
func makeTree(t testing.TB, root string, n int, seed uint64) map[string]int64 {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	names := []string{"a b.txt", "plus+sign.bin", "ünïcödé.dat", "x=y&z.txt", "~tilde.txt", "paren (1).txt"}
	m := map[string]int64{}
	for i := range n {
		var rel string
		switch {
		case i < len(names):
			rel = "special/" + names[i]
		default:
			rel = fmt.Sprintf("d%02d/sub%d/f%03d.bin", i%10, i%3, i)
		}
		sz := int64(r.IntN(20 << 10))
		if i%37 == 0 {
			sz = 0
		}
		writeRandom(t, filepath.Join(root, filepath.FromSlash(rel)), sz, seed*1000+uint64(i))
		m[rel] = sz
	}
	return m
}

// httpResp is one HTTP response as curl saw it.
type httpResp struct {
	Status int
	Header http.Header
	Body   []byte
}

// curl fetches url with curl (method GET unless -X/-I given in args) and
// returns the final response's status, headers and body.
func curl(t testing.TB, url string, args ...string) httpResp {
	t.Helper()
	bin := tool(t, "curl", "curl")
	dir := t.TempDir()
	hf, bf := filepath.Join(dir, "headers"), filepath.Join(dir, "body")
	a := append([]string{"-sS", "--max-time", "120", "-D", hf, "-o", bf}, args...)
	a = append(a, url)
	mustRun(t, baseEnv(), "", 3*time.Minute, bin, a...)
	hb, err := os.ReadFile(hf)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := os.ReadFile(bf)
	// The header file holds every response (100 Continue, redirects); keep the last.
	blocks := strings.Split(strings.TrimSpace(strings.ReplaceAll(string(hb), "\r\n", "\n")), "\n\n")
	last := blocks[len(blocks)-1]
	tr := textproto.NewReader(bufio.NewReader(strings.NewReader(last + "\n\n")))
	statusLine, err := tr.ReadLine()
	if err != nil {
		t.Fatalf("curl %s: bad headers %q: %v", url, hb, err)
	}
	f := strings.Fields(statusLine)
	if len(f) < 2 {
		t.Fatalf("curl %s: bad status line %q", url, statusLine)
	}
	status, _ := strconv.Atoi(f[1])
	mh, err := tr.ReadMIMEHeader()
	if err != nil && err != io.EOF {
		t.Fatalf("curl %s: headers %q: %v", url, last, err)
	}
	return httpResp{Status: status, Header: http.Header(mh), Body: body}
}

var quotedETag = regexp.MustCompile(`^"[0-9a-f]{32}(-[0-9]+)?"$`)

// checkETag fails the test unless h has a quoted S3 ETag (equal to want if
// want is not empty).
func checkETag(t testing.TB, what string, h http.Header, want string) {
	t.Helper()
	got := h.Get("ETag")
	if !quotedETag.MatchString(got) {
		t.Errorf("%s: ETag %q is not a quoted S3 ETag", what, got)
	} else if want != "" && got != want {
		t.Errorf("%s: ETag %s, want %s", what, got, want)
	}
}

// checkHeader fails the test unless h[name] == want.
func checkHeader(t testing.TB, what string, h http.Header, name, want string) {
	t.Helper()
	if got := h.Get(name); got != want {
		t.Errorf("%s: %s: %q, want %q", what, name, got, want)
	}
}

// fileRange returns bytes [off, off+n) of a file.
func fileRange(t testing.TB, path string, off, n int64) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	return b
}

// checkPresignedGET fetches a presigned GET URL of the object held in local
// with curl: whole, by a middle range, by a suffix range and by an
// unsatisfiable range, checking status, bytes, ETag quoting, Accept-Ranges,
// Content-Length and Content-Range.
func checkPresignedGET(t testing.TB, what, url, local, wantETag string) {
	t.Helper()
	fi, err := os.Stat(local)
	if err != nil {
		t.Fatal(err)
	}
	sz := fi.Size()
	if sz <= 64<<20 {
		r := curl(t, url)
		if r.Status != 200 {
			t.Fatalf("%s: GET status %d, body %.500s", what, r.Status, r.Body)
		}
		want, _ := os.ReadFile(local)
		if !bytes.Equal(r.Body, want) {
			t.Errorf("%s: GET returned %d bytes, not the %d uploaded", what, len(r.Body), len(want))
		}
		checkETag(t, what+" GET", r.Header, wantETag)
		checkHeader(t, what+" GET", r.Header, "Accept-Ranges", "bytes")
		checkHeader(t, what+" GET", r.Header, "Content-Length", strconv.FormatInt(sz, 10))
	}
	off, n := sz/3, min(sz/3, 1000)
	if n < 1 {
		t.Fatalf("%s: file too small for range checks", what)
	}
	r := curl(t, url, "-H", fmt.Sprintf("Range: bytes=%d-%d", off, off+n-1))
	if r.Status != 206 {
		t.Fatalf("%s: ranged GET status %d, want 206; body %.500s", what, r.Status, r.Body)
	}
	if !bytes.Equal(r.Body, fileRange(t, local, off, n)) {
		t.Errorf("%s: ranged GET bytes %d-%d differ from the file (%d bytes back)", what, off, off+n-1, len(r.Body))
	}
	checkHeader(t, what+" ranged GET", r.Header, "Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, sz))
	checkHeader(t, what+" ranged GET", r.Header, "Content-Length", strconv.FormatInt(n, 10))
	checkHeader(t, what+" ranged GET", r.Header, "Accept-Ranges", "bytes")
	checkETag(t, what+" ranged GET", r.Header, wantETag)

	r = curl(t, url, "-H", "Range: bytes=-100")
	if r.Status != 206 || !bytes.Equal(r.Body, fileRange(t, local, sz-100, 100)) {
		t.Errorf("%s: suffix range bytes=-100: status %d, %d bytes, want 206 and the last 100 bytes", what, r.Status, len(r.Body))
	}
	checkHeader(t, what+" suffix range", r.Header, "Content-Range", fmt.Sprintf("bytes %d-%d/%d", sz-100, sz-1, sz))

	r = curl(t, url, "-H", fmt.Sprintf("Range: bytes=%d-", sz+10))
	if r.Status != 416 {
		t.Errorf("%s: unsatisfiable range: status %d, want 416", what, r.Status)
	}
	// RFC 9110 and our gateway's contract; AWS S3 and MinIO leave it out.
	if endpoint(t).Kind == "tnv up" {
		checkHeader(t, what+" unsatisfiable range", r.Header, "Content-Range", fmt.Sprintf("bytes */%d", sz))
	}
}
