package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sys/unix"

	"github.com/tnv-s3/tnv/internal/nsnet"
	"github.com/tnv-s3/tnv/internal/proctest"
	"github.com/tnv-s3/tnv/metadb/metadbtest"
)

// benchRow is one measured point of the latency matrix.
type benchRow struct {
	Setup  string  // "loopback" or "netns RTT 2 ms"
	RTT    float64 // ms: the measured round trip (TCP connect) from the clients to the gateway; 0 on loopback
	Op     string  // "PUT", "GET", "seek 256 KiB"
	Size   int64   // object size
	Reps   int
	Median float64 // ms for the whole request
	TTFB   float64 // ms to the first body byte (GET, seek); 0 for PUT
	MiBps  float64 // bytes moved / median
}

// runLatency measures PUT and GET of each size and a 256 KiB seek through
// gateway1 at each RTT (a one-way delay of RTT/2 on every packet between
// any two namespaces: clients→gateway, gateway→storage, storage→storage,
// everyone→MySQL), and, in the long form, the same on loopback in the same
// run. Figures only: performance is measured, never asserted; what is
// checked is that every byte comes back.
func (h *netnsHarness) runLatency(t *testing.T) {
	rtts := []time.Duration{2 * time.Millisecond}
	sizes := []int64{4 << 10, 1 << 20}
	if h.long {
		rtts = []time.Duration{500 * time.Microsecond, 2 * time.Millisecond, 10 * time.Millisecond}
		sizes = []int64{4 << 10, 1 << 20, 64 << 20}
	}
	data := payload(20, sizes[len(sizes)-1])
	if h.long {
		lo := loopbackGateway(t)
		h.bench = append(h.bench, benchSizes(t, lo, "loopback", 0, data, sizes, h.long)...)
	}
	defer h.net.SetDelay(0)
	c := h.client("http://"+h.gws[0].Addr, 10*time.Minute) // 64 MiB at 10 ms RTT is not a 30 s request
	for _, rtt := range rtts {
		h.net.SetDelay(rtt / 2)
		measured := h.connectRTT(t)
		setup := fmt.Sprintf("netns RTT %g ms", float64(rtt.Microseconds())/1000)
		h.bench = append(h.bench, benchSizes(t, c, setup, measured, data, sizes, h.long)...)
	}
	h.traffic = h.measureTraffic(t, c)
	var b strings.Builder
	for _, r := range h.bench {
		fmt.Fprintf(&b, "\n  %-18s rtt %5.2f ms  %-13s %9s ×%-2d median %8.1f ms  ttfb %7.1f ms  %8.1f MiB/s",
			r.Setup, r.RTT, r.Op, sizeName(r.Size), r.Reps, r.Median, r.TTFB, r.MiBps)
	}
	for _, tr := range h.traffic {
		fmt.Fprintf(&b, "\n  packets of one %s (%.1f ms):", tr.Op, tr.Took)
		for _, p := range tr.Pairs {
			fmt.Fprintf(&b, " %s→%s %d", p.From, p.To, p.Packets)
		}
	}
	t.Log("latency:" + b.String())
}

// trafficRow is the packets one request caused, by pair of namespaces.
type trafficRow struct {
	Op    string
	Took  float64 // ms
	Pairs []nsnet.Pair
}

// measureTraffic counts the packets between namespaces of one 4 KiB PUT,
// one GET of it and one 256 KiB seek, at the last RTT (where a packet
// exchange costs most): which parts talk to which, and how much. The
// members' beats to the trackers (one a second each) fall into these
// counts too.
func (h *netnsHarness) measureTraffic(t *testing.T, c *s3.Client) []trafficRow {
	ctx := context.Background()
	body := payload(21, 4<<10)
	var rows []trafficRow
	count := func(op string, f func()) {
		h.net.ResetPairs()
		start := time.Now()
		f()
		rows = append(rows, trafficRow{Op: op, Took: ms(time.Since(start)), Pairs: h.net.Pairs()})
	}
	count("PUT 4 KiB", func() {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("netns"), Key: aws.String("bench/traffic"),
			Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body)))}); err != nil {
			t.Fatal(err)
		}
	})
	count("GET 4 KiB", func() { timedGet(t, c, "bench/traffic", nil) })
	return rows
}

// connectRTT is the kernel's round-trip estimate (TCP_INFO rtt, from the
// handshake) of 5 fresh connections from the clients' namespace to
// gateway1, the median, in ms: the round trip as the switch makes it, the
// delay and its own cost.
func (h *netnsHarness) connectRTT(t *testing.T) float64 {
	var rtts []time.Duration
	for range 5 {
		c, err := h.hosts["clients"].Dial("tcp", h.gws[0].Addr)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := c.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var info *unix.TCPInfo
		var ierr error
		if err := rc.Control(func(fd uintptr) { info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }); err != nil || ierr != nil {
			t.Fatalf("TCP_INFO: %v %v", err, ierr)
		}
		rtts = append(rtts, time.Duration(info.Rtt)*time.Microsecond)
		c.Close()
	}
	return ms(median(rtts))
}

// loopbackGateway starts a second cluster of the same shape on loopback
// (one gateway), with a database of its own, for the same workload.
func loopbackGateway(t *testing.T) *s3.Client {
	dsn := metadbtest.NewTestMySQL(t)
	c := proctest.StartCluster(t, proctest.Topology{DB: dsn, Trackers: 2, IDServers: 1, Groups: 2, Members: 2})
	gw := proctest.StartFree(t, []string{"TNV_ACCESS_KEY=" + netnsAccess, "TNV_SECRET_KEY=" + netnsSecret}, "gateway-loopback",
		func(addr string) []string {
			return []string{"gateway", "--listen", addr, "--trackers", c.TrackerList(), "--db", dsn}
		})
	waitHTTP(t, "http://"+gw.Addr+"/_tnv/health", 30*time.Second)
	tr := &http.Transport{DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext, MaxIdleConnsPerHost: 8, DisableCompression: true}
	cl := newS3("http://"+gw.Addr, tr, 5*time.Minute)
	if _, err := cl.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("netns")}); err != nil {
		t.Fatal(err)
	}
	return cl
}

func sizeName(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

func reps(size int64, long bool) int {
	switch {
	case !long:
		return 3
	case size >= 64<<20:
		return 3
	case size >= 1<<20:
		return 10
	}
	return 20
}

// benchSizes runs PUT and GET of each size and a 256 KiB seek in the
// largest object through c.
func benchSizes(t *testing.T, c *s3.Client, setup string, rtt float64, data []byte, sizes []int64, long bool) []benchRow {
	ctx := context.Background()
	var rows []benchRow
	for _, size := range sizes {
		body := data[:size]
		want := sha256.Sum256(body)
		n := reps(size, long)
		var puts, gets, ttfbs []time.Duration
		for i := range n {
			key := fmt.Sprintf("bench/%s/%d/%d", strings.ReplaceAll(setup, " ", "-"), size, i)
			start := time.Now()
			if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("netns"), Key: aws.String(key),
				Body: bytes.NewReader(body), ContentLength: aws.Int64(size)}); err != nil {
				t.Fatalf("%s: PUT %s: %v", setup, sizeName(size), err)
			}
			puts = append(puts, time.Since(start))
			took, ttfb, sum := timedGet(t, c, key, nil)
			if sum != want {
				t.Fatalf("%s: GET %s: bytes differ from the PUT's", setup, sizeName(size))
			}
			gets, ttfbs = append(gets, took), append(ttfbs, ttfb)
		}
		rows = append(rows, benchRow{Setup: setup, RTT: rtt, Op: "PUT", Size: size, Reps: n, Median: ms(median(puts)), MiBps: mibps(size, median(puts))},
			benchRow{Setup: setup, RTT: rtt, Op: "GET", Size: size, Reps: n, Median: ms(median(gets)), TTFB: ms(median(ttfbs)), MiBps: mibps(size, median(gets))})
	}
	// The seek: 256 KiB from the middle of the largest object, as a video
	// player's Range request.
	size := sizes[len(sizes)-1]
	key := fmt.Sprintf("bench/%s/%d/0", strings.ReplaceAll(setup, " ", "-"), size)
	const span = 256 << 10
	off := size/2 - span/2
	want := sha256.Sum256(data[off : off+span])
	var takes, ttfbs []time.Duration
	for range reps(4<<10, long) {
		rng := fmt.Sprintf("bytes=%d-%d", off, off+span-1)
		took, ttfb, sum := timedGet(t, c, key, &rng)
		if sum != want {
			t.Fatalf("%s: seek: bytes differ", setup)
		}
		takes, ttfbs = append(takes, took), append(ttfbs, ttfb)
	}
	rows = append(rows, benchRow{Setup: setup, RTT: rtt, Op: "seek 256 KiB", Size: size, Reps: len(takes),
		Median: ms(median(takes)), TTFB: ms(median(ttfbs)), MiBps: mibps(span, median(takes))})
	return rows
}

// timedGet GETs key (a range when rng is set) and returns the time of the
// whole request, the time to its first body byte and the body's SHA-256.
func timedGet(t *testing.T, c *s3.Client, key string, rng *string) (took, ttfb time.Duration, sum [32]byte) {
	start := time.Now()
	o, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("netns"), Key: aws.String(key), Range: rng})
	if err != nil {
		t.Fatalf("GET %s: %v", key, err)
	}
	defer o.Body.Close()
	var first [1]byte
	if _, err := io.ReadFull(o.Body, first[:]); err != nil {
		t.Fatalf("GET %s: %v", key, err)
	}
	ttfb = time.Since(start)
	hs := sha256.New()
	hs.Write(first[:])
	if _, err := io.Copy(hs, o.Body); err != nil {
		t.Fatalf("GET %s: %v", key, err)
	}
	return time.Since(start), ttfb, [32]byte(hs.Sum(nil))
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func mibps(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / (1 << 20) / d.Seconds()
}
