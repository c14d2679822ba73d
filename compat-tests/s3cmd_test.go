package compat

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestS3cmd(t *testing.T) {
	bin := tool(t, "s3cmd (apt s3cmd)", "/usr/bin/s3cmd", "s3cmd")
	e := endpoint(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "s3cfg")
	err := os.WriteFile(cfg, []byte(strings.Join([]string{
		"[default]",
		"access_key = " + e.AccessKey,
		"secret_key = " + e.SecretKey,
		"host_base = " + e.Host,
		"host_bucket = " + e.Host, // no %(bucket)s: path-style
		"bucket_location = " + e.Region,
		"use_https = False",
		"signature_v2 = False",
		"check_ssl_certificate = False",
		"guess_mime_type = False",
		"",
	}, "\n")), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	env := baseEnv()
	s3cmd := func(args ...string) cmdOut {
		t.Helper()
		o := mustRun(t, env, dir, 5*time.Minute, bin, append([]string{"-c", cfg}, args...)...)
		if strings.Contains(o.Stderr, "WARNING: MD5") || strings.Contains(o.Stderr, "ERROR") {
			t.Errorf("s3cmd %s warned:\n%s", strings.Join(args, " "), o.Stderr)
		}
		return o
	}
	t.Logf("%s", strings.TrimSpace(s3cmd("--version").Stdout))
	bucket := bucketName("s3cmd")
	removeBucketAtEnd(t, bucket)
	s3cmd("mb", "s3://"+bucket)

	small := filepath.Join(dir, "small.txt")
	smallMD5 := writeRandom(t, small, 10000, 11)
	big := filepath.Join(dir, "big.bin")
	writeRandom(t, big, 12<<20, 12)
	bigMD5 := fileMD5(t, big)
	bigETag := multipartETag(t, big, 5<<20) // 3 parts: 5, 5, 2 MiB

	s3cmd("put", "--mime-type=text/x-compat", "--add-header=x-amz-meta-color:blue", small, "s3://"+bucket+"/dir/small.txt")
	o := s3cmd("put", "--progress", "--multipart-chunk-size-mb=5", big, "s3://"+bucket+"/dir/big.bin")
	if !strings.Contains(o.Stdout+o.Stderr, "part 3 of 3") {
		t.Errorf("s3cmd put of 12 MiB with 5 MiB chunks: not 3 parts:\n%s", o.Stdout+o.Stderr)
	}

	// ls --list-md5: both objects with their sizes and MD5s: the ETag of
	// the single PUT, and for the multipart upload (ETag "…-3") the MD5
	// s3cmd stored in its x-amz-meta-s3cmd-attrs, read back with a HEAD.
	ls := s3cmd("ls", "--list-md5", "s3://"+bucket+"/dir/").Stdout
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(ls), "\n") {
		// 2026-11-23 09:31  10000  c52b…  s3://b/dir/small.txt
		f := strings.Fields(l)
		if len(f) == 5 {
			got[f[4]] = f[2] + " " + f[3]
		}
	}
	diffMaps(t, "s3cmd ls --list-md5", map[string]string{
		"s3://" + bucket + "/dir/small.txt": "10000 " + smallMD5,
		"s3://" + bucket + "/dir/big.bin":   "12582912 " + bigMD5,
	}, got)
	head, err := e.client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("dir/big.bin")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(head.ETag) != bigETag {
		t.Errorf("ETag of s3cmd's multipart upload: %s, want %s", aws.ToString(head.ETag), bigETag)
	}
	if ls := s3cmd("ls", "s3://"+bucket).Stdout; !strings.Contains(ls, "DIR") || !strings.Contains(ls, "s3://"+bucket+"/dir/") {
		t.Errorf("s3cmd ls of the bucket root does not show dir/ as a DIR:\n%s", ls)
	}

	// info: size, MD5 (the ETag), MIME type, user metadata.
	info := s3cmd("info", "s3://"+bucket+"/dir/small.txt").Stdout
	for _, re := range []string{
		`File size:\s+10000\b`,
		`MD5 sum:\s+` + smallMD5 + `\b`,
		`MIME type:\s+text/x-compat\b`,
		`(?i)x-amz-meta-color:\s+blue\b`,
	} {
		if !regexp.MustCompile(re).MatchString(info) {
			t.Errorf("s3cmd info of small.txt does not match %s:\n%s", re, info)
		}
	}
	info = s3cmd("info", "s3://"+bucket+"/dir/big.bin").Stdout
	if !regexp.MustCompile(`File size:\s+12582912\b`).MatchString(info) {
		t.Errorf("s3cmd info of big.bin: want size 12582912:\n%s", info)
	}

	// get: byte for byte (s3cmd also checks the MD5 against the ETag or its
	// own md5 attribute and warns otherwise).
	s3cmd("get", "--force", "s3://"+bucket+"/dir/small.txt", filepath.Join(dir, "small.down"))
	sameFile(t, small, filepath.Join(dir, "small.down"))
	s3cmd("get", "--force", "s3://"+bucket+"/dir/big.bin", filepath.Join(dir, "big.down"))
	sameFile(t, big, filepath.Join(dir, "big.down"))

	s3cmd("del", "s3://"+bucket+"/dir/small.txt")
	s3cmd("del", "s3://"+bucket+"/dir/big.bin")
	if ls := strings.TrimSpace(s3cmd("ls", "-r", "s3://"+bucket).Stdout); ls != "" {
		t.Errorf("s3cmd ls after del:\n%s", ls)
	}
	s3cmd("rb", "s3://"+bucket)
}
