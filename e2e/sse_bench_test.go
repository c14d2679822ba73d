package e2e

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// BenchmarkSSE measures what server-side encryption costs through a
// `tnv gateway` process in front of a 1 × 2 mirrored cluster on MariaDB:
// 64 MiB PUT and GET and a 256 KiB seek (a Range GET in the middle of a
// 64 MiB object), each plain, SSE-S3 and SSE-C, in one run so the figures
// compare. The gateway reads over TCP (--local-reads=false): an encrypted
// object cannot use the sendfile shortcut, and the plain one should not
// get it either for a fair comparison.
//
//	go test -run XXX -bench BenchmarkSSE -benchtime 5x ./e2e/
func BenchmarkSSE(b *testing.B) {
	const ak, sk = "ssebench", "sse-bench-secret-0123"
	_, gw := startSSEGateway(b, ak, sk, "--local-reads=false")
	s3c := s3Client("http://"+gw.Addr, ak, sk)
	ctx := context.Background()
	bucket := aws.String("ssebench")
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket}); err != nil {
		b.Fatal(err)
	}
	const size = 64 << 20
	body := make([]byte, size)
	rand.Read(body)
	ck := make([]byte, 32)
	rand.Read(ck)
	sum := md5.Sum(ck)
	ckB64, ckMD5 := aws.String(base64.StdEncoding.EncodeToString(ck)), aws.String(base64.StdEncoding.EncodeToString(sum[:]))
	modes := []string{"plain", "sse-s3", "sse-c"}
	put := func(mode, key string) error {
		in := &s3.PutObjectInput{Bucket: bucket, Key: aws.String(key), Body: bytes.NewReader(body), ContentLength: aws.Int64(size)}
		switch mode {
		case "sse-s3":
			in.ServerSideEncryption = types.ServerSideEncryptionAes256
		case "sse-c":
			in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = aws.String("AES256"), ckB64, ckMD5
		}
		_, err := s3c.PutObject(ctx, in)
		return err
	}
	get := func(mode, key, rng string) (int64, error) {
		in := &s3.GetObjectInput{Bucket: bucket, Key: aws.String(key)}
		if rng != "" {
			in.Range = aws.String(rng)
		}
		if mode == "sse-c" {
			in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = aws.String("AES256"), ckB64, ckMD5
		}
		out, err := s3c.GetObject(ctx, in)
		if err != nil {
			return 0, err
		}
		defer out.Body.Close()
		return io.Copy(io.Discard, out.Body)
	}
	for _, m := range modes {
		if err := put(m, "read-"+m); err != nil {
			b.Fatal(err)
		}
	}
	// The workloads interleave the modes, so that a busy spell of the
	// machine does not fall on one mode only.
	for _, w := range []string{"put-64MiB", "get-64MiB", "seek-256KiB"} {
		for _, m := range modes {
			b.Run(w+"/"+m, func(b *testing.B) {
				switch w {
				case "put-64MiB":
					b.SetBytes(size)
					for i := 0; b.Loop(); i++ {
						if err := put(m, fmt.Sprintf("put-%s-%d", m, i%4)); err != nil {
							b.Fatal(err)
						}
					}
				case "get-64MiB":
					b.SetBytes(size)
					for b.Loop() {
						if n, err := get(m, "read-"+m, ""); err != nil || n != size {
							b.Fatalf("%d bytes, %v", n, err)
						}
					}
				case "seek-256KiB":
					b.SetBytes(256 << 10)
					for i := 0; b.Loop(); i++ {
						off := (int64(i)*7919*4096 + 12345) % (size - 256<<10)
						if n, err := get(m, "read-"+m, fmt.Sprintf("bytes=%d-%d", off, off+256<<10-1)); err != nil || n != 256<<10 {
							b.Fatalf("%d bytes, %v", n, err)
						}
					}
				}
			})
		}
	}
}
