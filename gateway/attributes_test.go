package gateway

import (
	"bytes"
	"encoding/binary"
	"hash"
	"hash/crc32"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"
)

// TestPartNumber_AsS3: GET and HEAD with partNumber on a single-part
// object (part 1 is the whole object, as a partial content) and on a
// multipart one; a part that does not exist is 416 InvalidPartNumber, a
// bad number InvalidArgument, partNumber with a Range InvalidRequest.
func TestPartNumber_AsS3(t *testing.T) {
	e := newEnv(t, envOpt{memory: true})
	e.g.minPartSize = 1
	e.mkBucket("parts")
	c := e.root()
	body := randBytes(1000)
	e.put("parts", "single", body)
	g, err := c.GetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("parts"), Key: aws.String("single"), PartNumber: aws.Int32(1)})
	must(t, err)
	got, _ := io.ReadAll(g.Body)
	g.Body.Close()
	if !bytes.Equal(got, body) || aws.ToString(g.ContentRange) != "bytes 0-999/1000" {
		t.Fatalf("partNumber=1 of a single-part object: %d bytes, Content-Range %q", len(got), aws.ToString(g.ContentRange))
	}
	h, err := c.HeadObject(ctx(), &s3.HeadObjectInput{Bucket: aws.String("parts"), Key: aws.String("single"), PartNumber: aws.Int32(1)})
	must(t, err)
	if aws.ToString(h.ContentRange) != "bytes 0-999/1000" || aws.ToInt64(h.ContentLength) != 1000 {
		t.Fatalf("HEAD partNumber=1: %q %d", aws.ToString(h.ContentRange), aws.ToInt64(h.ContentLength))
	}
	_, err = c.GetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("parts"), Key: aws.String("single"), PartNumber: aws.Int32(2)})
	wantCode(t, err, "InvalidPartNumber")
	_, err = c.GetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("parts"), Key: aws.String("single"), PartNumber: aws.Int32(1), Range: aws.String("bytes=0-1")})
	wantCode(t, err, "InvalidRequest")
	for _, pn := range []string{"0", "10001", "x"} {
		resp, b := e.signed("GET", "/parts/single?partNumber="+pn, nil, nil)
		if resp.StatusCode != 400 || !bytes.Contains(b, []byte("<Code>InvalidArgument</Code>")) || !bytes.Contains(b, []byte("<ArgumentName>partNumber</ArgumentName>")) {
			t.Fatalf("partNumber=%s: %d %s", pn, resp.StatusCode, b)
		}
	}
	resp, _ := e.signed("HEAD", "/parts/single?partNumber=3", nil, nil)
	if resp.StatusCode != 416 || resp.Header.Get("x-amz-error-code") != "InvalidPartNumber" {
		t.Fatalf("HEAD partNumber=3: %d %v", resp.StatusCode, resp.Header)
	}

	parts := [][]byte{randBytes(700), randBytes(300)}
	id, done := mpu(t, c, &s3.CreateMultipartUploadInput{Bucket: aws.String("parts"), Key: aws.String("multi")}, "", parts...)
	_, err = c.CompleteMultipartUpload(ctx(), &s3.CompleteMultipartUploadInput{Bucket: aws.String("parts"), Key: aws.String("multi"), UploadId: id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
	must(t, err)
	g, err = c.GetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("parts"), Key: aws.String("multi"), PartNumber: aws.Int32(2)})
	must(t, err)
	got, _ = io.ReadAll(g.Body)
	g.Body.Close()
	if !bytes.Equal(got, parts[1]) || aws.ToString(g.ContentRange) != "bytes 700-999/1000" || aws.ToInt32(g.PartsCount) != 2 {
		t.Fatalf("partNumber=2: %d bytes, %q, parts %d", len(got), aws.ToString(g.ContentRange), aws.ToInt32(g.PartsCount))
	}
	_, err = c.GetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("parts"), Key: aws.String("multi"), PartNumber: aws.Int32(3)})
	wantCode(t, err, "InvalidPartNumber")
}

// TestGetObjectAttributes: what is asked for, and only that, for a single
// PUT and a multipart object without checksums (PartsCount, no parts), and
// the refusals of x-amz-object-attributes; minio-go reads the same.
func TestGetObjectAttributes(t *testing.T) {
	e := newEnv(t, envOpt{memory: true})
	e.g.minPartSize = 1
	e.mkBucket("attrs")
	c := e.root()
	etag := e.put("attrs", "single", []byte("hello"))
	all := []types.ObjectAttributes{types.ObjectAttributesEtag, types.ObjectAttributesChecksum, types.ObjectAttributesObjectParts,
		types.ObjectAttributesStorageClass, types.ObjectAttributesObjectSize}
	at, err := c.GetObjectAttributes(ctx(), &s3.GetObjectAttributesInput{Bucket: aws.String("attrs"), Key: aws.String("single"), ObjectAttributes: all})
	must(t, err)
	if `"`+aws.ToString(at.ETag)+`"` != etag || aws.ToInt64(at.ObjectSize) != 5 || at.StorageClass != "STANDARD" || at.Checksum != nil || at.ObjectParts != nil || at.LastModified == nil {
		t.Fatalf("single PUT: %+v", at)
	}
	at, err = c.GetObjectAttributes(ctx(), &s3.GetObjectAttributesInput{Bucket: aws.String("attrs"), Key: aws.String("single"),
		ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesObjectSize}})
	must(t, err)
	if at.ETag != nil || at.StorageClass != "" || aws.ToInt64(at.ObjectSize) != 5 {
		t.Fatalf("only ObjectSize asked: %+v", at)
	}
	id, done := mpu(t, c, &s3.CreateMultipartUploadInput{Bucket: aws.String("attrs"), Key: aws.String("multi")}, "", []byte("ab"), []byte("c"))
	_, err = c.CompleteMultipartUpload(ctx(), &s3.CompleteMultipartUploadInput{Bucket: aws.String("attrs"), Key: aws.String("multi"), UploadId: id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
	must(t, err)
	at, err = c.GetObjectAttributes(ctx(), &s3.GetObjectAttributesInput{Bucket: aws.String("attrs"), Key: aws.String("multi"), ObjectAttributes: all})
	must(t, err)
	if at.ObjectParts == nil || aws.ToInt32(at.ObjectParts.TotalPartsCount) != 2 || len(at.ObjectParts.Parts) != 0 || !strings.HasSuffix(aws.ToString(at.ETag), "-2") {
		t.Fatalf("multipart without checksum: %+v %+v", at, at.ObjectParts)
	}
	_, err = c.GetObjectAttributes(ctx(), &s3.GetObjectAttributesInput{Bucket: aws.String("attrs"), Key: aws.String("nope"), ObjectAttributes: all})
	wantCode(t, err, "NoSuchKey")
	for _, tc := range []struct{ value, code string }{{"", "InvalidRequest"}, {"ETag,Size", "InvalidArgument"}} {
		hdr := map[string]string{}
		if tc.value != "" {
			hdr["x-amz-object-attributes"] = tc.value
		}
		resp, b := e.signed("GET", "/attrs/single?attributes", hdr, nil)
		if resp.StatusCode != 400 || !bytes.Contains(b, []byte("<Code>"+tc.code+"</Code>")) {
			t.Fatalf("x-amz-object-attributes %q: %d %s", tc.value, resp.StatusCode, b)
		}
	}

	mc := e.minio(rootAK, rootSK)
	ma, err := mc.GetObjectAttributes(ctx(), "attrs", "multi", minio.ObjectAttributesOptions{})
	must(t, err)
	if ma.ObjectParts.PartsCount != 2 || ma.ObjectSize != 3 || ma.StorageClass != "STANDARD" {
		t.Fatalf("minio-go GetObjectAttributes: %+v", ma)
	}
}

// TestMinio_MultipartChecksum: minio-go's multipart PutObject (trailing
// checksums on) with a full-object CRC32C asked for, or its default
// composite CRC32C, completes with the checksum computed here, which
// StatObject with checksums and GetObjectAttributes return.
func TestMinio_MultipartChecksum(t *testing.T) {
	e := newEnv(t, envOpt{memory: true})
	e.mkBucket("mck")
	body := randBytes(11 << 20)
	castagnoli := crc32.MakeTable(crc32.Castagnoli)
	full := b64(binary.BigEndian.AppendUint32(nil, crc32.Checksum(body, castagnoli)))
	composite := compositeB64(func() hash.Hash { return crc32.New(castagnoli) }, body[:5<<20], body[5<<20:10<<20], body[10<<20:])
	trailing, err := minio.New(strings.TrimPrefix(e.endpoint, "http://"), &minio.Options{Creds: miniocreds.NewStaticV4(rootAK, rootSK, ""),
		Region: region, Transport: e.http.Transport, BucketLookup: minio.BucketLookupPath, TrailingHeaders: true})
	must(t, err)
	for _, tc := range []struct {
		name, want, typ string
		opts            minio.PutObjectOptions
	}{
		{"full", full, "FULL_OBJECT", minio.PutObjectOptions{PartSize: 5 << 20, Checksum: minio.ChecksumFullObjectCRC32C}},
		{"default", composite, "COMPOSITE", minio.PutObjectOptions{PartSize: 5 << 20}},
	} {
		mc := trailing
		_, err := mc.PutObject(ctx(), "mck", tc.name, bytes.NewReader(body), int64(len(body)), tc.opts)
		must(t, err)
		st, err := mc.StatObject(ctx(), "mck", tc.name, minio.StatObjectOptions{Checksum: true})
		must(t, err)
		if st.ChecksumCRC32C != tc.want || st.ChecksumMode != tc.typ {
			t.Fatalf("%s: StatObject: %q %q, want %q %s", tc.name, st.ChecksumCRC32C, st.ChecksumMode, tc.want, tc.typ)
		}
		ma, err := mc.GetObjectAttributes(ctx(), "mck", tc.name, minio.ObjectAttributesOptions{})
		must(t, err)
		if ma.Checksum.ChecksumCRC32C != strings.Split(tc.want, "-")[0] || ma.ObjectParts.PartsCount != 3 || len(ma.ObjectParts.Parts) != 3 || ma.ObjectParts.Parts[2].Size != 1<<20 {
			t.Fatalf("%s: GetObjectAttributes: %+v %+v", tc.name, ma.Checksum, ma.ObjectParts)
		}
		r, err := mc.GetObject(ctx(), "mck", tc.name, minio.GetObjectOptions{Checksum: true})
		must(t, err)
		got, err := io.ReadAll(r)
		must(t, err)
		if !bytes.Equal(got, body) {
			t.Fatalf("%s: the body read back differs", tc.name)
		}
	}
}
