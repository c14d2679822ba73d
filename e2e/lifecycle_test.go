package e2e

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/tnv-s3/tnv/internal/proctest"
	"github.com/tnv-s3/tnv/metadb/metadbtest"
)

var reExpired = regexp.MustCompile(`(?m)^tnv_s3_lifecycle_objects_expired_total (\d+)$`)

// TestLifecycle_TwoGatewayProcesses: two `tnv gateway` processes on one
// MariaDB, each with --lifecycle-interval 1s, apply a bucket's rule (a
// Date already past): the objects under its prefix go, the others stay,
// and the two gateways together expire each object once. In a bucket with
// versioning Enabled, the same rule puts a delete marker over each current
// object under the prefix (the versions kept), and ExpiredObjectDeleteMarker
// removes a delete marker left alone on its key.
func TestLifecycle_TwoGatewayProcesses(t *testing.T) {
	dsn := metadbtest.NewTestMySQL(t)
	c := proctest.StartCluster(t, proctest.Topology{DB: dsn, Groups: 1, Members: 1})
	const ak, sk = "lcroot", "lifecycle-root-secret-01"
	var gws []*proctest.Proc
	var metrics []string
	for i := range 2 {
		m := proctest.FreeAddr(t)
		p := proctest.StartFree(t, []string{"TNV_ACCESS_KEY=" + ak, "TNV_SECRET_KEY=" + sk}, fmt.Sprint("gateway", i+1), func(addr string) []string {
			return []string{"gateway", "--listen", addr, "--trackers", c.TrackerList(), "--db", dsn,
				"--lifecycle-interval", "1s", "--lifecycle-rate", "1000", "--metrics-listen", m}
		})
		waitHTTP(t, "http://"+p.Addr+"/_tnv/health", 30*time.Second)
		gws, metrics = append(gws, p), append(metrics, m)
	}
	ctx := context.Background()
	s3c := s3Client("http://"+gws[0].Addr, ak, sk)
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("lifecycle")}); err != nil {
		t.Fatal(err)
	}
	const n = 20
	for i := range n {
		for _, prefix := range []string{"scratch/", "keep/"} {
			if i >= 3 && prefix == "keep/" {
				continue
			}
			key := fmt.Sprintf("%s%02d", prefix, i)
			if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lifecycle"), Key: aws.String(key), Body: bytes.NewReader([]byte(key))}); err != nil {
				t.Fatal(err)
			}
		}
	}
	_, err := s3Client("http://"+gws[1].Addr, ak, sk).PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{
		Bucket: aws.String("lifecycle"),
		LifecycleConfiguration: &s3types.BucketLifecycleConfiguration{Rules: []s3types.LifecycleRule{{
			ID: aws.String("scratch"), Status: s3types.ExpirationStatusEnabled, Filter: &s3types.LifecycleRuleFilter{Prefix: aws.String("scratch/")},
			Expiration: &s3types.LifecycleExpiration{Date: aws.Time(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))},
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	const versioned = 3 // two delete markers made, one removed
	putVersionedBucket(t, s3c)
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("lifecycle"), Prefix: aws.String("scratch/")})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Contents) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d scratch/ objects left after 60 s", len(out.Contents))
		}
		time.Sleep(200 * time.Millisecond)
	}
	out, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("lifecycle")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Contents) != 3 {
		t.Fatalf("%d objects left, want the 3 under keep/", len(out.Contents))
	}
	waitVersions(t, s3c, deadline)
	// Each expiry is counted as it happens: the two gateways' counts add
	// up to the objects expired, each once.
	total := 0
	for {
		total = 0
		var each []int
		for _, m := range metrics {
			match := reExpired.FindStringSubmatch(httpGet(t, "http://"+m+"/metrics"))
			if match == nil {
				t.Fatalf("%s: no tnv_s3_lifecycle_objects_expired_total", m)
			}
			v, _ := strconv.Atoi(match[1])
			each = append(each, v)
			total += v
		}
		if total >= n+versioned {
			t.Logf("the gateways expired %v", each)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateways counted %v expired, want %d in all", each, n+versioned)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if total != n+versioned {
		t.Fatalf("the gateways expired %d objects together, want %d", total, n+versioned)
	}
}

// putVersionedBucket makes bucket lcver, versioning Enabled: tmp/a (two
// versions), tmp/b, keep/c, and dm/d's lone delete marker; its rules: a
// Date past for tmp/, ExpiredObjectDeleteMarker for dm/.
func putVersionedBucket(t *testing.T, s3c *s3.Client) {
	t.Helper()
	ctx := context.Background()
	b := aws.String("lcver")
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}); err != nil {
		t.Fatal(err)
	}
	if _, err := s3c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: b,
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	var dv string
	for _, k := range []string{"tmp/a", "tmp/a", "tmp/b", "keep/c", "dm/d"} {
		out, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String(k), Body: bytes.NewReader([]byte(k))})
		if err != nil {
			t.Fatal(err)
		}
		dv = aws.ToString(out.VersionId)
	}
	if _, err := s3c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("dm/d")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s3c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("dm/d"), VersionId: aws.String(dv)}); err != nil {
		t.Fatal(err)
	}
	_, err := s3c.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: b,
		LifecycleConfiguration: &s3types.BucketLifecycleConfiguration{Rules: []s3types.LifecycleRule{
			{ID: aws.String("tmp"), Status: s3types.ExpirationStatusEnabled, Filter: &s3types.LifecycleRuleFilter{Prefix: aws.String("tmp/")},
				Expiration: &s3types.LifecycleExpiration{Date: aws.Time(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))}},
			{ID: aws.String("markers"), Status: s3types.ExpirationStatusEnabled, Filter: &s3types.LifecycleRuleFilter{Prefix: aws.String("dm/")},
				Expiration: &s3types.LifecycleExpiration{ExpiredObjectDeleteMarker: aws.Bool(true)}},
		}}})
	if err != nil {
		t.Fatal(err)
	}
}

// waitVersions waits until lcver's versions are what its rules make of
// them: a latest delete marker over every tmp/ key, its versions kept,
// keep/c as it was, dm/d gone.
func waitVersions(t *testing.T, s3c *s3.Client, deadline time.Time) {
	t.Helper()
	for {
		out, err := s3c.ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{Bucket: aws.String("lcver")})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{} // key: versions, then "M" for a latest marker
		for _, v := range out.Versions {
			got[aws.ToString(v.Key)] += "v"
		}
		for _, m := range out.DeleteMarkers {
			if aws.ToBool(m.IsLatest) {
				got[aws.ToString(m.Key)] += "M"
			} else {
				got[aws.ToString(m.Key)] += "m"
			}
		}
		want := map[string]string{"tmp/a": "vvM", "tmp/b": "vM", "keep/c": "v"}
		if fmt.Sprint(got) == fmt.Sprint(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("lcver's versions %v after 60 s, want %v", got, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
