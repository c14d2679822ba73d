package gateway

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/tnv-s3/tnv/gateway/index"
	"github.com/tnv-s3/tnv/internal/clocktest"
	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/metadb/metadbtest"
)

const (
	rootAK = "TNVROOTKEY"
	rootSK = "tnv/root+secret"
	region = "us-east-1"
)

// memStore is an in-memory BlobStore.
type memStore struct {
	mu    sync.Mutex
	blobs map[string][]byte
}

func newMemStore() *memStore { return &memStore{blobs: map[string][]byte{}} }

func (s *memStore) Put(ctx context.Context, appid, userid, fileid string, r io.Reader, size int64) error {
	b, err := io.ReadAll(io.LimitReader(r, size))
	if err != nil {
		return err
	}
	if int64(len(b)) != size {
		return io.ErrUnexpectedEOF
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := appid + "/" + userid + "/" + fileid
	if _, ok := s.blobs[k]; ok {
		return errors.New("exists")
	}
	s.blobs[k] = b
	return nil
}

func (s *memStore) Get(ctx context.Context, appid, userid, fileid string, off, size int64) (io.ReadCloser, error) {
	s.mu.Lock()
	b, ok := s.blobs[appid+"/"+userid+"/"+fileid]
	s.mu.Unlock()
	if !ok {
		return nil, ErrBlobNotFound
	}
	if off > int64(len(b)) {
		return nil, errors.New("range")
	}
	b = b[off:]
	if size > 0 {
		b = b[:min(size, int64(len(b)))]
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (s *memStore) Delete(ctx context.Context, appid, userid, fileid string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := appid + "/" + userid + "/" + fileid
	if _, ok := s.blobs[k]; !ok {
		return ErrBlobNotFound
	}
	delete(s.blobs, k)
	return nil
}

func (s *memStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.blobs)
}

// env is a gateway on loopback with its clients.
type env struct {
	t        *testing.T
	g        *Gateway
	db       *metadb.DB
	store    BlobStore
	endpoint string // http(s)://127.0.0.1:port
	tls      bool
	http     *http.Client
}

type envOpt struct {
	mysql    bool
	tls      bool
	store    BlobStore
	blobSize int64
	domain   string
	// intentTTL, when set, is Config.IntentTTL.
	intentTTL time.Duration
	// memory runs the gateway on index.Memory instead of the SQL index.
	memory bool
	// clock, when set, is the gateway's Config.Now.
	clock *clocktest.Clock
	// masterKey, when set, is Config.MasterKey (SSE-S3).
	masterKey []byte
	// corsOrigins is Config.CORSOrigins.
	corsOrigins []string
	// trustedProxies is Config.TrustedProxies.
	trustedProxies []netip.Prefix
	// maxSkew, when set, is Config.MaxSkew (a test that moves the clock
	// days ahead still signs with the wall clock).
	maxSkew time.Duration
	// lifecycleInterval, when set, is Config.LifecycleInterval; by default
	// the lifecycle loop is off and tests run passes with lifecycleOnce.
	lifecycleInterval time.Duration
	// metrics, when set, is Config.Metrics.
	metrics *Metrics
	// headerTimeout, when set, is Config.HeaderTimeout.
	headerTimeout time.Duration
	// lookupCache is Config.LookupCache.
	lookupCache int
}

func openDB(t testing.TB, mysql bool) *metadb.DB {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "meta.db")
	if mysql {
		dsn = metadbtest.NewTestMySQL(t)
	}
	db, err := metadb.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newEnv(t *testing.T, o envOpt) *env {
	t.Helper()
	return newEnvDB(t, openDB(t, o.mysql), o)
}

func newEnvDB(t *testing.T, db *metadb.DB, o envOpt) *env {
	t.Helper()
	if o.store == nil {
		o.store = newMemStore()
	}
	cfg := Config{DB: db, Blobs: o.store, Region: region, AccessKey: rootAK, SecretKey: rootSK,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), BlobSize: o.blobSize, Domain: o.domain,
		GCDelay: time.Millisecond, GCInterval: 50 * time.Millisecond, IntentTTL: o.intentTTL, CORSOrigins: o.corsOrigins,
		TrustedProxies: o.trustedProxies}
	if o.memory {
		cfg.DB, cfg.Index = nil, index.NewMemory()
	}
	if o.clock != nil {
		cfg.Now = o.clock.Now
	}
	cfg.MasterKey = o.masterKey
	cfg.MaxSkew, cfg.Metrics, cfg.LifecycleInterval = o.maxSkew, o.metrics, o.lifecycleInterval
	cfg.HeaderTimeout, cfg.LookupCache = o.headerTimeout, o.lookupCache
	if cfg.LifecycleInterval == 0 {
		cfg.LifecycleInterval = -1
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	scheme := "http"
	if o.tls {
		cfg.TLS = testTLS(t)
		scheme = "https"
		hc.Transport = &http.Transport{MaxIdleConnsPerHost: 16, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	}
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Serve(ln) }()
	t.Cleanup(func() {
		g.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &env{t: t, g: g, db: db, store: o.store, endpoint: scheme + "://" + ln.Addr().String(), tls: o.tls, http: hc}
}

// waitCollected waits until the collector has worked off every blob due
// now (by the gateway's clock).
func (e *env) waitCollected() {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rows, err := e.g.idx.DueBlobs(ctx(), e.g.nowUnix(), 1)
		if err != nil {
			e.t.Fatal(err)
		}
		if len(rows) == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("blob %+v still due after 10 s", rows[0])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testTLS makes a throwaway self-signed certificate for 127.0.0.1.
func testTLS(t testing.TB) *tls.Config {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tnv-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

func (e *env) sdk(ak, sk string) *s3.Client {
	return s3.New(s3.Options{
		Region:       region,
		BaseEndpoint: aws.String(e.endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(ak, sk, ""),
		HTTPClient:   e.http,
	})
}

func (e *env) root() *s3.Client { return e.sdk(rootAK, rootSK) }

func (e *env) minio(ak, sk string) *minio.Client {
	host := e.endpoint[len("http://"):]
	if e.tls {
		host = e.endpoint[len("https://"):]
	}
	mc, err := minio.New(host, &minio.Options{Creds: miniocreds.NewStaticV4(ak, sk, ""), Secure: e.tls, Region: region,
		Transport: e.http.Transport, BucketLookup: minio.BucketLookupPath})
	if err != nil {
		e.t.Fatal(err)
	}
	return mc
}

// apiCode is the S3 error code of an SDK error, or "" for nil.
func apiCode(err error) string {
	if err == nil {
		return ""
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return "foreign: " + err.Error()
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := apiCode(err); got != code {
		t.Fatalf("error %q (%v), want %q", got, err, code)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func ctx() context.Context { return context.Background() }

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func (e *env) mkBucket(name string) {
	e.t.Helper()
	_, err := e.root().CreateBucket(ctx(), &s3.CreateBucketInput{Bucket: aws.String(name)})
	must(e.t, err)
}

func (e *env) put(bucket, key string, body []byte) string {
	e.t.Helper()
	out, err := e.root().PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
	must(e.t, err)
	return aws.ToString(out.ETag)
}

func (e *env) get(bucket, key string) []byte {
	e.t.Helper()
	out, err := e.root().GetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	must(e.t, err)
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	must(e.t, err)
	return b
}

// do sends a raw request (unsigned unless the URL is presigned).
func (e *env) do(method, url string, hdr map[string]string, body []byte) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	must(e.t, err)
	if body == nil {
		req.Body = nil
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.http.Do(req)
	must(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(e.t, err)
	return resp, b
}

func md5hex(b []byte) string { return fmt.Sprintf("%x", md5sum(b)) }

func md5sum(b []byte) [16]byte { return md5.Sum(b) }

func b64md5(b []byte) string {
	s := md5.Sum(b)
	return base64.StdEncoding.EncodeToString(s[:])
}

// signed sends a request signed with the root key (SigV4, body SHA-256).
func (e *env) signed(method, pathQuery string, hdr map[string]string, body []byte) (*http.Response, []byte) {
	return e.signedAs(rootAK, rootSK, method, pathQuery, hdr, body)
}

func (e *env) signedAs(ak, sk, method, pathQuery string, hdr map[string]string, body []byte) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.endpoint+pathQuery, bytes.NewReader(body))
	must(e.t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	sum := sha256.Sum256(body)
	ph := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", ph)
	err = v4.NewSigner().SignHTTP(ctx(), aws.Credentials{AccessKeyID: ak, SecretAccessKey: sk}, req, ph, "s3", region, time.Now())
	must(e.t, err)
	resp, err := e.http.Do(req)
	must(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(e.t, err)
	return resp, b
}

// vhostHTTP dials the gateway whatever the host name, so that clients can
// address "bucket.s3.test:port".
func (e *env) vhostHTTP() *http.Client {
	addr := e.endpoint[strings.Index(e.endpoint, "//")+2:]
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}}
}
