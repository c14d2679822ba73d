package gateway

import (
	"bytes"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/minio-go/v7"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/tnv-s3/tnv/backend/tnv"
	"github.com/tnv-s3/tnv/idserver"
	"github.com/tnv-s3/tnv/internal/rpcmetrics"
	"github.com/tnv-s3/tnv/storagenode"
	"github.com/tnv-s3/tnv/tracker"
)

// cluster is a real TNV cluster in this process on loopback: an ID
// server, a tracker and two groups of two mirrored storage nodes, sharing
// one SQLite database with the gateway.
type cluster struct {
	client *tnv.Client
	env    *env
	dir    string // the storage nodes' stores, one directory each below it
}

func serveOn(t *testing.T, name string, srv interface {
	Serve(net.Listener) error
	Close() error
}) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func newCluster(t *testing.T, tls bool) *cluster {
	t.Helper()
	return newClusterOpt(t, clusterOpt{tls: tls})
}

// clusterOpt: tls makes the gateway speak HTTPS; staged runs the nodes
// as tnv up does, with Staging on and known to the client as in this
// process (tnv.Config.Local), and gives them metrics in reg and a short
// PendingTTL (StagedTTL stays 30 s).
type clusterOpt struct {
	tls    bool
	staged bool
	reg    *prometheus.Registry
	// lookupCache is the gateway's Config.LookupCache.
	lookupCache int
}

func newClusterOpt(t *testing.T, o clusterOpt) *cluster {
	t.Helper()
	db := openDB(t, false)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ids, err := idserver.New(idserver.Config{DB: db, Logger: quiet})
	must(t, err)
	idAddr := serveOn(t, "idserver", ids)
	trk, err := tracker.New(tracker.Config{DB: db, OfflineAfter: 30 * time.Second, Logger: quiet})
	must(t, err)
	trkAddr := serveOn(t, "tracker", trk)
	dir := t.TempDir()
	nodes := map[string]*storagenode.Server{}
	var nodeMetrics *rpcmetrics.Metrics
	if o.reg != nil {
		nodeMetrics = rpcmetrics.New("storage", o.reg)
	}
	for g := 1; g <= 2; g++ {
		for m := 1; m <= 2; m++ {
			cfg := storagenode.Config{Group: fmt.Sprintf("g%d", g), Stores: []string{filepath.Join(dir, fmt.Sprintf("g%d-%d", g, m))},
				Trackers: []string{trkAddr}, IDServers: []string{idAddr}, DB: db, Beat: 500 * time.Millisecond, Logger: quiet,
				Metrics: nodeMetrics}
			if o.staged {
				cfg.Staging, cfg.PendingTTL, cfg.PurgeInterval = true, time.Second, time.Second
			}
			sn, err := storagenode.New(cfg)
			must(t, err)
			nodes[serveOn(t, "storage", sn)] = sn
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ready := 0
		for _, n := range trk.Nodes() {
			if n.State == tracker.Active && n.SyncState == 0 {
				ready++
			}
		}
		if ready == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 4 storage nodes ACTIVE", ready)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ccfg := tnv.Config{Trackers: []string{trkAddr}, Logger: quiet}
	if o.staged {
		ccfg.Local = func(addr string) tnv.LocalNode {
			if sn := nodes[addr]; sn != nil {
				return sn
			}
			return nil
		}
	}
	client, err := tnv.New(ccfg)
	must(t, err)
	t.Cleanup(func() { client.Close() })
	e := newEnvDB(t, db, envOpt{tls: o.tls, store: TNVStore{C: client}, blobSize: 16 << 20, lookupCache: o.lookupCache})
	return &cluster{client: client, env: e, dir: dir}
}

// TestCluster_RoundTrips runs the gateway over a real cluster: a 100 MiB
// single PUT (SDK, aws-chunked over HTTPS) and a 1 GiB multipart upload
// (minio-go; 256 MiB under the race detector) come back byte for byte with
// S3's ETags, a range crosses blob boundaries, and overwritten and deleted
// objects' blobs leave the storage nodes.
func TestCluster_RoundTrips(t *testing.T) {
	cl := newCluster(t, true)
	e := cl.env
	e.mkBucket("clu")
	c := e.root()

	single := int64(100 << 20)
	multi := int64(1 << 30)
	if raceEnabled {
		multi = 256 << 20
	}
	const blob = 16 << 20
	want := md5.New()
	io.Copy(want, &objectPattern{end: single, blobSize: blob})
	put, err := c.PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String("clu"), Key: aws.String("single"),
		Body: io.NewSectionReader(readerAt{blob}, 0, single), ContentLength: aws.Int64(single)})
	must(t, err)
	if *put.ETag != fmt.Sprintf(`"%x"`, want.Sum(nil)) {
		t.Fatalf("single PUT ETag %s", *put.ETag)
	}
	got := md5.New()
	g, err := c.GetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("clu"), Key: aws.String("single")})
	must(t, err)
	n, err := io.Copy(got, g.Body)
	must(t, err)
	if n != single || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatalf("single GET: %d bytes, digest differs", n)
	}
	g, err = c.GetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("clu"), Key: aws.String("single"), Range: aws.String("bytes=16777200-16777300")})
	must(t, err)
	part, _ := io.ReadAll(g.Body)
	exp, _ := io.ReadAll(io.NewSectionReader(readerAt{blob}, 16777200, 101))
	if !bytes.Equal(part, exp) || *g.ContentRange != fmt.Sprintf("bytes 16777200-16777300/%d", single) {
		t.Fatalf("range across blobs differs (%s)", *g.ContentRange)
	}

	runtime.GC()
	stop := heapPeak()
	start := time.Now()
	mc := e.minio(rootAK, rootSK)
	info, err := mc.PutObject(ctx(), "clu", "multi", &objectPattern{end: multi, blobSize: blob}, multi, minio.PutObjectOptions{PartSize: 64 << 20})
	must(t, err)
	upTime := time.Since(start)
	partSums := md5.New()
	for off := int64(0); off < multi; off += 64 << 20 {
		s := md5.New()
		io.Copy(s, io.NewSectionReader(readerAt{blob}, off, min(64<<20, multi-off)))
		partSums.Write(s.Sum(nil))
	}
	wantETag := fmt.Sprintf("%x-%d", partSums.Sum(nil), (multi+(64<<20)-1)/(64<<20))
	if info.ETag != wantETag {
		t.Fatalf("multipart ETag %s, want %s", info.ETag, wantETag)
	}
	obj, err := mc.GetObject(ctx(), "clu", "multi", minio.GetObjectOptions{})
	must(t, err)
	got, want = md5.New(), md5.New()
	start = time.Now()
	n, err = io.Copy(got, obj)
	must(t, err)
	downTime := time.Since(start)
	peak := stop()
	io.Copy(want, &objectPattern{end: multi, blobSize: blob})
	if n != multi || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatalf("multipart GET: %d bytes, digest differs", n)
	}
	t.Logf("cluster: %d MiB multipart up in %v, down in %v; peak HeapInuse %.1f MiB (gateway, 4 storage nodes, tracker, clients)",
		multi>>20, upTime.Round(time.Millisecond), downTime.Round(time.Millisecond), float64(peak)/(1<<20))

	// blobs of replaced and deleted objects leave the cluster
	b, err := e.g.idx.Bucket(ctx(), "clu")
	must(t, err)
	old, err := e.g.idx.Object(ctx(), "clu", "single")
	must(t, err)
	e.put("clu", "single", []byte("small now"))
	_, err = c.DeleteObject(ctx(), &s3.DeleteObjectInput{Bucket: aws.String("clu"), Key: aws.String("multi")})
	must(t, err)
	waitFor(t, func() bool {
		for _, bl := range old.Blobs {
			if _, err := cl.client.FileSize(ctx(), b.AppID, bl.UserID, bl.FileID); !errors.Is(err, tnv.ErrNotFound) {
				return false
			}
		}
		return true
	})
	if string(e.get("clu", "single")) != "small now" {
		t.Fatal("overwrite lost")
	}
}

// readerAt serves the object pattern at any offset.
type readerAt struct{ blobSize int64 }

func (r readerAt) ReadAt(p []byte, off int64) (int, error) {
	for i := range p {
		p[i] = pattern((off + int64(i)) % r.blobSize)
	}
	return len(p), nil
}

// TestCluster_CrashedWriteCollected plays a gateway that died mid-upload
// over a real cluster: a blob written under a reserved intent and never
// published, and reservations never used, all fall due (as 24 h later).
// The collector deletes the blob from the storage nodes, drops the unused
// names (their DELETE finds nothing) and leaves published objects alone.
func TestCluster_CrashedWriteCollected(t *testing.T) {
	cl := newCluster(t, false)
	e := cl.env
	e.mkBucket("gcb")
	bodies := map[string][]byte{}
	for _, k := range []string{"a", "b", "c", "d"} {
		bodies[k] = randBytes(5000)
		e.put("gcb", k, bodies[k])
	}
	b, err := e.g.idx.Bucket(ctx(), "gcb")
	must(t, err)
	in, err := e.g.intents.take(ctx(), b.AppID)
	must(t, err)
	must(t, TNVStore{C: cl.client}.Put(ctx(), b.AppID, in.userid, in.fileid, bytes.NewReader(randBytes(3000)), 3000))
	if _, err := cl.client.FileSize(ctx(), b.AppID, in.userid, in.fileid); err != nil {
		t.Fatalf("orphan blob not stored: %v", err)
	}
	if held := len(e.g.intents.held()); held == 0 {
		t.Fatal("no unused reservation to collect")
	}
	_, err = e.db.ExecContext(ctx(), "UPDATE s3_gc SET due = 0")
	must(t, err)
	waitFor(t, func() bool { return gcCount(t, e) == 0 })
	if _, err := cl.client.FileSize(ctx(), b.AppID, in.userid, in.fileid); !errors.Is(err, tnv.ErrNotFound) {
		t.Fatalf("orphan blob after collection: %v, want not found", err)
	}
	for k, body := range bodies {
		if !bytes.Equal(e.get("gcb", k), body) {
			t.Fatalf("%s differs after the collector ran", k)
		}
	}
}
