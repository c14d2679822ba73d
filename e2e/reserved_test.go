package e2e

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tnv-s3/tnv/internal/proctest"
	"github.com/tnv-s3/tnv/metadb/metadbtest"
)

// emptySHA256 is the payload hash of a request without a body.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// getWith sends GET url, signed by ak/sk when ak is set, with extra headers,
// and returns the status and body.
func getWith(t *testing.T, url, ak, sk string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if ak != "" {
		req.Header.Set("X-Amz-Content-Sha256", emptySHA256)
		err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: ak, SecretAccessKey: sk},
			req, emptySHA256, "s3", "us-east-1", time.Now())
		if err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// presignedGet is url presigned for a GET by ak/sk.
func presignedGet(t *testing.T, url, ak, sk string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"?X-Amz-Expires=300", nil)
	u, _, err := v4.NewSigner().PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: ak, SecretAccessKey: sk},
		req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestReserved_StatusAndMetricsNeedACredential asks a gateway process for
// its status page and metrics on the S3 port without a credential, with
// the wrong one, signed by a user that is not root or admin, signed and
// presigned by root, signed by an admin user, and with the --metrics-token
// bearer; health stays public, and the
// --metrics-listen listener stays open.
func TestReserved_StatusAndMetricsNeedACredential(t *testing.T) {
	dsn := metadbtest.NewTestMySQL(t)
	c := proctest.StartCluster(t, proctest.Topology{DB: dsn, Groups: 1, Members: 2})
	rootSK, userSK, token := "reserved-root-secret-0123", "reserved-user-secret-0123", "scraper-token-0123456789"
	proctest.Run(t, "admin", "user", "add", "--access-key", "USERKEY", "--secret-key-file", writeSecret(t, userSK), "--db", dsn)
	opsSK := "reserved-ops-secret-01234"
	proctest.Run(t, "admin", "user", "add", "--admin", "--access-key", "OPSKEY", "--secret-key-file", writeSecret(t, opsSK), "--db", dsn)
	if ul := proctest.Run(t, "admin", "user", "list", "--db", dsn); !regexp.MustCompile(`OPSKEY\s+\S+\s+true`).MatchString(ul) ||
		!regexp.MustCompile(`USERKEY\s+\S+\s+false`).MatchString(ul) {
		t.Fatalf("user list does not show who is admin:\n%s", ul)
	}
	metricsAddr := proctest.FreeAddr(t)
	gw := proctest.StartFree(t, []string{"TNV_ACCESS_KEY=ROOTKEY", "TNV_SECRET_KEY=" + rootSK, "TNV_METRICS_TOKEN=" + token}, "gateway",
		func(addr string) []string {
			return []string{"gateway", "--listen", addr, "--trackers", c.TrackerList(), "--db", dsn, "--metrics-listen", metricsAddr}
		})
	base := "http://" + gw.Addr
	waitHTTP(t, base+"/_tnv/health", 30*time.Second) // public
	want := map[string]string{"/_tnv/metrics": "tnv_s3_requests_total", "/_tnv/status": "g1"}
	denied := func(path, how string, code int, body string) {
		t.Helper()
		if code != http.StatusForbidden || !strings.Contains(body, "<Code>AccessDenied</Code>") {
			t.Errorf("%s %s: %d %q, want 403 AccessDenied", how, path, code, body)
		}
		if strings.Contains(body, "tnv_") || strings.Contains(body, "127.0.0.1") {
			t.Errorf("%s %s: the refusal shows the cluster: %q", how, path, body)
		}
	}
	for _, path := range []string{"/_tnv/metrics", "/_tnv/status", "/_tnv/METRICS/", "/_tnv/Status/"} {
		code, body := getWith(t, base+path, "", "")
		denied(path, "anonymous", code, body)
		code, body = getWith(t, base+path, "", "", "Authorization", "Bearer not-the-token-0123456")
		denied(path, "wrong bearer", code, body)
		code, body = getWith(t, base+path, "USERKEY", userSK)
		denied(path, "signed by a user", code, body)
	}
	for path, w := range want {
		for how, url := range map[string]string{"root-signed": base + path, "root-presigned": presignedGet(t, base+path, "ROOTKEY", rootSK)} {
			ak := ""
			if how == "root-signed" {
				ak = "ROOTKEY"
			}
			code, body := getWith(t, url, ak, rootSK)
			if code != 200 || !strings.Contains(body, w) {
				t.Errorf("%s %s: %d, want 200 with %q:\n%.300s", how, path, code, w, body)
			}
		}
		code, body := getWith(t, base+path, "", "", "Authorization", "Bearer "+token)
		if code != 200 || !strings.Contains(body, w) {
			t.Errorf("bearer %s: %d, want 200 with %q:\n%.300s", path, code, w, body)
		}
		code, body = getWith(t, base+path, "OPSKEY", opsSK)
		if code != 200 || !strings.Contains(body, w) {
			t.Errorf("signed by an admin user %s: %d, want 200 with %q:\n%.300s", path, code, w, body)
		}
	}
	// An admin no longer: refused again.
	proctest.Run(t, "admin", "user", "admin", "OPSKEY", "off", "--db", dsn)
	code, body := getWith(t, base+"/_tnv/metrics", "OPSKEY", opsSK)
	denied("/_tnv/metrics", "signed by a former admin", code, body)
	// The user's own S3 requests are unaffected.
	if _, err := s3Client(base, "USERKEY", userSK).CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("mine")}); err != nil {
		t.Fatal(err)
	}
	if body := httpGet(t, "http://"+metricsAddr+"/metrics"); !strings.Contains(body, `tnv_s3_requests_total{op="CreateBucket",status="200"} 1`) {
		t.Errorf("--metrics-listen lacks the gateway's requests:\n%.500s", body)
	}
}

var reGroupsCount = regexp.MustCompile(`(?m)^tnv_requests_total\{cmd="GROUPS",result="ok",role="tracker"\} (\d+)$`)

// TestReserved_TrackerAskedOncePerSecond hits a gateway's status page and
// metrics 40 times in a row: its tracker (a process serving its own
// metrics) counts one GROUPS query per second of it (and the first), not 40.
func TestReserved_TrackerAskedOncePerSecond(t *testing.T) {
	db := "sqlite:" + t.TempDir() + "/m.db"
	metricsAddr := proctest.FreeAddr(t)
	trk := proctest.StartFree(t, nil, "tracker", func(addr string) []string {
		return []string{"tracker", "--listen", addr, "--db", db, "--metrics-listen", metricsAddr}
	})
	token := "scraper-token-0123456789"
	gw := proctest.StartFree(t, []string{"TNV_ACCESS_KEY=ROOTKEY", "TNV_SECRET_KEY=reserved-root-secret-0123", "TNV_METRICS_TOKEN=" + token}, "gateway",
		func(addr string) []string {
			return []string{"gateway", "--listen", addr, "--trackers", trk.Addr, "--db", db}
		})
	groups := func() int {
		m := reGroupsCount.FindStringSubmatch(httpGet(t, "http://"+metricsAddr+"/metrics"))
		if m == nil {
			return 0
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	before := groups()
	start := time.Now()
	for i := range 40 {
		path := []string{"/_tnv/metrics", "/_tnv/status", "/_tnv/health"}[i%3]
		getWith(t, "http://"+gw.Addr+path, "", "", "Authorization", "Bearer "+token)
	}
	took := time.Since(start)
	// One query per second begun, plus the first.
	most := int(took/time.Second) + 2
	n := groups() - before
	if n < 1 || n > most {
		t.Fatalf("40 status/metrics/health requests in %v asked the tracker %d times, want 1..%d", took, n, most)
	}
	t.Logf("40 status/metrics/health requests in %v: %d GROUPS queries", took, n)
}
