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
)

// bucketAppID is the app ID of bucket name in the gateway's tables in db.
func bucketAppID(t *testing.T, db *metadb.DB, name string) string {
	t.Helper()
	var appid string
	if err := db.QueryRowContext(context.Background(), "SELECT appid FROM s3_buckets WHERE name = ?", name).Scan(&appid); err != nil {
		t.Fatalf("app ID of bucket %s: %v", name, err)
	}
	return appid
}

// blobRef names a blob on the storage nodes.
type blobRef struct{ userID, fileID string }

// waitIntentBlobs waits until at least n of the blobs that app ID appid's
// intent records name (an unpublished write's) are on the nodes, and
// returns those that are.
func waitIntentBlobs(t *testing.T, db *metadb.DB, cl *tnv.Client, appid string, n int, within time.Duration) []blobRef {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(within)
	for {
		rows, err := db.Query("SELECT userid, fileid FROM s3_gc WHERE appid = ?", appid)
		if err != nil {
			t.Fatal(err)
		}
		var stored []blobRef
		for rows.Next() {
			var b blobRef
			if err := rows.Scan(&b.userID, &b.fileID); err != nil {
				t.Fatal(err)
			}
			if _, err := cl.FileSize(ctx, appid, b.userID, b.fileID); err == nil {
				stored = append(stored, b)
			}
		}
		rows.Close()
		if len(stored) >= n {
			return stored
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of app %s's intent blobs stored after %s, want %d", len(stored), appid, within, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitBlobsGone waits until every blob of blobs (app ID appid) is deleted
// from the nodes; why names the wait in the failure.
func waitBlobsGone(t *testing.T, cl *tnv.Client, appid string, blobs []blobRef, within time.Duration, why string) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(within)
	for _, b := range blobs {
		for {
			_, err := cl.FileSize(ctx, appid, b.userID, b.fileID)
			if errors.Is(err, tnv.ErrNotFound) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("blob %s/%s still stored %s: %v", b.userID, b.fileID, why, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// putAnswer is what a client was answered.
type putAnswer struct {
	status int
	body   string
	err    error
}

// pipedPut starts a presigned PUT of size bytes to bucket/key through c
// whose body is what the test writes to the returned pipe; the answer
// comes on the channel.
func pipedPut(t *testing.T, c *s3.Client, bucket, key string, size int64) (*io.PipeWriter, <-chan putAnswer) {
	t.Helper()
	req, err := s3.NewPresignClient(c).PresignPutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), ContentLength: aws.Int64(size)})
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	hreq, err := http.NewRequest(http.MethodPut, req.URL, pr)
	if err != nil {
		t.Fatal(err)
	}
	hreq.ContentLength = size
	answered := make(chan putAnswer, 1)
	go func() {
		resp, err := http.DefaultClient.Do(hreq)
		if err != nil {
			answered <- putAnswer{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		answered <- putAnswer{resp.StatusCode, string(body), err}
	}()
	return pw, answered
}

// clusterClient is a TNV client of cluster c, closed with the test.
func clusterClient(t *testing.T, c *proctest.Cluster) *tnv.Client {
	t.Helper()
	cl, err := tnv.New(tnv.Config{Trackers: strings.Split(c.TrackerList(), ","), Auth: c.Key()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}
