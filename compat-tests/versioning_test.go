package compat

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBoto3Versioning runs testdata/boto3_versioning.py (bucket versioning
// and object lock) with Debian's python3-boto3 and, when installed, the pip
// boto3 of pyenv's python3.
func TestBoto3Versioning(t *testing.T) {
	for _, c := range []struct{ name, py string }{
		{"debian", "/usr/bin/python3"},
		{"pip", "/root/.pyenv/shims/python3"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := os.Stat(c.py); err != nil {
				t.Skipf("%s not installed", c.py)
			}
			if o := runCmd(t, baseEnv(), "", time.Minute, c.py, "-c", "import boto3"); o.Err != nil {
				msg := c.py + " has no boto3: " + o.Stderr
				if inCI() && c.name == "debian" {
					t.Fatal("CI=true: " + msg)
				}
				t.Skip(msg)
			}
			e := endpoint(t)
			bucket := newBucket(t, "boto3-ver")
			lockBucket := bucketName("boto3-lock")
			dir := t.TempDir()
			env := boto3Env(e, dir) // boto3_test.go
			script, err := filepath.Abs("testdata/boto3_versioning.py")
			if err != nil {
				t.Fatal(err)
			}
			o := runCmd(t, env, dir, 2*time.Minute, c.py, script, e.URL, bucket, lockBucket)
			for _, l := range strings.Split(strings.TrimSpace(o.Stdout), "\n") {
				t.Log(l)
			}
			if o.Err != nil {
				t.Fatalf("boto3_versioning.py with %s: %v\n%s", c.py, o.Err, tail(o.Stderr, 6000))
			}
			if !strings.HasSuffix(strings.TrimSpace(o.Stdout), "ALL OK") {
				t.Fatalf("boto3_versioning.py did not finish:\n%s", o.Stderr)
			}
		})
	}
}
