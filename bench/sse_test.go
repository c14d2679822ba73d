package main

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tnv-s3/tnv/gateway/sse"
)

// TestSSEHeaders_EachModeSendsWhatS3Defines sends each mode's PUT and GET
// through the bench's client to a server that records the headers: plain
// none, SSE-S3 x-amz-server-side-encryption on the PUT only, SSE-C the
// customer key's three on both, the MD5 being the key's.
func TestSSEHeaders_EachModeSendsWhatS3Defines(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]http.Header{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Method+" "+r.URL.Path] = r.Header.Clone()
		mu.Unlock()
		if r.Method == http.MethodGet {
			w.Header().Set("Content-Length", "3")
			w.Write([]byte("abc"))
		}
	}))
	defer srv.Close()
	c := newS3(srv.URL, "ak", "sk")
	key := []byte("0123456789abcdef0123456789abcdef")
	sum := md5.Sum(key)
	wantKey, wantMD5 := base64.StdEncoding.EncodeToString(key), base64.StdEncoding.EncodeToString(sum[:])
	for _, m := range sseModes {
		k := "k-" + string(m)
		if err := putWith(context.Background(), c, k, 10, m.onPut(key)); err != nil {
			t.Fatalf("%s PUT: %v", m, err)
		}
		if n, _, err := getWith(context.Background(), c, k, "", make([]byte, 16), m.onGet(key)); err != nil || n != 3 {
			t.Fatalf("%s GET: %d bytes, %v", m, n, err)
		}
		for _, method := range []string{"PUT", "GET"} {
			h := seen[method+" /"+bucket+"/"+k]
			if h == nil {
				t.Fatalf("%s %s: no request seen", m, method)
			}
			wantSSE := ""
			if m == sseS3 && method == "PUT" {
				wantSSE = "AES256"
			}
			if got := h.Get("X-Amz-Server-Side-Encryption"); got != wantSSE {
				t.Errorf("%s %s: x-amz-server-side-encryption %q, want %q", m, method, got, wantSSE)
			}
			want := [3]string{}
			if m == sseC {
				want = [3]string{"AES256", wantKey, wantMD5}
			}
			got := [3]string{h.Get("X-Amz-Server-Side-Encryption-Customer-Algorithm"),
				h.Get("X-Amz-Server-Side-Encryption-Customer-Key"), h.Get("X-Amz-Server-Side-Encryption-Customer-Key-Md5")}
			if got != want {
				t.Errorf("%s %s: customer algorithm, key, MD5 = %q, want %q", m, method, got, want)
			}
		}
	}
}

func TestWriteMasterKey_IsWhatTheGatewayLoads(t *testing.T) {
	p := filepath.Join(t.TempDir(), "kms.key")
	if err := writeMasterKey(p); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	k, err := sse.LoadMasterKey(p)
	if err != nil || len(k) != 32 {
		t.Fatalf("LoadMasterKey: %d bytes, %v", len(k), err)
	}
}

func TestOptions_SSECellsOnlyWhenAsked(t *testing.T) {
	w := sseWorkload("GET 64MiB c=1", sseC)
	for _, tc := range []struct {
		name string
		o    options
		want bool
	}{
		{"default set", options{}, false},
		{"-all", options{all: true}, false},
		{"-sse", options{sse: true}, true},
		{"-only SSE", options{only: "SSE"}, true},
		{"-only SSE GET", options{only: "PUT 4KiB,SSE GET"}, true},
		{"-only SSE PUT", options{only: "SSE PUT"}, false},
		{"-only GET", options{only: "GET 64MiB"}, false},
	} {
		if got := tc.o.runsSSE(w); got != tc.want {
			t.Errorf("%s: runsSSE(%q) = %v, want %v", tc.name, w, got, tc.want)
		}
		if got := tc.o.anySSE(); got != (tc.want || tc.name == "-only SSE PUT") {
			t.Errorf("%s: anySSE = %v", tc.name, got)
		}
	}
}

// sseRun is a measurement of an SSE cell.
func sseRun(sys, base string, m sseMode, rep int, mibs float64) Run {
	return Run{System: sys, Workload: sseWorkload(base, m), Op: "GET", Size: 64 << 20, Conc: 1, Rep: rep, MiBs: mibs, OpsPerSec: mibs / 64, P50ms: 6400 / mibs}
}

func TestSSECost_RatiosPairTheSameRepetition(t *testing.T) {
	const g = "GET 64MiB c=1"
	runs := []Run{
		sseRun("up", g, ssePlain, 1, 1000), sseRun("up", g, sseS3, 1, 500), sseRun("up", g, sseC, 1, 250),
		sseRun("up", g, ssePlain, 2, 400), sseRun("up", g, sseS3, 2, 400), sseRun("up", g, sseC, 2, 100),
		sseRun("up", g, ssePlain, 3, 800), sseRun("up", g, sseS3, 3, 600), sseRun("up", g, sseC, 3, 400),
		sseRun("minio", g, ssePlain, 1, 900),
		putRun("up", 1, 10), // not an SSE cell: no row
	}
	res := &Results{Cells: aggregate(runs), Systems: []System{{Key: "up"}, {Key: "minio", SSERefused: map[string]string{"SSE-S3": "x", "SSE-C": "y"}}}}
	rows := res.sseCost()
	if len(rows) != 3 {
		t.Fatalf("%d rows, want a header, up and minio:\n%s", len(rows), textTable(rows))
	}
	up := rows[1]
	// Per repetition: SSE-S3 0.5, 1, 0.75; SSE-C 0.25, 0.25, 0.5. Not
	// the ratio of the medians (600/800 = 0.75 and 250/800).
	if up[0] != "up" || up[1] != g || !strings.HasPrefix(up[2], "800.0 [400.0–1000.0] MiB/s") ||
		up[4] != "0.75× [0.50–1.00]" || up[6] != "0.25× [0.25–0.50]" {
		t.Fatalf("up row %q", up)
	}
	if up[7] != "8.0 / 12.8 / 25.6" {
		t.Fatalf("p50s %q", up[7])
	}
	if mn := rows[2]; mn[0] != "minio" || mn[3] != "refused" || mn[4] != "–" || mn[5] != "refused" {
		t.Fatalf("minio row %q", mn)
	}
	if got := res.sseRefusedText(); got != "Left out: minio refused SSE-S3 (x); minio refused SSE-C (y)." {
		t.Fatalf("sseRefusedText = %q", got)
	}
	if !math.IsNaN(sseRatio(Run{MiBs: 1}, Run{})) {
		t.Fatal("a ratio over a plain run without a figure")
	}
	if (&Results{Cells: aggregate([]Run{putRun("up", 1, 10)})}).sseCost() != nil {
		t.Fatal("an SSE cost table without SSE cells")
	}
}
