package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/tnv-s3/tnv/internal/proctest"
	"github.com/tnv-s3/tnv/metadb/metadbtest"
)

// metricSum adds up the samples of name (a counter, or a histogram's
// _count) whose labels include every one of labels (`phase="log"`).
func metricSum(text, name string, labels ...string) float64 {
	var sum float64
	for _, l := range strings.Split(text, "\n") {
		if !strings.HasPrefix(l, name+"{") && !strings.HasPrefix(l, name+" ") {
			continue
		}
		ok := true
		for _, lb := range labels {
			ok = ok && strings.Contains(l, lb)
		}
		if f := strings.Fields(l); ok && len(f) >= 2 {
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
		}
	}
	return sum
}

// eventually polls cond for up to 60 s (a loaded machine).
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var ok bool
		if ok, last = cond(); ok {
			return
		}
	}
	t.Fatalf("%s: not after 60 s; last: %s", what, last)
}

// putPhases are the gateway's phases of a PutObject, and the storage
// nodes' of an UPLOAD and of a REPLICATE.
var (
	gatewayPhases   = []string{"request", "intent", "blob", "publish", "total"}
	uploadPhases    = []string{"id", "receive", "fsync", "mirror", "log"} // the coordinator's row commits with its log entry
	replicatePhases = []string{"id", "receive", "fsync", "row"}
)

// TestGateway_GCFlagsAndPhaseMetrics: a `tnv gateway` started with
// --gc-delay 1ms --gc-interval 100ms deletes the blob an overwrite
// replaced from both mirrors at once (its grace is otherwise 2 minutes,
// its look every 10 s), and counts it in tnv_s3_gc_blobs_total; every PUT
// is counted once in each of its phases, by the gateway and by the storage
// nodes of a mirrored group (UPLOAD on one, REPLICATE on the other).
func TestGateway_GCFlagsAndPhaseMetrics(t *testing.T) {
	dsn := metadbtest.NewTestMySQL(t)
	c := proctest.StartCluster(t, proctest.Topology{DB: dsn, Groups: 1, Members: 2, LocalSockets: true})
	var metrics string
	gw := proctest.StartFree(t, []string{"TNV_ACCESS_KEY=phkey", "TNV_SECRET_KEY=phsecret-0123456789"}, "gateway", func(addr string) []string {
		metrics = proctest.FreeAddr(t)
		return []string{"gateway", "--listen", addr, "--trackers", c.TrackerList(), "--db", c.Topo.DB,
			"--metrics-listen", metrics, "--gc-delay", "1ms", "--gc-interval", "100ms"}
	})
	waitHTTP(t, "http://"+gw.Addr+"/_tnv/health", 30*time.Second)
	s3c := s3Client("http://"+gw.Addr, "phkey", "phsecret-0123456789")
	ctx := context.Background()
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("phases")}); err != nil {
		t.Fatal(err)
	}
	body := func(seed uint64) []byte {
		b := make([]byte, 4<<10)
		rand.NewChaCha8([32]byte{byte(seed)}).Read(b)
		return b
	}
	const n = 5
	for i := range n {
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("phases"), Key: aws.String(fmt.Sprintf("k%d", i)),
			Body: bytes.NewReader(body(uint64(i)))}); err != nil {
			t.Fatal(err)
		}
	}
	gwText := func() string { return httpGet(t, "http://"+metrics+"/metrics") }
	nodes := func(name string, labels ...string) float64 {
		var s float64
		for _, p := range c.Members() {
			s += metricSum(httpGet(t, "http://"+c.Metrics[p]+"/metrics"), name, labels...)
		}
		return s
	}
	// The gateway records a PUT's phases before it answers, and so does
	// each node: the counts are final once the PUTs returned.
	text := gwText()
	for _, ph := range gatewayPhases {
		if got := metricSum(text, "tnv_s3_put_phase_seconds_count", `phase="`+ph+`"`); got != n {
			t.Errorf("gateway phase %s counted %v times, want %d", ph, got, n)
		}
	}
	for _, ph := range uploadPhases {
		if got := nodes("tnv_phase_seconds_count", `cmd="UPLOAD"`, `phase="`+ph+`"`); got != n {
			t.Errorf("UPLOAD phase %s counted %v times over the group, want %d", ph, got, n)
		}
	}
	// A mirror that makes no progress for a while is skipped and copies
	// from the log later: on a loaded machine its REPLICATE may be late.
	eventually(t, "REPLICATE phases", func() (bool, string) {
		var bad []string
		for _, ph := range replicatePhases {
			if got := nodes("tnv_phase_seconds_count", `cmd="REPLICATE"`, `phase="`+ph+`"`); got != n {
				bad = append(bad, fmt.Sprintf("%s %v", ph, got))
			}
		}
		return len(bad) == 0, strings.Join(bad, ", ")
	})
	if got := metricSum(text, "tnv_s3_gc_blobs_total"); got != 0 {
		t.Fatalf("the collector worked off %v blobs before any was replaced", got)
	}

	// Overwrite k0: its first blob is collected at once, from both members.
	deletes := nodes("tnv_requests_total", `cmd="DELETE"`)
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("phases"), Key: aws.String("k0"),
		Body: bytes.NewReader(body(99))}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the replaced blob collected", func() (bool, string) {
		text := gwText()
		d := metricSum(text, "tnv_s3_gc_blobs_total", `result="deleted"`)
		return d == 1 && nodes("tnv_requests_total", `cmd="DELETE"`) > deletes, fmt.Sprintf("deleted %v", d)
	})
	out, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("phases"), Key: aws.String("k0")})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil || !bytes.Equal(got, body(99)) {
		t.Fatalf("GET after the overwrite: %d bytes, %v; want the new body", len(got), err)
	}
}

// TestUp_GCFlagsAndNodePhases: `tnv up --gc-delay 1ms --gc-interval 100ms`
// collects a replaced blob at once, and its /_tnv/metrics (opened by
// --metrics-token) counts the phases of its in-process storage nodes
// beside the gateway's; its PUTs' uploads are staged (UPLOAD_STAGED) and
// committed with their index rows.
func TestUp_GCFlagsAndNodePhases(t *testing.T) {
	u := startUp(t, t.TempDir(), "--data", "data", "--s3-addr", "127.0.0.1:0", "--gc-delay", "1ms", "--gc-interval", "100ms",
		"--metrics-token", "uptoken-0123456789", "--access-key", "upkey", "--secret-key", "upsecret-0123456789")
	s3c := s3Client(u.endpoint, "upkey", "upsecret-0123456789")
	ctx := context.Background()
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("upbucket")}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // the second replaces the first
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("upbucket"), Key: aws.String("k"),
			Body: bytes.NewReader(bytes.Repeat([]byte{byte(i)}, 4096))}); err != nil {
			t.Fatal(err)
		}
	}
	metrics := func() string {
		req, _ := http.NewRequest("GET", u.endpoint+"/_tnv/metrics", nil)
		req.Header.Set("Authorization", "Bearer uptoken-0123456789")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("/_tnv/metrics: %d %s", resp.StatusCode, b)
		}
		return string(b)
	}
	text := metrics()
	if got := metricSum(text, "tnv_s3_put_phase_seconds_count", `phase="total"`); got != 2 {
		t.Errorf("gateway counted %v PUTs, want 2", got)
	}
	for _, ph := range uploadPhases {
		if got := metricSum(text, "tnv_phase_seconds_count", `cmd="UPLOAD"`, `phase="`+ph+`"`); got != 2 {
			t.Errorf("UPLOAD phase %s counted %v times, want 2", ph, got)
		}
	}
	// Each PUT's upload was staged and committed with its index row.
	if got := metricSum(text, "tnv_requests_total", `cmd="UPLOAD_STAGED"`, `result="ok"`); got != 2 {
		t.Errorf("%v UPLOAD_STAGED answered, want 2", got)
	}
	if got := metricSum(text, "tnv_requests_total", `cmd="UPLOAD"`); got != 0 {
		t.Errorf("%v UPLOADs on tnv up", got)
	}
	eventually(t, "the replaced blob collected", func() (bool, string) {
		d := metricSum(metrics(), "tnv_s3_gc_blobs_total", `result="deleted"`)
		return d == 1, fmt.Sprintf("deleted %v", d)
	})
	u.stop(t)
}
