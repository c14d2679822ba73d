package gateway

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// zeros is a body of n zero bytes that costs no memory.
type zeros struct{ n int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	n := min(int64(len(p)), z.n)
	clear(p[:n])
	z.n -= n
	return int(n), nil
}

// zeroAt reads zeros anywhere: a seekable body through io.SectionReader.
type zeroAt struct{}

func (zeroAt) ReadAt(p []byte, _ int64) (int, error) { clear(p); return len(p), nil }

// TestRefusedLargeUpload_ClientReadsTheAnswer: a PUT or POST of 200 MiB
// refused before its body is read (501 for an encryption header or an
// unsupported sub-resource, 400 for a bad tag) reaches the client as that
// answer, not as a connection reset, over HTTP and HTTPS, raw and through
// aws-sdk-go-v2.
func TestRefusedLargeUpload_ClientReadsTheAnswer(t *testing.T) {
	const size = 200 << 20
	for _, tc := range []struct {
		name string
		o    envOpt
	}{{"http", envOpt{memory: true}}, {"https", envOpt{memory: true, tls: true}}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.o)
			e.mkBucket("linger")
			for _, c := range []struct {
				method, path  string
				header, value string
				status        int
			}{
				{"PUT", "/linger/big", "x-amz-server-side-encryption", "AES256", 501},
				{"PUT", "/linger/big", "x-amz-tagging", "a=1&a=2", 400},
				{"POST", "/linger/big?restore", "Content-Type", "application/xml", 501},
			} {
				req, err := http.NewRequest(c.method, e.endpoint+c.path, &zeros{size})
				must(t, err)
				req.ContentLength = size
				req.Header.Set(c.header, c.value)
				req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
				must(t, v4.NewSigner().SignHTTP(ctx(), aws.Credentials{AccessKeyID: rootAK, SecretAccessKey: rootSK}, req, "UNSIGNED-PAYLOAD", "s3", region, time.Now()))
				resp, err := e.http.Do(req)
				if err != nil {
					t.Fatalf("%s %s %s: %v, want the %d answer", c.method, c.path, c.header, err, c.status)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != c.status {
					t.Fatalf("%s %s %s: %d, want %d", c.method, c.path, c.header, resp.StatusCode, c.status)
				}
			}
			_, err := e.root().PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String("linger"), Key: aws.String("big"),
				Body: io.NewSectionReader(zeroAt{}, 0, size), ContentLength: aws.Int64(size), ServerSideEncryption: types.ServerSideEncryptionAes256})
			wantCode(t, err, "NotImplemented")
			// the gateway still serves
			e.put("linger", "small", []byte("ok"))
		})
	}
}
