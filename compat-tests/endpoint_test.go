package compat

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/tnv-s3/tnv/internal/proctest"
)

// Endpoint is the S3 endpoint every test of this package talks to.
type Endpoint struct {
	URL       string // http://127.0.0.1:PORT
	Host      string // 127.0.0.1:PORT
	AccessKey string
	SecretKey string
	Region    string
	Kind      string // "tnv up" or "external"
}

const (
	testAccessKey = "TNVCOMPATACCESSKEY01"
	testSecretKey = "tnv-compat-secret-key/0123456789abcdefXYZ"
)

var (
	epOnce   sync.Once
	ep       *Endpoint
	epErr    error
	mainT    *mainTB
	workDir  string // removed after the tests; shared artifacts (media files) go here
	tnvBin   string // the tnv binary proctest built, if any
	tnvProc  *proctest.Proc
	deadOnce sync.Once
	// corsPageLn is the listener of the page origin that tnv up's
	// --cors-origins names (TestBrowserDefaultCORS serves its page on it).
	corsPageLn net.Listener
)

// inCI reports whether the suite runs under CI=true, where a missing client
// fails the test instead of skipping it.
func inCI() bool { return os.Getenv("CI") == "true" }

func TestMain(m *testing.M) {
	var err error
	workDir, err = os.MkdirTemp("", "tnv-compat-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	mainT = &mainTB{dir: workDir}
	code := m.Run()
	mainT.finish(code != 0)
	os.RemoveAll(workDir)
	// proctest.Main would run the tests itself; its only cleanup, removing
	// the binary it built, is done here.
	if tnvBin != "" {
		os.RemoveAll(filepath.Dir(tnvBin))
	}
	os.Exit(code)
}

// endpoint returns the shared endpoint, starting `tnv up` on first use.
func endpoint(t testing.TB) *Endpoint {
	t.Helper()
	epOnce.Do(func() { ep, epErr = startEndpoint() })
	if epErr != nil {
		t.Fatalf("compat endpoint: %v", epErr)
	}
	if tnvProc != nil {
		if pid := tnvProc.PID(); pid == 0 || syscall.Kill(pid, 0) != nil {
			deadOnce.Do(func() {
				b, _ := os.ReadFile(tnvProc.Log)
				t.Errorf("tnv up (pid %d) is no longer running; end of its log %s:\n%s", pid, tnvProc.Log, tail(string(b), 3000))
			})
			t.Fatalf("tnv up (pid %d) is no longer running", pid)
		}
	}
	return ep
}

func startEndpoint() (e *Endpoint, err error) {
	if u := os.Getenv("TNV_COMPAT_ENDPOINT"); u != "" && !inCI() {
		pu, perr := url.Parse(u)
		if perr != nil || pu.Host == "" {
			return nil, fmt.Errorf("TNV_COMPAT_ENDPOINT=%q: not a URL", u)
		}
		e = &Endpoint{
			URL:       strings.TrimRight(u, "/"),
			Host:      pu.Host,
			AccessKey: os.Getenv("TNV_COMPAT_ACCESS_KEY"),
			SecretKey: os.Getenv("TNV_COMPAT_SECRET_KEY"),
			Region:    envOr("TNV_COMPAT_REGION", "us-east-1"),
			Kind:      "external",
		}
		if e.AccessKey == "" || e.SecretKey == "" {
			return nil, errors.New("TNV_COMPAT_ENDPOINT needs TNV_COMPAT_ACCESS_KEY and TNV_COMPAT_SECRET_KEY")
		}
		fmt.Fprintf(os.Stderr, "compat: using external endpoint %s\n", e.URL)
	} else {
		if u != "" {
			fmt.Fprintf(os.Stderr, "compat: CI=true, ignoring TNV_COMPAT_ENDPOINT=%s and starting tnv up\n", u)
		}
		e, err = startTNVUp()
		if err != nil {
			return nil, err
		}
	}
	if b := os.Getenv("TNV_COMPAT_BREAK"); b != "" {
		e, err = startBreakingProxy(e, b)
		if err != nil {
			return nil, err
		}
	}
	if err := waitReady(e, 90*time.Second); err != nil {
		return nil, err
	}
	return e, nil
}

// startTNVUp runs `tnv up` with a data directory of its own.
func startTNVUp() (e *Endpoint, err error) {
	defer func() {
		if r := recover(); r != nil {
			if f, ok := r.(tbFatal); ok {
				err = errors.New(string(f))
				return
			}
			panic(r)
		}
	}()
	tnvBin = proctest.Binary(mainT)
	data := filepath.Join(workDir, "tnv-data")
	env := []string{"TNV_ACCESS_KEY=" + testAccessKey, "TNV_SECRET_KEY=" + testSecretKey}
	if corsPageLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	corsOrigin := "http://" + corsPageLn.Addr().String()
	start := time.Now()
	p := proctest.StartFree(mainT, env, "tnv-up", func(addr string) []string {
		return []string{"up", "--data", data, "--s3-addr", addr, "--cors-origins", corsOrigin}
	})
	addr := p.Addr
	tnvProc = p
	fmt.Fprintf(os.Stderr, "compat: tnv up listening on %s after %v (log %s)\n", addr, time.Since(start).Round(time.Millisecond), p.Log)
	return &Endpoint{
		URL:       "http://" + addr,
		Host:      addr,
		AccessKey: testAccessKey,
		SecretKey: testSecretKey,
		Region:    "us-east-1",
		Kind:      "tnv up",
	}, nil
}

// waitReady waits until the endpoint stores an object: listening is not
// enough, the storage nodes must have joined their groups.
func waitReady(e *Endpoint, timeout time.Duration) error {
	c := e.client()
	ctx := context.Background()
	bucket := "compat-ready-" + randHex(4)
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket})
		var owned *types.BucketAlreadyOwnedByYou
		if err == nil || errors.As(err, &owned) {
			_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("probe"), Body: strings.NewReader("ready")})
			if err == nil {
				c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String("probe")})
				c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &bucket})
				return nil
			}
		}
		last = err
		time.Sleep(300 * time.Millisecond)
	}
	return fmt.Errorf("endpoint %s not storing objects after %v: %v", e.URL, timeout, last)
}

// client is an aws-sdk-go-v2 S3 client of the endpoint, for setting up and
// checking what the clients under test did.
func (e *Endpoint) client() *s3.Client {
	return s3.New(s3.Options{
		Region:       e.Region,
		BaseEndpoint: aws.String(e.URL),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(e.AccessKey, e.SecretKey, ""),
	})
}

// bucketName returns a fresh bucket name starting with prefix.
func bucketName(prefix string) string {
	return strings.ToLower(prefix) + "-" + randHex(4)
}

// newBucket creates a fresh bucket through the SDK and removes it (and what
// is left in it) when the test ends.
func newBucket(t testing.TB, prefix string) string {
	t.Helper()
	e := endpoint(t)
	b := bucketName(prefix)
	if _, err := e.client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &b}); err != nil {
		t.Fatalf("CreateBucket %s: %v", b, err)
	}
	removeBucketAtEnd(t, b)
	return b
}

// removeBucketAtEnd empties and deletes bucket b when the test ends (best
// effort: the endpoint may be shared with other runs).
func removeBucketAtEnd(t testing.TB, b string) {
	e := endpoint(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c := e.client()
		p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: &b})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				break
			}
			if len(page.Contents) == 0 {
				continue
			}
			var ids []types.ObjectIdentifier
			for _, o := range page.Contents {
				ids = append(ids, types.ObjectIdentifier{Key: o.Key})
			}
			c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &b, Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
		}
		c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &b})
	})
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// mainTB is the testing.TB of TestMain: the shared endpoint outlives every
// test, so its processes and directories are cleaned up after m.Run.
// Only the methods proctest calls are implemented.
type mainTB struct {
	testing.TB
	dir      string
	mu       sync.Mutex
	cleanups []func()
	failed   bool
	n        int
}

type tbFatal string

func (m *mainTB) Helper()      {}
func (m *mainTB) Name() string { return "compat-endpoint" }
func (m *mainTB) Failed() bool { m.mu.Lock(); defer m.mu.Unlock(); return m.failed }
func (m *mainTB) Log(args ...any) {
	fmt.Fprintln(os.Stderr, args...)
}
func (m *mainTB) Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
}
func (m *mainTB) Error(args ...any) { m.setFailed(); m.Log(args...) }
func (m *mainTB) Errorf(format string, args ...any) {
	m.setFailed()
	m.Logf(format, args...)
}
func (m *mainTB) Fatal(args ...any) { m.setFailed(); panic(tbFatal(fmt.Sprint(args...))) }
func (m *mainTB) Fatalf(format string, args ...any) {
	m.setFailed()
	panic(tbFatal(fmt.Sprintf(format, args...)))
}
func (m *mainTB) setFailed() { m.mu.Lock(); m.failed = true; m.mu.Unlock() }
func (m *mainTB) Cleanup(f func()) {
	m.mu.Lock()
	m.cleanups = append(m.cleanups, f)
	m.mu.Unlock()
}
func (m *mainTB) TempDir() string {
	m.mu.Lock()
	m.n++
	n := m.n
	m.mu.Unlock()
	d := filepath.Join(m.dir, fmt.Sprintf("tmp%03d", n))
	if err := os.MkdirAll(d, 0o755); err != nil {
		m.Fatal(err)
	}
	return d
}

// finish runs the cleanups (last registered first); failed makes proctest
// print the logs of the processes it started.
func (m *mainTB) finish(failed bool) {
	if failed {
		m.setFailed()
	}
	m.mu.Lock()
	cs := m.cleanups
	m.cleanups = nil
	m.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
}
