package e2e

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"

	"github.com/tnv-s3/tnv/internal/nsnet"
	"github.com/tnv-s3/tnv/internal/proctest"
	"github.com/tnv-s3/tnv/metadb/metadbtest"
)

var netnsLong = flag.Bool("netns.long", false,
	"netns suite: the full latency matrix (3 RTTs × 4 KiB/1 MiB/64 MiB + seek, against loopback) and all 7 faults; writes docs/reliability.md's netns section and bench/results/netns-<date>.md/json")

var netnsDocs = flag.String("netns.docs", "",
	"netns suite: only rewrite docs/reliability.md's netns section from a long run's bench/results/netns-*.json")

// netnsHarness is the cluster of the chaos suite spread over network
// namespaces: every process in a namespace of its own, with its own
// address on a private network (internal/nsnet) whose switch delays, loses
// and partitions packets; the test's S3 clients in one more namespace
// ("clients"); MariaDB behind a relay in its own namespace ("mysql").
type netnsHarness struct {
	t     *testing.T
	long  bool
	net   *nsnet.Net
	hosts map[string]*nsnet.Host // by process name, and "clients", "mysql"
	c     *proctest.Cluster
	gws   []*proctest.Proc
	s3    []*s3.Client
	dsn   string // the database as the test process reaches it

	faults  []*netnsFaultResult
	bench   []benchRow
	traffic []trafficRow
}

const netnsAccess, netnsSecret = "netnskey", "netnssecret-0123456789"

// netnsNames are the namespaces, one per process, and the two others.
var netnsNames = []string{"clients", "mysql", "idserver1", "tracker1", "tracker2",
	"storage-g1-1", "storage-g1-2", "storage-g2-1", "storage-g2-2", "gateway1", "gateway2"}

// TestNetns runs the cluster across network namespaces: a latency point
// (the matrix with -netns.long), then faults — loss, partitions — under a
// load of single-key PUT/GET/LIST/DELETE whose history is checked for
// linearizability (see netns_faults_test.go). It skips only when not root.
func TestNetns(t *testing.T) {
	if *netnsDocs != "" {
		// Only the docs, from a long run's saved figures.
		if err := rewriteNetnsDocs(*netnsDocs); err != nil {
			t.Fatal(err)
		}
		return
	}
	h := newNetnsHarness(t, *netnsLong)
	t.Run("latency", func(t *testing.T) { h.runLatency(t) })
	for _, f := range netnsFaults() {
		if !h.long && !f.short {
			continue
		}
		t.Run(f.name, func(t *testing.T) { h.runFault(t, f) })
	}
	h.logSummary(t)
	// The record is written for a whole run only (not for -run picking
	// some faults), failed checks too: they are part of it.
	if h.long && len(h.faults) == len(netnsFaults()) && len(h.bench) > 0 {
		if err := h.writeResults(); err != nil {
			t.Error(err)
		}
	}
}

func newNetnsHarness(t *testing.T, long bool) *netnsHarness {
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if err := nsnet.Available(); err != nil {
		t.Fatal(err) // as root the test runs: a missing ip or TUN device is a broken machine, not a skip
	}
	n, err := nsnet.New()
	if err != nil {
		t.Fatal(err)
	}
	// Registered first, so run last: after every process was killed.
	t.Cleanup(n.Close)
	h := &netnsHarness{t: t, long: long, net: n, hosts: map[string]*nsnet.Host{}}
	for _, name := range netnsNames {
		host, err := n.AddHost(name)
		if err != nil {
			t.Fatal(err)
		}
		h.hosts[name] = host
	}
	h.dsn = metadbtest.NewTestMySQL(t)
	dbAddr, err := dsnHostPort(h.dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.hosts["mysql"].Forward(3306, dbAddr); err != nil {
		t.Fatal(err)
	}
	nsDSN := strings.Replace(h.dsn, "@"+dbAddr+"/", "@"+h.hosts["mysql"].IP.String()+":3306/", 1)
	cli := h.hosts["clients"]
	place := func(name string) (*proctest.Where, string) {
		host := h.hosts[name]
		if host == nil {
			t.Fatalf("no namespace for %s", name)
		}
		return &proctest.Where{Netns: host.Netns, Dial: cli.Dial}, host.IP.String()
	}
	if dir := os.Getenv("TNV_NETNS_LOGS"); dir != "" {
		// Runs after the gateways' and the cluster's processes are
		// killed (cleanups run last first), before their directories go
		// (the temporary directory's cleanup is registered at its first
		// use, here).
		t.TempDir()
		t.Cleanup(func() { h.keepLogs(dir) })
	}
	h.c = proctest.StartCluster(t, proctest.Topology{DB: nsDSN, Trackers: 2, IDServers: 1, Groups: 2, Members: 2,
		Place: place, ClientNetns: cli.Netns})
	for i := range 2 {
		name := fmt.Sprintf("gateway%d", i+1)
		w, ip := place(name)
		addr := net.JoinHostPort(ip, "8080")
		gw := proctest.StartWhere(t, []string{"TNV_ACCESS_KEY=" + netnsAccess, "TNV_SECRET_KEY=" + netnsSecret}, w, name, addr,
			"gateway", "--listen", addr, "--trackers", h.c.TrackerList(), "--db", nsDSN)
		h.gws = append(h.gws, gw)
		h.s3 = append(h.s3, h.client("http://"+addr, 30*time.Second))
	}
	ctx := context.Background()
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := h.s3[0].CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("netns")})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("create bucket through gateway1: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for gw := range h.gws {
		if d := h.recovery(time.Now(), 60*time.Second, gw); d < 0 {
			t.Fatalf("gateway %d serves no PUT+GET after 60 s", gw+1)
		}
	}
	return h
}

// keepLogs copies every process's log into dir (TNV_NETNS_LOGS).
func (h *netnsHarness) keepLogs(dir string) {
	if h.c == nil {
		return
	}
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

// dsnHostPort returns the host:port of a mysql://user@host:port/db DSN.
func dsnHostPort(dsn string) (string, error) {
	at := strings.LastIndex(dsn, "@")
	if at < 0 {
		return "", fmt.Errorf("DSN without @host: %s", dsn)
	}
	rest := dsn[at+1:]
	slash := strings.IndexByte(rest, '/')
	if slash < 0 {
		return "", fmt.Errorf("DSN without /database")
	}
	return rest[:slash], nil
}

// client is an S3 client whose connections start in the clients'
// namespace; no retries, so that every answer is seen as it was.
func (h *netnsHarness) client(endpoint string, timeout time.Duration) *s3.Client {
	tr := &http.Transport{
		DialContext:         h.hosts["clients"].DialContext,
		MaxIdleConnsPerHost: 32,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return newS3(endpoint, tr, timeout)
}

func newS3(endpoint string, tr http.RoundTripper, timeout time.Duration) *s3.Client {
	return s3.New(s3.Options{
		Region:                     "us-east-1",
		BaseEndpoint:               aws.String(endpoint),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(netnsAccess, netnsSecret, ""),
		HTTPClient:                 &http.Client{Transport: tr, Timeout: timeout},
		Retryer:                    aws.NopRetryer{},
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		APIOptions:                 []func(*middleware.Stack) error{v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware},
	})
}
