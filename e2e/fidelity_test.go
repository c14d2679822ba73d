package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/tnv-s3/tnv/internal/proctest"
	"github.com/tnv-s3/tnv/metadb/metadbtest"
)

// TestGateway_ConditionalWritesAndTagging drives conditional writes
// (PutObject, CompleteMultipartUpload, CopyObject) and tagging with
// aws-sdk-go-v2 through a `tnv gateway` process in front of a mirrored
// cluster of processes on MariaDB.
func TestGateway_ConditionalWritesAndTagging(t *testing.T) {
	dsn := metadbtest.NewTestMySQL(t)
	c := proctest.StartCluster(t, proctest.Topology{DB: dsn, Groups: 1, Members: 2})
	gw := startGateway(t, c, "fidelitykey", "fidelity-secret-0123456")
	s3c := s3Client("http://"+gw.Addr, "fidelitykey", "fidelity-secret-0123456")
	ctx := context.Background()
	b := aws.String("fid")
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}); err != nil {
		t.Fatal(err)
	}
	want := func(err error, code string) {
		t.Helper()
		if got := apiErrorCode(err); got != code {
			t.Fatalf("got %v, want %s", err, code)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	get := func(key string) string {
		t.Helper()
		out, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String(key)})
		must(err)
		defer out.Body.Close()
		body, err := io.ReadAll(out.Body)
		must(err)
		return string(body)
	}

	// PutObject: create-only, then compare-and-swap
	put, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("k"), Body: bytes.NewReader([]byte("first")),
		IfNoneMatch: aws.String("*"), Tagging: aws.String("stage=first")})
	must(err)
	_, err = s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("k"), Body: bytes.NewReader([]byte("second")), IfNoneMatch: aws.String("*")})
	want(err, "PreconditionFailed")
	_, err = s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("k"), Body: bytes.NewReader([]byte("second")), IfMatch: aws.String(`"0123"`)})
	want(err, "PreconditionFailed")

	// CompleteMultipartUpload: refused twice, the object untouched, then completed
	cr, err := s3c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("k"), Tagging: aws.String("stage=multipart")})
	must(err)
	up, err := s3c.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: aws.String("k"), UploadId: cr.UploadId, PartNumber: aws.Int32(1),
		Body: bytes.NewReader([]byte("from the upload"))})
	must(err)
	complete := func(ifMatch, ifNoneMatch *string) error {
		_, err := s3c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("k"), UploadId: cr.UploadId,
			IfMatch: ifMatch, IfNoneMatch: ifNoneMatch,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: up.ETag}}}})
		return err
	}
	want(complete(nil, aws.String("*")), "PreconditionFailed")
	want(complete(aws.String(`"0123"`), nil), "PreconditionFailed")
	if got := get("k"); got != "first" {
		t.Fatalf("a refused completion changed the object: %q", got)
	}
	must(complete(put.ETag, nil))
	if got := get("k"); got != "from the upload" {
		t.Fatalf("after the completion: %q", got)
	}
	tags, err := s3c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: b, Key: aws.String("k")})
	must(err)
	if len(tags.TagSet) != 1 || *tags.TagSet[0].Value != "multipart" {
		t.Fatalf("tags of the completed object: %+v", tags.TagSet)
	}

	// CopyObject: destination conditions, tagging directive
	_, err = s3c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("k"), CopySource: aws.String("fid/k"),
		MetadataDirective: types.MetadataDirectiveReplace, IfNoneMatch: aws.String("*")})
	want(err, "PreconditionFailed")
	_, err = s3c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("copy"), CopySource: aws.String("fid/k"),
		IfNoneMatch: aws.String("*"), TaggingDirective: types.TaggingDirectiveReplace, Tagging: aws.String("copied=yes&n=2")})
	must(err)
	h, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("copy")})
	must(err)
	if aws.ToInt32(h.TagCount) != 2 {
		t.Fatalf("x-amz-tagging-count %d", aws.ToInt32(h.TagCount))
	}

	// Object tagging limits, bucket tagging
	var eleven []types.Tag
	for i := range 11 {
		eleven = append(eleven, types.Tag{Key: aws.String(fmt.Sprint("k", i)), Value: aws.String("v")})
	}
	_, err = s3c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: b, Key: aws.String("copy"), Tagging: &types.Tagging{TagSet: eleven}})
	want(err, "BadRequest")
	_, err = s3c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: b, Key: aws.String("copy"), Tagging: &types.Tagging{TagSet: eleven[:10]}})
	must(err)
	tags, err = s3c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: b, Key: aws.String("copy")})
	must(err)
	if len(tags.TagSet) != 10 {
		t.Fatalf("%d tags after PutObjectTagging", len(tags.TagSet))
	}
	_, err = s3c.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: b})
	want(err, "NoSuchTagSet")
	_, err = s3c.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: b, Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("team"), Value: aws.String("media")}}}})
	must(err)
	bt, err := s3c.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: b})
	must(err)
	if len(bt.TagSet) != 1 || *bt.TagSet[0].Key != "team" {
		t.Fatalf("bucket tags %+v", bt.TagSet)
	}
}
