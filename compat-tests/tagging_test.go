package compat

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestAWSCLITagging drives object and bucket tagging through the aws CLIs
// (`s3api put-object --tagging`, `get-object-tagging`, `put-object-tagging`,
// `delete-object-tagging`, `get-object`'s TagCount, `*-bucket-tagging`)
// and, with pip's aws CLI v1 (whose botocore knows the parameters), a
// CompleteMultipartUpload refused by --if-none-match.
func TestAWSCLITagging(t *testing.T) {
	t.Run("debian", func(t *testing.T) {
		testAWSCLITagging(t, newAWSCLI(t, tool(t, "Debian's aws CLI (apt awscli)", "/usr/bin/aws")), false)
	})
	t.Run("pip", func(t *testing.T) {
		bin := "/root/.pyenv/shims/aws"
		if _, err := os.Stat(bin); err != nil {
			t.Skipf("pip aws CLI v1 not installed at %s; only Debian's aws CLI tested", bin)
		}
		testAWSCLITagging(t, newAWSCLI(t, bin), true)
	})
}

type cliTags struct {
	TagSet []struct{ Key, Value string }
}

func (c cliTags) flat() []string {
	var out []string
	for _, t := range c.TagSet {
		out = append(out, t.Key+"="+t.Value)
	}
	return out
}

func testAWSCLITagging(t *testing.T, a *awsCLI, conditional bool) {
	bucket := bucketName("tagging")
	removeBucketAtEnd(t, bucket)
	a.run("s3", "mb", "s3://"+bucket)
	dir := t.TempDir()
	src := filepath.Join(dir, "body")
	if err := os.WriteFile(src, []byte("tagged bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	wantTags := func(key string, want ...string) {
		t.Helper()
		var got cliTags
		a.json(&got, "s3api", "get-object-tagging", "--bucket", bucket, "--key", key)
		if !reflect.DeepEqual(got.flat(), want) && !(len(got.TagSet) == 0 && len(want) == 0) {
			t.Fatalf("tags of %s: %q, want %q", key, got.flat(), want)
		}
		var g struct{ TagCount int }
		a.json(&g, "s3api", "get-object", "--bucket", bucket, "--key", key, filepath.Join(dir, "out"))
		if g.TagCount != len(want) {
			t.Fatalf("TagCount of %s: %d, want %d", key, g.TagCount, len(want))
		}
	}
	refused := func(code string, args ...string) {
		t.Helper()
		o := a.try(args...)
		if o.Err == nil || !strings.Contains(o.Stderr, code) {
			t.Fatalf("aws %s: %v %s, want %s", strings.Join(args, " "), o.Err, o.Stderr, code)
		}
	}

	a.run("s3api", "put-object", "--bucket", bucket, "--key", "k", "--body", src, "--tagging", "color=red&note=two+words")
	wantTags("k", "color=red", "note=two words")
	a.run("s3api", "put-object-tagging", "--bucket", bucket, "--key", "k", "--tagging", "TagSet=[{Key=a,Value=1},{Key=b,Value=2}]")
	wantTags("k", "a=1", "b=2")
	a.run("s3api", "delete-object-tagging", "--bucket", bucket, "--key", "k")
	wantTags("k")
	var many []string
	for _, c := range "abcdefghijk" {
		many = append(many, "{Key="+string(c)+",Value=v}")
	}
	refused("BadRequest", "s3api", "put-object-tagging", "--bucket", bucket, "--key", "k", "--tagging", "TagSet=["+strings.Join(many, ",")+"]")
	refused("InvalidTag", "s3api", "put-object-tagging", "--bucket", bucket, "--key", "k", "--tagging", "TagSet=[{Key="+strings.Repeat("x", 129)+",Value=v}]")
	refused("NoSuchKey", "s3api", "get-object-tagging", "--bucket", bucket, "--key", "missing")

	refused("NoSuchTagSet", "s3api", "get-bucket-tagging", "--bucket", bucket)
	a.run("s3api", "put-bucket-tagging", "--bucket", bucket, "--tagging", "TagSet=[{Key=team,Value=media}]")
	var bt cliTags
	a.json(&bt, "s3api", "get-bucket-tagging", "--bucket", bucket)
	if !reflect.DeepEqual(bt.flat(), []string{"team=media"}) {
		t.Fatalf("bucket tags %q", bt.flat())
	}
	a.run("s3api", "delete-bucket-tagging", "--bucket", bucket)
	refused("NoSuchTagSet", "s3api", "get-bucket-tagging", "--bucket", bucket)

	if !conditional {
		return
	}
	var cr struct{ UploadId string }
	a.json(&cr, "s3api", "create-multipart-upload", "--bucket", bucket, "--key", "k", "--tagging", "from=upload")
	var up struct{ ETag string }
	a.json(&up, "s3api", "upload-part", "--bucket", bucket, "--key", "k", "--upload-id", cr.UploadId, "--part-number", "1", "--body", src)
	parts := `{"Parts":[{"PartNumber":1,"ETag":` + jsonQuote(up.ETag) + `}]}`
	refused("PreconditionFailed", "s3api", "complete-multipart-upload", "--bucket", bucket, "--key", "k", "--upload-id", cr.UploadId,
		"--multipart-upload", parts, "--if-none-match", "*")
	wantTags("k") // the object as it was
	a.run("s3api", "complete-multipart-upload", "--bucket", bucket, "--key", "k", "--upload-id", cr.UploadId, "--multipart-upload", parts)
	wantTags("k", "from=upload")
}

func jsonQuote(s string) string {
	return `"` + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `"`, `\"`) + `"`
}
