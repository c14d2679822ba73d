package gateway

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/encrypt"

	"github.com/tnv-s3/tnv/gateway/sse"
)

// sseEnv is a gateway with a master key over a store the test can look into.
func sseEnv(t *testing.T) (*env, *memStore) {
	store := newMemStore()
	e := newEnv(t, envOpt{store: store, masterKey: sse.NewDataKey(), blobSize: 200 << 10})
	e.mkBucket("enc")
	return e, store
}

// plaintextStored reports whether any stored blob holds a run of marker.
func (s *memStore) holds(marker []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.blobs {
		if bytes.Contains(b, marker) {
			return true
		}
	}
	return false
}

type sseCKey struct{ key []byte }

func newSSECKey() sseCKey { return sseCKey{sse.NewDataKey()} }

func (k sseCKey) b64() *string { return aws.String(base64.StdEncoding.EncodeToString(k.key)) }
func (k sseCKey) md5() *string {
	s := md5.Sum(k.key)
	return aws.String(base64.StdEncoding.EncodeToString(s[:]))
}

// body is random bytes with a recognisable marker every 4 KiB, so a test
// can tell whether plaintext reached the store.
var sseMarker = []byte("PLAINTEXT-MARKER-0123456789")

func markedBody(n int) []byte {
	b := randBytes(n)
	for i := 0; i+len(sseMarker) <= n; i += 4096 {
		copy(b[i:], sseMarker)
	}
	return b
}

func TestSSES3_PutGetRangeHead(t *testing.T) {
	e, store := sseEnv(t)
	c := e.root()
	body := markedBody(500<<10 + 123) // three blobs of 200 KiB, several packages each
	out, err := c.PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String("enc"), Key: aws.String("v.mp4"), Body: bytes.NewReader(body),
		ServerSideEncryption: types.ServerSideEncryptionAes256})
	must(t, err)
	if out.ServerSideEncryption != types.ServerSideEncryptionAes256 {
		t.Fatalf("PUT answer: x-amz-server-side-encryption %q", out.ServerSideEncryption)
	}
	sum := md5.Sum(body)
	if aws.ToString(out.ETag) != `"`+hex.EncodeToString(sum[:])+`"` {
		t.Fatalf("SSE-S3 ETag %s, want the MD5 of the data as S3 gives", aws.ToString(out.ETag))
	}
	if store.holds(sseMarker) {
		t.Fatal("plaintext reached the blob store")
	}
	got, err := c.GetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("enc"), Key: aws.String("v.mp4")})
	must(t, err)
	b, _ := io.ReadAll(got.Body)
	if !bytes.Equal(b, body) || got.ServerSideEncryption != types.ServerSideEncryptionAes256 || aws.ToInt64(got.ContentLength) != int64(len(body)) {
		t.Fatalf("GET: equal %v, sse %q, length %d", bytes.Equal(b, body), got.ServerSideEncryption, aws.ToInt64(got.ContentLength))
	}
	for _, rg := range [][2]int{{0, 0}, {1, 70000}, {65535, 65537}, {204799, 204801}, {200 << 10, 300 << 10}, {len(body) - 5, len(body) - 1}, {300000, len(body) - 1}} {
		r, err := c.GetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("enc"), Key: aws.String("v.mp4"), Range: aws.String(fmt.Sprintf("bytes=%d-%d", rg[0], rg[1]))})
		must(t, err)
		b, _ := io.ReadAll(r.Body)
		if !bytes.Equal(b, body[rg[0]:rg[1]+1]) {
			t.Fatalf("range %v: %d bytes, not the data", rg, len(b))
		}
	}
	h, err := c.HeadObject(ctx(), &s3.HeadObjectInput{Bucket: aws.String("enc"), Key: aws.String("v.mp4")})
	must(t, err)
	if h.ServerSideEncryption != types.ServerSideEncryptionAes256 || aws.ToInt64(h.ContentLength) != int64(len(body)) {
		t.Fatalf("HEAD: %q %d", h.ServerSideEncryption, aws.ToInt64(h.ContentLength))
	}
	// a GET naming an encryption is refused, as S3 does
	resp, eb := e.signed("GET", "/enc/v.mp4", map[string]string{"X-Amz-Server-Side-Encryption": "AES256"}, nil)
	if resp.StatusCode != 400 || !strings.Contains(string(eb), "<Code>InvalidArgument</Code>") {
		t.Fatalf("GET naming an encryption: %d %s", resp.StatusCode, eb)
	}
}

func TestSSEC_KeyNeededAndChecked(t *testing.T) {
	e, store := sseEnv(t)
	c := e.root()
	k, other := newSSECKey(), newSSECKey()
	body := markedBody(150 << 10)
	out, err := c.PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String("enc"), Key: aws.String("secret"), Body: bytes.NewReader(body),
		SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: k.b64(), SSECustomerKeyMD5: k.md5()})
	must(t, err)
	if aws.ToString(out.SSECustomerAlgorithm) != "AES256" || aws.ToString(out.SSECustomerKeyMD5) != aws.ToString(k.md5()) {
		t.Fatalf("PUT answer: %q %q", aws.ToString(out.SSECustomerAlgorithm), aws.ToString(out.SSECustomerKeyMD5))
	}
	sum := md5.Sum(body)
	if strings.Contains(aws.ToString(out.ETag), hex.EncodeToString(sum[:])) {
		t.Fatal("an SSE-C object's ETag is the MD5 of its plaintext")
	}
	if store.holds(sseMarker) {
		t.Fatal("plaintext reached the blob store")
	}
	get := func(key *sseCKey, rng string) ([]byte, error) {
		in := &s3.GetObjectInput{Bucket: aws.String("enc"), Key: aws.String("secret")}
		if key != nil {
			in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = aws.String("AES256"), key.b64(), key.md5()
		}
		if rng != "" {
			in.Range = aws.String(rng)
		}
		r, err := c.GetObject(ctx(), in)
		if err != nil {
			return nil, err
		}
		defer r.Body.Close()
		if aws.ToString(r.SSECustomerKeyMD5) != aws.ToString(key.md5()) {
			t.Fatalf("GET answer key MD5 %q", aws.ToString(r.SSECustomerKeyMD5))
		}
		return io.ReadAll(r.Body)
	}
	_, err = get(nil, "")
	wantCode(t, err, "InvalidRequest")
	_, err = get(&other, "")
	wantCode(t, err, "AccessDenied")
	b, err := get(&k, "")
	must(t, err)
	if !bytes.Equal(b, body) {
		t.Fatal("GET with the key: not the data")
	}
	b, err = get(&k, "bytes=70000-140000")
	must(t, err)
	if !bytes.Equal(b, body[70000:140001]) {
		t.Fatal("range GET with the key: not the data")
	}
	_, err = c.HeadObject(ctx(), &s3.HeadObjectInput{Bucket: aws.String("enc"), Key: aws.String("secret")})
	if err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("HEAD without the key: %v", err)
	}
	_, err = c.HeadObject(ctx(), &s3.HeadObjectInput{Bucket: aws.String("enc"), Key: aws.String("secret"),
		SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: k.b64(), SSECustomerKeyMD5: k.md5()})
	must(t, err)
	// An unencrypted object read with a key: not applicable.
	e.put("enc", "plain", []byte("plain"))
	_, err = c.GetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("enc"), Key: aws.String("plain"),
		SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: k.b64(), SSECustomerKeyMD5: k.md5()})
	wantCode(t, err, "InvalidRequest")
}

func TestSSE_BadHeaderCombinations(t *testing.T) {
	e, _ := sseEnv(t)
	k := newSSECKey()
	wrongMD5 := md5.Sum([]byte("x"))
	for _, tc := range []struct {
		name   string
		h      map[string]string
		status int
		code   string
	}{
		{"kms", map[string]string{"X-Amz-Server-Side-Encryption": "aws:kms"}, 501, "NotImplemented"},
		{"unknown alg", map[string]string{"X-Amz-Server-Side-Encryption": "AES512"}, 400, "InvalidArgument"},
		{"kms key without kms", map[string]string{"X-Amz-Server-Side-Encryption": "AES256", "X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id": "k1"}, 400, "InvalidArgument"},
		{"kms key alone", map[string]string{"X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id": "k1"}, 400, "InvalidArgument"},
		{"sse-c and sse-s3", map[string]string{"X-Amz-Server-Side-Encryption": "AES256", "X-Amz-Server-Side-Encryption-Customer-Algorithm": "AES256",
			"X-Amz-Server-Side-Encryption-Customer-Key": *k.b64(), "X-Amz-Server-Side-Encryption-Customer-Key-Md5": *k.md5()}, 400, "InvalidArgument"},
		{"key without algorithm", map[string]string{"X-Amz-Server-Side-Encryption-Customer-Key": *k.b64(), "X-Amz-Server-Side-Encryption-Customer-Key-Md5": *k.md5()}, 400, "InvalidArgument"},
		{"algorithm without key", map[string]string{"X-Amz-Server-Side-Encryption-Customer-Algorithm": "AES256"}, 400, "InvalidArgument"},
		{"other algorithm", map[string]string{"X-Amz-Server-Side-Encryption-Customer-Algorithm": "AES128",
			"X-Amz-Server-Side-Encryption-Customer-Key": *k.b64(), "X-Amz-Server-Side-Encryption-Customer-Key-Md5": *k.md5()}, 400, "InvalidEncryptionAlgorithmError"},
		{"short key", map[string]string{"X-Amz-Server-Side-Encryption-Customer-Algorithm": "AES256",
			"X-Amz-Server-Side-Encryption-Customer-Key": base64.StdEncoding.EncodeToString([]byte("short")), "X-Amz-Server-Side-Encryption-Customer-Key-Md5": *k.md5()}, 400, "InvalidArgument"},
		{"no key md5", map[string]string{"X-Amz-Server-Side-Encryption-Customer-Algorithm": "AES256", "X-Amz-Server-Side-Encryption-Customer-Key": *k.b64()}, 400, "InvalidArgument"},
		{"wrong key md5", map[string]string{"X-Amz-Server-Side-Encryption-Customer-Algorithm": "AES256",
			"X-Amz-Server-Side-Encryption-Customer-Key": *k.b64(), "X-Amz-Server-Side-Encryption-Customer-Key-Md5": base64.StdEncoding.EncodeToString(wrongMD5[:])}, 400, "InvalidArgument"},
	} {
		resp, body := e.signed("PUT", "/enc/bad-"+strings.ReplaceAll(tc.name, " ", "-"), tc.h, []byte("data"))
		if resp.StatusCode != tc.status || !strings.Contains(string(body), "<Code>"+tc.code+"</Code>") {
			t.Errorf("%s: %d %s", tc.name, resp.StatusCode, body)
		}
	}
	// nothing was stored by any of them
	res, err := e.root().ListObjectsV2(ctx(), &s3.ListObjectsV2Input{Bucket: aws.String("enc")})
	must(t, err)
	if len(res.Contents) != 0 {
		t.Fatalf("refused PUTs left %d objects", len(res.Contents))
	}
}

func TestSSES3_WithoutMasterKeyIsNotImplemented(t *testing.T) {
	e := newEnv(t, envOpt{})
	e.mkBucket("bkt")
	_, err := e.root().PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k"), Body: strings.NewReader("x"),
		ServerSideEncryption: types.ServerSideEncryptionAes256})
	wantCode(t, err, "NotImplemented")
	_, err = e.root().PutBucketEncryption(ctx(), &s3.PutBucketEncryptionInput{Bucket: aws.String("bkt"), ServerSideEncryptionConfiguration: &types.ServerSideEncryptionConfiguration{
		Rules: []types.ServerSideEncryptionRule{{ApplyServerSideEncryptionByDefault: &types.ServerSideEncryptionByDefault{SSEAlgorithm: types.ServerSideEncryptionAes256}}}}})
	wantCode(t, err, "NotImplemented")
}

func TestBucketEncryption_DefaultAppliesToNewObjects(t *testing.T) {
	e, store := sseEnv(t)
	c := e.root()
	_, err := c.GetBucketEncryption(ctx(), &s3.GetBucketEncryptionInput{Bucket: aws.String("enc")})
	wantCode(t, err, "ServerSideEncryptionConfigurationNotFoundError")
	_, err = c.PutBucketEncryption(ctx(), &s3.PutBucketEncryptionInput{Bucket: aws.String("enc"), ServerSideEncryptionConfiguration: &types.ServerSideEncryptionConfiguration{
		Rules: []types.ServerSideEncryptionRule{{ApplyServerSideEncryptionByDefault: &types.ServerSideEncryptionByDefault{SSEAlgorithm: types.ServerSideEncryptionAwsKms}}}}})
	wantCode(t, err, "NotImplemented")
	_, err = c.PutBucketEncryption(ctx(), &s3.PutBucketEncryptionInput{Bucket: aws.String("enc"), ServerSideEncryptionConfiguration: &types.ServerSideEncryptionConfiguration{
		Rules: []types.ServerSideEncryptionRule{{ApplyServerSideEncryptionByDefault: &types.ServerSideEncryptionByDefault{SSEAlgorithm: types.ServerSideEncryptionAes256}}}}})
	must(t, err)
	got, err := c.GetBucketEncryption(ctx(), &s3.GetBucketEncryptionInput{Bucket: aws.String("enc")})
	must(t, err)
	if r := got.ServerSideEncryptionConfiguration.Rules; len(r) != 1 || r[0].ApplyServerSideEncryptionByDefault.SSEAlgorithm != types.ServerSideEncryptionAes256 {
		t.Fatalf("GetBucketEncryption: %+v", r)
	}
	body := markedBody(10 << 10)
	out, err := c.PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String("enc"), Key: aws.String("auto"), Body: bytes.NewReader(body)})
	must(t, err)
	if out.ServerSideEncryption != types.ServerSideEncryptionAes256 || store.holds(sseMarker) {
		t.Fatalf("default encryption not applied: %q", out.ServerSideEncryption)
	}
	// SSE-C asked for explicitly still wins over the default
	k := newSSECKey()
	_, err = c.PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String("enc"), Key: aws.String("mine"), Body: bytes.NewReader(body),
		SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: k.b64(), SSECustomerKeyMD5: k.md5()})
	must(t, err)
	_, err = c.GetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("enc"), Key: aws.String("mine")})
	wantCode(t, err, "InvalidRequest")
	_, err = c.DeleteBucketEncryption(ctx(), &s3.DeleteBucketEncryptionInput{Bucket: aws.String("enc")})
	must(t, err)
	_, err = c.GetBucketEncryption(ctx(), &s3.GetBucketEncryptionInput{Bucket: aws.String("enc")})
	wantCode(t, err, "ServerSideEncryptionConfigurationNotFoundError")
	out, err = c.PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String("enc"), Key: aws.String("plain"), Body: bytes.NewReader([]byte("p"))})
	must(t, err)
	if out.ServerSideEncryption != "" {
		t.Fatalf("after DeleteBucketEncryption: %q", out.ServerSideEncryption)
	}
	// the encrypted object stays readable
	if b := e.get("enc", "auto"); !bytes.Equal(b, body) {
		t.Fatal("auto-encrypted object unreadable")
	}
}

func TestSSEC_MultipartAndCopy(t *testing.T) {
	e, store := sseEnv(t)
	e.g.minPartSize = 100 << 10
	c := e.root()
	k, k2 := newSSECKey(), newSSECKey()
	up, err := c.CreateMultipartUpload(ctx(), &s3.CreateMultipartUploadInput{Bucket: aws.String("enc"), Key: aws.String("mp"),
		SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: k.b64(), SSECustomerKeyMD5: k.md5()})
	must(t, err)
	if aws.ToString(up.SSECustomerKeyMD5) != aws.ToString(k.md5()) {
		t.Fatal("CreateMultipartUpload did not echo the key MD5")
	}
	p1, p2 := markedBody(300<<10), markedBody(77<<10)
	// a part without the key, or with another, is refused
	_, err = c.UploadPart(ctx(), &s3.UploadPartInput{Bucket: aws.String("enc"), Key: aws.String("mp"), UploadId: up.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader(p1)})
	wantCode(t, err, "InvalidRequest")
	_, err = c.UploadPart(ctx(), &s3.UploadPartInput{Bucket: aws.String("enc"), Key: aws.String("mp"), UploadId: up.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader(p1),
		SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: k2.b64(), SSECustomerKeyMD5: k2.md5()})
	wantCode(t, err, "InvalidRequest")
	var parts []types.CompletedPart
	for i, p := range [][]byte{p1, p2} {
		out, err := c.UploadPart(ctx(), &s3.UploadPartInput{Bucket: aws.String("enc"), Key: aws.String("mp"), UploadId: up.UploadId, PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p),
			SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: k.b64(), SSECustomerKeyMD5: k.md5()})
		must(t, err)
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag})
	}
	_, err = c.CompleteMultipartUpload(ctx(), &s3.CompleteMultipartUploadInput{Bucket: aws.String("enc"), Key: aws.String("mp"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	must(t, err)
	if store.holds(sseMarker) {
		t.Fatal("plaintext of a part reached the blob store")
	}
	whole := append(bytes.Clone(p1), p2...)
	r, err := c.GetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("enc"), Key: aws.String("mp"), Range: aws.String("bytes=300000-320000"),
		SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: k.b64(), SSECustomerKeyMD5: k.md5()})
	must(t, err)
	b, _ := io.ReadAll(r.Body)
	if !bytes.Equal(b, whole[300000:320001]) {
		t.Fatal("a range across the parts: not the data")
	}

	// Copy the SSE-C object to an SSE-S3 one: the source key is needed.
	_, err = c.CopyObject(ctx(), &s3.CopyObjectInput{Bucket: aws.String("enc"), Key: aws.String("copy"), CopySource: aws.String("enc/mp"),
		ServerSideEncryption: types.ServerSideEncryptionAes256})
	wantCode(t, err, "InvalidRequest")
	cp, err := c.CopyObject(ctx(), &s3.CopyObjectInput{Bucket: aws.String("enc"), Key: aws.String("copy"), CopySource: aws.String("enc/mp"),
		ServerSideEncryption:           types.ServerSideEncryptionAes256,
		CopySourceSSECustomerAlgorithm: aws.String("AES256"), CopySourceSSECustomerKey: k.b64(), CopySourceSSECustomerKeyMD5: k.md5()})
	must(t, err)
	if cp.ServerSideEncryption != types.ServerSideEncryptionAes256 {
		t.Fatalf("CopyObject answer: %q", cp.ServerSideEncryption)
	}
	if b := e.get("enc", "copy"); !bytes.Equal(b, whole) {
		t.Fatal("the SSE-S3 copy: not the data")
	}
	// Encrypt a plain object in place (copy onto itself with new encryption).
	plain := markedBody(5000)
	e.put("enc", "inplace", plain)
	if !store.holds(sseMarker) {
		t.Fatal("the plain object is not stored as plaintext: the marker check is broken")
	}
	_, err = c.CopyObject(ctx(), &s3.CopyObjectInput{Bucket: aws.String("enc"), Key: aws.String("inplace"), CopySource: aws.String("enc/inplace"),
		SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: k2.b64(), SSECustomerKeyMD5: k2.md5()})
	must(t, err)
	e.waitCollected()
	if store.holds(sseMarker) {
		t.Fatal("the plaintext blob of the object encrypted in place was not collected")
	}
	r, err = c.GetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("enc"), Key: aws.String("inplace"),
		SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: k2.b64(), SSECustomerKeyMD5: k2.md5()})
	must(t, err)
	if b, _ := io.ReadAll(r.Body); !bytes.Equal(b, plain) {
		t.Fatal("object encrypted in place: not the data")
	}
	// UploadPartCopy from the SSE-C object into a plain upload
	up2, err := c.CreateMultipartUpload(ctx(), &s3.CreateMultipartUploadInput{Bucket: aws.String("enc"), Key: aws.String("mp2")})
	must(t, err)
	pc, err := c.UploadPartCopy(ctx(), &s3.UploadPartCopyInput{Bucket: aws.String("enc"), Key: aws.String("mp2"), UploadId: up2.UploadId, PartNumber: aws.Int32(1),
		CopySource: aws.String("enc/mp"), CopySourceRange: aws.String("bytes=1000-2999"),
		CopySourceSSECustomerAlgorithm: aws.String("AES256"), CopySourceSSECustomerKey: k.b64(), CopySourceSSECustomerKeyMD5: k.md5()})
	must(t, err)
	_, err = c.CompleteMultipartUpload(ctx(), &s3.CompleteMultipartUploadInput{Bucket: aws.String("enc"), Key: aws.String("mp2"), UploadId: up2.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: pc.CopyPartResult.ETag}}}})
	must(t, err)
	if b := e.get("enc", "mp2"); !bytes.Equal(b, whole[1000:3000]) {
		t.Fatal("UploadPartCopy from an SSE-C source: not the data")
	}
}

func TestSSE_MinioClient(t *testing.T) {
	e, store := sseEnv(t)
	mc := e.minio(rootAK, rootSK)
	body := markedBody(300 << 10)
	ssec, err := encrypt.NewSSEC(sse.NewDataKey())
	must(t, err)
	for name, enc := range map[string]encrypt.ServerSide{"sse-s3": encrypt.NewSSE(), "sse-c": ssec} {
		_, err := mc.PutObject(ctx(), "enc", name, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{ServerSideEncryption: enc})
		must(t, err)
		get := minio.GetObjectOptions{}
		if name == "sse-c" {
			get.ServerSideEncryption = enc
		}
		must(t, get.SetRange(100000, 200000))
		o, err := mc.GetObject(ctx(), "enc", name, get)
		must(t, err)
		b, err := io.ReadAll(o)
		must(t, err)
		if !bytes.Equal(b, body[100000:200001]) {
			t.Fatalf("%s: minio-go range read: not the data", name)
		}
		st, err := mc.StatObject(ctx(), "enc", name, minio.StatObjectOptions{ServerSideEncryption: get.ServerSideEncryption})
		must(t, err)
		if st.Size != int64(len(body)) {
			t.Fatalf("%s: stat size %d", name, st.Size)
		}
	}
	if store.holds(sseMarker) {
		t.Fatal("plaintext reached the blob store")
	}
}

func FuzzParseSSEConfiguration(f *testing.F) {
	f.Add([]byte(`<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>`))
	f.Add([]byte(`<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm><KMSMasterKeyID>k</KMSMasterKeyID></ApplyServerSideEncryptionByDefault><BucketKeyEnabled>true</BucketKeyEnabled></Rule></ServerSideEncryptionConfiguration>`))
	f.Add([]byte(`<ServerSideEncryptionConfiguration><Rule/><Rule/></ServerSideEncryptionConfiguration>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		alg, err := parseSSEConfiguration(b)
		if err == nil && alg != "AES256" {
			t.Fatalf("accepted algorithm %q", alg)
		}
		if err != nil && toS3Error(err).Status == http.StatusInternalServerError {
			t.Fatalf("a 500 for a bad document: %v", err)
		}
	})
}

// TestSSE_PostForms: a browser form upload is encrypted as its
// x-amz-server-side-encryption field asks, or as its bucket's default;
// large files stream through the encrypting store like a PUT body.
func TestSSE_PostForms(t *testing.T) {
	e, store := sseEnv(t)
	now, exp := time.Now(), time.Now().Add(time.Hour)
	small, large := markedBody(3000), markedBody(3<<20+5)
	for _, tc := range []struct {
		key  string
		file []byte
		sse  bool
	}{{"form-small", small, true}, {"form-large", large, true}} {
		fields := append([]field{{"key", tc.key}, {"x-amz-server-side-encryption", "AES256"}},
			v4Fields(rootAK, rootSK, now, exp, map[string]string{"bucket": "enc"}, map[string]string{"key": tc.key},
				map[string]string{"x-amz-server-side-encryption": "AES256"})...)
		resp, body := e.post(e.endpoint+"/enc", fields, "f.bin", tc.file)
		if resp.StatusCode != 204 || resp.Header.Get("X-Amz-Server-Side-Encryption") != "AES256" {
			t.Fatalf("%s: %d %v %s", tc.key, resp.StatusCode, resp.Header, body)
		}
		if b := e.get("enc", tc.key); !bytes.Equal(b, tc.file) {
			t.Fatalf("%s: not the data", tc.key)
		}
	}
	if store.holds(sseMarker) {
		t.Fatal("a form's file reached the blob store in plaintext")
	}
	// the bucket's default applies to forms without the field
	_, err := e.root().PutBucketEncryption(ctx(), &s3.PutBucketEncryptionInput{Bucket: aws.String("enc"), ServerSideEncryptionConfiguration: &types.ServerSideEncryptionConfiguration{
		Rules: []types.ServerSideEncryptionRule{{ApplyServerSideEncryptionByDefault: &types.ServerSideEncryptionByDefault{SSEAlgorithm: types.ServerSideEncryptionAes256}}}}})
	must(t, err)
	fields := append([]field{{"key", "form-default"}}, v4Fields(rootAK, rootSK, now, exp, map[string]string{"bucket": "enc"}, map[string]string{"key": "form-default"})...)
	resp, body := e.post(e.endpoint+"/enc", fields, "f.bin", small)
	if resp.StatusCode != 204 || resp.Header.Get("X-Amz-Server-Side-Encryption") != "AES256" || store.holds(sseMarker) {
		t.Fatalf("default encryption on a form: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	// an unknown algorithm in a form is refused, as in a header
	fields = append([]field{{"key", "form-bad"}, {"x-amz-server-side-encryption", "AES512"}},
		v4Fields(rootAK, rootSK, now, exp, map[string]string{"bucket": "enc"}, map[string]string{"key": "form-bad"},
			map[string]string{"x-amz-server-side-encryption": "AES512"})...)
	resp, body = e.post(e.endpoint+"/enc", fields, "f.bin", small)
	wantError(t, resp, body, 400, "InvalidArgument", "")
}
