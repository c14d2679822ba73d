package e2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/tnv-s3/tnv/internal/proctest"
	"github.com/tnv-s3/tnv/metadb/metadbtest"
)

// anonGet is an anonymous GET from a loopback address of its own, with
// headers; it returns the status.
func anonGet(t *testing.T, from, url string, hdr map[string]string) int {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
	c := &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}, Timeout: 30 * time.Second}
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestAccess_VideoSite is the video site on a cluster of
// processes: `tnv admin bucket public` opens the objects but not the
// listing; the owner's policy (minio-go) then keeps a prefix public for
// pages of the site only, shuts out one client address, and lets another
// user (aws-sdk-go-v2) read the bucket.
func TestAccess_VideoSite(t *testing.T) {
	dsn := metadbtest.NewTestMySQL(t)
	c := proctest.StartCluster(t, proctest.Topology{DB: dsn, Groups: 1, Members: 1})
	gw := startGateway(t, c, "ROOTKEY", "access-root-secret-0123456")
	admin := func(args ...string) (string, error) {
		return proctest.RunErr(t, append(append([]string{"admin"}, args...), "--db", dsn)...)
	}
	for _, u := range []string{"ALICE", "BOB"} {
		if _, err := admin("user", "add", "--access-key", u, "--secret-key-file", writeSecret(t, strings.ToLower(u)+"-secret-0123456789")); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	alice, bob := s3Client("http://"+gw.Addr, "ALICE", "alice-secret-0123456789"), s3Client("http://"+gw.Addr, "BOB", "bob-secret-0123456789")
	if _, err := alice.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("site")}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"public/v.mp4", "private/raw.mov"} {
		if _, err := alice.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("site"), Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
			t.Fatal(err)
		}
	}
	base := "http://" + gw.Addr + "/site/"
	if st := anonGet(t, "127.0.0.2", base+"public/v.mp4", nil); st != 403 {
		t.Fatalf("anonymous GET before any policy: %d", st)
	}

	// The admin shorthand: readable, not listable. The gateway process
	// sees a change made in the database within its 2 s cache.
	if out, err := admin("bucket", "public", "site", "on"); err != nil || !strings.Contains(out, "anyone may read") {
		t.Fatalf("bucket public: %q %v", out, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for anonGet(t, "127.0.0.2", base+"public/v.mp4", nil) != 200 {
		if time.Now().After(deadline) {
			t.Fatal("the public policy never took effect")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st := anonGet(t, "127.0.0.2", "http://"+gw.Addr+"/site?list-type=2", nil); st != 403 {
		t.Fatalf("anonymous listing with the shorthand without --list: %d", st)
	}

	// The owner's own policy (minio-go), through the S3 API: takes effect at once.
	mc, err := minio.New(gw.Addr, &minio.Options{Creds: miniocreds.NewStaticV4("ALICE", "alice-secret-0123456789", ""), Region: "us-east-1", BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	err = mc.SetBucketPolicy(ctx, "site", `{"Version":"2012-10-17","Statement":[
		{"Sid":"Site","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::site/public/*",
		 "Condition":{"StringLike":{"aws:Referer":"https://video.example/*"}}},
		{"Sid":"Blocked","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::site/*",
		 "Condition":{"IpAddress":{"aws:SourceIp":"127.0.0.3/32"}}},
		{"Sid":"Bob","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/BOB"},"Action":["s3:GetObject","s3:ListBucket"],
		 "Resource":["arn:aws:s3:::site","arn:aws:s3:::site/*"]}]}`)
	if err != nil {
		t.Fatal(err)
	}
	site := map[string]string{"Referer": "https://video.example/watch/1"}
	for _, tc := range []struct {
		from, key string
		hdr       map[string]string
		want      int
	}{
		{"127.0.0.2", "public/v.mp4", site, 200},
		{"127.0.0.2", "public/v.mp4", map[string]string{"Referer": "https://leech.example/"}, 403},
		{"127.0.0.2", "public/v.mp4", nil, 403},
		{"127.0.0.3", "public/v.mp4", site, 403}, // Deny beats Allow
		{"127.0.0.2", "private/raw.mov", site, 403},
	} {
		if st := anonGet(t, tc.from, base+tc.key, tc.hdr); st != tc.want {
			t.Errorf("anonymous GET %s from %s with %v: %d, want %d", tc.key, tc.from, tc.hdr, st, tc.want)
		}
	}
	out, err := bob.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("site")})
	if err != nil || len(out.Contents) != 2 {
		t.Fatalf("bob lists alice's bucket: %+v, %v", out, err)
	}
	if _, err := bob.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("site"), Key: aws.String("private/raw.mov")}); err != nil {
		t.Fatalf("bob reads alice's object: %v", err)
	}
	if _, err := bob.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("site"), Key: aws.String("bob"), Body: strings.NewReader("b")}); apiErrorCode(err) != "AccessDenied" {
		t.Fatalf("bob writes into alice's bucket: %v", err)
	}
}
