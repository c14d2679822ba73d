package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/tnv-s3/tnv/gateway/index"
)

// sample is GROUPS text in the tracker's documented format.
const sample = `group g1 nodes=2 active=2 readable=1 free=1000 total=4000
  node 127.0.0.1:23001 state=ACTIVE sync=ACTIVE progress=100% lag=0 free=1000 total=4000 beat=3s host=127.0.0.1 version=1.0
  node 127.0.0.1:23002 state=ACTIVE sync=SYNCING progress=40% lag=12 free=2000 total=4000 beat=1s host=127.0.0.1 version=1.0 health=READONLY
group g2 nodes=1 active=0 readable=0 free=- total=-
  node 10.0.0.9:23000 state=OFFLINE sync=ACTIVE progress=- lag=- free=- total=- beat=never host=n9 version=1.0
`

func serve(t *testing.T, groups func(context.Context) (string, error)) *fiber.App {
	t.Helper()
	return serveCfg(t, Config{Groups: groups})
}

func serveCfg(t *testing.T, cfg Config) *fiber.App {
	t.Helper()
	app := fiber.New()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	Routes(cfg)(app.Group("/_tnv"))
	return app
}

func get(t *testing.T, app *fiber.App, path string) (int, string) {
	t.Helper()
	resp, err := app.Test(httptest.NewRequest("GET", path, nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestStatusPage_ShowsEveryNode(t *testing.T) {
	app := serve(t, func(context.Context) (string, error) { return sample, nil })
	code, body := get(t, app, "/_tnv/status")
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	for _, s := range []string{"127.0.0.1:23001", "127.0.0.1:23002", "10.0.0.9:23000", "SYNCING", "40%", "OFFLINE", "READONLY", "Group g2", "3 s ago", "never"} {
		if !strings.Contains(body, s) {
			t.Errorf("status page lacks %q", s)
		}
	}
	if strings.Contains(body, "http://") || strings.Contains(body, "https://") || strings.Contains(body, "<script") {
		t.Error("status page refers to external assets or scripts")
	}
}

func TestStatusPage_TrackerDown_Says503(t *testing.T) {
	app := serve(t, func(context.Context) (string, error) { return "", errors.New("dial tcp: refused") })
	code, body := get(t, app, "/_tnv/status")
	if code != 503 || !strings.Contains(body, "Tracker unreachable") {
		t.Fatalf("status %d, body %q", code, body)
	}
	if code, _ := get(t, app, "/_tnv/health"); code != 503 {
		t.Fatalf("health with the tracker down: %d", code)
	}
}

// TestHealth_EveryGroupReadable_DatabaseAnswers: health is 200 only when
// every group has a readable member and the database answers in time; the
// 503 says which group or the database, without internal error text.
func TestHealth_EveryGroupReadable_DatabaseAnswers(t *testing.T) {
	healthy := "group g1 nodes=2 active=2 readable=2\ngroup g2 nodes=2 active=1 readable=1\n"
	dbOK := func(context.Context) error { return nil }
	app := serveCfg(t, Config{Groups: func(context.Context) (string, error) { return healthy, nil }, Database: dbOK})
	code, body := get(t, app, "/_tnv/health")
	var h Health
	if err := json.Unmarshal([]byte(body), &h); err != nil || code != 200 || !h.OK || !h.Groups["g2"].OK || !h.Database.OK {
		t.Fatalf("health: %d %s (%v)", code, body, err)
	}

	// g2 has no readable member (g1 does): not healthy, and g2 is named.
	app = serveCfg(t, Config{Groups: func(context.Context) (string, error) { return sample, nil }, Database: dbOK})
	code, body = get(t, app, "/_tnv/health")
	h = Health{}
	json.Unmarshal([]byte(body), &h)
	if code != 503 || h.OK || !h.Groups["g1"].OK || h.Groups["g2"].OK || h.Groups["g2"].Reason != "no readable member" {
		t.Fatalf("health with g2 unreadable: %d %s", code, body)
	}

	// A database that does not answer within the timeout.
	hang := func(ctx context.Context) error { <-ctx.Done(); return fmt.Errorf("select: %w", ctx.Err()) }
	app = serveCfg(t, Config{Groups: func(context.Context) (string, error) { return healthy, nil }, Database: hang, Timeout: 200 * time.Millisecond})
	start := time.Now()
	code, body = get(t, app, "/_tnv/health")
	h = Health{}
	json.Unmarshal([]byte(body), &h)
	if code != 503 || h.OK || h.Database.OK || !strings.Contains(h.Database.Reason, "did not answer within 200ms") || time.Since(start) > 2*time.Second {
		t.Fatalf("health with a hanging database: %d %s after %v", code, body, time.Since(start))
	}

	// Errors are logged, never sent.
	secret := errors.New("dial tcp 10.1.2.3:3306: secret-internal-detail")
	app = serveCfg(t, Config{Groups: func(context.Context) (string, error) { return "", secret }, Database: func(context.Context) error { return secret }})
	code, body = get(t, app, "/_tnv/health")
	if code != 503 || strings.Contains(body, "secret-internal-detail") || strings.Contains(body, "10.1.2.3") {
		t.Fatalf("health leaks internal errors: %d %s", code, body)
	}
}

func TestMetrics_ExportNodeStateAndCapacity(t *testing.T) {
	app := serve(t, func(context.Context) (string, error) { return sample, nil })
	code, body := get(t, app, "/_tnv/metrics")
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	for _, s := range []string{
		`tnv_cluster_tracker_up 1`,
		`tnv_node_state{group="g1",node="127.0.0.1:23001",state="ACTIVE"} 1`,
		`tnv_node_state{group="g2",node="10.0.0.9:23000",state="OFFLINE"} 1`,
		`tnv_node_sync_state{group="g1",node="127.0.0.1:23002",sync="SYNCING"} 1`,
		`tnv_node_replication_lag{group="g1",node="127.0.0.1:23002"} 12`,
		`tnv_node_free_bytes{group="g1",node="127.0.0.1:23001"} 1000`,
		`tnv_node_capacity_bytes{group="g1",node="127.0.0.1:23001"} 4000`,
		`tnv_group_readable_nodes{group="g1"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, s) {
			t.Errorf("metrics lack %q", s)
		}
	}
}

func TestHumanBytes(t *testing.T) {
	for in, want := range map[int64]string{-1: "-", 0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 30: "5.0 GiB"} {
		if got := HumanBytes(in); got != want {
			t.Errorf("HumanBytes(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestStatusPage_ListsActiveShareLinks(t *testing.T) {
	now := time.Now().UTC()
	h := func(c string) string { return strings.Repeat(c, 64) }
	shares := []index.Share{
		{Hash: h("a"), Bucket: "films", Prefix: "hls/one/", Owner: "alice", Expires: now.Add(time.Hour), MaxViewers: 3, Viewers: 2, Rate: 1 << 20},
		{Hash: h("b"), Bucket: "films", Prefix: "revoked/", Owner: "alice", Expires: now.Add(time.Hour), Revoked: true},
		{Hash: h("c"), Bucket: "films", Prefix: "expired/", Owner: "alice", Expires: now.Add(-time.Second)},
	}
	app := serveCfg(t, Config{Groups: func(context.Context) (string, error) { return sample, nil },
		Shares: func(context.Context) ([]index.Share, error) { return shares, nil }})
	code, body := get(t, app, "/_tnv/status")
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	for _, s := range []string{"Active share links &mdash; 1", "aaaaaaaaaaaa", "hls/one/", "2 / 3", "1.0 MiB/s"} {
		if !strings.Contains(body, s) {
			t.Errorf("status page lacks %q", s)
		}
	}
	for _, s := range []string{"revoked/", "expired/"} {
		if strings.Contains(body, s) {
			t.Errorf("status page shows %q", s)
		}
	}
	app = serveCfg(t, Config{Groups: func(context.Context) (string, error) { return sample, nil },
		Shares: func(context.Context) ([]index.Share, error) { return nil, errors.New("db down") }})
	if _, body = get(t, app, "/_tnv/status"); !strings.Contains(body, "Share links unreadable: db down") {
		t.Error("status page hides an error reading the links")
	}
}
