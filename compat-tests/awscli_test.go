package compat

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// awsCLI runs one aws CLI binary against the endpoint with a configuration
// of its own.
type awsCLI struct {
	t   *testing.T
	bin string
	env []string
	ep  *Endpoint
}

func newAWSCLI(t *testing.T, bin string) *awsCLI {
	e := endpoint(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	// Path-style addressing; multipart threshold and part size are the
	// defaults (8 MiB) written out so the expected ETags follow from them.
	err := os.WriteFile(cfg, []byte("[default]\nregion = "+e.Region+"\ns3 =\n  addressing_style = path\n  multipart_threshold = 8MB\n  multipart_chunksize = 8MB\n"), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	creds := filepath.Join(dir, "credentials")
	if err := os.WriteFile(creds, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	env := baseEnv(
		"AWS_ACCESS_KEY_ID="+e.AccessKey,
		"AWS_SECRET_ACCESS_KEY="+e.SecretKey,
		"AWS_DEFAULT_REGION="+e.Region,
		"AWS_CONFIG_FILE="+cfg,
		"AWS_SHARED_CREDENTIALS_FILE="+creds,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_PAGER=",
		"AWS_CLI_AUTO_PROMPT=off",
	)
	return &awsCLI{t: t, bin: bin, env: env, ep: e}
}

func (a *awsCLI) args(args []string) []string {
	return append([]string{"--endpoint-url", a.ep.URL}, args...)
}

// run runs `aws args...`, failing the test on error.
func (a *awsCLI) run(args ...string) cmdOut {
	a.t.Helper()
	return mustRun(a.t, a.env, "", 5*time.Minute, a.bin, a.args(args)...)
}

// try runs `aws args...` and returns what happened.
func (a *awsCLI) try(args ...string) cmdOut {
	a.t.Helper()
	return runCmd(a.t, a.env, "", 5*time.Minute, a.bin, a.args(args)...)
}

// json runs `aws args...` and decodes its JSON output into v.
func (a *awsCLI) json(v any, args ...string) {
	a.t.Helper()
	o := a.run(append(args, "--output", "json")...)
	if err := json.Unmarshal([]byte(o.Stdout), v); err != nil {
		a.t.Fatalf("aws %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, o.Stdout)
	}
}

// TestAWSCLI drives Debian's aws CLI (v2) and, when installed, the pip aws
// CLI v1 (newer botocore, default checksums).
func TestAWSCLI(t *testing.T) {
	t.Run("debian", func(t *testing.T) {
		testAWSCLI(t, tool(t, "Debian's aws CLI (apt awscli)", "/usr/bin/aws"))
	})
	t.Run("pip", func(t *testing.T) {
		bin := "/root/.pyenv/shims/aws"
		if _, err := os.Stat(bin); err != nil {
			// Optional: CI images without pyenv only have Debian's aws CLI.
			t.Skipf("pip aws CLI v1 not installed at %s; only Debian's aws CLI tested", bin)
		}
		testAWSCLI(t, bin)
	})
}

func testAWSCLI(t *testing.T, bin string) {
	a := newAWSCLI(t, bin)
	v := a.try("--version")
	t.Logf("%s: %s", bin, strings.TrimSpace(v.Stdout+v.Stderr))
	dir := t.TempDir()
	bucket := bucketName("awscli")
	removeBucketAtEnd(t, bucket)

	a.run("s3", "mb", "s3://"+bucket)
	var ls struct{ Buckets []struct{ Name string } }
	a.json(&ls, "s3api", "list-buckets")
	found := false
	for _, b := range ls.Buckets {
		found = found || b.Name == bucket
	}
	if !found {
		t.Fatalf("list-buckets does not list %s: %+v", bucket, ls.Buckets)
	}

	t.Run("cp", func(t *testing.T) {
		a := *a
		a.t = t
		for _, c := range []struct {
			name string
			size int64
			etag func(path string) string
		}{
			{"small.bin", 1 << 10, func(p string) string { return `"` + fileMD5(t, p) + `"` }},
			{"big.bin", 100 << 20, func(p string) string { return multipartETag(t, p, 8<<20) }},
		} {
			src := filepath.Join(dir, c.name)
			writeRandom(t, src, c.size, uint64(c.size))
			a.run("s3", "cp", "--only-show-errors", src, "s3://"+bucket+"/cp/"+c.name)
			got := filepath.Join(dir, "down-"+c.name)
			a.run("s3", "cp", "--only-show-errors", "s3://"+bucket+"/cp/"+c.name, got)
			sameFile(t, src, got)

			var head struct {
				ContentLength int64
				ETag          string
				AcceptRanges  string
			}
			a.json(&head, "s3api", "head-object", "--bucket", bucket, "--key", "cp/"+c.name)
			want := c.etag(src)
			if head.ContentLength != c.size || head.ETag != want || head.AcceptRanges != "bytes" {
				t.Errorf("head-object cp/%s: length %d, ETag %s, AcceptRanges %q; want %d, %s, bytes",
					c.name, head.ContentLength, head.ETag, head.AcceptRanges, c.size, want)
			}

			// The additional checksum: pip's CLI (botocore >= 1.36) sends
			// CRC32 by default, multipart too; Debian's v2.9 sends none.
			// What head-object --checksum-mode ENABLED shows must be
			// the CRC32 of the file (FULL_OBJECT) or of its 8 MiB parts
			// (COMPOSITE), computed here.
			var ck struct{ ChecksumCRC32, ChecksumType string }
			a.json(&ck, "s3api", "head-object", "--bucket", bucket, "--key", "cp/"+c.name, "--checksum-mode", "ENABLED")
			full, composite := crc32Checksums(t, src, 8<<20)
			switch {
			case ck.ChecksumCRC32 == "" && strings.Contains(bin, "pyenv"):
				t.Errorf("head-object --checksum-mode ENABLED cp/%s: no CRC32 from a CLI that sends one", c.name)
			case ck.ChecksumCRC32 == "":
				t.Logf("cp/%s: this CLI sent no checksum", c.name)
			case ck.ChecksumType == "FULL_OBJECT" && ck.ChecksumCRC32 != full,
				ck.ChecksumType == "COMPOSITE" && ck.ChecksumCRC32 != composite,
				ck.ChecksumType != "FULL_OBJECT" && ck.ChecksumType != "COMPOSITE":
				t.Errorf("cp/%s: ChecksumCRC32 %s %s; want %s FULL_OBJECT or %s COMPOSITE", c.name, ck.ChecksumCRC32, ck.ChecksumType, full, composite)
			default:
				t.Logf("cp/%s: CRC32 %s %s as computed", c.name, ck.ChecksumCRC32, ck.ChecksumType)
			}

			// aws s3 presign, fetched with curl: whole, ranges, unsatisfiable.
			url := strings.TrimSpace(a.run("s3", "presign", "s3://"+bucket+"/cp/"+c.name, "--expires-in", "600").Stdout)
			t.Logf("presigned: %s", url)
			checkPresignedGET(t, "presigned cp/"+c.name, url, src, want)
		}
	})

	t.Run("sync", func(t *testing.T) {
		a := *a
		a.t = t
		src := filepath.Join(dir, "tree")
		want := makeTree(t, src, 200, 42)
		a.run("s3", "sync", "--only-show-errors", src, "s3://"+bucket+"/tree/")

		// ls --recursive lists every key with its size.
		o := a.run("s3", "ls", "--recursive", "s3://"+bucket+"/tree/")
		got := map[string]int64{}
		for _, line := range strings.Split(strings.TrimRight(o.Stdout, "\n"), "\n") {
			// 2024-01-02 03:04:05       1234 tree/d01/sub1/f001.bin
			f := strings.SplitN(line, " ", 3)
			if len(f) < 3 {
				t.Fatalf("ls --recursive: bad line %q", line)
			}
			rest := strings.TrimLeft(f[2], " ")
			sz, key, ok := strings.Cut(rest, " ")
			n, err := strconv.ParseInt(sz, 10, 64)
			if !ok || err != nil {
				t.Fatalf("ls --recursive: bad line %q", line)
			}
			got[strings.TrimPrefix(key, "tree/")] = n
		}
		diffMaps(t, "aws s3 ls --recursive", want, got)

		// A second sync has nothing to do.
		if o := a.run("s3", "sync", src, "s3://"+bucket+"/tree/"); strings.TrimSpace(o.Stdout) != "" {
			t.Errorf("second sync up transferred again:\n%s", tail(o.Stdout, 2000))
		}

		down := filepath.Join(dir, "tree-down")
		a.run("s3", "sync", "--only-show-errors", "s3://"+bucket+"/tree/", down)
		sameTree(t, src, down)
		if o := a.run("s3", "sync", "s3://"+bucket+"/tree/", down); strings.TrimSpace(o.Stdout) != "" {
			t.Errorf("second sync down transferred again:\n%s", tail(o.Stdout, 2000))
		}

		a.run("s3", "rm", "--recursive", "--only-show-errors", "s3://"+bucket+"/tree/")
		o = a.try("s3", "ls", "--recursive", "s3://"+bucket+"/tree/")
		if strings.TrimSpace(o.Stdout) != "" {
			t.Errorf("after rm --recursive, ls still lists:\n%s", tail(o.Stdout, 2000))
		}
	})

	t.Run("metadata", func(t *testing.T) {
		a := *a
		a.t = t
		src := filepath.Join(dir, "meta.txt")
		md5 := writeRandom(t, src, 3000, 3)
		var put struct{ ETag string }
		a.json(&put, "s3api", "put-object", "--bucket", bucket, "--key", "meta/obj.txt", "--body", src,
			"--content-type", "text/x-compat; charset=utf-8",
			"--metadata", "color=blue,Mixed-Case=Value 1",
			"--cache-control", "max-age=60",
			"--content-disposition", `attachment; filename="obj.txt"`)
		if put.ETag != `"`+md5+`"` {
			t.Errorf("put-object ETag %s, want %q", put.ETag, `"`+md5+`"`)
		}
		var head struct {
			ContentLength      int64
			ContentType        string
			ETag               string
			CacheControl       string
			ContentDisposition string
			AcceptRanges       string
			LastModified       string
			Metadata           map[string]string
		}
		a.json(&head, "s3api", "head-object", "--bucket", bucket, "--key", "meta/obj.txt")
		if head.ContentLength != 3000 || head.ETag != `"`+md5+`"` || head.ContentType != "text/x-compat; charset=utf-8" ||
			head.CacheControl != "max-age=60" || head.ContentDisposition != `attachment; filename="obj.txt"` ||
			head.AcceptRanges != "bytes" || head.LastModified == "" {
			t.Errorf("head-object: %+v", head)
		}
		diffMaps(t, "head-object Metadata", map[string]string{"color": "blue", "mixed-case": "Value 1"}, head.Metadata)

		got := filepath.Join(dir, "meta-down.txt")
		a.run("s3api", "get-object", "--bucket", bucket, "--key", "meta/obj.txt", got)
		sameFile(t, src, got)

		var nf = a.try("s3api", "head-object", "--bucket", bucket, "--key", "meta/missing")
		if nf.Err == nil || !strings.Contains(nf.Stderr, "404") {
			t.Errorf("head-object of a missing key: err %v, stderr %q; want a 404", nf.Err, nf.Stderr)
		}
		a.run("s3", "rm", "s3://"+bucket+"/meta/obj.txt")
	})

	a.run("s3", "rm", "--recursive", "--only-show-errors", "s3://"+bucket)
	a.run("s3", "rb", "s3://"+bucket)
	if o := a.try("s3api", "head-bucket", "--bucket", bucket); o.Err == nil {
		t.Errorf("head-bucket after rb: %s", fmt.Sprint(o.Stdout, o.Stderr))
	}
}

// crc32Checksums are S3's CRC32 checksums of a file: of the whole
// (FULL_OBJECT) and composite of its parts of part bytes ("…-N"); a file
// of one part has the same value for both.
func crc32Checksums(t testing.TB, path string, part int64) (full, composite string) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	whole, parts := crc32.NewIEEE(), crc32.NewIEEE()
	n := 0
	for {
		p := crc32.NewIEEE()
		m, err := io.Copy(io.MultiWriter(whole, p), io.LimitReader(f, part))
		if err != nil {
			t.Fatal(err)
		}
		if m == 0 {
			break
		}
		parts.Write(p.Sum(nil))
		n++
	}
	b64 := base64.StdEncoding.EncodeToString
	full = b64(binary.BigEndian.AppendUint32(nil, whole.Sum32()))
	if n <= 1 {
		return full, full
	}
	return full, fmt.Sprintf("%s-%d", b64(parts.Sum(nil)), n)
}
