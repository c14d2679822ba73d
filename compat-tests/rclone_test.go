package compat

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// rclone runs Debian's rclone with the remote "tnv:" configured from the
// environment only.
type rclone struct {
	t   *testing.T
	bin string
	env []string
}

func newRclone(t *testing.T) *rclone {
	bin := tool(t, "rclone (apt rclone)", "/usr/bin/rclone", "rclone")
	e := endpoint(t)
	cfg := filepath.Join(t.TempDir(), "rclone.conf")
	if err := os.WriteFile(cfg, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	env := baseEnv( // baseEnv drops AWS_CA_BUNDLE and every RCLONE_* of the machine
		"RCLONE_CONFIG="+cfg,
		"RCLONE_CONFIG_TNV_TYPE=s3",
		"RCLONE_CONFIG_TNV_PROVIDER=Other",
		"RCLONE_CONFIG_TNV_ENDPOINT="+e.URL,
		"RCLONE_CONFIG_TNV_ACCESS_KEY_ID="+e.AccessKey,
		"RCLONE_CONFIG_TNV_SECRET_ACCESS_KEY="+e.SecretKey,
		"RCLONE_CONFIG_TNV_REGION="+e.Region,
		"RCLONE_CONFIG_TNV_FORCE_PATH_STYLE=true",
	)
	return &rclone{t: t, bin: bin, env: env}
}

func (r *rclone) run(args ...string) cmdOut {
	r.t.Helper()
	return mustRun(r.t, r.env, "", 5*time.Minute, r.bin, args...)
}

func (r *rclone) with(t *testing.T) *rclone { c := *r; c.t = t; return &c }

// lsf returns the files under remote (recursive) with their sizes.
func (r *rclone) lsf(remote string) map[string]int64 {
	r.t.Helper()
	var items []struct {
		Path  string
		Size  int64
		IsDir bool
	}
	o := r.run("lsjson", "-R", "--files-only", remote)
	if err := json.Unmarshal([]byte(o.Stdout), &items); err != nil {
		r.t.Fatalf("lsjson: %v\n%s", err, o.Stdout)
	}
	// lsf must agree with lsjson on the names.
	var names []string
	if o := strings.TrimRight(r.run("lsf", "-R", "--files-only", remote).Stdout, "\n"); o != "" {
		names = strings.Split(o, "\n")
	}
	m := map[string]int64{}
	for _, it := range items {
		m[it.Path] = it.Size
	}
	if len(names) != len(m) {
		r.t.Errorf("lsf lists %d files, lsjson %d", len(names), len(m))
	}
	for _, n := range names {
		if _, ok := m[n]; !ok {
			r.t.Errorf("lsf lists %q, lsjson does not", n)
		}
	}
	return m
}

var checkMatching = regexp.MustCompile(`(\d+) matching files`)

// check runs `rclone check` and insists that every file's MD5 was compared.
func (r *rclone) check(src, remote string, n int) {
	r.t.Helper()
	o := r.run("check", src, remote)
	out := o.Stdout + o.Stderr
	if !strings.Contains(out, " 0 differences found") {
		r.t.Errorf("rclone check: differences:\n%s", out)
	}
	if strings.Contains(out, "hashes could not be checked") || strings.Contains(out, "hash unavailable") {
		r.t.Errorf("rclone check could not compare MD5s (ETag not the MD5?):\n%s", out)
	}
	m := checkMatching.FindStringSubmatch(out)
	if m == nil || m[1] != fmt.Sprint(n) {
		r.t.Errorf("rclone check: want %d matching files:\n%s", n, out)
	}
}

// md5sums runs `rclone md5sum` of remote.
func (r *rclone) md5sums(remote string) map[string]string {
	r.t.Helper()
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimRight(r.run("md5sum", remote).Stdout, "\n"), "\n") {
		sum, p, ok := strings.Cut(l, "  ")
		if ok {
			m[p] = sum
		}
	}
	return m
}

func localMD5s(t testing.TB, root string) map[string]string {
	m := map[string]string{}
	for rel := range tree(t, root) {
		m[rel] = fileMD5(t, filepath.Join(root, rel))
	}
	return m
}

func TestRclone(t *testing.T) {
	r := newRclone(t)
	t.Logf("%s", strings.SplitN(r.run("version").Stdout, "\n", 2)[0])
	bucket := bucketName("rclone")
	removeBucketAtEnd(t, bucket)
	r.run("mkdir", "tnv:"+bucket)
	dir := t.TempDir()

	t.Run("copy-sync-check", func(t *testing.T) {
		r := r.with(t)
		src := filepath.Join(dir, "src")
		want := makeTree(t, src, 40, 7)
		remote := "tnv:" + bucket + "/tree"
		r.run("copy", src, remote)
		diffMaps(t, "rclone lsf after copy", want, r.lsf(remote))
		r.check(src, remote, len(want))
		diffMaps(t, "rclone md5sum", localMD5s(t, src), r.md5sums(remote))

		// Modification times survive (x-amz-meta-mtime).
		var items []struct {
			Path    string
			ModTime time.Time
		}
		json.Unmarshal([]byte(r.run("lsjson", "-R", "--files-only", remote).Stdout), &items)
		for _, it := range items {
			fi, err := os.Stat(filepath.Join(src, it.Path))
			if err != nil {
				t.Fatal(err)
			}
			if d := it.ModTime.Sub(fi.ModTime()); d < -time.Second || d > time.Second {
				t.Errorf("%s: remote mtime %v, local %v", it.Path, it.ModTime, fi.ModTime())
			}
		}

		// Change the source: delete, rewrite, add, and touch one file
		// (same bytes, new mtime: rclone updates the mtime with a
		// CopyObject onto itself, metadata directive REPLACE).
		os.Remove(filepath.Join(src, "d01/sub1/f031.bin"))
		os.Remove(filepath.Join(src, "special/a b.txt"))
		writeRandom(t, filepath.Join(src, "d02/sub2/f032.bin"), 12345, 99)
		writeRandom(t, filepath.Join(src, "new/added file.bin"), 777, 98)
		touched := "d03/sub0/f033.bin"
		mt := time.Date(2020, 2, 3, 4, 5, 6, 0, time.UTC)
		if err := os.Chtimes(filepath.Join(src, touched), mt, mt); err != nil {
			t.Fatal(err)
		}
		r.run("sync", src, remote)
		want = tree(t, src)
		diffMaps(t, "rclone lsf after sync", want, r.lsf(remote))
		r.check(src, remote, len(want))
		diffMaps(t, "rclone md5sum after sync", localMD5s(t, src), r.md5sums(remote))
		var one []struct{ ModTime time.Time }
		json.Unmarshal([]byte(r.run("lsjson", remote+"/"+touched).Stdout), &one)
		if len(one) != 1 || !one[0].ModTime.Equal(mt) {
			t.Errorf("mtime of %s after sync: %+v, want %v", touched, one, mt)
		}

		// Both ways: back down, byte for byte.
		down := filepath.Join(dir, "down")
		r.run("copy", remote, down)
		sameTree(t, src, down)

		// delete with a filter.
		r.run("delete", remote, "--include", "*.txt")
		for p := range r.lsf(remote) {
			if strings.HasSuffix(p, ".txt") {
				t.Errorf("rclone delete --include *.txt left %s", p)
			}
		}

		// moveto: server-side copy and delete.
		r.run("moveto", remote+"/d04/sub0/f024.bin", "tnv:"+bucket+"/moved/renamed.bin")
		left := r.lsf(remote)
		if _, ok := left["d04/sub0/f024.bin"]; ok {
			t.Errorf("moveto left the source behind")
		}
		got := filepath.Join(dir, "moved.bin")
		r.run("copyto", "tnv:"+bucket+"/moved/renamed.bin", got)
		sameFile(t, filepath.Join(src, "d04/sub0/f024.bin"), got)

		r.run("purge", remote)
		if m := r.lsf("tnv:" + bucket); len(m) != 1 {
			t.Errorf("after purge of tree/: %v, want only moved/renamed.bin", m)
		}
	})

	t.Run("mount", func(t *testing.T) {
		r := r.with(t)
		testRcloneMount(t, r, bucket, dir)
	})
}

// testRcloneMount mounts the bucket over FUSE, reads a large file at random
// offsets and writes a file that must then be readable through S3.
func testRcloneMount(t *testing.T, r *rclone, bucket, dir string) {
	fusermount := tool(t, "fusermount3 (apt fuse3)", "/usr/bin/fusermount3", "fusermount3")
	if _, err := os.Stat("/dev/fuse"); err != nil {
		if inCI() {
			t.Fatalf("CI=true: /dev/fuse missing (%v): rclone mount cannot work on this machine", err)
		}
		t.Skipf("/dev/fuse missing (%v): rclone mount cannot work on this machine", err)
	}
	big := filepath.Join(dir, "big.bin")
	const bigSize = 64 << 20
	writeRandom(t, big, bigSize, 64)
	r.run("copyto", big, "tnv:"+bucket+"/mnt/big.bin")

	mnt := filepath.Join(dir, "mnt")
	cache := filepath.Join(dir, "vfs-cache")
	os.MkdirAll(mnt, 0o755)
	logf := filepath.Join(dir, "mount.log")
	cmd := exec.Command(r.bin, "mount", "tnv:"+bucket, mnt,
		"--vfs-cache-mode", "full", "--cache-dir", cache, "--vfs-write-back", "1s",
		"--dir-cache-time", "1s", "--log-file", logf, "-v")
	cmd.Env = r.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		runCmd(t, baseEnv(), "", 30*time.Second, fusermount, "-u", mnt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(logf)
			t.Logf("rclone mount output:\n%s\nlog:\n%s", out.String(), tail(string(b), 8000))
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for !mounted(mnt) {
		select {
		case <-exited:
			t.Fatalf("rclone mount exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("rclone mount: %s not mounted after 30s", mnt)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("mounted tnv:%s on %s", bucket, mnt)

	// 50 random-offset reads of the large file, compared with the source.
	f, err := os.Open(filepath.Join(mnt, "mnt/big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.Size() != bigSize {
		t.Fatalf("stat through the mount: %v, %v", fi, err)
	}
	srcf, err := os.Open(big)
	if err != nil {
		t.Fatal(err)
	}
	defer srcf.Close()
	rnd := rand.New(rand.NewPCG(1, 2))
	start := time.Now()
	for i := range 50 {
		n := 1 + rnd.Int64N(512<<10)
		off := rnd.Int64N(bigSize - n)
		if i == 49 {
			off, n = bigSize-4096, 4096 // the very end
		}
		got, want := make([]byte, n), make([]byte, n)
		if _, err := f.ReadAt(got, off); err != nil && err != io.EOF {
			t.Fatalf("read %d bytes at %d through the mount: %v", n, off, err)
		}
		srcf.ReadAt(want, off)
		if !bytes.Equal(got, want) {
			t.Fatalf("read %d bytes at %d through the mount: bytes differ from the source", n, off)
		}
	}
	t.Logf("50 random reads through the mount in %v", time.Since(start).Round(time.Millisecond))

	// A file written through the mount reaches S3 byte for byte.
	written := filepath.Join(dir, "written.bin")
	writeRandom(t, written, 5<<20+123, 5)
	data, _ := os.ReadFile(written)
	os.MkdirAll(filepath.Join(mnt, "written"), 0o755)
	if err := os.WriteFile(filepath.Join(mnt, "written/w.bin"), data, 0o644); err != nil {
		t.Fatalf("write through the mount: %v", err)
	}
	c := endpoint(t).client()
	deadline = time.Now().Add(60 * time.Second)
	for {
		o, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("written/w.bin")})
		if err == nil {
			b, rerr := io.ReadAll(o.Body)
			o.Body.Close()
			if rerr == nil && bytes.Equal(b, data) {
				t.Logf("file written through the mount read back through S3")
				break
			}
			err = fmt.Errorf("%d bytes (read error %v), want the %d written", len(b), rerr, len(data))
		}
		if time.Now().After(deadline) {
			t.Fatalf("file written through the mount not in S3 after 60s: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	// Reading it back through the mount gives the same bytes too.
	if b, err := os.ReadFile(filepath.Join(mnt, "written/w.bin")); err != nil || !bytes.Equal(b, data) {
		t.Errorf("reading the written file back through the mount: %v (%d bytes)", err, len(b))
	}
}

// mounted reports whether dir is a mount point.
func mounted(dir string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}
