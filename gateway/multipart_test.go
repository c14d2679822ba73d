package gateway

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func multipartETag(parts ...[]byte) string {
	h := md5.New()
	for _, p := range parts {
		s := md5.Sum(p)
		h.Write(s[:])
	}
	return fmt.Sprintf(`"%s-%d"`, hex.EncodeToString(h.Sum(nil)), len(parts))
}

func TestMultipart_UploadListCompleteGet(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		e.g.blobSize = 2 << 20 // parts span several blobs
		e.mkBucket("bkt")
		c := e.root()
		cr, err := c.CreateMultipartUpload(ctx(), &s3.CreateMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("big/file"),
			ContentType: aws.String("video/mp4"), Metadata: map[string]string{"m": "1"}})
		must(t, err)
		id := cr.UploadId
		parts := [][]byte{randBytes(5 << 20), randBytes(5<<20 + 17), randBytes(1000)}
		var done []types.CompletedPart
		for i, p := range parts {
			up, err := c.UploadPart(ctx(), &s3.UploadPartInput{Bucket: aws.String("bkt"), Key: aws.String("big/file"), UploadId: id,
				PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p)})
			must(t, err)
			if *up.ETag != `"`+md5hex(p)+`"` {
				t.Fatalf("part etag %s", *up.ETag)
			}
			done = append(done, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: up.ETag})
		}
		// a re-upload of part 2 replaces it
		up, err := c.UploadPart(ctx(), &s3.UploadPartInput{Bucket: aws.String("bkt"), Key: aws.String("big/file"), UploadId: id,
			PartNumber: aws.Int32(2), Body: bytes.NewReader(parts[1])})
		must(t, err)
		done[1].ETag = up.ETag
		lp, err := c.ListParts(ctx(), &s3.ListPartsInput{Bucket: aws.String("bkt"), Key: aws.String("big/file"), UploadId: id})
		must(t, err)
		if len(lp.Parts) != 3 || *lp.Parts[1].Size != int64(len(parts[1])) {
			t.Fatalf("parts %+v", lp.Parts)
		}
		lp, err = c.ListParts(ctx(), &s3.ListPartsInput{Bucket: aws.String("bkt"), Key: aws.String("big/file"), UploadId: id, MaxParts: aws.Int32(2)})
		must(t, err)
		if len(lp.Parts) != 2 || !*lp.IsTruncated || *lp.NextPartNumberMarker != "2" {
			t.Fatalf("paged parts %+v", lp)
		}
		lu, err := c.ListMultipartUploads(ctx(), &s3.ListMultipartUploadsInput{Bucket: aws.String("bkt")})
		must(t, err)
		if len(lu.Uploads) != 1 || *lu.Uploads[0].UploadId != *id {
			t.Fatalf("uploads %+v", lu.Uploads)
		}
		comp, err := c.CompleteMultipartUpload(ctx(), &s3.CompleteMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("big/file"),
			UploadId: id, MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
		must(t, err)
		want := multipartETag(parts...)
		if *comp.ETag != want {
			t.Fatalf("etag %s want %s", *comp.ETag, want)
		}
		all := bytes.Join(parts, nil)
		g, err := c.GetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("big/file")})
		must(t, err)
		got, _ := io.ReadAll(g.Body)
		if !bytes.Equal(got, all) || *g.ETag != want || *g.ContentType != "video/mp4" || g.Metadata["m"] != "1" {
			t.Fatalf("object differs: %d bytes, etag %s", len(got), *g.ETag)
		}
		// a range across the part boundary
		g, err = c.GetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("big/file"), Range: aws.String("bytes=5242000-5243000")})
		must(t, err)
		got, _ = io.ReadAll(g.Body)
		if !bytes.Equal(got, all[5242000:5243001]) {
			t.Fatal("range across parts differs")
		}
		// part 2 by number
		g, err = c.GetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("big/file"), PartNumber: aws.Int32(2)})
		must(t, err)
		got, _ = io.ReadAll(g.Body)
		if !bytes.Equal(got, parts[1]) || *g.PartsCount != 3 {
			t.Fatal("part 2 differs")
		}
		_, err = c.ListParts(ctx(), &s3.ListPartsInput{Bucket: aws.String("bkt"), Key: aws.String("big/file"), UploadId: id})
		wantCode(t, err, "NoSuchUpload")
	})
}

func TestMultipart_CompleteRefusals(t *testing.T) {
	e := newEnv(t, envOpt{})
	e.mkBucket("bkt")
	c := e.root()
	cr, err := c.CreateMultipartUpload(ctx(), &s3.CreateMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("k")})
	must(t, err)
	id := cr.UploadId
	var etags []*string
	for i, n := range []int{1000, 2000, 3000} {
		up, err := c.UploadPart(ctx(), &s3.UploadPartInput{Bucket: aws.String("bkt"), Key: aws.String("k"), UploadId: id,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(randBytes(n))})
		must(t, err)
		etags = append(etags, up.ETag)
	}
	complete := func(parts ...types.CompletedPart) error {
		_, err := c.CompleteMultipartUpload(ctx(), &s3.CompleteMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("k"),
			UploadId: id, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
		return err
	}
	p := func(n int32, etag *string) types.CompletedPart {
		return types.CompletedPart{PartNumber: aws.Int32(n), ETag: etag}
	}
	wantCode(t, complete(p(1, etags[0]), p(2, etags[1])), "EntityTooSmall")
	wantCode(t, complete(p(2, etags[1]), p(1, etags[0])), "InvalidPartOrder")
	wantCode(t, complete(p(1, etags[1])), "InvalidPart")
	wantCode(t, complete(p(4, etags[0])), "InvalidPart")
	_, err = c.UploadPart(ctx(), &s3.UploadPartInput{Bucket: aws.String("bkt"), Key: aws.String("k"), UploadId: aws.String("nope"),
		PartNumber: aws.Int32(1), Body: bytes.NewReader([]byte("x"))})
	wantCode(t, err, "NoSuchUpload")
	_, err = c.UploadPart(ctx(), &s3.UploadPartInput{Bucket: aws.String("bkt"), Key: aws.String("other"), UploadId: id,
		PartNumber: aws.Int32(1), Body: bytes.NewReader([]byte("x"))})
	wantCode(t, err, "NoSuchUpload")
	resp, body := e.signed("PUT", "/bkt/k?partNumber=10001&uploadId="+*id, nil, []byte("x"))
	if resp.StatusCode != 400 || !strings.Contains(string(body), "InvalidArgument") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	resp, body = e.signed("POST", "/bkt/k?uploadId="+*id, nil, []byte("<CompleteMultipartUpload><Part>"))
	if resp.StatusCode != 400 || !strings.Contains(string(body), "MalformedXML") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	// the last part alone may be small
	must(t, complete(p(3, etags[2])))
}

func TestMultipart_AbortCollectsParts(t *testing.T) {
	store := newMemStore()
	e := newEnv(t, envOpt{store: store})
	e.mkBucket("bkt")
	c := e.root()
	cr, err := c.CreateMultipartUpload(ctx(), &s3.CreateMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("k")})
	must(t, err)
	for i := 1; i <= 3; i++ {
		_, err := c.UploadPart(ctx(), &s3.UploadPartInput{Bucket: aws.String("bkt"), Key: aws.String("k"), UploadId: cr.UploadId,
			PartNumber: aws.Int32(int32(i)), Body: bytes.NewReader(randBytes(100))})
		must(t, err)
	}
	if store.count() != 3 {
		t.Fatalf("%d blobs", store.count())
	}
	_, err = c.AbortMultipartUpload(ctx(), &s3.AbortMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("k"), UploadId: cr.UploadId})
	must(t, err)
	waitFor(t, func() bool { return store.count() == 0 })
	_, err = c.AbortMultipartUpload(ctx(), &s3.AbortMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("k"), UploadId: cr.UploadId})
	wantCode(t, err, "NoSuchUpload")
}

func TestMultipart_UploadPartCopyWithRange(t *testing.T) {
	e := newEnv(t, envOpt{blobSize: 1 << 20})
	e.mkBucket("bkt")
	src := randBytes(6<<20 + 5)
	e.put("bkt", "src", src)
	c := e.root()
	cr, err := c.CreateMultipartUpload(ctx(), &s3.CreateMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("dst")})
	must(t, err)
	p1, err := c.UploadPartCopy(ctx(), &s3.UploadPartCopyInput{Bucket: aws.String("bkt"), Key: aws.String("dst"), UploadId: cr.UploadId,
		PartNumber: aws.Int32(1), CopySource: aws.String("bkt/src"), CopySourceRange: aws.String("bytes=0-5242879")})
	must(t, err)
	p2, err := c.UploadPartCopy(ctx(), &s3.UploadPartCopyInput{Bucket: aws.String("bkt"), Key: aws.String("dst"), UploadId: cr.UploadId,
		PartNumber: aws.Int32(2), CopySource: aws.String("/bkt/src"), CopySourceRange: aws.String("bytes=5242880-6291460")})
	must(t, err)
	_, err = c.UploadPartCopy(ctx(), &s3.UploadPartCopyInput{Bucket: aws.String("bkt"), Key: aws.String("dst"), UploadId: cr.UploadId,
		PartNumber: aws.Int32(3), CopySource: aws.String("bkt/src"), CopySourceRange: aws.String("bytes=0-99999999")})
	wantCode(t, err, "InvalidArgument")
	_, err = c.CompleteMultipartUpload(ctx(), &s3.CompleteMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("dst"), UploadId: cr.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{
			{PartNumber: aws.Int32(1), ETag: p1.CopyPartResult.ETag}, {PartNumber: aws.Int32(2), ETag: p2.CopyPartResult.ETag}}}})
	must(t, err)
	if !bytes.Equal(e.get("bkt", "dst"), src) {
		t.Fatal("copied parts differ from the source")
	}
}
