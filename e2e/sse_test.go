package e2e

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/encrypt"

	"github.com/tnv-s3/tnv/internal/proctest"
	"github.com/tnv-s3/tnv/metadb/metadbtest"
)

// TestGateway_SSE_NoPlaintextOnStorageDisks writes SSE-S3 and SSE-C objects
// with aws-sdk-go-v2 and minio-go through a `tnv gateway` process (master
// key from --kms-key-file) in front of a mirrored cluster of processes on
// MariaDB, reads them back whole and by a 256 KiB seek, and searches every
// file of both members' stores for the plaintext: it is never there (a
// plain object's marker, written the same way, is: the search works).
func TestGateway_SSE_NoPlaintextOnStorageDisks(t *testing.T) {
	const ak, sk = "ssekey", "sse-secret-0123456789"
	c, gw := startSSEGateway(t, ak, sk, "--blob-size", "1048576")
	s3c := s3Client("http://"+gw.Addr, ak, sk)
	ctx := context.Background()
	b := aws.String("sse")
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}); err != nil {
		t.Fatal(err)
	}
	marked := func(marker string, n int) []byte {
		body := make([]byte, n)
		rand.Read(body)
		for i := 0; i+len(marker) <= n; i += 8192 {
			copy(body[i:], marker)
		}
		return body
	}
	const secret, public = "SECRET-PLAINTEXT-MARKER-42", "PUBLIC-PLAINTEXT-MARKER-42"
	body := marked(secret, 3<<20+777)
	ck := make([]byte, 32)
	rand.Read(ck)
	ckSum := md5.Sum(ck)
	ssec := func(in *s3.GetObjectInput) *s3.GetObjectInput {
		in.SSECustomerAlgorithm = aws.String("AES256")
		in.SSECustomerKey = aws.String(base64.StdEncoding.EncodeToString(ck))
		in.SSECustomerKeyMD5 = aws.String(base64.StdEncoding.EncodeToString(ckSum[:]))
		return in
	}
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("s3"), Body: bytes.NewReader(body),
		ServerSideEncryption: types.ServerSideEncryptionAes256}); err != nil {
		t.Fatal(err)
	}
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("c"), Body: bytes.NewReader(body),
		SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String(base64.StdEncoding.EncodeToString(ck)),
		SSECustomerKeyMD5: aws.String(base64.StdEncoding.EncodeToString(ckSum[:]))}); err != nil {
		t.Fatal(err)
	}
	mc, err := minio.New(gw.Addr, &minio.Options{Creds: miniocreds.NewStaticV4(ak, sk, ""), Region: "us-east-1", BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	mssec, err := encrypt.NewSSEC(ck)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mc.PutObject(ctx, "sse", "minio-c", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{ServerSideEncryption: mssec}); err != nil {
		t.Fatal(err)
	}
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("plain"), Body: bytes.NewReader(marked(public, 64<<10))}); err != nil {
		t.Fatal(err)
	}

	read := func(in *s3.GetObjectInput) []byte {
		t.Helper()
		out, err := s3c.GetObject(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		defer out.Body.Close()
		got, err := io.ReadAll(out.Body)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	const seek = 1<<20 + 12345 // a 256 KiB seek across a blob boundary
	for _, key := range []string{"s3", "c"} {
		in := func() *s3.GetObjectInput {
			i := &s3.GetObjectInput{Bucket: b, Key: aws.String(key)}
			if key == "c" {
				return ssec(i)
			}
			return i
		}
		if !bytes.Equal(read(in()), body) {
			t.Fatalf("%s: whole GET is not the data", key)
		}
		r := in()
		r.Range = aws.String("bytes=" + strconv.Itoa(seek-256<<10) + "-" + strconv.Itoa(seek-1))
		if got := read(r); !bytes.Equal(got, body[seek-256<<10:seek]) {
			t.Fatalf("%s: the 256 KiB seek is not the data", key)
		}
	}
	mo, err := mc.GetObject(ctx, "sse", "minio-c", minio.GetObjectOptions{ServerSideEncryption: mssec})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(mo); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("minio-go SSE-C GET: %v", err)
	}
	if _, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("c")}); apiErrorCode(err) != "InvalidRequest" {
		t.Fatalf("SSE-C object read without its key: %v", err)
	}

	for _, m := range c.Groups[0] {
		store := argAfter(m.Args, "--store")
		found := map[string]bool{}
		err := filepath.WalkDir(store, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, mk := range []string{secret, public} {
				if bytes.Contains(data, []byte(mk)) {
					found[mk] = true
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !found[public] {
			t.Fatalf("%s: the plain object's marker is not in %s: the search is broken", m.Name, store)
		}
		if found[secret] {
			t.Fatalf("%s: plaintext of an encrypted object is on disk in %s", m.Name, store)
		}
	}
}

// startSSEGateway starts a 1 × 2 mirrored cluster on MariaDB and a
// `tnv gateway` process with a master key (--kms-key-file, 0600) and args.
func startSSEGateway(t testing.TB, ak, sk string, args ...string) (*proctest.Cluster, *proctest.Proc) {
	dsn := metadbtest.NewTestMySQL(t)
	c := proctest.StartCluster(t, proctest.Topology{DB: dsn, Groups: 1, Members: 2})
	keyFile := filepath.Join(t.TempDir(), "kms.key")
	k := make([]byte, 32)
	rand.Read(k)
	if err := os.WriteFile(keyFile, []byte(hex.EncodeToString(k)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	gw := proctest.StartFree(t, []string{"TNV_ACCESS_KEY=" + ak, "TNV_SECRET_KEY=" + sk}, "gateway", func(addr string) []string {
		return append([]string{"gateway", "--listen", addr, "--trackers", c.TrackerList(), "--db", c.Topo.DB, "--kms-key-file", keyFile}, args...)
	})
	waitHTTP(t, "http://"+gw.Addr+"/_tnv/health", 30*time.Second)
	return c, gw
}
