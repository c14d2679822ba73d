package gateway

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestCreateBucket_AWSReservedNamesAreInvalid creates buckets whose names
// follow the general rules but that AWS keeps for itself: each is refused
// with InvalidBucketName and nothing is created; names merely containing
// those parts are fine.
func TestCreateBucket_AWSReservedNamesAreInvalid(t *testing.T) {
	e := newEnv(t, envOpt{})
	c := e.root()
	// Raw requests: the SDK itself treats "--x-s3" names as directory
	// buckets of S3 Express.
	for _, name := range []string{"xn--bucket", "sthree-bucket", "amzn-s3-demo-bucket", "photos-s3alias", "photos--ol-s3",
		"photos--x-s3", "photos--table-s3", "photos.mrap"} {
		resp, body := e.signed("PUT", "/"+name, nil, nil)
		if resp.StatusCode != http.StatusBadRequest || !bytes.Contains(body, []byte("<Code>InvalidBucketName</Code>")) {
			t.Errorf("CreateBucket %s: %d %s", name, resp.StatusCode, body)
		}
		if resp, _ := e.signed("HEAD", "/"+name, nil, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: HEAD after the refusal: %d, want 404", name, resp.StatusCode)
		}
	}
	for _, name := range []string{"xn-bucket", "my-xn--bucket", "s3alias-photos", "photos-s3alias-2", "ol-s3-photos"} {
		_, err := c.CreateBucket(ctx(), &s3.CreateBucketInput{Bucket: aws.String(name)})
		must(t, err)
	}
}

// TestObjectKey_InvalidUTF8IsInvalidURI puts, gets and heads keys with
// bytes that are not UTF-8: 400 InvalidURI (HEAD: the code in a header),
// nothing stored; a valid multi-byte key is fine.
func TestObjectKey_InvalidUTF8IsInvalidURI(t *testing.T) {
	e := newEnv(t, envOpt{})
	e.mkBucket("utf")
	for _, key := range []string{"a%FFb", "%C3", "ok/%ED%A0%80", "%80"} { // invalid byte, cut sequence, surrogate, lone continuation
		resp, body := e.signed("PUT", "/utf/"+key, nil, []byte("x"))
		if resp.StatusCode != http.StatusBadRequest || !bytes.Contains(body, []byte("<Code>InvalidURI</Code>")) {
			t.Errorf("PUT %s: %d %s", key, resp.StatusCode, body)
		}
		resp, body = e.signed("GET", "/utf/"+key, nil, nil)
		if resp.StatusCode != http.StatusBadRequest || !bytes.Contains(body, []byte("<Code>InvalidURI</Code>")) {
			t.Errorf("GET %s: %d %s", key, resp.StatusCode, body)
		}
		resp, _ = e.signed("HEAD", "/utf/"+key, nil, nil)
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("x-amz-error-code") != "InvalidURI" {
			t.Errorf("HEAD %s: %d %v", key, resp.StatusCode, resp.Header)
		}
		resp, body = e.signed("DELETE", "/utf/"+key, nil, nil)
		if resp.StatusCode != http.StatusBadRequest || !bytes.Contains(body, []byte("<Code>InvalidURI</Code>")) {
			t.Errorf("DELETE %s: %d %s", key, resp.StatusCode, body)
		}
		resp, body = e.signed("POST", "/utf/"+key+"?uploads", nil, nil)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("CreateMultipartUpload %s: %d %s", key, resp.StatusCode, body)
		}
	}
	out, err := e.root().ListObjectsV2(ctx(), &s3.ListObjectsV2Input{Bucket: aws.String("utf")})
	must(t, err)
	if len(out.Contents) != 0 {
		t.Fatalf("%d objects stored", len(out.Contents))
	}
	e.put("utf", "vidéo/日本.mp4", []byte("fine"))
	if got := e.get("utf", "vidéo/日本.mp4"); string(got) != "fine" {
		t.Fatalf("valid UTF-8 key: %q", got)
	}
}
