package gateway

import (
	"bytes"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestPut_WriteConditions: If-None-Match accepts only *, If-Match an ETag
// (NoSuchKey without an object), both at once is NotImplemented, as AWS.
func TestPut_WriteConditions(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		e.mkBucket("bkt")
		etag := e.put("bkt", "k", []byte("v1")) // quoted
		for _, c := range []struct {
			name string
			key  string
			hdr  map[string]string
			want int
			code string
		}{
			{"none-match etag", "k", map[string]string{"If-None-Match": etag}, 501, "NotImplemented"},
			{"none-match other etag", "k", map[string]string{"If-None-Match": `"nope"`}, 501, "NotImplemented"},
			{"both", "k", map[string]string{"If-None-Match": "*", "If-Match": etag}, 501, "NotImplemented"},
			{"none-match star exists", "k", map[string]string{"If-None-Match": "*"}, 412, "PreconditionFailed"},
			{"match other", "k", map[string]string{"If-Match": `"nope"`}, 412, "PreconditionFailed"},
			{"match missing key", "missing", map[string]string{"If-Match": etag}, 404, "NoSuchKey"},
			{"match unquoted", "k", map[string]string{"If-Match": etag[1 : len(etag)-1]}, 200, ""},
		} {
			t.Run(c.name, func(t *testing.T) {
				resp, body := e.signed("PUT", "/bkt/"+c.key, c.hdr, []byte("v2"))
				if resp.StatusCode != c.want || !bytes.Contains(body, []byte(c.code)) {
					t.Fatalf("%d %s, want %d %s", resp.StatusCode, body, c.want, c.code)
				}
			})
		}
		if got := e.get("bkt", "k"); string(got) != "v2" {
			t.Fatalf("body %q after the one PUT allowed", got)
		}
	})
}

// TestMultipart_CompleteConditions: a completion refused by If-None-Match
// or If-Match leaves the object untouched and the upload completable.
func TestMultipart_CompleteConditions(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		e.mkBucket("bkt")
		c := e.root()
		cr, err := c.CreateMultipartUpload(ctx(), &s3.CreateMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("k")})
		must(t, err)
		part := randBytes(1000)
		up, err := c.UploadPart(ctx(), &s3.UploadPartInput{Bucket: aws.String("bkt"), Key: aws.String("k"), UploadId: cr.UploadId,
			PartNumber: aws.Int32(1), Body: bytes.NewReader(part)})
		must(t, err)
		complete := func(ifMatch, ifNoneMatch *string) error {
			_, err := c.CompleteMultipartUpload(ctx(), &s3.CompleteMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("k"),
				UploadId: cr.UploadId, IfMatch: ifMatch, IfNoneMatch: ifNoneMatch,
				MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: up.ETag}}}})
			return err
		}
		wantCode(t, complete(aws.String(`"abc"`), nil), "NoSuchKey") // nothing under the key yet
		old := []byte("the object before")
		oldTag := e.put("bkt", "k", old)
		wantCode(t, complete(nil, aws.String("*")), "PreconditionFailed")
		wantCode(t, complete(aws.String(`"abc"`), nil), "PreconditionFailed")
		wantCode(t, complete(nil, aws.String(oldTag)), "NotImplemented")
		if got := e.get("bkt", "k"); !bytes.Equal(got, old) {
			t.Fatalf("a refused completion changed the object: %q", got)
		}
		must(t, complete(aws.String(oldTag), nil))
		if got := e.get("bkt", "k"); !bytes.Equal(got, part) {
			t.Fatal("the completion did not publish the parts")
		}
		e.waitCollected()
		if n := e.store.(*memStore).count(); n != 1 {
			t.Fatalf("%d blobs stored, want the part's 1", n)
		}
	})
}

// TestMultipart_CompleteIfNoneMatchOnNewKey: If-None-Match: * lets a
// completion create a key.
func TestMultipart_CompleteIfNoneMatchOnNewKey(t *testing.T) {
	e := newEnv(t, envOpt{})
	e.mkBucket("bkt")
	c := e.root()
	cr, err := c.CreateMultipartUpload(ctx(), &s3.CreateMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("new")})
	must(t, err)
	up, err := c.UploadPart(ctx(), &s3.UploadPartInput{Bucket: aws.String("bkt"), Key: aws.String("new"), UploadId: cr.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader([]byte("x"))})
	must(t, err)
	_, err = c.CompleteMultipartUpload(ctx(), &s3.CompleteMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("new"),
		UploadId: cr.UploadId, IfNoneMatch: aws.String("*"),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: up.ETag}}}})
	must(t, err)
}

// TestCopy_DestinationConditions: CopyObject honours If-None-Match: * and
// If-Match on its destination.
func TestCopy_DestinationConditions(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		e.mkBucket("bkt")
		c := e.root()
		e.put("bkt", "src", []byte("source"))
		dstTag := e.put("bkt", "dst", []byte("dest"))
		cp := func(key string, ifMatch, ifNoneMatch *string) error {
			_, err := c.CopyObject(ctx(), &s3.CopyObjectInput{Bucket: aws.String("bkt"), Key: aws.String(key), CopySource: aws.String("bkt/src"),
				IfMatch: ifMatch, IfNoneMatch: ifNoneMatch})
			return err
		}
		wantCode(t, cp("dst", nil, aws.String("*")), "PreconditionFailed")
		wantCode(t, cp("dst", aws.String(`"nope"`), nil), "PreconditionFailed")
		wantCode(t, cp("missing", aws.String(dstTag), nil), "NoSuchKey")
		if got := e.get("bkt", "dst"); string(got) != "dest" {
			t.Fatalf("a refused copy changed the destination: %q", got)
		}
		must(t, cp("fresh", nil, aws.String("*")))
		must(t, cp("dst", aws.String(dstTag), nil))
		if got := e.get("bkt", "dst"); string(got) != "source" {
			t.Fatalf("destination %q after the copy", got)
		}
	})
}

// TestMultipart_CompleteIfNoneMatchIsAtomic: of uploads of one key
// completed at once with If-None-Match: *, exactly one wins; the others
// are refused and stay completable.
func TestMultipart_CompleteIfNoneMatchIsAtomic(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		e.mkBucket("bkt")
		c := e.root()
		const n = 6
		type upl struct{ id, etag *string }
		ups := make([]upl, n)
		for i := range ups {
			cr, err := c.CreateMultipartUpload(ctx(), &s3.CreateMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("once")})
			must(t, err)
			up, err := c.UploadPart(ctx(), &s3.UploadPartInput{Bucket: aws.String("bkt"), Key: aws.String("once"), UploadId: cr.UploadId,
				PartNumber: aws.Int32(1), Body: bytes.NewReader(randBytes(100 + i))})
			must(t, err)
			ups[i] = upl{cr.UploadId, up.ETag}
		}
		complete := func(u upl, ifNoneMatch *string) error {
			_, err := c.CompleteMultipartUpload(ctx(), &s3.CompleteMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("once"),
				UploadId: u.id, IfNoneMatch: ifNoneMatch,
				MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: u.etag}}}})
			return err
		}
		errs := make(chan error, n)
		for _, u := range ups {
			go func() { errs <- complete(u, aws.String("*")) }()
		}
		won := 0
		for range n {
			switch err := <-errs; apiCode(err) {
			case "":
				won++
			case "PreconditionFailed", "ConditionalRequestConflict":
			default:
				t.Errorf("unexpected %v", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d completions succeeded, want 1", won)
		}
		// the refused uploads are all still there, and complete without the condition
		out, err := c.ListMultipartUploads(ctx(), &s3.ListMultipartUploadsInput{Bucket: aws.String("bkt")})
		must(t, err)
		if len(out.Uploads) != n-1 {
			t.Fatalf("%d uploads left, want %d", len(out.Uploads), n-1)
		}
		for _, u := range ups {
			if *u.id == *out.Uploads[0].UploadId {
				must(t, complete(u, nil))
			}
		}
		if out, err := c.ListMultipartUploads(ctx(), &s3.ListMultipartUploadsInput{Bucket: aws.String("bkt")}); err != nil || len(out.Uploads) != n-2 {
			t.Fatalf("uploads after completing a refused one: %+v, %v", out, err)
		}
	})
}
