package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/tnv-s3/tnv/internal/proctest"
	"github.com/tnv-s3/tnv/metadb/metadbtest"
)

// noRetryS3 is an S3 client that does not retry: a 500 the gateway
// answers is seen as the failure it is, not hidden by the SDK's retries.
func noRetryS3(endpoint, access, secret string) *s3.Client {
	return s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(access, secret, ""),
		Retryer:     aws.NopRetryer{},
	})
}

func sh(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func storeArg(p *proctest.Proc) string {
	for i, a := range p.Args {
		if a == "--store" && i+1 < len(p.Args) {
			return p.Args[i+1]
		}
	}
	return ""
}

// TestGateway_ReadOnlyMember_PutsSucceed is issue 13's "one bad disk fails
// PUTs" through the S3 gateway: a 2-member group whose second member's
// store is a 64 MiB tmpfs remounted read-only. Every 4 KiB PUT (an SDK
// client without retries) succeeds, every object reads back, and once the
// store is writable again the member catches up.
func TestGateway_ReadOnlyMember_PutsSucceed(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	dsn := metadbtest.NewTestMySQL(t)
	c := proctest.StartCluster(t, proctest.Topology{DB: dsn, Members: 2, Beat: 500 * time.Millisecond,
		Args: []string{"--health-interval", "500ms"}})
	sick := c.Groups[0][1]
	store := storeArg(sick)
	sick.Kill()
	os.RemoveAll(store)
	os.MkdirAll(store, 0o755)
	sh(t, "mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", store)
	t.Cleanup(func() {
		sick.Kill()
		if exec.Command("umount", store).Run() != nil {
			exec.Command("umount", "-l", store).Run()
		}
	})
	sick.Restart()
	c.WaitActive(30 * time.Second)
	gw := startGateway(t, c, "sickkey", "sicksecret-0123456789")
	s3c := noRetryS3("http://"+gw.Addr, "sickkey", "sicksecret-0123456789")
	ctx := context.Background()
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("sick")}); err != nil {
		t.Fatal(err)
	}
	objs := map[string][]byte{}
	put := func(prefix string, n int) int {
		failed := 0
		for i := range n {
			key := fmt.Sprintf("%s/%03d", prefix, i)
			body := make([]byte, 4<<10)
			rand.NewChaCha8([32]byte{byte(i), byte(len(objs))}).Read(body)
			_, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("sick"), Key: aws.String(key), Body: bytes.NewReader(body)})
			if err != nil {
				failed++
				t.Errorf("PUT %s: %v", key, err)
				continue
			}
			objs[key] = body
		}
		return failed
	}
	if n := put("before", 20); n != 0 {
		t.Fatalf("%d PUTs failed on a healthy group", n)
	}
	sh(t, "mount", "-o", "remount,ro", store)
	failed := put("ro", 200)
	t.Logf("one member read-only: %d of 200 PUTs of 4 KiB failed", failed)
	if failed != 0 {
		t.Fatal("PUTs failed with one member read-only")
	}
	text, _ := c.GroupsText()
	if !strings.Contains(proctest.NodeLine(text, sick.Addr), "health=READONLY") {
		t.Fatalf("GROUPS does not show the member READONLY:\n%s", text)
	}
	getAll := func() int {
		bad := 0
		for key, want := range objs {
			out, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("sick"), Key: aws.String(key)})
			if err != nil {
				bad++
				t.Errorf("GET %s: %v", key, err)
				continue
			}
			got, err := io.ReadAll(out.Body)
			out.Body.Close()
			if err != nil || !bytes.Equal(got, want) {
				bad++
				t.Errorf("GET %s: %d bytes, %v", key, len(got), err)
			}
		}
		return bad
	}
	if bad := getAll(); bad != 0 {
		t.Fatalf("%d of %d GETs failed with one member read-only", bad, len(objs))
	}
	sh(t, "mount", "-o", "remount,rw", store)
	deadline := time.Now().Add(60 * time.Second)
	for {
		text, _ := c.GroupsText()
		line := proctest.NodeLine(text, sick.Addr)
		if strings.Contains(line, "health=OK") && strings.Contains(line, " lag=0 ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("member not caught up 60 s after its store became writable: %s", line)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if bad := getAll(); bad != 0 {
		t.Fatalf("%d of %d GETs failed after recovery", bad, len(objs))
	}
}
