package e2e

import (
	"context"
	"encoding/xml"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tnv-s3/tnv/internal/proctest"
	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/metadb/metadbtest"
)

// TestGateway_BucketDeletedDuringPut: a bucket deleted (and created again
// under its name) through one gateway while a PUT into it is still
// sending its body through another. The delete finds the bucket empty and
// succeeds; the PUT must then fail with NoSuchBucket instead of publishing
// a row under the deleted bucket's name, which the new bucket would list
// with blobs stored under the old bucket's app ID; those blobs are deleted.
func TestGateway_BucketDeletedDuringPut(t *testing.T) {
	dsn := metadbtest.NewTestMySQL(t)
	c := proctest.StartCluster(t, proctest.Topology{DB: dsn, Groups: 1, Members: 2})
	const ak, sk = "racekey", "racesecret-0123456789"
	gateway := func(name string) *proctest.Proc {
		return startGatewayAs(t, c, ak, sk, name, "--blob-size", "1048576", "--gc-interval", "500ms")
	}
	a, b := gateway("gateway-a"), gateway("gateway-b")
	ca, cb := s3Client("http://"+a.Addr, ak, sk), s3Client("http://"+b.Addr, ak, sk)
	ctx := context.Background()
	const bucket = "race"
	if _, err := ca.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	db, err := metadb.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	oldApp := bucketAppID(t, db, bucket)

	// A 3 MiB PUT through gateway A that sends 2 MiB and waits.
	pw, answered := pipedPut(t, ca, bucket, "late", 3<<20)
	if _, err := pw.Write(make([]byte, 2<<20)); err != nil {
		t.Fatal(err)
	}
	cl := clusterClient(t, c)
	written := waitIntentBlobs(t, db, cl, oldApp, 1, 20*time.Second)

	// Through gateway B: the bucket is empty, so it goes; a new one takes
	// its name.
	if _, err := cb.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("DeleteBucket of a bucket whose only PUT is unpublished: %v", err)
	}
	if _, err := cb.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}

	// The rest of the body: the PUT is refused.
	if _, err := pw.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	var ans putAnswer
	select {
	case ans = <-answered:
	case <-time.After(30 * time.Second):
		t.Fatal("no answer to the PUT 30 s after its body ended")
	}
	if ans.err != nil {
		t.Fatal(ans.err)
	}
	var e struct {
		XMLName xml.Name `xml:"Error"`
		Code    string
	}
	if ans.status != http.StatusNotFound || xml.Unmarshal([]byte(ans.body), &e) != nil || e.Code != "NoSuchBucket" {
		t.Fatalf("PUT into a bucket deleted meanwhile: %d %s, want 404 NoSuchBucket", ans.status, ans.body)
	}

	// Nothing of it is listed, through either gateway, or left in the index.
	for name, cl := range map[string]*s3.Client{"a": ca, "b": cb} {
		out, err := cl.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Contents) != 0 {
			t.Fatalf("gateway %s lists %d objects in the new bucket, first %q", name, len(out.Contents), aws.ToString(out.Contents[0].Key))
		}
	}
	var rows int
	if err := db.QueryRow("SELECT COUNT(*) FROM s3_objects WHERE bucket = ?", bucket).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 0 {
		t.Fatalf("%d object rows under the bucket's name", rows)
	}
	// The blobs the refused PUT stored are deleted from the nodes.
	waitBlobsGone(t, cl, oldApp, written, 30*time.Second, "30 s after the PUT was refused")
	t.Logf("PUT refused with %d; %d blobs it stored deleted", ans.status, len(written))
}
