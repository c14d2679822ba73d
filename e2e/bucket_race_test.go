package e2e

import (
	"context"
	"encoding/xml"
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
		p := proctest.StartFree(t, []string{"TNV_ACCESS_KEY=" + ak, "TNV_SECRET_KEY=" + sk}, name, func(addr string) []string {
			return []string{"gateway", "--listen", addr, "--trackers", c.TrackerList(), "--db", dsn,
				"--blob-size", "1048576", "--gc-interval", "500ms"}
		})
		waitHTTP(t, "http://"+p.Addr+"/_tnv/health", 30*time.Second)
		return p
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
	var oldApp string
	if err := db.QueryRow("SELECT appid FROM s3_buckets WHERE name = ?", bucket).Scan(&oldApp); err != nil {
		t.Fatal(err)
	}

	// A 3 MiB PUT through gateway A that sends 2 MiB and waits.
	const size = 3 << 20
	req, err := s3.NewPresignClient(ca).PresignPutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String("late"), ContentLength: aws.Int64(size)})
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
	type answer struct {
		status int
		body   string
		err    error
	}
	answered := make(chan answer, 1)
	go func() {
		resp, err := http.DefaultClient.Do(hreq)
		if err != nil {
			answered <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		answered <- answer{resp.StatusCode, string(body), err}
	}()
	if _, err := pw.Write(make([]byte, 2<<20)); err != nil {
		t.Fatal(err)
	}
	cl, err := tnv.New(tnv.Config{Trackers: strings.Split(c.TrackerList(), ","), Auth: c.Key()})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	type blobName struct{ u, f string }
	var written []blobName
	deadline := time.Now().Add(20 * time.Second)
	for len(written) < 1 {
		if time.Now().After(deadline) {
			t.Fatal("after 2 MiB of a PUT with 1 MiB blobs, no blob stored")
		}
		time.Sleep(100 * time.Millisecond)
		rows, err := db.Query("SELECT userid, fileid FROM s3_gc WHERE appid = ?", oldApp)
		if err != nil {
			t.Fatal(err)
		}
		written = written[:0]
		for rows.Next() {
			var bl blobName
			if err := rows.Scan(&bl.u, &bl.f); err != nil {
				t.Fatal(err)
			}
			if _, err := cl.FileSize(ctx, oldApp, bl.u, bl.f); err == nil {
				written = append(written, bl)
			}
		}
		rows.Close()
	}

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
	var ans answer
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
	deadline = time.Now().Add(30 * time.Second)
	for _, bl := range written {
		for {
			_, err := cl.FileSize(ctx, oldApp, bl.u, bl.f)
			if errors.Is(err, tnv.ErrNotFound) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("blob %s/%s of the refused PUT still stored after 30 s: %v", bl.u, bl.f, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	t.Logf("PUT refused with %d; %d blobs it stored deleted", ans.status, len(written))
}
