package gateway

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
	"math/rand"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/crc64nvme"
)

func crcOf(p crcPoly, b []byte) uint64 {
	switch p {
	case polyCRC32:
		return uint64(crc32.ChecksumIEEE(b))
	case polyCRC32C:
		return uint64(crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
	}
	return crc64nvme.Checksum(b)
}

// TestCRCCombine_MatchesCRCOfConcatenation is a property test: for random
// data split at random points (empty pieces included), combining the
// pieces' CRCs gives the CRC of the whole, for each of S3's CRCs.
func TestCRCCombine_MatchesCRCOfConcatenation(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, p := range []crcPoly{polyCRC32, polyCRC32C, polyCRC64NVME} {
		for trial := 0; trial < 200; trial++ {
			data := make([]byte, rng.Intn(1<<16))
			rng.Read(data)
			cuts := []int{0}
			for range rng.Intn(6) {
				cuts = append(cuts, rng.Intn(len(data)+1))
			}
			cuts = append(cuts, len(data))
			sortInts(cuts)
			var crc uint64
			for i := 0; i+1 < len(cuts); i++ {
				piece := data[cuts[i]:cuts[i+1]]
				if i == 0 {
					crc = crcOf(p, piece)
					continue
				}
				crc = p.combine(crc, crcOf(p, piece), int64(len(piece)))
			}
			if want := crcOf(p, data); crc != want {
				t.Fatalf("poly %#x: %d bytes cut at %v: combined %#x, whole %#x", p.poly, len(data), cuts, crc, want)
			}
		}
	}
	// A large second piece exercises many squarings (lengths up to 2^33).
	a, b := []byte("head"), bytes.Repeat([]byte{0}, 1<<20)
	for _, p := range []crcPoly{polyCRC32, polyCRC32C, polyCRC64NVME} {
		if got, want := p.combine(crcOf(p, a), crcOf(p, b), int64(len(b))), crcOf(p, append(a, b...)); got != want {
			t.Fatalf("poly %#x: 1 MiB of zeros: %#x, want %#x", p.poly, got, want)
		}
	}
}

func sortInts(s []int) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func sumB64(h hash.Hash, b []byte) string { h.Write(b); return b64(h.Sum(nil)) }

func crc32B64(b []byte) string {
	return b64(binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(b)))
}

func crc64B64(b []byte) string {
	return b64(binary.BigEndian.AppendUint64(nil, crc64nvme.Checksum(b)))
}

// compositeB64 is S3's composite checksum of parts: the hash of their
// concatenated binary hashes, with "-N".
func compositeB64(newH func() hash.Hash, parts ...[]byte) string {
	outer := newH()
	for _, p := range parts {
		h := newH()
		h.Write(p)
		outer.Write(h.Sum(nil))
	}
	return b64(outer.Sum(nil)) + "-" + strconv.Itoa(len(parts))
}

// mpu uploads parts to a new upload of bkt/key created with in, and
// returns the upload's ID and the completed parts (with the checksums
// UploadPart returned).
func mpu(t *testing.T, c *s3.Client, in *s3.CreateMultipartUploadInput, alg types.ChecksumAlgorithm, parts ...[]byte) (*string, []types.CompletedPart) {
	t.Helper()
	cr, err := c.CreateMultipartUpload(ctx(), in)
	must(t, err)
	var done []types.CompletedPart
	for i, p := range parts {
		up, err := c.UploadPart(ctx(), &s3.UploadPartInput{Bucket: in.Bucket, Key: in.Key, UploadId: cr.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p), ChecksumAlgorithm: alg})
		must(t, err)
		done = append(done, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: up.ETag,
			ChecksumCRC32: up.ChecksumCRC32, ChecksumCRC32C: up.ChecksumCRC32C, ChecksumCRC64NVME: up.ChecksumCRC64NVME,
			ChecksumSHA1: up.ChecksumSHA1, ChecksumSHA256: up.ChecksumSHA256})
	}
	return cr.UploadId, done
}

// TestChecksum_MultipartCompositeSHA256 follows a SHA256 (composite)
// upload (over HTTPS the SDK sends the part checksums as aws-chunked
// trailers) through UploadPart, ListParts, CompleteMultipartUpload, HEAD with
// x-amz-checksum-mode, GET of a range and of a part, and
// GetObjectAttributes, against values computed here.
func TestChecksum_MultipartCompositeSHA256(t *testing.T) {
	for _, o := range []struct {
		name string
		o    envOpt
	}{{"memory-http", envOpt{memory: true}}, {"mysql-https", envOpt{mysql: true, tls: true}}} {
		t.Run(o.name, func(t *testing.T) {
			e := newEnv(t, o.o)
			e.g.minPartSize = 1
			e.mkBucket("cksum")
			c := e.root()
			parts := [][]byte{randBytes(300 << 10), randBytes(1000), randBytes(77)}
			in := &s3.CreateMultipartUploadInput{Bucket: aws.String("cksum"), Key: aws.String("comp"), ChecksumAlgorithm: types.ChecksumAlgorithmSha256}
			id, done := mpu(t, c, in, types.ChecksumAlgorithmSha256, parts...)
			for i, p := range parts {
				if got, want := aws.ToString(done[i].ChecksumSHA256), sumB64(sha256.New(), p); got != want {
					t.Fatalf("part %d: UploadPart's x-amz-checksum-sha256 %q, want %q", i+1, got, want)
				}
			}
			lp, err := c.ListParts(ctx(), &s3.ListPartsInput{Bucket: in.Bucket, Key: in.Key, UploadId: id})
			must(t, err)
			if lp.ChecksumAlgorithm != types.ChecksumAlgorithmSha256 || lp.ChecksumType != types.ChecksumTypeComposite ||
				aws.ToString(lp.Parts[1].ChecksumSHA256) != aws.ToString(done[1].ChecksumSHA256) {
				t.Fatalf("ListParts: %s %s %+v", lp.ChecksumAlgorithm, lp.ChecksumType, lp.Parts[1])
			}
			// a wrong part checksum, then a missing one, are refused and
			// leave the upload completable
			bad := append([]types.CompletedPart(nil), done...)
			bad[0].ChecksumSHA256 = done[1].ChecksumSHA256
			_, err = c.CompleteMultipartUpload(ctx(), &s3.CompleteMultipartUploadInput{Bucket: in.Bucket, Key: in.Key, UploadId: id,
				MultipartUpload: &types.CompletedMultipartUpload{Parts: bad}})
			wantCode(t, err, "InvalidPart")
			bad[0].ChecksumSHA256 = nil
			_, err = c.CompleteMultipartUpload(ctx(), &s3.CompleteMultipartUploadInput{Bucket: in.Bucket, Key: in.Key, UploadId: id,
				MultipartUpload: &types.CompletedMultipartUpload{Parts: bad}})
			wantCode(t, err, "InvalidRequest")
			want := compositeB64(sha256.New, parts...)
			cm, err := c.CompleteMultipartUpload(ctx(), &s3.CompleteMultipartUploadInput{Bucket: in.Bucket, Key: in.Key, UploadId: id,
				MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
			must(t, err)
			if aws.ToString(cm.ChecksumSHA256) != want || cm.ChecksumType != types.ChecksumTypeComposite {
				t.Fatalf("CompleteMultipartUpload: %q %s, want %q COMPOSITE", aws.ToString(cm.ChecksumSHA256), cm.ChecksumType, want)
			}
			h, err := c.HeadObject(ctx(), &s3.HeadObjectInput{Bucket: in.Bucket, Key: in.Key, ChecksumMode: types.ChecksumModeEnabled})
			must(t, err)
			if aws.ToString(h.ChecksumSHA256) != want || h.ChecksumType != types.ChecksumTypeComposite {
				t.Fatalf("HEAD: %q %s, want %q", aws.ToString(h.ChecksumSHA256), h.ChecksumType, want)
			}
			h, err = c.HeadObject(ctx(), &s3.HeadObjectInput{Bucket: in.Bucket, Key: in.Key})
			must(t, err)
			if h.ChecksumSHA256 != nil {
				t.Fatalf("HEAD without x-amz-checksum-mode has a checksum: %q", *h.ChecksumSHA256)
			}
			g, err := c.GetObject(ctx(), &s3.GetObjectInput{Bucket: in.Bucket, Key: in.Key, ChecksumMode: types.ChecksumModeEnabled, Range: aws.String("bytes=0-9")})
			must(t, err)
			g.Body.Close()
			if g.ChecksumSHA256 != nil {
				t.Fatalf("a range GET has a checksum: %q", *g.ChecksumSHA256)
			}
			g, err = c.GetObject(ctx(), &s3.GetObjectInput{Bucket: in.Bucket, Key: in.Key, ChecksumMode: types.ChecksumModeEnabled, PartNumber: aws.Int32(2)})
			must(t, err)
			g.Body.Close()
			if aws.ToString(g.ChecksumSHA256) != aws.ToString(done[1].ChecksumSHA256) || aws.ToInt32(g.PartsCount) != 3 {
				t.Fatalf("GET partNumber=2: checksum %q parts %d, want the part's %q", aws.ToString(g.ChecksumSHA256), aws.ToInt32(g.PartsCount), aws.ToString(done[1].ChecksumSHA256))
			}
			at, err := c.GetObjectAttributes(ctx(), &s3.GetObjectAttributesInput{Bucket: in.Bucket, Key: in.Key, MaxParts: aws.Int32(2),
				ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesChecksum, types.ObjectAttributesObjectParts, types.ObjectAttributesEtag}})
			must(t, err)
			if aws.ToString(at.Checksum.ChecksumSHA256)+"-3" != want || at.Checksum.ChecksumType != types.ChecksumTypeComposite {
				t.Fatalf("GetObjectAttributes checksum %+v, want %q without -3", at.Checksum, want)
			}
			if at.ObjectSize != nil || at.StorageClass != "" || aws.ToString(at.ETag) != aws.ToString(cm.ETag)[1:len(*cm.ETag)-1] {
				t.Fatalf("attributes not asked for, or a quoted ETag: %+v", at)
			}
			op := at.ObjectParts
			if aws.ToInt32(op.TotalPartsCount) != 3 || !aws.ToBool(op.IsTruncated) || len(op.Parts) != 2 || aws.ToString(op.NextPartNumberMarker) != "2" ||
				aws.ToInt64(op.Parts[1].Size) != 1000 || aws.ToString(op.Parts[1].ChecksumSHA256) != aws.ToString(done[1].ChecksumSHA256) {
				t.Fatalf("ObjectParts page 1: %+v", op)
			}
			at, err = c.GetObjectAttributes(ctx(), &s3.GetObjectAttributesInput{Bucket: in.Bucket, Key: in.Key, PartNumberMarker: op.NextPartNumberMarker,
				ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesObjectParts, types.ObjectAttributesObjectSize, types.ObjectAttributesStorageClass}})
			must(t, err)
			op = at.ObjectParts
			if len(op.Parts) != 1 || aws.ToInt32(op.Parts[0].PartNumber) != 3 || aws.ToBool(op.IsTruncated) ||
				aws.ToInt64(at.ObjectSize) != int64(300<<10+1077) || at.StorageClass != "STANDARD" || at.Checksum != nil {
				t.Fatalf("ObjectParts page 2: %+v %+v", at, op)
			}
		})
	}
}

// TestChecksum_MultipartFullObjectCRC combines the parts' CRCs into the
// CRC of the whole object (CRC32 asked as FULL_OBJECT, CRC64NVME by
// default) and checks the client's full-object value on completion.
func TestChecksum_MultipartFullObjectCRC(t *testing.T) {
	e := newEnv(t, envOpt{memory: true})
	e.g.minPartSize = 1
	e.mkBucket("cksum")
	c := e.root()
	parts := [][]byte{randBytes(200 << 10), randBytes(4321), randBytes(1)}
	whole := bytes.Join(parts, nil)
	for _, tc := range []struct {
		alg  types.ChecksumAlgorithm
		typ  types.ChecksumType
		want string
		get  func(*s3.HeadObjectOutput) *string
	}{
		{types.ChecksumAlgorithmCrc32, types.ChecksumTypeFullObject, crc32B64(whole), func(h *s3.HeadObjectOutput) *string { return h.ChecksumCRC32 }},
		{types.ChecksumAlgorithmCrc64nvme, "", crc64B64(whole), func(h *s3.HeadObjectOutput) *string { return h.ChecksumCRC64NVME }},
	} {
		key := aws.String("full-" + string(tc.alg))
		in := &s3.CreateMultipartUploadInput{Bucket: aws.String("cksum"), Key: key, ChecksumAlgorithm: tc.alg, ChecksumType: tc.typ}
		id, done := mpu(t, c, in, tc.alg, parts...)
		cin := &s3.CompleteMultipartUploadInput{Bucket: in.Bucket, Key: key, UploadId: id, ChecksumType: types.ChecksumTypeFullObject,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: done}}
		// the client's full-object checksum, wrong then right
		if tc.alg == types.ChecksumAlgorithmCrc32 {
			cin.ChecksumCRC32 = aws.String(crc32B64([]byte("other")))
			_, err := c.CompleteMultipartUpload(ctx(), cin)
			wantCode(t, err, "BadDigest")
			cin.ChecksumCRC32 = aws.String(tc.want)
		}
		_, err := c.CompleteMultipartUpload(ctx(), cin)
		must(t, err)
		h, err := c.HeadObject(ctx(), &s3.HeadObjectInput{Bucket: in.Bucket, Key: key, ChecksumMode: types.ChecksumModeEnabled})
		must(t, err)
		if got := aws.ToString(tc.get(h)); got != tc.want || h.ChecksumType != types.ChecksumTypeFullObject {
			t.Fatalf("%s: HEAD checksum %q %s, want the whole object's %q FULL_OBJECT", tc.alg, got, h.ChecksumType, tc.want)
		}
	}
}

// TestChecksum_Refusals: bad CreateMultipartUpload combinations, a part
// of another algorithm, a composite part without its checksum, an empty
// Content-MD5.
func TestChecksum_Refusals(t *testing.T) {
	e := newEnv(t, envOpt{memory: true})
	e.mkBucket("cksum")
	c := e.root()
	for _, tc := range []struct {
		alg types.ChecksumAlgorithm
		typ types.ChecksumType
	}{
		{types.ChecksumAlgorithmSha256, types.ChecksumTypeFullObject},
		{types.ChecksumAlgorithmSha1, types.ChecksumTypeFullObject},
		{types.ChecksumAlgorithmCrc64nvme, types.ChecksumTypeComposite},
		{"MD4", ""},
		{types.ChecksumAlgorithmCrc32, "PARTIAL"},
	} {
		_, err := c.CreateMultipartUpload(ctx(), &s3.CreateMultipartUploadInput{Bucket: aws.String("cksum"), Key: aws.String("k"), ChecksumAlgorithm: tc.alg, ChecksumType: tc.typ})
		wantCode(t, err, "InvalidRequest")
	}
	resp, body := e.signed("POST", "/cksum/k?uploads", map[string]string{"x-amz-checksum-algorithm": "crc32c", "x-amz-checksum-type": "full_object"}, nil)
	if resp.StatusCode != 200 || resp.Header.Get("x-amz-checksum-algorithm") != "CRC32C" || resp.Header.Get("x-amz-checksum-type") != "FULL_OBJECT" {
		t.Fatalf("CreateMultipartUpload CRC32C FULL_OBJECT: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	cr, err := c.CreateMultipartUpload(ctx(), &s3.CreateMultipartUploadInput{Bucket: aws.String("cksum"), Key: aws.String("k"), ChecksumAlgorithm: types.ChecksumAlgorithmSha1})
	must(t, err)
	_, err = c.UploadPart(ctx(), &s3.UploadPartInput{Bucket: aws.String("cksum"), Key: aws.String("k"), UploadId: cr.UploadId, PartNumber: aws.Int32(1),
		Body: bytes.NewReader([]byte("abc")), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	wantCode(t, err, "InvalidRequest")
	resp, body = e.signed("PUT", "/cksum/k?partNumber=1&uploadId="+*cr.UploadId, nil, []byte("abc"))
	if resp.StatusCode != 400 || !bytes.Contains(body, []byte("expected checksum Type: sha1, actual checksum Type: null")) {
		t.Fatalf("a SHA1 upload's part without a checksum: %d %s", resp.StatusCode, body)
	}
	resp, body = e.signed("PUT", "/cksum/k?partNumber=1&uploadId="+*cr.UploadId, map[string]string{"x-amz-checksum-sha1": sumB64(sha1.New(), []byte("abc"))}, []byte("abc"))
	if resp.StatusCode != 200 || resp.Header.Get("x-amz-checksum-sha1") != sumB64(sha1.New(), []byte("abc")) {
		t.Fatalf("a SHA1 part: %d %s", resp.StatusCode, body)
	}
	resp, body = e.signed("PUT", "/cksum/empty-md5", map[string]string{"Content-MD5": ""}, []byte("abc"))
	if resp.StatusCode != 400 || !bytes.Contains(body, []byte("<Code>InvalidDigest</Code>")) {
		t.Fatalf("an empty Content-MD5: %d %s", resp.StatusCode, body)
	}
}

// TestChecksum_PutAndCopy: a single PUT's checksum is stored and shown
// (FULL_OBJECT); CopyObject computes the one it is asked for, or again the
// source's.
func TestChecksum_PutAndCopy(t *testing.T) {
	e := newEnv(t, envOpt{memory: true})
	e.mkBucket("cksum")
	c := e.root()
	body := randBytes(100 << 10)
	put, err := c.PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String("cksum"), Key: aws.String("p"), Body: bytes.NewReader(body), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c})
	must(t, err)
	wantC := b64(binary.BigEndian.AppendUint32(nil, crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli))))
	if aws.ToString(put.ChecksumCRC32C) != wantC || put.ChecksumType != types.ChecksumTypeFullObject {
		t.Fatalf("PutObject: %q %s, want %q", aws.ToString(put.ChecksumCRC32C), put.ChecksumType, wantC)
	}
	h, err := c.HeadObject(ctx(), &s3.HeadObjectInput{Bucket: aws.String("cksum"), Key: aws.String("p"), ChecksumMode: types.ChecksumModeEnabled})
	must(t, err)
	if aws.ToString(h.ChecksumCRC32C) != wantC {
		t.Fatalf("HEAD: %q, want %q", aws.ToString(h.ChecksumCRC32C), wantC)
	}
	cp, err := c.CopyObject(ctx(), &s3.CopyObjectInput{Bucket: aws.String("cksum"), Key: aws.String("c"), CopySource: aws.String("cksum/p"), ChecksumAlgorithm: types.ChecksumAlgorithmSha256})
	must(t, err)
	if got := aws.ToString(cp.CopyObjectResult.ChecksumSHA256); got != sumB64(sha256.New(), body) {
		t.Fatalf("CopyObject with SHA256: %q", got)
	}
	_, err = c.CopyObject(ctx(), &s3.CopyObjectInput{Bucket: aws.String("cksum"), Key: aws.String("c2"), CopySource: aws.String("cksum/p")})
	must(t, err)
	h, err = c.HeadObject(ctx(), &s3.HeadObjectInput{Bucket: aws.String("cksum"), Key: aws.String("c2"), ChecksumMode: types.ChecksumModeEnabled})
	must(t, err)
	if aws.ToString(h.ChecksumCRC32C) != wantC {
		t.Fatalf("a copy keeps the source's algorithm: %q, want %q", aws.ToString(h.ChecksumCRC32C), wantC)
	}
	// a copy onto itself that only asks for a new checksum is allowed
	_, err = c.CopyObject(ctx(), &s3.CopyObjectInput{Bucket: aws.String("cksum"), Key: aws.String("p"), CopySource: aws.String("cksum/p"), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	must(t, err)
	h, err = c.HeadObject(ctx(), &s3.HeadObjectInput{Bucket: aws.String("cksum"), Key: aws.String("p"), ChecksumMode: types.ChecksumModeEnabled})
	must(t, err)
	if aws.ToString(h.ChecksumCRC32) != crc32B64(body) || h.ChecksumCRC32C != nil {
		t.Fatalf("after a copy onto itself with CRC32: %q %v", aws.ToString(h.ChecksumCRC32), h.ChecksumCRC32C)
	}
	if !bytes.Equal(e.get("cksum", "p"), body) {
		t.Fatal("the object's bytes changed")
	}
}

// TestChecksum_UploadWithoutAlgorithm: parts sent with CRC32 checksums to
// an upload created without an algorithm (as SDKs do by default) keep
// them; a completion that names no checksum gives the object none, one
// that names the full-object CRC32 has it checked and stored.
func TestChecksum_UploadWithoutAlgorithm(t *testing.T) {
	e := newEnv(t, envOpt{memory: true})
	e.g.minPartSize = 1
	e.mkBucket("cksum")
	c := e.root()
	parts := [][]byte{randBytes(70 << 10), randBytes(333)}
	whole := bytes.Join(parts, nil)
	for _, named := range []bool{false, true} {
		key := aws.String(fmt.Sprint("plain-", named))
		id, done := mpu(t, c, &s3.CreateMultipartUploadInput{Bucket: aws.String("cksum"), Key: key}, types.ChecksumAlgorithmCrc32, parts...)
		if aws.ToString(done[0].ChecksumCRC32) != crc32B64(parts[0]) {
			t.Fatalf("UploadPart's x-amz-checksum-crc32 %q", aws.ToString(done[0].ChecksumCRC32))
		}
		lp, err := c.ListParts(ctx(), &s3.ListPartsInput{Bucket: aws.String("cksum"), Key: key, UploadId: id})
		must(t, err)
		if aws.ToString(lp.Parts[1].ChecksumCRC32) != crc32B64(parts[1]) || lp.ChecksumAlgorithm != "" {
			t.Fatalf("ListParts: %+v %q", lp.Parts[1], lp.ChecksumAlgorithm)
		}
		in := &s3.CompleteMultipartUploadInput{Bucket: aws.String("cksum"), Key: key, UploadId: id, MultipartUpload: &types.CompletedMultipartUpload{Parts: done}}
		if named {
			in.ChecksumType = types.ChecksumTypeFullObject
			in.ChecksumCRC32 = aws.String(crc32B64(parts[0]))
			_, err := c.CompleteMultipartUpload(ctx(), in)
			wantCode(t, err, "BadDigest")
			in.ChecksumCRC32 = aws.String(crc32B64(whole))
		}
		_, err = c.CompleteMultipartUpload(ctx(), in)
		must(t, err)
		h, err := c.HeadObject(ctx(), &s3.HeadObjectInput{Bucket: aws.String("cksum"), Key: key, ChecksumMode: types.ChecksumModeEnabled})
		must(t, err)
		if want := map[bool]string{false: "", true: crc32B64(whole)}[named]; aws.ToString(h.ChecksumCRC32) != want {
			t.Fatalf("named %v: HEAD checksum %q, want %q", named, aws.ToString(h.ChecksumCRC32), want)
		}
	}
}
