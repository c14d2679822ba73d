package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tnv-s3/tnv/internal/nsnet"
	"github.com/tnv-s3/tnv/internal/proctest"
	"github.com/tnv-s3/tnv/internal/tnvauth"
	"github.com/tnv-s3/tnv/metadb"
)

// netnsFault is one network fault of issue 20 item 3.
type netnsFault struct {
	name, what string
	short      bool // also in the short form (CI)
	// apply starts the fault; the switch's Mend and SetLoss(0) end it.
	apply func(h *netnsHarness)
	// window is how long the fault lasts (0: the default, 5 s short,
	// 20 s long).
	window time.Duration
}

func netnsFaults() []netnsFault {
	host := func(h *netnsHarness, name string) *nsnet.Host { return h.hosts[name] }
	return []netnsFault{
		{name: "loss-1pct", what: "1 % of the packets to and from storage-g1-1 lost",
			apply: func(h *netnsHarness) { host(h, "storage-g1-1").SetLoss(0.01) }},
		{name: "member-cut-from-peer", short: true, what: "storage-g1-1 cut off from its peer storage-g1-2, not from gateways, trackers, ID server, MySQL",
			apply: func(h *netnsHarness) { h.net.Cut(host(h, "storage-g1-1"), host(h, "storage-g1-2")) }},
		{name: "member-cut-from-trackers", what: "storage-g2-1 cut off from both trackers",
			apply: func(h *netnsHarness) {
				h.net.Cut(host(h, "storage-g2-1"), host(h, "tracker1"))
				h.net.Cut(host(h, "storage-g2-1"), host(h, "tracker2"))
			}},
		{name: "gateway-cut-from-group", short: true, what: "gateway1 cut off from both members of group g2",
			apply: func(h *netnsHarness) {
				h.net.Cut(host(h, "gateway1"), host(h, "storage-g2-1"))
				h.net.Cut(host(h, "gateway1"), host(h, "storage-g2-2"))
			}},
		{name: "tracker-isolated", what: "tracker1 cut off from everything",
			apply: func(h *netnsHarness) { h.net.Isolate(host(h, "tracker1")) }},
		{name: "mysql-cut-from-gateway", short: true, what: "MySQL unreachable from gateway1",
			apply: func(h *netnsHarness) { h.net.Cut(host(h, "gateway1"), host(h, "mysql")) }},
		{name: "split-heals-20s", window: 20 * time.Second,
			what: "a split for 20 s: {gateway2, tracker2, storage-g1-2, storage-g2-2} cut off from {gateway1, tracker1, storage-g1-1, storage-g2-1, idserver1}; both sides reach MySQL, and the clients reach both gateways",
			apply: func(h *netnsHarness) {
				for _, a := range []string{"gateway2", "tracker2", "storage-g1-2", "storage-g2-2"} {
					for _, b := range []string{"gateway1", "tracker1", "storage-g1-1", "storage-g2-1", "idserver1"} {
						h.net.Cut(host(h, a), host(h, b))
					}
				}
			}},
	}
}

// netnsFaultResult is what one fault measured.
type netnsFaultResult struct {
	Name, What    string
	Window        time.Duration
	Ops, Failed   map[string]int   // by operation
	Errors        map[string]int   // "put 503 ServiceUnavailable" → count, in the fault window
	ErrorsAfter   map[string]int   // the same after the window and recovery
	Recovery      time.Duration    // until a PUT+GET worked through every gateway after the fault; < 0: not within 60 s
	CatchUp       time.Duration    // until every member was ACTIVE and in sync again; < 0: not within 90 s
	Agree         time.Duration    // until every member held the final value of every key; < 0: not within 90 s
	Linearizable  string           // "ok", "illegal", "unknown" (checker timed out)
	Visualization string           // the checker's HTML, when illegal
	Failures      []string         // the checks that failed
	Slowest       [2]time.Duration // the longest request in the window through gateway1, gateway2
	HistoryOps    int
	Keys          int
	Packets       [4]int64 // switched, lost, cut, queue-dropped during the fault
}

func (h *netnsHarness) window(f netnsFault) time.Duration {
	switch {
	case f.window > 0 && h.long:
		return f.window
	case h.long:
		return 20 * time.Second
	}
	return 5 * time.Second
}

// runFault: a load of single-key operations from 4 clients through both
// gateways on 6 fresh keys; the fault for its window; the load goes on for
// a tail after it ends; then, the load stopped, the members' catch-up, a
// final GET and LIST of every key through each gateway (part of the
// history), every member's copy of every key's final value, and the
// linearizability of the whole history.
func (h *netnsHarness) runFault(t *testing.T, f netnsFault) {
	r := &netnsFaultResult{Name: f.name, What: f.what, Window: h.window(f), Ops: map[string]int{}, Failed: map[string]int{},
		Errors: map[string]int{}, ErrorsAfter: map[string]int{}}
	h.faults = append(h.faults, r)
	var keys []string
	for i := range 6 {
		keys = append(keys, fmt.Sprintf("lin/%s/k%d", f.name, i))
	}
	r.Keys = len(keys)
	l := newLinHistory()
	stop := make(chan struct{})
	loadDone := make(chan struct{})
	go func() { h.linLoad(l, keys, 4, 30*time.Millisecond, stop); close(loadDone) }()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		h.net.Mend()
		for _, host := range h.hosts {
			host.SetLoss(0)
		}
	}()
	warm := 2 * time.Second
	if h.long {
		warm = 5 * time.Second
	}
	time.Sleep(warm)
	p0 := h.packets()
	faultStart := l.now()
	f.apply(h)
	time.Sleep(r.Window)
	h.net.Mend()
	for _, host := range h.hosts {
		host.SetLoss(0)
	}
	p1 := h.packets()
	for i := range r.Packets {
		r.Packets[i] = p1[i] - p0[i]
	}
	ended := time.Now()
	r.Recovery = h.recovery(ended, 60*time.Second, 0, 1)
	recovered := l.now()
	time.Sleep(2 * time.Second)
	close(stop)
	<-loadDone
	r.CatchUp = h.waitCaughtUp(ended, 90*time.Second)

	// Final reads, after everything: each must see the last write.
	for gw := range h.s3 {
		for _, k := range keys {
			l.linDo(context.Background(), h.s3[gw], 100+gw, gw, "netns", linInput{Op: "get", Key: k})
			l.linDo(context.Background(), h.s3[gw], 100+gw, gw, "netns", linInput{Op: "list", Key: k})
		}
	}

	ops := l.operations()
	r.HistoryOps = len(ops)
	h.countErrors(r, l, faultStart, recovered)
	res, info := porcupine.CheckOperationsVerbose(linModel, ops, 60*time.Second)
	r.Linearizable = string(res)
	if res == porcupine.Illegal {
		path := filepath.Join(os.TempDir(), fmt.Sprintf("tnv-netns-%d-%s.html", os.Getpid(), f.name))
		if err := porcupine.VisualizePath(linModel, info, path); err != nil {
			t.Logf("visualization: %v", err)
		}
		r.Visualization = path
	}

	final := h.finalValues(ops, keys)
	r.Agree = h.waitAgree(t, ended, final, 90*time.Second)

	t.Log(r.figures())
	fail := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		r.Failures = append(r.Failures, strings.SplitN(msg, "\n", 2)[0])
		t.Error(msg)
	}
	switch res {
	case porcupine.Illegal:
		fail("history of %d operations is NOT linearizable; visualization: %s", len(ops), r.Visualization)
	case porcupine.Unknown:
		t.Logf("the linearizability check timed out (%d operations): no verdict", len(ops))
	}
	if r.Recovery < 0 || r.Recovery > 15*time.Second {
		fail("service (PUT+GET through both gateways) back after %s, want <= 15 s", fmtDur(r.Recovery))
	}
	if r.CatchUp < 0 || r.CatchUp > 60*time.Second {
		text, _ := h.c.GroupsText()
		fail("every member ACTIVE after %s, want <= 60 s; GROUPS:\n%s", fmtDur(r.CatchUp), text)
	}
	if r.Agree < 0 {
		fail("members still disagree on the final values 90 s after the fault")
	}
	for k, n := range r.ErrorsAfter {
		fail("%d × %s after service was back", n, k)
	}
}

// packets returns the switch's counters.
func (h *netnsHarness) packets() [4]int64 {
	n := h.net
	return [4]int64{n.Packets.Load(), n.LossDrops.Load(), n.CutDrops.Load(), n.QueueDrops.Load()}
}

// countErrors sorts the history's operations: by op, failed or not, and
// the failures by kind: in the fault window (an operation that was under
// way at some time from the fault's start until 2 s after service was
// back) or outside it.
func (h *netnsHarness) countErrors(r *netnsFaultResult, l *linHistory, faultStart, recovered int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, info := range l.infos {
		in := l.inputs[i]
		r.Ops[in.Op]++
		if l.rets[i] >= faultStart && l.calls[i] <= recovered && info.GW < len(r.Slowest) {
			r.Slowest[info.GW] = max(r.Slowest[info.GW], time.Duration(l.rets[i]-l.calls[i]))
		}
		if info.Kind == "" {
			continue
		}
		r.Failed[in.Op]++
		k := in.Op + " " + info.Kind
		switch {
		case l.rets[i] < faultStart:
			r.ErrorsAfter["(before the fault) "+k]++
		case l.calls[i] <= recovered+int64(2*time.Second):
			r.Errors[k]++
		default:
			r.ErrorsAfter[k]++
		}
	}
}

// recovery returns how long after from a PUT and a GET of it first
// succeeded through every gateway of gws (all when none), or -1.
func (h *netnsHarness) recovery(from time.Time, timeout time.Duration, gws ...int) time.Duration {
	if len(gws) == 0 {
		for i := range h.s3 {
			gws = append(gws, i)
		}
	}
	clients := make([]*s3.Client, len(gws))
	for i, gw := range gws {
		clients[i] = h.client("http://"+h.gws[gw].Addr, 5*time.Second)
	}
	return slowestOf(len(gws), from, timeout, 100*time.Millisecond, func(i, n int) bool { // chaos_run_test.go
		c, gw := clients[i], gws[i]
		key := fmt.Sprintf("probe/gw%d/%d-%d", gw+1, from.UnixNano(), n)
		body := []byte(key)
		ctx := context.Background()
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("netns"), Key: aws.String(key),
			Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body)))})
		if err != nil {
			return false
		}
		o, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("netns"), Key: aws.String(key)})
		if err != nil {
			return false
		}
		var b bytes.Buffer
		_, err = b.ReadFrom(o.Body)
		o.Body.Close()
		return err == nil && bytes.Equal(b.Bytes(), body)
	})
}

// waitCaughtUp returns how long after from GROUPS (asked from the clients'
// namespace) showed every member ACTIVE and in sync, or -1.
func (h *netnsHarness) waitCaughtUp(from time.Time, timeout time.Duration) time.Duration {
	return membersCaughtUp(h.c, from, timeout) // chaos_run_test.go
}

// finalValues is each key's value as the history's final GETs saw it
// ("" for none; keys whose final reads disagree or failed are left out:
// the linearizability check has judged them).
func (h *netnsHarness) finalValues(ops []porcupine.Operation, keys []string) map[string]string {
	out := map[string]string{}
	for _, k := range keys {
		seen := map[string]bool{}
		for _, op := range ops {
			in, o := op.Input.(linInput), op.Output.(linOutput)
			if op.ClientId >= 100 && in.Key == k && in.Op == "get" {
				seen[o.Value] = true
			}
		}
		if len(seen) == 1 {
			for v := range seen {
				out[k] = v
			}
		}
	}
	return out
}

// waitAgree returns how long after from every member of the group holding
// a key's blob had exactly the key's final value (read with FETCH, the
// member's own copy), and no member of another group had it; -1 if not
// within timeout.
func (h *netnsHarness) waitAgree(t *testing.T, from time.Time, final map[string]string, timeout time.Duration) time.Duration {
	db, err := metadb.Open(h.dsn)
	if err != nil {
		t.Errorf("open the index: %v", err)
		return -1
	}
	defer db.Close()
	var appid string
	if err := db.QueryRowContext(context.Background(), "SELECT appid FROM s3_buckets WHERE name = ?", "netns").Scan(&appid); err != nil {
		t.Errorf("bucket's appid: %v", err)
		return -1
	}
	var last string
	for {
		last = h.disagreement(db, appid, final)
		if last == "" {
			return time.Since(from)
		}
		if time.Since(from) > timeout {
			t.Logf("members disagree: %s", last)
			return -1
		}
		time.Sleep(time.Second)
	}
}

// disagreement returns the first key some member disagrees on, or "".
func (h *netnsHarness) disagreement(db *metadb.DB, appid string, final map[string]string) string {
	ctx := context.Background()
	keys := make([]string, 0, len(final))
	for k := range final {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := final[k]
		var blobs string
		err := db.QueryRowContext(ctx, "SELECT blobs FROM s3_objects WHERE bucket = ? AND okey = ?", "netns", k).Scan(&blobs)
		if v == "" {
			if err == nil {
				return fmt.Sprintf("%s: deleted, but the index still has a row", k)
			}
			continue
		}
		if err != nil {
			return fmt.Sprintf("%s: index: %v", k, err)
		}
		var bs []indexBlob
		if err := json.Unmarshal([]byte(blobs), &bs); err != nil || len(bs) != 1 {
			return fmt.Sprintf("%s: blobs %s", k, blobs)
		}
		holders := map[int]int{} // group → members with the right bytes
		for g, members := range h.c.Groups {
			for _, m := range members {
				var b bytes.Buffer
				_, err := h.fetch(ctx, m, appid, bs[0], &b)
				switch {
				case err == nil && b.String() == v:
					holders[g]++
				case err == nil:
					return fmt.Sprintf("%s: %s holds %q, want %q", k, m.Name, b.String(), v)
				}
			}
		}
		ok := false
		for g, n := range holders {
			ok = n == len(h.c.Groups[g]) && len(holders) == 1
		}
		if !ok {
			return fmt.Sprintf("%s: copies by group %v", k, holders)
		}
	}
	return ""
}

// fetch reads a member's own copy of a blob (FETCH), from the clients'
// namespace.
func (h *netnsHarness) fetch(ctx context.Context, m *proctest.Proc, appid string, b indexBlob, w *bytes.Buffer) (int64, error) {
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		nc, err := h.hosts["clients"].DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		if err := tnvauth.ClientContext(ctx, nc, proctest.ClusterKey()); err != nil {
			nc.Close()
			return nil, err
		}
		return nc, nil
	}
	return fetchCopyVia(ctx, dial, m.Addr, appid, b.UserID, b.FileID, w)
}

func fmtOps(m map[string]int, failed map[string]int) string {
	var parts []string
	for _, op := range []string{"put", "get", "list", "delete"} {
		if n := m[op]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d (%d failed)", strings.ToUpper(op), n, failed[op]))
		}
	}
	return strings.Join(parts, ", ")
}

func fmtKinds(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var parts []string
	for _, k := range ks {
		parts = append(parts, fmt.Sprintf("%s ×%d", strings.ToUpper(k[:1])+k[1:], m[k]))
	}
	return strings.Join(parts, ", ")
}

// figures is the fault's summary.
func (r *netnsFaultResult) figures() string {
	return fmt.Sprintf("%s: %s\n  window %.0f s; operations %s\n  slowest request in the window: %.1f s through gateway1, %.1f s through gateway2\n  errors in the window: %s\n  packets in the window: %d switched, %d lost, %d cut, %d queue-dropped\n  recovery %s; catch-up %s; members agree %s; history %d operations on %d keys: %s",
		r.Name, r.What, r.Window.Seconds(), fmtOps(r.Ops, r.Failed), r.Slowest[0].Seconds(), r.Slowest[1].Seconds(), fmtKinds(r.Errors),
		r.Packets[0], r.Packets[1], r.Packets[2], r.Packets[3],
		fmtDur(r.Recovery), fmtDur(r.CatchUp), fmtDur(r.Agree), r.HistoryOps, r.Keys, r.Linearizable)
}

func (h *netnsHarness) logSummary(t *testing.T) {
	var b strings.Builder
	b.WriteString("netns summary:\n")
	for _, r := range h.faults {
		fmt.Fprintf(&b, "  %-26s recovery %-8s catch-up %-8s agree %-8s linearizable: %s\n", r.Name, fmtDur(r.Recovery), fmtDur(r.CatchUp), fmtDur(r.Agree), r.Linearizable)
	}
	t.Log(b.String())
}
