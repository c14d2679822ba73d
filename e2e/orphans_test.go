package e2e

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tnv-s3/tnv/backend/tnv"
	"github.com/tnv-s3/tnv/internal/proctest"
	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/metadb/metadbtest"
)

// TestGateway_CrashOrphansCollectedAfterIntentTTL: a gateway killed -9 in
// the middle of a PUT leaves blobs that no object lists. Another gateway
// deletes them from the storage nodes once --intent-ttl has passed (not
// after the default 24 h), and the object never appears.
func TestGateway_CrashOrphansCollectedAfterIntentTTL(t *testing.T) {
	dsn := metadbtest.NewTestMySQL(t)
	c := proctest.StartCluster(t, proctest.Topology{DB: dsn, Groups: 1, Members: 2})
	const ak, sk = "orphankey", "orphansecret-0123456789"
	gateway := func(name string) *proctest.Proc {
		p := proctest.StartFree(t, []string{"TNV_ACCESS_KEY=" + ak, "TNV_SECRET_KEY=" + sk}, name, func(addr string) []string {
			return []string{"gateway", "--listen", addr, "--trackers", c.TrackerList(), "--db", dsn,
				"--blob-size", "1048576", "--intent-ttl", "3s"}
		})
		waitHTTP(t, "http://"+p.Addr+"/_tnv/health", 30*time.Second)
		return p
	}
	a := gateway("gateway-a")
	s3c := s3Client("http://"+a.Addr, ak, sk)
	ctx := context.Background()
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("orphans")}); err != nil {
		t.Fatal(err)
	}

	// A 16 MiB PUT that sends 6 MiB and then stalls: some 1 MiB blobs are
	// written, the object is not published.
	const size = 16 << 20
	req, err := s3.NewPresignClient(s3c).PresignPutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String("orphans"), Key: aws.String("half"), ContentLength: aws.Int64(size)})
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	defer pw.Close()
	hreq, err := http.NewRequest(http.MethodPut, req.URL, pr)
	if err != nil {
		t.Fatal(err)
	}
	hreq.ContentLength = size
	go http.DefaultClient.Do(hreq)
	if _, err := pw.Write(make([]byte, 6<<20)); err != nil {
		t.Fatal(err)
	}

	db, err := metadb.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var appid string
	if err := db.QueryRow("SELECT appid FROM s3_buckets WHERE name = 'orphans'").Scan(&appid); err != nil {
		t.Fatal(err)
	}
	cl, err := tnv.New(tnv.Config{Trackers: strings.Split(c.TrackerList(), ","), Auth: c.Key()})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// The intent records name the blobs; wait until some are on the nodes.
	type blobName struct{ u, f string }
	var written []blobName
	deadline := time.Now().Add(20 * time.Second)
	for len(written) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("after 6 MiB of a PUT with 1 MiB blobs, %d blobs stored", len(written))
		}
		time.Sleep(100 * time.Millisecond)
		rows, err := db.Query("SELECT userid, fileid FROM s3_gc WHERE appid = ?", appid)
		if err != nil {
			t.Fatal(err)
		}
		written = written[:0]
		for rows.Next() {
			var b blobName
			if err := rows.Scan(&b.u, &b.f); err != nil {
				t.Fatal(err)
			}
			if _, err := cl.FileSize(ctx, appid, b.u, b.f); err == nil {
				written = append(written, b)
			}
		}
		rows.Close()
	}
	a.Kill()
	pw.CloseWithError(errors.New("the gateway is gone"))

	// Another gateway collects them once the records fall due.
	b := gateway("gateway-b")
	deadline = time.Now().Add(45 * time.Second)
	for _, bl := range written {
		for {
			_, err := cl.FileSize(ctx, appid, bl.u, bl.f)
			if errors.Is(err, tnv.ErrNotFound) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("orphan blob %s/%s still stored 45 s after the crash with --intent-ttl 3s: %v", bl.u, bl.f, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	var left int
	if err := db.QueryRow("SELECT COUNT(*) FROM s3_gc WHERE appid = ?", appid).Scan(&left); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d orphan blobs deleted; %d records left for blobs never written", len(written), left)
	if _, err := s3Client("http://"+b.Addr, ak, sk).HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String("orphans"), Key: aws.String("half")}); err == nil {
		t.Fatal("the half-sent object exists")
	}
}
