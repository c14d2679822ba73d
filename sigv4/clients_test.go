package sigv4

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/tnv-s3/tnv/s3err"
)

// These tests put real clients — aws-sdk-go-v2's S3 client and minio-go —
// in front of a stub S3 server that authenticates each request with this
// package and decodes its body with NewBodyReader, the way the gateway
// will. What the clients send (header checksums over HTTP, unsigned
// trailers over HTTPS, signed chunks and signed trailers from minio-go,
// SigV2) is therefore checked end to end, not as we imagine it.

const (
	clientAK = "TNVCLIENTKEY"
	clientSK = "tnv/client+secret"
)

var clientStore = StaticCredentials{clientAK: clientSK}

type recorded struct {
	method, path, query string
	header              http.Header
	res                 *Result
	body                []byte
}

// stubS3 answers just enough of the S3 API for the clients to be content.
type stubS3 struct {
	t       *testing.T
	mu      sync.Mutex
	log     []recorded
	objects map[string][]byte
}

func newStub(t *testing.T, useTLS bool) (*stubS3, *httptest.Server) {
	s := &stubS3{t: t, objects: map[string][]byte{}}
	var srv *httptest.Server
	if useTLS {
		srv = httptest.NewTLSServer(s)
	} else {
		srv = httptest.NewServer(s)
	}
	t.Cleanup(srv.Close)
	return s, srv
}

func (s *stubS3) fail(w http.ResponseWriter, err error) {
	s.t.Errorf("stub refused the request: %v", err)
	status := http.StatusInternalServerError
	code := s3err.InternalError
	var e *Error
	if errors.As(err, &e) {
		status, code = e.Status, e.Code
	}
	w.WriteHeader(status)
	fmt.Fprintf(w, "<Error><Code>%s</Code><Message>%s</Message></Error>", code, "refused")
}

func (s *stubS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := fromHTTP(r)
	if b, ok := strings.CutSuffix(hostOnly(r.Host), ".s3.test"); ok {
		req.VirtualBucket = b
	}
	res, err := Verify(req, clientStore, time.Now())
	if err != nil {
		s.fail(w, err)
		return
	}
	rd, err := NewBodyReader(res, req.Header, r.Body)
	if err != nil {
		s.fail(w, err)
		return
	}
	body, err := io.ReadAll(rd)
	if err != nil {
		s.fail(w, err)
		return
	}
	s.mu.Lock()
	s.log = append(s.log, recorded{r.Method, req.Path, req.RawQuery, r.Header.Clone(), res, body})
	key := req.VirtualBucket + req.Path
	q := r.URL.Query()
	switch {
	case r.Method == "POST" && q.Has("uploads"):
		fmt.Fprint(w, `<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>up1</UploadId></InitiateMultipartUploadResult>`)
	case r.Method == "POST" && q.Has("uploadId"):
		fmt.Fprint(w, `<CompleteMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><ETag>"abc-2"</ETag></CompleteMultipartUploadResult>`)
	case r.Method == "PUT":
		if !q.Has("partNumber") {
			s.objects[key] = body
		}
		sum := md5.Sum(body)
		w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
	case r.Method == "GET" && q.Has("list-type"):
		fmt.Fprint(w, `<ListBucketResult><Name>b</Name><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>`)
	case r.Method == "GET" || r.Method == "HEAD":
		obj := s.objects[key]
		w.Header().Set("Content-Length", fmt.Sprint(len(obj)))
		w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
		w.Header().Set("ETag", `"0"`)
		w.Write(obj)
	case r.Method == "DELETE":
		w.WriteHeader(http.StatusNoContent)
	}
	s.mu.Unlock()
}

func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		return host
	}
	return h
}

// last returns the last recorded request of a method.
func (s *stubS3) last(method string) recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.log) - 1; i >= 0; i-- {
		if s.log[i].method == method {
			return s.log[i]
		}
	}
	s.t.Fatalf("no %s request recorded", method)
	return recorded{}
}

func sdkClient(srv *httptest.Server, pathStyle bool, httpClient *http.Client) *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		UsePathStyle: pathStyle,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: clientAK, SecretAccessKey: clientSK}, nil
		}),
		HTTPClient: httpClient,
		Retryer:    aws.NopRetryer{},
	})
}

func TestClients_AWSSDK_PlainHTTP_HeaderChecksums(t *testing.T) {
	stub, srv := newStub(t, false)
	c := sdkClient(srv, true, srv.Client())
	ctx := context.Background()
	data := testData(300_000)
	for _, alg := range []types.ChecksumAlgorithm{
		types.ChecksumAlgorithmCrc32, types.ChecksumAlgorithmCrc32c, types.ChecksumAlgorithmCrc64nvme,
		types.ChecksumAlgorithmSha1, types.ChecksumAlgorithmSha256,
	} {
		t.Run(string(alg), func(t *testing.T) {
			_, err := c.PutObject(ctx, &s3.PutObjectInput{
				Bucket: aws.String("bkt"), Key: aws.String("dir/a b+c$é.bin"),
				Body: bytes.NewReader(data), ChecksumAlgorithm: alg,
			})
			if err != nil {
				t.Fatal(err)
			}
			got := stub.last("PUT")
			if got.res.Payload != PayloadSHA256 || !bytes.Equal(got.body, data) {
				t.Fatalf("mode %v, %d bytes", got.res.Payload, len(got.body))
			}
			if got.header.Get("X-Amz-Checksum-"+string(alg)) == "" {
				t.Fatalf("the SDK sent no %s header: %v", alg, got.header)
			}
		})
	}
	// Reads, listing and deletes sign query strings and odd keys.
	if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("dir/a b+c$é.bin"), Range: aws.String("bytes=0-9")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("bkt"), Prefix: aws.String("dir/a b"), Delimiter: aws.String("/"), StartAfter: aws.String("x=y&z")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("bkt"), Key: aws.String("~!*'();:@&=+$,?#[]")}); err != nil {
		t.Fatal(err)
	}
}

func TestClients_AWSSDK_TLS_UnsignedPayloadTrailer(t *testing.T) {
	stub, srv := newStub(t, true)
	c := sdkClient(srv, true, srv.Client())
	data := testData(1 << 20)
	for _, alg := range []types.ChecksumAlgorithm{
		types.ChecksumAlgorithmCrc32, types.ChecksumAlgorithmCrc32c, types.ChecksumAlgorithmCrc64nvme,
		types.ChecksumAlgorithmSha1, types.ChecksumAlgorithmSha256,
	} {
		t.Run(string(alg), func(t *testing.T) {
			_, err := c.PutObject(context.Background(), &s3.PutObjectInput{
				Bucket: aws.String("bkt"), Key: aws.String("big.bin"),
				Body: bytes.NewReader(data), ChecksumAlgorithm: alg,
			})
			if err != nil {
				t.Fatal(err)
			}
			got := stub.last("PUT")
			if got.res.Payload != PayloadStreamingUnsignedTrailer || !bytes.Equal(got.body, data) {
				t.Fatalf("mode %v, %d bytes", got.res.Payload, len(got.body))
			}
			if !strings.EqualFold(got.header.Get("X-Amz-Trailer"), "x-amz-checksum-"+string(alg)) {
				t.Fatalf("x-amz-trailer %q", got.header.Get("X-Amz-Trailer"))
			}
		})
	}
	t.Run("UnseekableBody", func(t *testing.T) {
		_, err := c.PutObject(context.Background(), &s3.PutObjectInput{
			Bucket: aws.String("bkt"), Key: aws.String("stream.bin"),
			Body: io.MultiReader(bytes.NewReader(data)), ContentLength: aws.Int64(int64(len(data))),
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := stub.last("PUT"); !bytes.Equal(got.body, data) {
			t.Fatalf("%d bytes", len(got.body))
		}
	})
}

func TestClients_AWSSDK_VirtualHostStyle(t *testing.T) {
	stub, srv := newStub(t, false)
	// Every bucket host resolves to the stub, as a wildcard DNS entry would.
	addr := srv.Listener.Addr().String()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}}
	c := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String("http://s3.test:" + portOf(addr)),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: clientAK, SecretAccessKey: clientSK}, nil
		}),
		HTTPClient: hc, Retryer: aws.NopRetryer{},
	})
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("vbkt"), Key: aws.String("k 1"), Body: strings.NewReader("hi")}); err != nil {
		t.Fatal(err)
	}
	got := stub.last("PUT")
	if got.path != "/k%201" || string(got.body) != "hi" {
		t.Fatalf("path %q body %q", got.path, got.body)
	}
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

func TestClients_AWSSDK_Presigned(t *testing.T) {
	stub, srv := newStub(t, false)
	c := sdkClient(srv, true, srv.Client())
	pc := s3.NewPresignClient(c)
	ctx := context.Background()
	put, err := pc.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("v/clip 1.mp4"), ContentType: aws.String("video/mp4")},
		s3.WithPresignExpires(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(put.Method, put.URL, strings.NewReader("frames"))
	for k, v := range put.SignedHeader {
		if !strings.EqualFold(k, "host") {
			req.Header[k] = v
		}
	}
	resp, err := srv.Client().Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("presigned PUT: %v %v", err, resp)
	}
	resp.Body.Close()
	if got := stub.last("PUT"); got.res.Kind != AuthV4Presigned || string(got.body) != "frames" {
		t.Fatalf("%+v %q", got.res, got.body)
	}
	get, err := pc.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("v/clip 1.mp4"),
		ResponseContentDisposition: aws.String(`attachment; filename="clip 1.mp4"`)})
	if err != nil {
		t.Fatal(err)
	}
	resp, err = srv.Client().Get(get.URL) // what a video element does
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("presigned GET: %v %v", err, resp)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "frames" {
		t.Fatalf("GET %q", b)
	}
}

func minioClient(t *testing.T, srv *httptest.Server, creds *miniocreds.Credentials, trailing bool) *minio.Client {
	t.Helper()
	c, err := minio.New(strings.TrimPrefix(srv.URL, "http://"), &minio.Options{
		Creds: creds, Secure: false, Region: "us-east-1", BucketLookup: minio.BucketLookupPath,
		TrailingHeaders: trailing, MaxRetries: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClients_MinioGo_StreamingSignatures(t *testing.T) {
	stub, srv := newStub(t, false)
	ctx := context.Background()
	v4 := miniocreds.NewStaticV4(clientAK, clientSK, "")
	data := testData(300_000)

	t.Run("SignedChunksKnownSize", func(t *testing.T) {
		c := minioClient(t, srv, v4, false)
		if _, err := c.PutObject(ctx, "bkt", "obj one.bin", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		got := stub.last("PUT")
		if got.res.Payload != PayloadStreamingSigned || !bytes.Equal(got.body, data) {
			t.Fatalf("mode %v, %d bytes", got.res.Payload, len(got.body))
		}
	})
	t.Run("SignedChunksWithSignedTrailer", func(t *testing.T) {
		c := minioClient(t, srv, v4, true)
		if _, err := c.PutObject(ctx, "bkt", "obj2", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{Checksum: minio.ChecksumCRC32C}); err != nil {
			t.Fatal(err)
		}
		got := stub.last("PUT")
		if got.res.Payload != PayloadStreamingSignedTrailer || !bytes.Equal(got.body, data) {
			t.Fatalf("mode %v, %d bytes", got.res.Payload, len(got.body))
		}
		if got.header.Get("X-Amz-Trailer") == "" {
			t.Fatal("no x-amz-trailer")
		}
	})
	t.Run("UnknownSizeMultipart", func(t *testing.T) {
		c := minioClient(t, srv, v4, false)
		big := testData(6 << 20)
		_, err := c.PutObject(ctx, "bkt", "stream.bin", io.MultiReader(bytes.NewReader(big)), -1, minio.PutObjectOptions{PartSize: 5 << 20})
		if err != nil {
			t.Fatal(err)
		}
		stub.mu.Lock()
		defer stub.mu.Unlock()
		var parts [][]byte
		for _, r := range stub.log {
			if r.method == "PUT" && strings.Contains(r.query, "partNumber") {
				if r.res.Payload != PayloadStreamingSigned {
					t.Fatalf("part mode %v", r.res.Payload)
				}
				parts = append(parts, r.body)
			}
		}
		if !bytes.Equal(bytes.Join(parts, nil), big) {
			t.Fatalf("%d parts do not add up to the object", len(parts))
		}
	})
	t.Run("SignatureV2", func(t *testing.T) {
		c := minioClient(t, srv, miniocreds.NewStaticV2(clientAK, clientSK, ""), false)
		if _, err := c.PutObject(ctx, "bkt", "v2 obj.txt", bytes.NewReader([]byte("old client")), 10, minio.PutObjectOptions{ContentType: "text/plain"}); err != nil {
			t.Fatal(err)
		}
		if got := stub.last("PUT"); got.res.Kind != AuthV2Header || string(got.body) != "old client" {
			t.Fatalf("%+v %q", got.res, got.body)
		}
		u, err := c.PresignedGetObject(ctx, "bkt", "v2 obj.txt", time.Hour, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := srv.Client().Get(u.String())
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("V2 presigned GET: %v %v", err, resp)
		}
		resp.Body.Close()
		if got := stub.last("GET"); got.res.Kind != AuthV2Presigned {
			t.Fatalf("%+v", got.res)
		}
	})
}

// The stub must not accept what a client did not sign: the same captured
// minio-go upload with one body byte changed is refused.
func TestClients_CapturedUploadTampered_Refused(t *testing.T) {
	var captured *http.Request
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ = io.ReadAll(r.Body)
		captured = r
		w.Header().Set("ETag", `"0"`)
	}))
	defer srv.Close()
	c := minioClient(t, srv, miniocreds.NewStaticV4(clientAK, clientSK, ""), true)
	data := testData(100_000)
	if _, err := c.PutObject(context.Background(), "bkt", "o", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	req := fromHTTP(captured)
	res, err := Verify(req, clientStore, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := readBody(t, res, req.Header, body, 0); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("untouched capture: %v", err)
	}
	i := bytes.Index(body, []byte("\r\n")) + 500
	body[i] ^= 0x20
	_, err = readBody(t, res, req.Header, body, 0)
	mustCode(t, err, s3err.SignatureDoesNotMatch)
}

func TestClients_MinioGo_TLS_UnsignedTrailer(t *testing.T) {
	stub, srv := newStub(t, true)
	c, err := minio.New(strings.TrimPrefix(srv.URL, "https://"), &minio.Options{
		Creds: miniocreds.NewStaticV4(clientAK, clientSK, ""), Secure: true, Region: "us-east-1",
		BucketLookup: minio.BucketLookupPath, TrailingHeaders: true, MaxRetries: 1,
		Transport: srv.Client().Transport,
	})
	if err != nil {
		t.Fatal(err)
	}
	data := testData(200_000)
	for _, ck := range []minio.ChecksumType{minio.ChecksumCRC32C, minio.ChecksumCRC64NVME, minio.ChecksumSHA256} {
		t.Run(ck.String(), func(t *testing.T) {
			if _, err := c.PutObject(context.Background(), "bkt", "o", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{Checksum: ck}); err != nil {
				t.Fatal(err)
			}
			got := stub.last("PUT")
			if got.res.Payload != PayloadStreamingUnsignedTrailer || !bytes.Equal(got.body, data) {
				t.Fatalf("mode %v, %d bytes", got.res.Payload, len(got.body))
			}
		})
	}
}
