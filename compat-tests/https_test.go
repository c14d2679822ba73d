package compat

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/internal/proctest"
)

// Over HTTPS the current SDKs and aws CLIs pick other payload modes
// (STREAMING-UNSIGNED-PAYLOAD-TRAILER with CRC trailers) than over HTTP, so
// the clients that have such defaults run against a second `tnv up` serving
// HTTPS with a throwaway certificate.
var (
	tlsOnce sync.Once
	tlsEP   *Endpoint
	tlsCA   string // PEM file of the certificate, for the clients to trust
	tlsErr  error
)

// tlsEndpoint returns the HTTPS endpoint, starting it on first use. An
// external endpoint (TNV_COMPAT_ENDPOINT) has none: the test is skipped.
func tlsEndpoint(t testing.TB) (*Endpoint, string) {
	t.Helper()
	if e := endpoint(t); e.Kind != "tnv up" {
		t.Skipf("HTTPS tests need tnv up; the endpoint is %s (%s)", e.URL, e.Kind)
	}
	tlsOnce.Do(func() { tlsEP, tlsCA, tlsErr = startTNVUpTLS() })
	if tlsErr != nil {
		t.Fatalf("tnv up over HTTPS: %v", tlsErr)
	}
	return tlsEP, tlsCA
}

func startTNVUpTLS() (e *Endpoint, ca string, err error) {
	defer func() {
		if r := recover(); r != nil {
			if f, ok := r.(tbFatal); ok {
				err = errors.New(string(f))
				return
			}
			panic(r)
		}
	}()
	dir := filepath.Join(workDir, "tls")
	os.MkdirAll(dir, 0o755)
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := selfSignedCert(cert, key); err != nil {
		return nil, "", err
	}
	env := []string{"TNV_ACCESS_KEY=" + testAccessKey, "TNV_SECRET_KEY=" + testSecretKey}
	addr := proctest.StartFree(mainT, env, "tnv-up-https", func(addr string) []string {
		return []string{"up", "--data", filepath.Join(workDir, "tnv-data-https"), "--s3-addr", addr, "--tls-cert", cert, "--tls-key", key}
	}).Addr
	e = &Endpoint{URL: "https://" + addr, Host: addr, AccessKey: testAccessKey, SecretKey: testSecretKey, Region: "us-east-1", Kind: "tnv up"}
	if err := waitReadyTLS(e, cert, 90*time.Second); err != nil {
		return nil, "", err
	}
	fmt.Fprintf(os.Stderr, "compat: tnv up over HTTPS on %s\n", e.URL)
	return e, cert, nil
}

// waitReadyTLS is waitReady for the HTTPS endpoint (curl with the CA).
func waitReadyTLS(e *Endpoint, ca string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		o := runCmd(mainT, baseEnv(), "", 10*time.Second, "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", ca, e.URL+"/")
		// An unsigned request is refused (403) once the gateway answers.
		if o.Err == nil && strings.TrimSpace(o.Stdout) != "000" {
			return nil
		}
		last = o.Stderr
		time.Sleep(300 * time.Millisecond)
	}
	return fmt.Errorf("%s not answering after %v: %s", e.URL, timeout, last)
}

// selfSignedCert writes a certificate for 127.0.0.1 and localhost and its
// key.
func selfSignedCert(certFile, keyFile string) error {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "tnv compat-tests"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return err
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	return os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
}

// TestHTTPS runs the aws CLIs, boto3 and rclone over HTTPS: uploads (single
// and multipart, in the payload modes those clients choose over TLS) and
// downloads, byte for byte, with the ETags checked.
func TestHTTPS(t *testing.T) {
	e, ca := tlsEndpoint(t)
	dir := t.TempDir()
	small := filepath.Join(dir, "small.bin")
	smallMD5 := writeRandom(t, small, 70000, 21)
	big := filepath.Join(dir, "big.bin")
	writeRandom(t, big, 20<<20+5, 22)

	awsRun := func(t *testing.T, bin string) {
		a := newAWSCLI(t, bin)
		a.ep = e
		a.env = append(a.env, "AWS_CA_BUNDLE="+ca)
		bucket := bucketName("https-aws")
		a.run("s3", "mb", "s3://"+bucket)
		for _, f := range []string{small, big} {
			name := filepath.Base(f)
			a.run("s3", "cp", "--only-show-errors", f, "s3://"+bucket+"/"+name)
			got := filepath.Join(t.TempDir(), name)
			a.run("s3", "cp", "--only-show-errors", "s3://"+bucket+"/"+name, got)
			sameFile(t, f, got)
		}
		var head struct{ ETag string }
		a.json(&head, "s3api", "head-object", "--bucket", bucket, "--key", "small.bin")
		if head.ETag != `"`+smallMD5+`"` {
			t.Errorf("ETag over HTTPS %s, want %q", head.ETag, smallMD5)
		}
		a.json(&head, "s3api", "head-object", "--bucket", bucket, "--key", "big.bin")
		if want := multipartETag(t, big, 8<<20); head.ETag != want {
			t.Errorf("multipart ETag over HTTPS %s, want %s", head.ETag, want)
		}
		a.run("s3", "rb", "--force", "s3://"+bucket)
	}
	t.Run("aws-debian", func(t *testing.T) {
		awsRun(t, tool(t, "Debian's aws CLI (apt awscli)", "/usr/bin/aws"))
	})
	t.Run("aws-pip", func(t *testing.T) {
		bin := "/root/.pyenv/shims/aws"
		if _, err := os.Stat(bin); err != nil {
			t.Skipf("pip aws CLI v1 not installed at %s", bin)
		}
		awsRun(t, bin)
	})

	boto := func(t *testing.T, py string) {
		bucket := bucketName("https-boto3")
		env := baseEnv("AWS_ACCESS_KEY_ID="+e.AccessKey, "AWS_SECRET_ACCESS_KEY="+e.SecretKey,
			"AWS_DEFAULT_REGION="+e.Region, "AWS_CA_BUNDLE="+ca, "AWS_CONFIG_FILE=/nonexistent",
			"AWS_SHARED_CREDENTIALS_FILE=/nonexistent", "AWS_EC2_METADATA_DISABLED=true")
		script := `
import hashlib, sys, boto3, botocore
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
ep, bucket, small, big, work = sys.argv[1:6]
s3 = boto3.client("s3", endpoint_url=ep, config=Config(s3={"addressing_style": "path"}))
print("boto3", boto3.__version__, "botocore", botocore.__version__)
s3.create_bucket(Bucket=bucket)
md5 = lambda p: hashlib.md5(open(p, "rb").read()).hexdigest()
s3.put_object(Bucket=bucket, Key="small.bin", Body=open(small, "rb").read())
tc = TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20)
s3.upload_file(big, bucket, "big.bin", Config=tc)
for k, p in (("small.bin", small), ("big.bin", big)):
    out = work + "/" + k
    s3.download_file(bucket, k, out)
    assert md5(out) == md5(p), k + ": bytes differ"
h = s3.head_object(Bucket=bucket, Key="small.bin")
assert h["ETag"] == '"%s"' % md5(small), h["ETag"]
for k in ("small.bin", "big.bin"):
    s3.delete_object(Bucket=bucket, Key=k)
s3.delete_bucket(Bucket=bucket)
print("ALL OK")
`
		o := mustRun(t, env, "", 3*time.Minute, py, "-c", script, e.URL, bucket, small, big, t.TempDir())
		t.Logf("%s", strings.TrimSpace(o.Stdout))
		if !strings.Contains(o.Stdout, "ALL OK") {
			t.Errorf("boto3 over HTTPS did not finish: %s", o.Stderr)
		}
	}
	t.Run("boto3-debian", func(t *testing.T) {
		boto(t, tool(t, "Debian's python3", "/usr/bin/python3"))
	})
	t.Run("boto3-pip", func(t *testing.T) {
		py := "/root/.pyenv/shims/python3"
		if o := runCmd(t, baseEnv(), "", time.Minute, py, "-c", "import boto3"); o.Err != nil {
			t.Skipf("no pip boto3 at %s", py)
		}
		boto(t, py)
	})

	t.Run("rclone", func(t *testing.T) {
		r := newRclone(t)
		for i, kv := range r.env {
			if strings.HasPrefix(kv, "RCLONE_CONFIG_TNV_ENDPOINT=") {
				r.env[i] = "RCLONE_CONFIG_TNV_ENDPOINT=" + e.URL
			}
		}
		r.env = append(r.env, "RCLONE_CA_CERT="+ca)
		bucket := bucketName("https-rclone")
		src := filepath.Join(t.TempDir(), "src")
		os.MkdirAll(src, 0o755)
		for _, f := range []string{small, big} {
			b, _ := os.ReadFile(f)
			os.WriteFile(filepath.Join(src, filepath.Base(f)), b, 0o644)
		}
		r.run("mkdir", "tnv:"+bucket)
		r.run("copy", src, "tnv:"+bucket)
		r.check(src, "tnv:"+bucket, 2)
		down := filepath.Join(t.TempDir(), "down")
		r.run("copy", "tnv:"+bucket, down)
		sameTree(t, src, down)
		r.run("purge", "tnv:"+bucket)
	})
}
