package compat

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBoto3Lifecycle runs testdata/boto3_lifecycle.py with Debian's
// python3-boto3: put, get (every element), a refusal, delete.
func TestBoto3Lifecycle(t *testing.T) {
	py := tool(t, "Debian's python3", "/usr/bin/python3")
	if o := runCmd(t, baseEnv(), "", time.Minute, py, "-c", "import boto3"); o.Err != nil {
		msg := "Debian's python3-boto3 not installed (apt python3-boto3): " + o.Stderr
		if inCI() {
			t.Fatal("CI=true: " + msg)
		}
		t.Skip(msg)
	}
	e := endpoint(t)
	bucket := newBucket(t, "lifecycle-boto3")
	dir := t.TempDir()
	env := boto3Env(e, dir) // boto3_test.go
	script, err := filepath.Abs("testdata/boto3_lifecycle.py")
	if err != nil {
		t.Fatal(err)
	}
	o := runCmd(t, env, dir, 2*time.Minute, py, script, e.URL, bucket)
	for _, l := range strings.Split(strings.TrimSpace(o.Stdout), "\n") {
		t.Log(l)
	}
	if o.Err != nil || !strings.HasSuffix(strings.TrimSpace(o.Stdout), "ALL OK") {
		t.Fatalf("boto3_lifecycle.py: %v\n%s", o.Err, tail(o.Stderr, 4000))
	}
}
