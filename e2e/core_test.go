// Package e2e runs the real tnv binary as separate processes on loopback
// against a real MariaDB (and SQLite), driven by `tnv client`.
package e2e

import (
	"bytes"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/internal/proctest"
	"github.com/tnv-s3/tnv/metadb/metadbtest"
)

func TestMain(m *testing.M) { proctest.Main(m) }

// writeRandom writes size pseudo-random bytes to a new file and returns its
// path and SHA-256, streaming (never the whole file in memory).
func writeRandom(t testing.TB, dir, name string, size int64, seed uint64) (string, [32]byte) {
	t.Helper()
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	if _, err := io.CopyN(io.MultiWriter(f, h), r, size); err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return p, sum
}

func fileSHA(t testing.TB, p string) [32]byte {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

func client(c *proctest.Cluster, args ...string) []string {
	return append([]string{"client", "--trackers", c.TrackerList(), "--log-level", "warn"}, args...)
}

// TestCore_MySQL_UploadDownloadDeleteAcrossTrackerFailure is the cluster core
// of issue 2 end to end: ID servers, two trackers and storage nodes as
// processes sharing one MariaDB database, driven by `tnv client`.
func TestCore_MySQL_UploadDownloadDeleteAcrossTrackerFailure(t *testing.T) {
	dsn := metadbtest.NewTestMySQL(t)
	c := proctest.StartCluster(t, proctest.Topology{DB: dsn, Trackers: 2, IDServers: 2, Groups: 2, Members: 1})
	dir := t.TempDir()

	type up struct {
		user, id, path string
		sum            [32]byte
		size           int64
	}
	var ups []up
	for i, size := range []int64{0, 1, 512<<10 - 1, 512<<10 + 1, 100 << 20} {
		user := "user" + strconv.Itoa(i)
		p, sum := writeRandom(t, dir, "in"+strconv.Itoa(i), size, uint64(i))
		id := strings.TrimSpace(proctest.Run(t, client(c, "upload", "--appid", "app1", "--userid", user, p)...))
		if id == "" {
			t.Fatalf("upload %d printed no file ID", i)
		}
		ups = append(ups, up{user, id, p, sum, size})
	}
	check := func(when string) {
		t.Helper()
		for _, u := range ups {
			out := filepath.Join(dir, "out-"+u.id)
			proctest.Run(t, client(c, "download", "--appid", "app1", "--userid", u.user, "--fileid", u.id, "-o", out)...)
			if fileSHA(t, out) != u.sum {
				t.Fatalf("%s: download of %s (%d bytes) differs", when, u.id, u.size)
			}
			got := strings.TrimSpace(proctest.Run(t, client(c, "filesize", "--appid", "app1", "--userid", u.user, "--fileid", u.id)...))
			if got != strconv.FormatInt(u.size, 10) {
				t.Fatalf("%s: filesize %s = %s, want %d", when, u.id, got, u.size)
			}
		}
	}
	check("after upload")

	// Ranges, to stdout: first byte, last byte, a middle slice, offset = size.
	for _, u := range ups[1:4] {
		want, err := os.ReadFile(u.path)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range []struct{ off, size int64 }{{0, 1}, {u.size - 1, 1}, {u.size / 3, u.size / 3}, {u.size, 0}} {
			got := proctest.Run(t, client(c, "download", "--appid", "app1", "--userid", u.user, "--fileid", u.id,
				"--offset", strconv.FormatInt(r.off, 10), "--size", strconv.FormatInt(r.size, 10))...)
			end := u.size
			if r.size > 0 {
				end = r.off + r.size
			}
			if !bytes.Equal([]byte(got), want[r.off:end]) {
				t.Fatalf("range %d+%d of a %d-byte file: %d bytes, differs", r.off, r.size, u.size, len(got))
			}
		}
	}

	// One tracker down: clients fail over to the other.
	c.Trackers[0].Kill()
	check("with tracker 1 down")

	// Storage nodes restarted: everything still there.
	for _, m := range c.Members() {
		m.Kill()
		m.Restart()
	}
	c.Trackers[0].Restart()
	c.WaitActive(time.Minute)
	check("after storage restarts")

	// Delete: unreadable at once.
	d := ups[2]
	proctest.Run(t, client(c, "delete", "--appid", "app1", "--userid", d.user, "--fileid", d.id)...)
	if _, err := proctest.RunErr(t, client(c, "filesize", "--appid", "app1", "--userid", d.user, "--fileid", d.id)...); err == nil {
		t.Fatal("filesize of a deleted file succeeded")
	}
	if _, err := proctest.RunErr(t, client(c, "download", "--appid", "app1", "--userid", d.user, "--fileid", d.id)...); err == nil {
		t.Fatal("download of a deleted file succeeded")
	}
	// The same file ID cannot be uploaded twice.
	if _, err := proctest.RunErr(t, client(c, "upload", "--appid", "app1", "--userid", ups[1].user, "--fileid", ups[1].id, ups[1].path)...); err == nil {
		t.Fatal("second upload under a used file ID succeeded")
	}
}

// TestCore_SQLite_SeveralProcessesOnOneFile runs a small cluster whose
// servers share one SQLite file.
func TestCore_SQLite_SeveralProcessesOnOneFile(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "meta.db")
	c := proctest.StartCluster(t, proctest.Topology{DB: dsn, Groups: 2, Members: 1})
	dir := t.TempDir()
	for i := range 20 {
		p, sum := writeRandom(t, dir, "f"+strconv.Itoa(i), int64(1000*i), uint64(i))
		user := "u" + strconv.Itoa(i%5)
		id := strings.TrimSpace(proctest.Run(t, client(c, "upload", "--appid", "app", "--userid", user, p)...))
		out := filepath.Join(dir, "o"+strconv.Itoa(i))
		proctest.Run(t, client(c, "download", "--appid", "app", "--userid", user, "--fileid", id, "-o", out)...)
		if fileSHA(t, out) != sum {
			t.Fatalf("file %d differs", i)
		}
	}
}

// TestCore_OneGiB_BoundedMemory streams 1 GiB up and down through the client
// and one storage node and reports each process's peak RSS; every one must
// stay under 64 MiB, whatever the file size.
func TestCore_OneGiB_BoundedMemory(t *testing.T) {
	dsn := metadbtest.NewTestMySQL(t)
	c := proctest.StartCluster(t, proctest.Topology{DB: dsn, Groups: 1, Members: 1})
	dir := t.TempDir()
	const size = 1 << 30
	p, sum := writeRandom(t, dir, "big", size, 42)
	out, upRSS := proctest.RunRSS(t, client(c, "upload", "--appid", "app", "--userid", "big", p)...)
	id := strings.TrimSpace(out)
	os.Remove(p)
	dl := filepath.Join(dir, "big.out")
	_, downRSS := proctest.RunRSS(t, client(c, "download", "--appid", "app", "--userid", "big", "--fileid", id, "-o", dl)...)
	if fileSHA(t, dl) != sum {
		t.Fatal("1 GiB download differs")
	}
	nodeRSS, err := c.Groups[0][0].PeakRSS()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("peak RSS: client upload %d MiB, client download %d MiB, storage node %d MiB", upRSS>>20, downRSS>>20, nodeRSS>>20)
	for name, v := range map[string]int64{"client upload": upRSS, "client download": downRSS, "storage node": nodeRSS} {
		if v > 64<<20 {
			t.Errorf("%s peak RSS %d MiB for a 1 GiB file, want < 64 MiB", name, v>>20)
		}
	}
}
