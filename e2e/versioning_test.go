package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/tnv-s3/tnv/internal/proctest"
	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/metadb/metadbtest"
)

func s3code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

// TestVersioning_RealCluster: bucket versioning and object lock through a
// `tnv gateway` process in front of a mirrored cluster of processes, with
// aws-sdk-go-v2 and minio-go; the blob of a locked version refuses a
// DELETE sent straight to the storage nodes with `tnv client`.
func TestVersioning_RealCluster(t *testing.T) {
	dsn := metadbtest.NewTestMySQL(t)
	c := proctest.StartCluster(t, proctest.Topology{DB: dsn, Groups: 1, Members: 2})
	const ak, sk = "versionkey", "versionsecret-0123456"
	gw := startGateway(t, c, ak, sk)
	s3c := s3Client("http://"+gw.Addr, ak, sk)
	mc, err := minio.New(gw.Addr, &minio.Options{Creds: miniocreds.NewStaticV4(ak, sk, ""), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	get := func(bucket, key, vid string) (string, error) {
		in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
		if vid != "" {
			in.VersionId = aws.String(vid)
		}
		out, err := s3c.GetObject(ctx, in)
		if err != nil {
			return "", err
		}
		defer out.Body.Close()
		b, err := io.ReadAll(out.Body)
		return string(b), err
	}
	put := func(bucket, key, body string) string {
		t.Helper()
		out, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)})
		must(err)
		return aws.ToString(out.VersionId)
	}

	// versions, markers, restore
	_, err = s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("media")})
	must(err)
	_, err = s3c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("media"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}})
	must(err)
	v1 := put("media", "clip.mp4", "first cut")
	v2 := put("media", "clip.mp4", "second cut")
	if v1 == "" || v2 == "" || v1 == v2 {
		t.Fatalf("version IDs %q %q", v1, v2)
	}
	if got, err := get("media", "clip.mp4", v1); err != nil || got != "first cut" {
		t.Fatalf("GET v1: %q %v", got, err)
	}
	del, err := s3c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("media"), Key: aws.String("clip.mp4")})
	must(err)
	if !aws.ToBool(del.DeleteMarker) {
		t.Fatal("DELETE made no marker")
	}
	if _, err := get("media", "clip.mp4", ""); s3code(err) != "NoSuchKey" {
		t.Fatalf("GET under a marker: %v", err)
	}
	if _, err := get("media", "clip.mp4", aws.ToString(del.VersionId)); !strings.Contains(s3code(err), "MethodNotAllowed") && !strings.Contains(err.Error(), "405") {
		t.Fatalf("GET of the marker: %v", err)
	}
	lv, err := s3c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("media")})
	must(err)
	if len(lv.Versions) != 2 || len(lv.DeleteMarkers) != 1 || !aws.ToBool(lv.DeleteMarkers[0].IsLatest) {
		t.Fatalf("versions %d, markers %d", len(lv.Versions), len(lv.DeleteMarkers))
	}
	// minio-go removes the marker: v2 is back
	must(mc.RemoveObject(ctx, "media", "clip.mp4", minio.RemoveObjectOptions{VersionID: aws.ToString(del.VersionId)}))
	if got, err := get("media", "clip.mp4", ""); err != nil || got != "second cut" {
		t.Fatalf("after removing the marker: %q %v", got, err)
	}
	n := 0
	for o := range mc.ListObjects(ctx, "media", minio.ListObjectsOptions{WithVersions: true, Recursive: true}) {
		must(o.Err)
		n++
	}
	if n != 2 {
		t.Fatalf("minio-go lists %d versions, want 2", n)
	}
	must(mc.RemoveObject(ctx, "media", "clip.mp4", minio.RemoveObjectOptions{VersionID: v1}))
	if _, err := get("media", "clip.mp4", v1); s3code(err) != "NoSuchVersion" {
		t.Fatalf("GET of a deleted version: %v", err)
	}

	// object lock: refused through S3 and through TNV
	_, err = s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("vault"), ObjectLockEnabledForBucket: aws.Bool(true)})
	must(err)
	until := time.Now().Add(time.Hour)
	lp, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("vault"), Key: aws.String("master.mov"), Body: strings.NewReader("the master"),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32, ObjectLockMode: types.ObjectLockModeCompliance, ObjectLockRetainUntilDate: aws.Time(until)})
	must(err)
	_, err = s3c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("vault"), Key: aws.String("master.mov"), VersionId: lp.VersionId, BypassGovernanceRetention: aws.Bool(true)})
	if s3code(err) != "AccessDenied" {
		t.Fatalf("S3 DELETE of a compliance version: %v", err)
	}
	db, err := metadb.Open(dsn)
	must(err)
	defer db.Close()
	var appid string
	must(db.QueryRowContext(ctx, "SELECT appid FROM s3_buckets WHERE name = ?", "vault").Scan(&appid))
	// blobOf is the one blob of the current version of key, for `tnv client`.
	blobOf := func(key string) []string {
		t.Helper()
		var blobsJSON string
		must(db.QueryRowContext(ctx, "SELECT blobs FROM s3_objects WHERE bucket = ? AND okey = ?", "vault", []byte(key)).Scan(&blobsJSON))
		var blobs []struct {
			U string `json:"u"`
			F string `json:"f"`
		}
		must(json.Unmarshal([]byte(blobsJSON), &blobs))
		if len(blobs) != 1 {
			t.Fatalf("blobs of %s: %s", key, blobsJSON)
		}
		return []string{"--appid", appid, "--userid", blobs[0].U, "--fileid", blobs[0].F}
	}
	master := blobOf("master.mov")
	_, err = proctest.RunErr(t, client(c, append([]string{"delete"}, master...)...)...)
	if err == nil || !strings.Contains(err.Error(), "held") {
		t.Fatalf("tnv client delete of a locked version's blob: %v, want refused as held", err)
	}
	out := proctest.Run(t, client(c, append([]string{"download"}, master...)...)...)
	if out != "the master" {
		t.Fatalf("the held blob reads %q", out)
	}
	if got, err := get("vault", "master.mov", ""); err != nil || got != "the master" {
		t.Fatalf("GET of the locked object: %q %v", got, err)
	}

	// a legal hold set later holds the blob; a bypassed governance delete
	// (after the hold is off) releases it
	gp, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("vault"), Key: aws.String("draft.mov"), Body: strings.NewReader("a draft"),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32, ObjectLockMode: types.ObjectLockModeGovernance, ObjectLockRetainUntilDate: aws.Time(until)})
	must(err)
	draft := blobOf("draft.mov")
	_, err = s3c.PutObjectLegalHold(ctx, &s3.PutObjectLegalHoldInput{Bucket: aws.String("vault"), Key: aws.String("draft.mov"), VersionId: gp.VersionId,
		LegalHold: &types.ObjectLockLegalHold{Status: types.ObjectLockLegalHoldStatusOn}})
	must(err)
	if _, err := proctest.RunErr(t, client(c, append([]string{"delete"}, draft...)...)...); err == nil || !strings.Contains(err.Error(), "until released") {
		t.Fatalf("tnv client delete of a legally held blob: %v", err)
	}
	_, err = s3c.PutObjectLegalHold(ctx, &s3.PutObjectLegalHoldInput{Bucket: aws.String("vault"), Key: aws.String("draft.mov"), VersionId: gp.VersionId,
		LegalHold: &types.ObjectLockLegalHold{Status: types.ObjectLockLegalHoldStatusOff}})
	must(err)
	_, err = s3c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("vault"), Key: aws.String("draft.mov"), VersionId: gp.VersionId, BypassGovernanceRetention: aws.Bool(true)})
	must(err)
	if _, err := proctest.RunErr(t, client(c, append([]string{"delete"}, draft...)...)...); err != nil && !strings.Contains(err.Error(), "no file") {
		t.Fatalf("tnv client delete of a released blob: %v (want done, or already collected)", err)
	}
}
