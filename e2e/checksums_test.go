package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/crc64nvme"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/tnv-s3/tnv/internal/proctest"
	"github.com/tnv-s3/tnv/metadb/metadbtest"
)

// zeroAt reads zeros anywhere: a large seekable body that costs nothing.
type zeroAt struct{}

func (zeroAt) ReadAt(p []byte, _ int64) (int, error) { clear(p); return len(p), nil }

// TestGateway_ChecksumsAttributesErrors drives, through a `tnv gateway`
// process in front of a mirrored cluster on MariaDB: multipart checksums
// (SHA256 composite and CRC64NVME full object with aws-sdk-go-v2, CRC32C
// full object with minio-go) against values computed here, GET/HEAD with
// x-amz-checksum-mode and partNumber, GetObjectAttributes with both SDKs,
// CompleteMultipartUpload's absolute Location, and a 100 MiB PUT refused
// 501 that the client reads as such.
func TestGateway_ChecksumsAttributesErrors(t *testing.T) {
	dsn := metadbtest.NewTestMySQL(t)
	c := proctest.StartCluster(t, proctest.Topology{DB: dsn, Groups: 1, Members: 2})
	gw := startGateway(t, c, "checkkey", "check-secret-0123456789")
	s3c := s3Client("http://"+gw.Addr, "checkkey", "check-secret-0123456789")
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	b := aws.String("sums")
	_, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b})
	must(err)
	p1, p2 := make([]byte, 5<<20), make([]byte, 1<<20+123)
	rand.Read(p1)
	rand.Read(p2)
	whole := append(append([]byte(nil), p1...), p2...)
	b64 := base64.StdEncoding.EncodeToString

	upload := func(key string, alg types.ChecksumAlgorithm, typ types.ChecksumType) *s3.CompleteMultipartUploadOutput {
		t.Helper()
		cr, err := s3c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String(key), ChecksumAlgorithm: alg, ChecksumType: typ})
		must(err)
		var done []types.CompletedPart
		for i, p := range [][]byte{p1, p2} {
			up, err := s3c.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: aws.String(key), UploadId: cr.UploadId, PartNumber: aws.Int32(int32(i + 1)),
				Body: bytes.NewReader(p), ChecksumAlgorithm: alg})
			must(err)
			done = append(done, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: up.ETag, ChecksumSHA256: up.ChecksumSHA256, ChecksumCRC64NVME: up.ChecksumCRC64NVME})
		}
		out, err := s3c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String(key), UploadId: cr.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
		must(err)
		return out
	}

	// SHA256, composite
	s1, s2 := sha256.Sum256(p1), sha256.Sum256(p2)
	outer := sha256.Sum256(append(s1[:], s2[:]...))
	wantSHA := b64(outer[:]) + "-2"
	out := upload("composite", types.ChecksumAlgorithmSha256, "")
	if aws.ToString(out.ChecksumSHA256) != wantSHA || !strings.HasPrefix(aws.ToString(out.Location), "http://"+gw.Addr+"/sums/composite") {
		t.Fatalf("CompleteMultipartUpload: %q %q, want %q", aws.ToString(out.ChecksumSHA256), aws.ToString(out.Location), wantSHA)
	}
	h, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("composite"), ChecksumMode: types.ChecksumModeEnabled})
	must(err)
	if aws.ToString(h.ChecksumSHA256) != wantSHA || h.ChecksumType != types.ChecksumTypeComposite {
		t.Fatalf("HEAD: %q %s", aws.ToString(h.ChecksumSHA256), h.ChecksumType)
	}
	g, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("composite"), PartNumber: aws.Int32(2), ChecksumMode: types.ChecksumModeEnabled})
	must(err)
	got, err := io.ReadAll(g.Body)
	g.Body.Close()
	must(err)
	if !bytes.Equal(got, p2) || aws.ToString(g.ChecksumSHA256) != b64(s2[:]) || aws.ToInt32(g.PartsCount) != 2 {
		t.Fatalf("GET partNumber=2: %d bytes, checksum %q, parts %d", len(got), aws.ToString(g.ChecksumSHA256), aws.ToInt32(g.PartsCount))
	}
	at, err := s3c.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: b, Key: aws.String("composite"),
		ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesChecksum, types.ObjectAttributesObjectParts, types.ObjectAttributesObjectSize}})
	must(err)
	if aws.ToString(at.Checksum.ChecksumSHA256)+"-2" != wantSHA || aws.ToInt64(at.ObjectSize) != int64(len(whole)) ||
		len(at.ObjectParts.Parts) != 2 || aws.ToString(at.ObjectParts.Parts[0].ChecksumSHA256) != b64(s1[:]) {
		t.Fatalf("GetObjectAttributes: %+v %+v", at.Checksum, at.ObjectParts)
	}

	// CRC64NVME: full object by default, the parts' CRCs combined
	wantCRC := b64(binary.BigEndian.AppendUint64(nil, crc64nvme.Checksum(whole)))
	out = upload("full", types.ChecksumAlgorithmCrc64nvme, "")
	if aws.ToString(out.ChecksumCRC64NVME) != wantCRC || out.ChecksumType != types.ChecksumTypeFullObject {
		t.Fatalf("CRC64NVME: %q %s, want %q", aws.ToString(out.ChecksumCRC64NVME), out.ChecksumType, wantCRC)
	}

	// minio-go: CRC32C full object, read back with checksums
	mc, err := minio.New(gw.Addr, &minio.Options{Creds: miniocreds.NewStaticV4("checkkey", "check-secret-0123456789", ""),
		Region: "us-east-1", BucketLookup: minio.BucketLookupPath, TrailingHeaders: true})
	must(err)
	_, err = mc.PutObject(ctx, "sums", "minio", bytes.NewReader(whole), int64(len(whole)), minio.PutObjectOptions{PartSize: 5 << 20, Checksum: minio.ChecksumFullObjectCRC32C})
	must(err)
	wantC := b64(binary.BigEndian.AppendUint32(nil, crc32.Checksum(whole, crc32.MakeTable(crc32.Castagnoli))))
	st, err := mc.StatObject(ctx, "sums", "minio", minio.StatObjectOptions{Checksum: true})
	must(err)
	if st.ChecksumCRC32C != wantC || st.ChecksumMode != "FULL_OBJECT" {
		t.Fatalf("minio-go StatObject: %q %q, want %q", st.ChecksumCRC32C, st.ChecksumMode, wantC)
	}
	ma, err := mc.GetObjectAttributes(ctx, "sums", "minio", minio.ObjectAttributesOptions{})
	must(err)
	if ma.ObjectParts.PartsCount != 2 || ma.Checksum.ChecksumCRC32C != wantC || ma.ObjectSize != len(whole) {
		t.Fatalf("minio-go GetObjectAttributes: %+v", ma)
	}

	// a large upload refused before its body is read: the client gets the answer
	const big = 100 << 20
	_, err = s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("sse"), Body: io.NewSectionReader(zeroAt{}, 0, big),
		ContentLength: aws.Int64(big), ServerSideEncryption: types.ServerSideEncryptionAes256})
	if got := apiErrorCode(err); got != "NotImplemented" {
		t.Fatalf("a 100 MiB PUT with x-amz-server-side-encryption: %v", err)
	}
}
