package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/tnv-s3/tnv/internal/proctest"
	"github.com/tnv-s3/tnv/metadb/metadbtest"
)

// TestScrub_ShowsProgress runs `tnv storage scrub` on a node holding
// 768 MiB: it prints its progress on stderr while the scrub runs, then the
// report on stdout.
func TestScrub_ShowsProgress(t *testing.T) {
	dsn := metadbtest.NewTestMySQL(t)
	c := proctest.StartCluster(t, proctest.Topology{DB: dsn, Groups: 1, Members: 1})
	dir := t.TempDir()
	const files = 12
	for i := range files {
		p, _ := writeRandom(t, dir, "f"+strconv.Itoa(i), 64<<20, uint64(i))
		proctest.Run(t, client(c, "upload", "--appid", "app", "--userid", "u", p)...)
	}
	cmd := exec.Command(proctest.Binary(t), "storage", "scrub", c.Groups[0][0].Addr)
	cmd.Env = append(os.Environ(), proctest.ClusterEnv)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("scrub: %v: %s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "files "+strconv.Itoa(files)+" ") || !strings.Contains(stdout.String(), "bad 0") {
		t.Fatalf("scrub report:\n%s", stdout.String())
	}
	if !strings.Contains(stderr.String(), "scrub: ") || !strings.Contains(stderr.String(), " of "+strconv.Itoa(files)+" files") {
		t.Fatalf("no progress on stderr:\n%s", stderr.String())
	}
	t.Logf("progress:\n%s", stderr.String())
}
