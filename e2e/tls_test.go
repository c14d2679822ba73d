package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tnv-s3/tnv/internal/proctest"
	"github.com/tnv-s3/tnv/internal/tnvtls"
	"github.com/tnv-s3/tnv/internal/tnvtls/tnvtlstest"
	"github.com/tnv-s3/tnv/metadb/metadbtest"
)

// TestTLS_WholeClusterOnMutualTLS: tracker, ID server and storage nodes
// serve TNV on TLS and demand client certificates of the cluster's CA
// (generated here); the nodes reach their tracker, ID server and each other
// on TLS (they turn ACTIVE and replicate); a gateway with --tnv-tls-* serves
// PUT and GET; `tnv client` with the CA and a certificate is served, and
// every client without them is refused.
func TestTLS_WholeClusterOnMutualTLS(t *testing.T) {
	dsn := metadbtest.NewTestMySQL(t)
	ca := tnvtlstest.NewCA(t, "cluster")
	rogue := tnvtlstest.NewCA(t, "rogue")
	node := ca.Issue(t, "node", "127.0.0.1")
	env := tnvtlstest.Env("TNV_", node)
	c := proctest.StartCluster(t, proctest.Topology{DB: dsn, Groups: 1, Members: 2, Env: env})

	// `tnv client` on TLS: upload (the node gets an ID from the ID server
	// and sends the replica to its member, both on TLS), then download (on
	// TLS a node cannot use sendfile: the buffered path).
	dir := t.TempDir()
	in, sum := writeRandom(t, dir, "in", 3<<20+17, 11)
	id := strings.TrimSpace(runEnv(t, env, client(c, "upload", "--appid", "app1", "--userid", "tls", in)...))
	out := filepath.Join(dir, "out")
	runEnv(t, env, client(c, "download", "--appid", "app1", "--userid", "tls", "--fileid", id, "-o", out)...)
	if got := fileSum(t, out); got != sum {
		t.Fatalf("download over TLS: sha256 %x, want %x", got, sum)
	}
	// Every upload reached both members when it was acknowledged: the
	// node-to-node link works on TLS.
	replicated := func() {
		t.Helper()
		for _, m := range c.Groups[0] {
			stat, err := proctest.RunEnvErr(t, env, "storage", "stat", m.Addr)
			if err != nil || !strings.Contains(stat, "syncstate ACTIVE") || !strings.Contains(stat, "underreplicated 0\n") {
				t.Fatalf("storage stat %s over TLS: %v\n%s", m.Addr, err, stat)
			}
		}
	}
	replicated()

	// Refused: a plain client (told the server speaks TLS only), one
	// without a client certificate, one with another CA's certificate, one
	// that does not trust the cluster's CA.
	otherCert := rogue.Issue(t, "rogue-client")
	otherCert.CA = ca.CAFile
	for _, tc := range []struct {
		name string
		env  []string
		want string
	}{
		{"plain", nil, "TLS only"},
		{"no client certificate", tnvtlstest.Env("TNV_", tnvtls.Files{CA: ca.CAFile}), "certificate required"},
		{"certificate of another CA", tnvtlstest.Env("TNV_", otherCert), "certificate required"},
		{"server not trusted", tnvtlstest.Env("TNV_", rogue.Issue(t, "trusts-rogue")), "unknown authority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := proctest.RunEnvErr(t, tc.env, client(c, "--timeout", "20s", "download", "--appid", "app1", "--userid", "tls", "--fileid", id, "-o", filepath.Join(dir, "refused"))...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a refusal with %q", err, tc.want)
			}
		})
	}

	// The gateway: its --tls-* are HTTPS, --tnv-tls-* the cluster links.
	gwFiles := ca.Issue(t, "gateway")
	gw := proctest.StartFree(t, append([]string{"TNV_ACCESS_KEY=" + trustAK, "TNV_SECRET_KEY=" + trustSK}, tnvtlstest.Env("TNV_TNV_", gwFiles)...),
		"gateway", func(addr string) []string {
			return []string{"gateway", "--listen", addr, "--trackers", c.TrackerList(), "--db", dsn}
		})
	waitHTTP(t, "http://"+gw.Addr+"/_tnv/health", 30*time.Second)
	s3c := s3Client("http://"+gw.Addr, trustAK, trustSK)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("tls")}); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, 9<<20+5)
	rand.NewChaCha8([32]byte{42}).Read(body)
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("tls"), Key: aws.String("obj"), Body: bytes.NewReader(body)}); err != nil {
		t.Fatalf("PUT through the gateway on TLS: %v", err)
	}
	get := func(rng *string) []byte {
		t.Helper()
		o, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("tls"), Key: aws.String("obj"), Range: rng})
		if err != nil {
			t.Fatalf("GET %v through the gateway on TLS: %v", rng, err)
		}
		defer o.Body.Close()
		b, err := io.ReadAll(o.Body)
		if err != nil {
			t.Fatalf("GET %v body: %v", rng, err)
		}
		return b
	}
	for i := range 3 { // pooled connections reused (sockcheck on TLS)
		if got := get(nil); !bytes.Equal(got, body) {
			t.Fatalf("GET %d through the gateway on TLS: %d bytes, sha256 %x, want %d bytes %x", i, len(got), sha256.Sum256(got), len(body), sha256.Sum256(body))
		}
	}
	if got := get(aws.String("bytes=1000-2000999")); !bytes.Equal(got, body[1000:2001000]) {
		t.Fatalf("range GET through the gateway on TLS: %d bytes differ", len(got))
	}

	replicated()

	// A gateway without --tnv-tls-* is refused by the cluster.
	plain := proctest.StartFree(t, []string{"TNV_ACCESS_KEY=" + trustAK, "TNV_SECRET_KEY=" + trustSK}, "gateway-plain", func(addr string) []string {
		return []string{"gateway", "--listen", addr, "--trackers", c.TrackerList(), "--db", dsn}
	})
	// Its health check reaches no tracker.
	var health int
	for deadline := time.Now().Add(30 * time.Second); health == 0; time.Sleep(200 * time.Millisecond) {
		if resp, err := http.Get("http://" + plain.Addr + "/_tnv/health"); err == nil {
			health = resp.StatusCode
			resp.Body.Close()
		} else if time.Now().After(deadline) {
			t.Fatalf("gateway-plain not answering: %v", err)
		}
	}
	if health == http.StatusOK {
		t.Fatal("a gateway speaking plain TNV to the TLS cluster is healthy")
	}
	pc := s3Client("http://"+plain.Addr, trustAK, trustSK)
	if _, err := pc.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("tls"), Key: aws.String("obj")}); err == nil {
		t.Fatal("a gateway speaking plain TNV to the TLS cluster served a GET")
	}
	if b, _ := os.ReadFile(c.Trackers[0].Log); !bytes.Contains(b, []byte("plain TNV on a TLS port")) {
		t.Fatal("the tracker did not log the plain peer it refused")
	}
}

// runEnv runs `tnv args...` with extra environment; a failure fails the test.
func runEnv(t *testing.T, env []string, args ...string) string {
	t.Helper()
	out, err := proctest.RunEnvErr(t, env, args...)
	if err != nil {
		t.Fatalf("tnv %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}
