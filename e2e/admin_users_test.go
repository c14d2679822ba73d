package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/tnv-s3/tnv/internal/proctest"
	"github.com/tnv-s3/tnv/metadb/metadbtest"
)

func apiErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// TestAdmin_UserRemoveAndBucketOwner runs `tnv admin` against the database
// of a gateway process while users work through it: removing a user who
// owns buckets is refused (naming them), --delete-buckets refuses while one
// holds objects and deletes them once empty, --reassign-to hands them over
// with their objects, and `bucket owner` moves one bucket.
func TestAdmin_UserRemoveAndBucketOwner(t *testing.T) {
	dsn := metadbtest.NewTestMySQL(t)
	c := proctest.StartCluster(t, proctest.Topology{DB: dsn, Groups: 1, Members: 2})
	gw := startGateway(t, c, "ROOTKEY", "admin-root-secret-0123456")
	admin := func(args ...string) (string, error) {
		return proctest.RunErr(t, append(append([]string{"admin"}, args...), "--db", dsn)...)
	}
	users := map[string]*s3.Client{}
	for _, u := range []string{"ALICE", "BOB", "CAROL"} {
		sk := strings.ToLower(u) + "-secret-0123456789"
		if _, err := admin("user", "add", "--access-key", u, "--secret-key-file", writeSecret(t, sk)); err != nil {
			t.Fatal(err)
		}
		users[u] = s3Client("http://"+gw.Addr, u, sk)
	}
	ctx := context.Background()
	mk := func(u, bucket string, keys ...string) {
		t.Helper()
		if _, err := users[u].CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
			t.Fatalf("%s creates %s: %v", u, bucket, err)
		}
		for _, k := range keys {
			if _, err := users[u].PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	mk("ALICE", "alice-full", "a1", "a2")
	mk("ALICE", "alice-empty")
	mk("BOB", "bob-full", "b1")
	mk("BOB", "bob-empty")

	// Refused: alice owns buckets; nothing changes.
	out, err := admin("user", "remove", "ALICE")
	if err == nil || !strings.Contains(out+err.Error(), "alice-empty, alice-full") || !strings.Contains(err.Error(), "--reassign-to") {
		t.Fatalf("remove of a user owning buckets: %q %v", out, err)
	}
	if _, err := admin("user", "remove", "ALICE", "--delete-buckets"); err == nil || !strings.Contains(err.Error(), "bucket alice-full not empty") {
		t.Fatalf("--delete-buckets with a bucket holding objects: %v", err)
	}
	if _, err := admin("user", "remove", "ALICE", "--delete-buckets", "--reassign-to", "BOB"); err == nil {
		t.Fatal("both --delete-buckets and --reassign-to accepted")
	}
	if _, err := admin("user", "remove", "ALICE", "--reassign-to", "NOBODY"); err == nil || !strings.Contains(err.Error(), "NOBODY") {
		t.Fatalf("--reassign-to an unknown user: %v", err)
	}
	if _, err := users["ALICE"].ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("alice-full")}); err != nil {
		t.Fatalf("after the refusals alice lost her bucket: %v", err)
	}

	// Emptied, the buckets go with --delete-buckets.
	for _, k := range []string{"a1", "a2"} {
		if _, err := users["ALICE"].DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("alice-full"), Key: aws.String(k)}); err != nil {
			t.Fatal(err)
		}
	}
	out, err = admin("user", "remove", "ALICE", "--delete-buckets")
	if err != nil || !strings.Contains(out, "bucket alice-full deleted") || !strings.Contains(out, "bucket alice-empty deleted") {
		t.Fatalf("--delete-buckets of empty buckets: %q %v", out, err)
	}
	if _, err := users["ALICE"].ListBuckets(ctx, &s3.ListBucketsInput{}); apiErrorCode(err) != "InvalidAccessKeyId" {
		t.Fatalf("removed user still signs in: %v", err)
	}
	root := s3Client("http://"+gw.Addr, "ROOTKEY", "admin-root-secret-0123456")
	if _, err := root.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("alice-full")}); apiErrorCode(err) != "NotFound" {
		t.Fatalf("deleted bucket still there: %v", err)
	}

	// --reassign-to: carol gets bob's buckets, objects and all.
	out, err = admin("user", "remove", "BOB", "--reassign-to", "CAROL")
	if err != nil || !strings.Contains(out, "bucket bob-full now owned by CAROL") {
		t.Fatalf("--reassign-to: %q %v", out, err)
	}
	got, err := users["CAROL"].GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bob-full"), Key: aws.String("b1")})
	if err != nil {
		t.Fatalf("carol reads bob's former object: %v", err)
	}
	got.Body.Close()
	lb, err := users["CAROL"].ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil || len(lb.Buckets) != 2 {
		t.Fatalf("carol lists %v, %v; want bob's 2 buckets", lb, err)
	}

	// bucket owner: one bucket to a new user; carol loses it.
	if _, err := admin("user", "add", "--access-key", "DAVE", "--secret-key-file", writeSecret(t, "dave-secret-0123456789")); err != nil {
		t.Fatal(err)
	}
	dave := s3Client("http://"+gw.Addr, "DAVE", "dave-secret-0123456789")
	if out, err := admin("bucket", "owner", "bob-full", "DAVE"); err != nil || !strings.Contains(out, "now owned by DAVE") {
		t.Fatalf("bucket owner: %q %v", out, err)
	}
	if _, err := dave.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bob-full"), Key: aws.String("b1")}); err != nil {
		t.Fatalf("new owner: %v", err)
	}
	if _, err := users["CAROL"].GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bob-full"), Key: aws.String("b1")}); apiErrorCode(err) != "AccessDenied" {
		t.Fatalf("former owner: %v, want AccessDenied", err)
	}
	for _, bad := range [][]string{{"bucket", "owner", "no-such-bucket", "DAVE"}, {"bucket", "owner", "bob-full", "NOBODY"}} {
		if _, err := admin(bad...); err == nil {
			t.Errorf("admin %v: accepted", bad)
		}
	}
	bl := proctest.Run(t, "admin", "bucket", "list", "--db", dsn)
	if !strings.Contains(bl, "bob-empty") || strings.Contains(bl, "alice-") {
		t.Fatalf("bucket list:\n%s", bl)
	}
}
