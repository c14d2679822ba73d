package e2e

import (
	"context"
	"crypto/md5"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tnv-s3/tnv/internal/proctest"
	"github.com/tnv-s3/tnv/metadb/metadbtest"
)

// startGateway runs `tnv gateway` as a process against cluster c.
func startGateway(t *testing.T, c *proctest.Cluster, access, secret string) *proctest.Proc {
	t.Helper()
	p := proctest.StartFree(t, []string{"TNV_ACCESS_KEY=" + access, "TNV_SECRET_KEY=" + secret}, "gateway", func(addr string) []string {
		return []string{"gateway", "--listen", addr, "--trackers", c.TrackerList(), "--db", c.Topo.DB}
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
	gw := startGateway(t, c, "gwtestkey", "gwtestsecret")
	s3c := s3Client("http://"+gw.Addr, "gwtestkey", "gwtestsecret")
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
