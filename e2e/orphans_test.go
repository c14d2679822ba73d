package e2e

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

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
		return startGatewayAs(t, c, ak, sk, name, "--blob-size", "1048576", "--intent-ttl", "3s")
	}
	a := gateway("gateway-a")
	s3c := s3Client("http://"+a.Addr, ak, sk)
	ctx := context.Background()
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("orphans")}); err != nil {
		t.Fatal(err)
	}

	// A 16 MiB PUT that sends 6 MiB and then stalls: some 1 MiB blobs are
	// written, the object is not published.
	pw, _ := pipedPut(t, s3c, "orphans", "half", 16<<20)
	if _, err := pw.Write(make([]byte, 6<<20)); err != nil {
		t.Fatal(err)
	}

	db, err := metadb.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	appid := bucketAppID(t, db, "orphans")
	cl := clusterClient(t, c)
	// The intent records name the blobs; wait until some are on the nodes.
	written := waitIntentBlobs(t, db, cl, appid, 3, 20*time.Second)
	a.Kill()
	pw.CloseWithError(errors.New("the gateway is gone"))

	// Another gateway collects them once the records fall due.
	b := gateway("gateway-b")
	waitBlobsGone(t, cl, appid, written, 45*time.Second, "45 s after the crash with --intent-ttl 3s")
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
