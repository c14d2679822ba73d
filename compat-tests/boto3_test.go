package compat

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestBoto3 runs testdata/boto3_compat.py with Debian's python3-boto3 and,
// when installed, the pip boto3 of pyenv's python3 (newer, default checksums).
func TestBoto3(t *testing.T) {
	listBucket := newBucket(t, "boto3-list")
	fillListBucket(t, listBucket)

	t.Run("debian", func(t *testing.T) {
		py := tool(t, "Debian's python3", "/usr/bin/python3")
		if o := runCmd(t, baseEnv(), "", time.Minute, py, "-c", "import boto3"); o.Err != nil {
			msg := "Debian's python3-boto3 not installed (apt python3-boto3): " + o.Stderr
			if inCI() {
				t.Fatal("CI=true: " + msg)
			}
			t.Skip(msg)
		}
		runBoto3(t, py, listBucket)
	})
	t.Run("pip", func(t *testing.T) {
		py := "/root/.pyenv/shims/python3"
		if _, err := os.Stat(py); err != nil {
			t.Skipf("pyenv python3 not installed at %s; only Debian's boto3 tested", py)
		}
		if o := runCmd(t, baseEnv(), "", time.Minute, py, "-c", "import boto3"); o.Err != nil {
			t.Skipf("pyenv python3 has no boto3; only Debian's boto3 tested: %s", o.Stderr)
		}
		runBoto3(t, py, listBucket)
	})
}

// boto3Env is the environment of a boto3 script against e: its
// credentials and region, a config file of its own in dir, nothing from
// the machine's ~/.aws or an instance metadata service.
func boto3Env(e *Endpoint, dir string) []string {
	cfg := filepath.Join(dir, "aws-config")
	os.WriteFile(cfg, []byte("[default]\nregion = "+e.Region+"\n"), 0o644)
	return baseEnv(
		"AWS_ACCESS_KEY_ID="+e.AccessKey,
		"AWS_SECRET_ACCESS_KEY="+e.SecretKey,
		"AWS_DEFAULT_REGION="+e.Region,
		"AWS_CONFIG_FILE="+cfg,
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "none"),
		"AWS_EC2_METADATA_DISABLED=true",
		"PYTHONUNBUFFERED=1",
	)
}

func runBoto3(t *testing.T, py, listBucket string) {
	e := endpoint(t)
	bucket := newBucket(t, "boto3")
	dir := t.TempDir()
	env := boto3Env(e, dir)
	script, err := filepath.Abs("testdata/boto3_compat.py")
	if err != nil {
		t.Fatal(err)
	}
	o := runCmd(t, env, dir, 5*time.Minute, py, script, e.URL, bucket, listBucket, dir)
	for _, l := range strings.Split(strings.TrimSpace(o.Stdout), "\n") {
		t.Log(l)
	}
	if o.Err != nil {
		t.Fatalf("boto3_compat.py with %s: %v\n%s", py, o.Err, tail(o.Stderr, 6000))
	}
	if !strings.HasSuffix(strings.TrimSpace(o.Stdout), "ALL OK") {
		t.Fatalf("boto3_compat.py did not finish:\n%s", o.Stderr)
	}
	t.Logf("boto3 with %s took %v", py, o.Took.Round(time.Millisecond))
}

// fillListBucket puts the 2 500 keys boto3_compat.py lists: k0000..k1999 and
// d00/f00..d19/f24, each holding its own name.
func fillListBucket(t *testing.T, bucket string) {
	c := endpoint(t).client()
	var keys []string
	for i := range 2000 {
		keys = append(keys, fmt.Sprintf("k%04d", i))
	}
	for d := range 20 {
		for f := range 25 {
			keys = append(keys, fmt.Sprintf("d%02d/f%02d", d, f))
		}
	}
	start := time.Now()
	work := make(chan string)
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range work {
				_, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(k), Body: strings.NewReader(k)})
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("PutObject %s: %w", k, err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, k := range keys {
		work <- k
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
	t.Logf("put %d keys into %s in %v (aws-sdk-go-v2, 16 at a time)", len(keys), bucket, time.Since(start).Round(time.Millisecond))
}
