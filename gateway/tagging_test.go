package gateway

import (
	"bytes"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func sdkTags(kv ...string) []types.Tag {
	var out []types.Tag
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, types.Tag{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
	}
	return out
}

func flatTags(ts []types.Tag) []string {
	var out []string
	for _, t := range ts {
		out = append(out, aws.ToString(t.Key)+"="+aws.ToString(t.Value))
	}
	return out
}

func (e *env) wantTags(bucket, key string, want ...string) {
	e.t.Helper()
	out, err := e.root().GetObjectTagging(ctx(), &s3.GetObjectTaggingInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	must(e.t, err)
	if got := flatTags(out.TagSet); !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
		e.t.Fatalf("tags of %s/%s: %q, want %q", bucket, key, got, want)
	}
	h, err := e.root().HeadObject(ctx(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	must(e.t, err)
	if n := aws.ToInt32(h.TagCount); int(n) != len(want) {
		e.t.Fatalf("x-amz-tagging-count of %s/%s: %d, want %d", bucket, key, n, len(want))
	}
}

// TestTagging_Object: x-amz-tagging on PutObject, Put/Get/DeleteObjectTagging,
// x-amz-tagging-count, overwrite replaces the tags, the limits as AWS.
func TestTagging_Object(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		e.mkBucket("bkt")
		c := e.root()
		_, err := c.PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k"), Body: bytes.NewReader([]byte("x")),
			Tagging: aws.String("color=r%C3%A9d&size=big+one&empty=")})
		must(t, err)
		e.wantTags("bkt", "k", "color=réd", "size=big one", "empty=")
		g, err := c.GetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k")})
		must(t, err)
		g.Body.Close()
		if aws.ToInt32(g.TagCount) != 3 {
			t.Fatalf("GET x-amz-tagging-count %d", aws.ToInt32(g.TagCount))
		}
		before, err := c.HeadObject(ctx(), &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k")})
		must(t, err)

		_, err = c.PutObjectTagging(ctx(), &s3.PutObjectTaggingInput{Bucket: aws.String("bkt"), Key: aws.String("k"),
			Tagging: &types.Tagging{TagSet: sdkTags("a", "1", "b <&>", "2")}})
		must(t, err)
		e.wantTags("bkt", "k", "a=1", "b <&>=2")
		after, err := c.HeadObject(ctx(), &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k")})
		must(t, err)
		if *after.ETag != *before.ETag || !after.LastModified.Equal(*before.LastModified) {
			t.Fatal("PutObjectTagging changed the ETag or Last-Modified")
		}
		_, err = c.DeleteObjectTagging(ctx(), &s3.DeleteObjectTaggingInput{Bucket: aws.String("bkt"), Key: aws.String("k")})
		must(t, err)
		e.wantTags("bkt", "k")

		// an overwrite replaces the tag set
		_, err = c.PutObjectTagging(ctx(), &s3.PutObjectTaggingInput{Bucket: aws.String("bkt"), Key: aws.String("k"),
			Tagging: &types.Tagging{TagSet: sdkTags("old", "1")}})
		must(t, err)
		e.put("bkt", "k", []byte("y"))
		e.wantTags("bkt", "k")

		_, err = c.GetObjectTagging(ctx(), &s3.GetObjectTaggingInput{Bucket: aws.String("bkt"), Key: aws.String("missing")})
		wantCode(t, err, "NoSuchKey")
		_, err = c.PutObjectTagging(ctx(), &s3.PutObjectTaggingInput{Bucket: aws.String("bkt"), Key: aws.String("missing"),
			Tagging: &types.Tagging{TagSet: sdkTags("a", "1")}})
		wantCode(t, err, "NoSuchKey")

		eleven := make([]string, 0, 22)
		for i := range 11 {
			eleven = append(eleven, fmt.Sprint("k", i), "v")
		}
		for _, c2 := range []struct {
			name string
			tags []types.Tag
			code string
		}{
			{"eleven tags", sdkTags(eleven...), "BadRequest"},
			{"key of 129", sdkTags(strings.Repeat("é", 129), "v"), "InvalidTag"},
			{"value of 257", sdkTags("k", strings.Repeat("é", 257)), "InvalidTag"},
			{"duplicate key", sdkTags("k", "1", "k", "2"), "InvalidTag"},
			{"empty key", sdkTags("", "1"), "InvalidTag"},
			{"aws prefix", sdkTags("aws:x", "1"), "InvalidTag"},
		} {
			_, err = c.PutObjectTagging(ctx(), &s3.PutObjectTaggingInput{Bucket: aws.String("bkt"), Key: aws.String("k"),
				Tagging: &types.Tagging{TagSet: c2.tags}})
			if apiCode(err) != c2.code {
				t.Fatalf("%s: %v, want %s", c2.name, err, c2.code)
			}
		}
		// the limits themselves are allowed
		ten := sdkTags(eleven[:20]...)
		ten[0] = types.Tag{Key: aws.String(strings.Repeat("é", 128)), Value: aws.String(strings.Repeat("ü", 256))}
		_, err = c.PutObjectTagging(ctx(), &s3.PutObjectTaggingInput{Bucket: aws.String("bkt"), Key: aws.String("k"), Tagging: &types.Tagging{TagSet: ten}})
		must(t, err)
		e.wantTags("bkt", "k", flatTags(ten)...)

		// x-amz-tagging refusals leave nothing behind
		for hdr, code := range map[string]string{
			"a=1&a=2":  "InvalidTag",
			"a=%zz":    "InvalidArgument",
			"aws:x=1":  "InvalidTag",
			"=novalue": "InvalidTag",
		} {
			_, err = c.PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("refused"), Body: bytes.NewReader([]byte("x")),
				Tagging: aws.String(hdr)})
			if apiCode(err) != code {
				t.Fatalf("x-amz-tagging %q: %v, want %s", hdr, err, code)
			}
		}
		q := url.Values{}
		for i := range 11 {
			q.Set(fmt.Sprint("k", i), "v")
		}
		_, err = c.PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("refused"), Body: bytes.NewReader([]byte("x")),
			Tagging: aws.String(q.Encode())})
		wantCode(t, err, "BadRequest")
		_, err = c.HeadObject(ctx(), &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String("refused")})
		if err == nil {
			t.Fatal("a refused PUT stored the object")
		}
	})
}

// TestTagging_MultipartAndCopy: tags given at CreateMultipartUpload land
// on the completed object; CopyObject copies them (COPY) or takes
// x-amz-tagging (REPLACE); another directive is InvalidArgument.
func TestTagging_MultipartAndCopy(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		e.mkBucket("bkt")
		c := e.root()
		cr, err := c.CreateMultipartUpload(ctx(), &s3.CreateMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("mp"),
			Tagging: aws.String("from=upload")})
		must(t, err)
		up, err := c.UploadPart(ctx(), &s3.UploadPartInput{Bucket: aws.String("bkt"), Key: aws.String("mp"), UploadId: cr.UploadId,
			PartNumber: aws.Int32(1), Body: bytes.NewReader([]byte("part"))})
		must(t, err)
		_, err = c.CompleteMultipartUpload(ctx(), &s3.CompleteMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("mp"), UploadId: cr.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: up.ETag}}}})
		must(t, err)
		e.wantTags("bkt", "mp", "from=upload")
		_, err = c.CreateMultipartUpload(ctx(), &s3.CreateMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("mp2"),
			Tagging: aws.String("a=1&a=2")})
		wantCode(t, err, "InvalidTag")

		_, err = c.CopyObject(ctx(), &s3.CopyObjectInput{Bucket: aws.String("bkt"), Key: aws.String("copied"), CopySource: aws.String("bkt/mp")})
		must(t, err)
		e.wantTags("bkt", "copied", "from=upload")
		_, err = c.CopyObject(ctx(), &s3.CopyObjectInput{Bucket: aws.String("bkt"), Key: aws.String("copied"), CopySource: aws.String("bkt/mp"),
			TaggingDirective: types.TaggingDirectiveReplace, Tagging: aws.String("new=1")})
		must(t, err)
		e.wantTags("bkt", "copied", "new=1")
		_, err = c.CopyObject(ctx(), &s3.CopyObjectInput{Bucket: aws.String("bkt"), Key: aws.String("copied"), CopySource: aws.String("bkt/mp"),
			TaggingDirective: types.TaggingDirectiveReplace})
		must(t, err)
		e.wantTags("bkt", "copied")
		resp, body := e.signed("PUT", "/bkt/copied", map[string]string{"X-Amz-Copy-Source": "/bkt/mp", "X-Amz-Tagging-Directive": "MERGE"}, nil)
		if resp.StatusCode != 400 || !strings.Contains(string(body), "<Code>InvalidArgument</Code>") {
			t.Fatalf("unknown directive: %d %s", resp.StatusCode, body)
		}
		// metadata REPLACE onto itself keeps the tags under COPY
		_, err = c.CopyObject(ctx(), &s3.CopyObjectInput{Bucket: aws.String("bkt"), Key: aws.String("mp"), CopySource: aws.String("bkt/mp"),
			MetadataDirective: types.MetadataDirectiveReplace, ContentType: aws.String("text/plain")})
		must(t, err)
		e.wantTags("bkt", "mp", "from=upload")
	})
}

// TestTagging_Bucket: Put/Get/DeleteBucketTagging, NoSuchTagSet, 50 tags.
func TestTagging_Bucket(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		e.mkBucket("bkt")
		c := e.root()
		_, err := c.GetBucketTagging(ctx(), &s3.GetBucketTaggingInput{Bucket: aws.String("bkt")})
		wantCode(t, err, "NoSuchTagSet")
		_, err = c.PutBucketTagging(ctx(), &s3.PutBucketTaggingInput{Bucket: aws.String("bkt"), Tagging: &types.Tagging{TagSet: sdkTags("team", "media", "cost", "7")}})
		must(t, err)
		out, err := c.GetBucketTagging(ctx(), &s3.GetBucketTaggingInput{Bucket: aws.String("bkt")})
		must(t, err)
		if got := flatTags(out.TagSet); !reflect.DeepEqual(got, []string{"team=media", "cost=7"}) {
			t.Fatalf("bucket tags %q", got)
		}
		var many []string
		for i := range 51 {
			many = append(many, fmt.Sprint("k", i), "v")
		}
		_, err = c.PutBucketTagging(ctx(), &s3.PutBucketTaggingInput{Bucket: aws.String("bkt"), Tagging: &types.Tagging{TagSet: sdkTags(many...)}})
		wantCode(t, err, "BadRequest")
		_, err = c.PutBucketTagging(ctx(), &s3.PutBucketTaggingInput{Bucket: aws.String("bkt"), Tagging: &types.Tagging{TagSet: sdkTags(many[:100]...)}})
		must(t, err)
		resp, body := e.signed("PUT", "/bkt?tagging", map[string]string{"Content-MD5": b64md5([]byte("<Tagging/>"))}, []byte("<Tagging/>"))
		if resp.StatusCode != 400 || !strings.Contains(string(body), "MalformedXML") {
			t.Fatalf("Tagging without TagSet: %d %s", resp.StatusCode, body)
		}
		resp, body = e.signed("PUT", "/bkt?tagging", nil, []byte("<Tagging><TagSet/></Tagging>"))
		if resp.StatusCode != 400 || !strings.Contains(string(body), "InvalidRequest") {
			t.Fatalf("without Content-MD5: %d %s", resp.StatusCode, body)
		}
		_, err = c.DeleteBucketTagging(ctx(), &s3.DeleteBucketTaggingInput{Bucket: aws.String("bkt")})
		must(t, err)
		_, err = c.GetBucketTagging(ctx(), &s3.GetBucketTaggingInput{Bucket: aws.String("bkt")})
		wantCode(t, err, "NoSuchTagSet")
	})
}
