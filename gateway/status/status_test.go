package status

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// sample is GROUPS text in the tracker's documented format.
const sample = `group g1 nodes=2 active=2 readable=1 free=1000 total=4000
  node 127.0.0.1:23001 state=ACTIVE sync=ACTIVE progress=100% lag=0 free=1000 total=4000 beat=3s host=127.0.0.1 version=1.0
  node 127.0.0.1:23002 state=ACTIVE sync=SYNCING progress=40% lag=12 free=2000 total=4000 beat=1s host=127.0.0.1 version=1.0
group g2 nodes=1 active=0 readable=0 free=- total=-
  node 10.0.0.9:23000 state=OFFLINE sync=ACTIVE progress=- lag=- free=- total=- beat=never host=n9 version=1.0
`

func serve(t *testing.T, groups func(context.Context) (string, error)) *fiber.App {
	t.Helper()
	app := fiber.New()
	Routes(Config{Groups: groups})(app.Group("/_tnv"))
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
	for _, s := range []string{"127.0.0.1:23001", "127.0.0.1:23002", "10.0.0.9:23000", "SYNCING", "40%", "OFFLINE", "Group g2", "3 s ago", "never"} {
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

func TestHealth_NeedsAReadableNode(t *testing.T) {
	app := serve(t, func(context.Context) (string, error) { return sample, nil })
	if code, body := get(t, app, "/_tnv/health"); code != 200 || body != "ok\n" {
		t.Fatalf("health: %d %q", code, body)
	}
	app = serve(t, func(context.Context) (string, error) { return "group g nodes=1 active=0 readable=0\n", nil })
	if code, _ := get(t, app, "/_tnv/health"); code != 503 {
		t.Fatalf("health with nothing readable: %d", code)
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
