package e2e

import (
	"context"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tnv-s3/tnv/backend/tnv"
	"github.com/tnv-s3/tnv/internal/proctest"
	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/metadb/metadbtest"
)

var (
	chaosLong = flag.Bool("chaos.long", false,
		"chaos suite: longer loads and fault windows, the ID server's real idle timeout when it has no flag; writes docs/reliability.md")
	chaosStrict = flag.Bool("chaos.strict", false,
		"chaos suite: fail on the failures listed in knownDefects instead of reporting them and skipping their checks")
)

// chaosHarness is one cluster under chaos: 2 trackers, an ID server, 2
// groups of 2 storage members, 2 gateways, each a separate process on
// MariaDB; the load, its ledger and the record of every request.
type chaosHarness struct {
	t     *testing.T
	long  bool
	shape loadShape
	c     *proctest.Cluster
	gws   []*proctest.Proc
	s3    []*s3.Client
	db    *metadb.DB
	tnvc  *tnv.Client

	bucket, appid string
	led           *ledger
	rec           *recorder
	workers       []*workerState

	groupMu sync.Mutex
	groupOf map[string]int // blob user ID → group index

	verifyRound int
	headChecked map[string]bool // deleted keys already HEAD-checked

	sick        *tmpfsStore   // the member whose store is a tmpfs (root only)
	idleTimeout time.Duration // the ID server's idle timeout

	results []*scenarioResult
}

const chaosAccess, chaosSecret = "chaoskey", "chaossecret-0123456789"

// TestChaos runs the chaos suite: a bounded mixed load through both S3
// gateways and, one at a time, the faults of issue 13 item 8. After each
// fault every acknowledged object must read back byte-identical from every
// member of its group and through a gateway, no acknowledged delete may
// come back, service must be back within 15 s and every member caught up
// within 60 s; during the fault only clean 5xx answers (and failed
// connections to a gateway that was killed) are allowed. The short form
// runs by default; -chaos.long runs longer and writes docs/reliability.md.
func TestChaos(t *testing.T) {
	h := newChaosHarness(t, *chaosLong)
	for _, sc := range chaosScenarios() {
		t.Run(sc.name, func(t *testing.T) { h.runScenario(t, sc) })
	}
	h.logSummary(t)
	if h.long {
		if err := writeReliability("../docs/reliability.md", h); err != nil {
			t.Error(err)
		}
	}
}

func newChaosHarness(t *testing.T, long bool) *chaosHarness {
	h := &chaosHarness{t: t, long: long, led: newLedger(), rec: &recorder{}, groupOf: map[string]int{},
		headChecked: map[string]bool{}, bucket: "chaos"}
	h.shape = loadShape{Workers: 4, Interval: 150 * time.Millisecond, MaxOps: 400, MaxSize: 8 << 20, MultipartShare: 0.04}
	if long {
		h.shape = loadShape{Workers: 6, Interval: 400 * time.Millisecond, MaxOps: 2000, MaxSize: 8 << 20, MultipartShare: 0.06}
	}
	for w := range h.shape.Workers {
		h.workers = append(h.workers, &workerState{rng: rand.New(rand.NewPCG(uint64(w), 0x7a17))})
	}
	dsn := metadbtest.NewTestMySQL(t)
	h.c = proctest.StartCluster(t, proctest.Topology{DB: dsn, Trackers: 2, IDServers: 1, Groups: 2, Members: 2})
	if dir := os.Getenv("TNV_CHAOS_LOGS"); dir != "" {
		// Cleanups run last first: this one after the gateways are
		// killed, before the cluster's processes are and their
		// directories go.
		t.Cleanup(func() { h.keepLogs(dir) })
	}

	// The short form gives the ID server a short idle timeout, so that the
	// idle scenario waits seconds; the long form waits out the 5 min
	// default.
	h.idleTimeout = 5 * time.Minute
	if !h.long {
		h.idleTimeout = 3 * time.Second
		id := h.c.IDs[0]
		id.Kill()
		id.Args = append(id.Args, "--idle-timeout", h.idleTimeout.String())
		id.Restart()
	}
	// As root every member's store is a tmpfs of its own, all of one size,
	// so that member g2-2's disk can be made read-only or full. All of
	// one size: the tracker routes a new user to the group with the most
	// free space, so a smaller store would leave its group without data.
	if os.Geteuid() == 0 {
		for _, p := range h.c.Members() {
			st := mountTmpfsStore(t, p)
			if p == h.c.Groups[1][1] {
				h.sick = st
			}
		}
		h.c.WaitActive(30 * time.Second)
	}
	for i := range 2 {
		gw := proctest.StartFree(t, []string{"TNV_ACCESS_KEY=" + chaosAccess, "TNV_SECRET_KEY=" + chaosSecret},
			"gateway"+string(rune('1'+i)), func(addr string) []string {
				return []string{"gateway", "--listen", addr, "--trackers", h.c.TrackerList(), "--db", dsn}
			})
		waitHTTP(t, "http://"+gw.Addr+"/_tnv/health", 30*time.Second)
		h.gws = append(h.gws, gw)
		h.s3 = append(h.s3, chaosS3("http://"+gw.Addr, chaosAccess, chaosSecret))
	}
	db, err := metadb.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	h.db = db
	h.tnvc, err = tnv.New(tnv.Config{Trackers: strings.Split(h.c.TrackerList(), ","), Auth: h.c.Key()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.tnvc.Close() })

	ctx := context.Background()
	if _, err := h.s3[0].CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(h.bucket)}); err != nil {
		t.Fatal(err)
	}
	h.appid = bucketAppID(t, db, h.bucket)
	// Warm up: until a PUT and a GET succeed through each gateway (a
	// restarted ID server's first requests are not what is measured here).
	deadline := time.Now().Add(30 * time.Second)
	for gw := range h.gws {
		for !h.probe(gw) {
			if time.Now().After(deadline) {
				t.Fatalf("gateway %d serves no PUT+GET after 30 s", gw+1)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	h.selfCheck(t)
	return h
}

// keepLogs copies every process's log into dir (TNV_CHAOS_LOGS), to read
// after the run.
func (h *chaosHarness) keepLogs(dir string) {
	procs := append(append(append(append([]*proctest.Proc{}, h.gws...), h.c.Members()...), h.c.Trackers...), h.c.IDs...)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		h.t.Log(err)
		return
	}
	for _, p := range procs {
		b, err := os.ReadFile(p.Log)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, p.Name+".log"), b, 0o644)
		}
		if err != nil {
			h.t.Log(err)
		}
	}
}
