package e2e

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/tnv-s3/tnv/internal/proctest"
	"github.com/tnv-s3/tnv/metadb/metadbtest"
)

// startGateway runs `tnv gateway` as a process against cluster c.
func startGateway(t *testing.T, c *proctest.Cluster, access, secret string) *proctest.Proc {
	t.Helper()
	return startGatewayAs(t, c, access, secret, "gateway")
}

// startGatewayAs is startGateway with the process named name and extra
// flags.
func startGatewayAs(t *testing.T, c *proctest.Cluster, access, secret, name string, extra ...string) *proctest.Proc {
	t.Helper()
	p := proctest.StartFree(t, []string{"TNV_ACCESS_KEY=" + access, "TNV_SECRET_KEY=" + secret}, name, func(addr string) []string {
		return append([]string{"gateway", "--listen", addr, "--trackers", c.TrackerList(), "--db", c.Topo.DB}, extra...)
	})
	waitHTTP(t, "http://"+p.Addr+"/_tnv/health", 30*time.Second)
	return p
}

// TestGateway_OneGiB_StreamsWithBoundedRSS puts and gets a 1 GiB object
// through a `tnv gateway` process in front of a mirrored cluster of
// processes, and reads the gateway's peak RSS.
func TestGateway_OneGiB_StreamsWithBoundedRSS(t *testing.T) {
	dsn := metadbtest.NewTestMySQL(t)
	c := proctest.StartCluster(t, proctest.Topology{DB: dsn, Groups: 1, Members: 2})
	gw := startGateway(t, c, "gwtestkey", "gwtestsecret-0123456")
	s3c := s3Client("http://"+gw.Addr, "gwtestkey", "gwtestsecret-0123456")
	ctx := context.Background()
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("big")}); err != nil {
		t.Fatal(err)
	}
	const size = 1 << 30
	// A presigned PUT with a generated body: the client holds nothing either.
	ps := s3.NewPresignClient(s3c)
	put, err := ps.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("big"), Key: aws.String("one-gib")})
	if err != nil {
		t.Fatal(err)
	}
	want := md5.New()
	body := io.TeeReader(io.LimitReader(rand.NewChaCha8([32]byte{9}), size), want)
	req, _ := http.NewRequest("PUT", put.URL, body)
	req.ContentLength = size
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("PUT: %s", resp.Status)
	}
	putTook := time.Since(start)
	etag := fmt.Sprintf(`"%x"`, want.Sum(nil))
	if resp.Header.Get("ETag") != etag {
		t.Fatalf("ETag %s, want %s", resp.Header.Get("ETag"), etag)
	}
	start = time.Now()
	out, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("big"), Key: aws.String("one-gib")})
	if err != nil {
		t.Fatal(err)
	}
	got := md5.New()
	n, err := io.Copy(got, out.Body)
	out.Body.Close()
	if err != nil || n != size || fmt.Sprintf(`"%x"`, got.Sum(nil)) != etag {
		t.Fatalf("GET: %d bytes, %v, digest differs: %v", n, err, fmt.Sprintf(`"%x"`, got.Sum(nil)) != etag)
	}
	getTook := time.Since(start)
	rss, err := gw.PeakRSS()
	if err != nil {
		t.Fatal(err)
	}
	var nodes []string
	for _, m := range c.Members() {
		r, _ := m.PeakRSS()
		nodes = append(nodes, fmt.Sprintf("%d MiB", r>>20))
	}
	t.Logf("1 GiB PUT %v (%.0f MiB/s), GET %v (%.0f MiB/s); gateway peak RSS %d MiB, storage nodes %v",
		putTook.Round(time.Millisecond), 1024/putTook.Seconds(), getTook.Round(time.Millisecond), 1024/getTook.Seconds(), rss>>20, nodes)
	if rss > 256<<20 {
		t.Fatalf("gateway peak RSS %d MiB, want < 256 MiB", rss>>20)
	}
}

// storageCount sums a storage node's tnv_requests_total for cmd.
func storageCount(t *testing.T, metricsAddr, cmd string) int {
	t.Helper()
	n := 0
	for _, l := range strings.Split(httpGet(t, "http://"+metricsAddr+"/metrics"), "\n") {
		if strings.HasPrefix(l, "tnv_requests_total{") && strings.Contains(l, `cmd="`+cmd+`"`) {
			f := strings.Fields(l)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			n += int(v)
		}
	}
	return n
}

var (
	reLeaseHeld  = regexp.MustCompile(`(?m)^tnv_index_lease_held (\d+)$`)
	reLookupHits = regexp.MustCompile(`(?m)^tnv_index_lookup_cache_total\{result="hit"\} (\d+)$`)
)

// gatewayMetric scrapes one value of a gateway's /_tnv/metrics, signed by
// the root key.
func gatewayMetric(t *testing.T, addr, access, secret string, re *regexp.Regexp) int {
	t.Helper()
	code, body := getWith(t, "http://"+addr+"/_tnv/metrics", access, secret)
	if code != http.StatusOK {
		t.Fatalf("gateway %s metrics: %d %s", addr, code, body)
	}
	m := re.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("gateway %s metrics lack %s", addr, re)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestGateway_LocalReads: storage nodes with --local-socket and a gateway
// on their machine. GETs (whole and ranges) are served by opening the
// node's file through the socket (LOCAL_OPEN) rather than by DOWNLOAD;
// a gateway with --local-reads=false downloads over TCP; a node whose
// socket is gone is read over TCP again. Every read of the gateway is
// vouched by its index (the _LIVE forms; never the plain ones), and an
// object deleted or overwritten reads as such at once, whatever the nodes
// cached.
func TestGateway_LocalReads(t *testing.T) {
	dsn := metadbtest.NewTestMySQL(t)
	c := proctest.StartCluster(t, proctest.Topology{DB: dsn, Groups: 1, Members: 2, LocalSockets: true})
	gw := startGateway(t, c, "lrkey", "lrsecret-0123456789")
	s3c := s3Client("http://"+gw.Addr, "lrkey", "lrsecret-0123456789")
	ctx := context.Background()
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("loc")}); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, 5<<20)
	rand.NewChaCha8([32]byte{3}).Read(body)
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("loc"), Key: aws.String("k"), Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	get := func(c *s3.Client, rng string) []byte {
		t.Helper()
		in := &s3.GetObjectInput{Bucket: aws.String("loc"), Key: aws.String("k")}
		if rng != "" {
			in.Range = aws.String(rng)
		}
		out, err := c.GetObject(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		defer out.Body.Close()
		b, err := io.ReadAll(out.Body)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	counts := func(cmd string) int {
		n := 0
		for _, p := range c.Members() {
			n += storageCount(t, c.Metrics[p], cmd)
		}
		return n
	}
	// settled returns the counts of cmds once they stop changing: a node
	// counts a request when its handler returns, which on a busy machine
	// can be after the client has its bytes (seen: 5 of 6 LOCAL_OPENs
	// counted right after the sixth GET).
	settled := func(cmds ...string) []int {
		t.Helper()
		read := func() []int {
			var v []int
			for _, cmd := range cmds {
				v = append(v, counts(cmd))
			}
			return v
		}
		prev := read()
		for stable, deadline := 0, time.Now().Add(10*time.Second); stable < 3 && time.Now().Before(deadline); {
			time.Sleep(100 * time.Millisecond)
			cur := read()
			if slices.Equal(cur, prev) {
				stable++
			} else {
				stable, prev = 0, cur
			}
		}
		return prev
	}
	// The gateway asks each node for its socket in the background, on the
	// first read that reaches it; until then reads go over TCP.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if !bytes.Equal(get(s3c, ""), body) {
			t.Fatal("whole GET differs")
		}
		found := 0
		for _, p := range c.Members() {
			if storageCount(t, c.Metrics[p], "LOCAL_OPEN_LIVE") > 0 {
				found++
			}
		}
		if found == len(c.Members()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20 s of GETs %d of %d nodes opened a file locally", found, len(c.Members()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	c0 := settled("LOCAL_OPEN_LIVE", "DOWNLOAD_LIVE")
	lo0, dl0 := c0[0], c0[1]
	for range 3 {
		if !bytes.Equal(get(s3c, ""), body) {
			t.Fatal("whole GET differs")
		}
		if !bytes.Equal(get(s3c, "bytes=1000-200999"), body[1000:201000]) {
			t.Fatal("range GET differs")
		}
	}
	if c1 := settled("LOCAL_OPEN_LIVE", "DOWNLOAD_LIVE"); c1[0]-lo0 != 6 || c1[1]-dl0 != 0 {
		lo, dl := c1[0]-lo0, c1[1]-dl0
		t.Fatalf("LOCAL_OPEN %d, DOWNLOAD %d; want all 6 GETs opened locally", lo, dl)
	}

	// The same cluster through a gateway that does not look for sockets.
	tcp := proctest.StartFree(t, []string{"TNV_ACCESS_KEY=lrkey", "TNV_SECRET_KEY=lrsecret-0123456789"}, "gateway-tcp", func(addr string) []string {
		return []string{"gateway", "--listen", addr, "--trackers", c.TrackerList(), "--db", c.Topo.DB, "--local-reads=false"}
	})
	waitHTTP(t, "http://"+tcp.Addr+"/_tnv/health", 30*time.Second)
	if !bytes.Equal(get(s3Client("http://"+tcp.Addr, "lrkey", "lrsecret-0123456789"), ""), body) {
		t.Fatal("GET over TCP differs")
	}
	if dl := settled("DOWNLOAD_LIVE")[0] - dl0; dl != 1 {
		t.Fatalf("DOWNLOAD %d after one GET with --local-reads=false, want 1", dl)
	}

	// Sockets gone (as seen from another machine): a gateway started now
	// finds none and reads over TCP.
	for _, p := range c.Members() {
		os.Remove(c.Sockets[p])
	}
	other := s3Client("http://"+startGateway(t, c, "lrkey", "lrsecret-0123456789").Addr, "lrkey", "lrsecret-0123456789")
	for range 4 {
		if !bytes.Equal(get(other, "bytes=7-70000"), body[7:70001]) {
			t.Fatal("range GET without sockets differs")
		}
		time.Sleep(100 * time.Millisecond) // its probes answer meanwhile
	}
	if dl := settled("DOWNLOAD_LIVE")[0] - dl0; dl != 1+4 {
		t.Fatalf("DOWNLOAD %d after 4 GETs through a gateway that found no socket, want 1+4", dl)
	}

	// The nodes restart (new sockets, counters from zero): the first
	// gateway's idle socket connections are dead; its reads go on, locally.
	for _, p := range c.Members() {
		p.Kill()
		p.Restart()
	}
	c.WaitActive(30 * time.Second)
	for range 6 {
		if !bytes.Equal(get(s3c, "bytes=7-70000"), body[7:70001]) {
			t.Fatal("range GET after the nodes restarted differs")
		}
	}
	if lo, dl := counts("LOCAL_OPEN_LIVE"), counts("DOWNLOAD_LIVE"); lo < 2 || dl != 0 {
		t.Fatalf("after the restart: LOCAL_OPEN %d, DOWNLOAD %d; want the GETs local", lo, dl)
	}
	// The range GETs since the restart read one blob, spread over the
	// members: each node's first read of it misses its row cache (one
	// query), the later ones hit.
	lo := settled("LOCAL_OPEN_LIVE")[0] // counted once each reply is out
	hits, misses := 0, 0
	for _, p := range c.Members() {
		for _, l := range strings.Split(httpGet(t, "http://"+c.Metrics[p]+"/metrics"), "\n") {
			if !strings.HasPrefix(l, "tnv_row_cache_reads_total{") {
				continue
			}
			f := strings.Fields(l)
			v, _ := strconv.Atoi(f[len(f)-1])
			switch {
			case strings.Contains(l, `result="hit"`):
				hits += v
			case strings.Contains(l, `result="miss"`):
				misses += v
			}
		}
	}
	if hits+misses != lo || misses < 1 || misses > len(c.Members()) || hits < lo-len(c.Members()) {
		t.Fatalf("row cache: %d hits, %d misses for %d live reads since the restart; want them to add up, a miss per node at most", hits, misses, lo)
	}

	// Overwritten, then deleted, through the other gateway: the first one
	// reads the new bytes, then NoSuchKey, though the nodes hold the old
	// blob's row from the reads above and the first gateway its index row
	// in its lookup cache (it holds the index lease, started first): the
	// other gateway's writes wait the lease out.
	if held := gatewayMetric(t, gw.Addr, "lrkey", "lrsecret-0123456789", reLeaseHeld); held != 1 {
		t.Fatalf("tnv_index_lease_held %d on the first gateway, want 1", held)
	}
	if hits := gatewayMetric(t, gw.Addr, "lrkey", "lrsecret-0123456789", reLookupHits); hits < 5 {
		t.Fatalf("the first gateway's GETs hit its lookup cache %d times, want most of them", hits)
	}
	tcpc := s3Client("http://"+tcp.Addr, "lrkey", "lrsecret-0123456789")
	body2 := bytes.Repeat([]byte("second version "), 1000)
	if _, err := tcpc.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("loc"), Key: aws.String("k"), Body: bytes.NewReader(body2)}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(get(s3c, ""), body2) {
		t.Fatal("GET after an overwrite through another gateway differs from the new bytes")
	}
	if _, err := tcpc.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("loc"), Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	var nsk *types.NoSuchKey
	if _, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("loc"), Key: aws.String("k")}); !errors.As(err, &nsk) {
		t.Fatalf("GET after a delete through another gateway: %v, want NoSuchKey", err)
	}
	if lo, dl := counts("LOCAL_OPEN"), counts("DOWNLOAD"); lo != 0 || dl != 0 {
		t.Fatalf("plain LOCAL_OPEN %d, DOWNLOAD %d since the restart: a gateway's reads are all vouched live", lo, dl)
	}
}
