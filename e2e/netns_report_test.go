package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

// The netns suite's section of docs/reliability.md lies between these
// markers; the chaos suite's writer keeps it (netnsSection).
const (
	netnsBegin = "<!-- netns: written by TestNetns -netns.long; do not edit by hand -->"
	netnsEnd   = "<!-- netns: end -->"
)

// netnsSection returns the netns section of the file at path ("" if none).
func netnsSection(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	s := string(b)
	i, j := strings.Index(s, netnsBegin), strings.Index(s, netnsEnd)
	if i < 0 || j < i {
		return ""
	}
	return s[i : j+len(netnsEnd)]
}

// replaceNetnsSection puts section into the file at path, in place of the
// old one or at the end.
func replaceNetnsSection(path, section string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(b)
	i, j := strings.Index(s, netnsBegin), strings.Index(s, netnsEnd)
	if i >= 0 && j > i {
		s = s[:i] + section + s[j+len(netnsEnd):]
	} else {
		s = strings.TrimRight(s, "\n") + "\n\n" + section + "\n"
	}
	return os.WriteFile(path, []byte(s), 0o644)
}

// netnsResults is what a long run measured, as saved in
// bench/results/netns-<date>.json.
type netnsResults struct {
	When    time.Time
	Commit  string
	Machine string
	Latency []benchRow
	Traffic []trafficRow
	Faults  []*netnsFaultResult
}

// writeResults writes the long form's figures: bench/results/netns-<date>
// .md and .json, and docs/reliability.md's netns section.
func (h *netnsHarness) writeResults() error {
	res := netnsResults{When: time.Now().UTC(), Commit: commit(), Machine: machine(), Latency: h.bench, Traffic: h.traffic, Faults: h.faults}
	stamp := res.When.Format("2006-01-02T1504Z")
	bench, faults := netnsTables(res)
	if err := os.WriteFile("../bench/results/netns-"+stamp+".md", []byte("# Latency and faults across network namespaces\n\n"+bench+"\n## Faults\n\n"+faults), 0o644); err != nil {
		return err
	}
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile("../bench/results/netns-"+stamp+".json", js, 0o644); err != nil {
		return err
	}
	return replaceNetnsSection("../docs/reliability.md", netnsBegin+"\n"+netnsDoc(stamp, bench, faults, res.Latency)+netnsEnd)
}

// rewriteNetnsDocs rewrites docs/reliability.md's netns section from the
// saved figures of a long run (the prose changed, the run did not).
func rewriteNetnsDocs(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var res netnsResults
	if err := json.Unmarshal(b, &res); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	bench, faults := netnsTables(res)
	return replaceNetnsSection("../docs/reliability.md", netnsBegin+"\n"+netnsDoc(res.When.Format("2006-01-02T1504Z"), bench, faults, res.Latency)+netnsEnd)
}

// netnsTables renders the latency and fault tables.
func netnsTables(res netnsResults) (bench, faults string) {
	var md strings.Builder
	fmt.Fprintf(&md, "Run %s, commit %s, on %s. The machine is shared by several engineers' builds and tests: figures are noisy, compare within one run.\n\n",
		res.When.Format("2006-01-02 15:04 MST"), res.Commit, res.Machine)
	md.WriteString("Command: `go test -count=1 -run 'TestNetns$' -timeout 60m -v ./e2e/ -netns.long` (as root).\n\n")
	md.WriteString("| setup | measured RTT | op | size | reps | median | time to first byte | throughput |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range res.Latency {
		rtt, ttfb := "–", "–"
		if r.RTT > 0 {
			rtt = fmt.Sprintf("%.2f ms", r.RTT)
		}
		if r.TTFB > 0 {
			ttfb = fmt.Sprintf("%.1f ms", r.TTFB)
		}
		size := sizeName(r.Size)
		if strings.HasPrefix(r.Op, "seek") {
			size = "in " + size
		}
		fmt.Fprintf(&md, "| %s | %s | %s | %s | %d | %.1f ms | %s | %.1f MiB/s |\n", r.Setup, rtt, r.Op, size, r.Reps, r.Median, ttfb, r.MiBps)
	}
	if len(res.Traffic) > 0 {
		md.WriteString("\nPackets between namespaces of one request at the last RTT, by pair (the members' once-a-second beats to the trackers fall in too):\n\n| request | took | packets from → to |\n| --- | --- | --- |\n")
		for _, tr := range res.Traffic {
			var ps []string
			for _, p := range tr.Pairs {
				ps = append(ps, fmt.Sprintf("%s→%s %d", p.From, p.To, p.Packets))
			}
			fmt.Fprintf(&md, "| %s | %.1f ms | %s |\n", tr.Op, tr.Took, strings.Join(ps, ", "))
		}
		md.WriteString("\n" + netnsTrafficSummary(res.Traffic))
	}
	var f strings.Builder
	f.WriteString("| fault | window | operations | slowest request in the window (gateway1 / gateway2) | errors in the window, by kind | packets (switched / lost / cut) | service back | members ACTIVE | copies agree | linearizable | checks |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range res.Faults {
		checks := "all pass"
		if len(r.Failures) > 0 {
			checks = "FAILED: " + strings.Join(r.Failures, "; ")
		}
		fmt.Fprintf(&f, "| **%s**: %s | %.0f s | %s | %.1f s / %.1f s | %s | %d / %d / %d | %s | %s | %s | %s (%d ops, %d keys) | %s |\n",
			r.Name, r.What, r.Window.Seconds(), fmtOps(r.Ops, r.Failed), r.Slowest[0].Seconds(), r.Slowest[1].Seconds(), fmtKinds(r.Errors), r.Packets[0], r.Packets[1], r.Packets[2],
			fmtDur(r.Recovery), fmtDur(r.CatchUp), fmtDur(r.Agree), r.Linearizable, r.HistoryOps, r.Keys, checks)
	}
	return md.String(), f.String()
}

// netnsDoc is the netns section of docs/reliability.md around the measured
// tables.
func netnsDoc(stamp, bench, faults string, rows []benchRow) string {
	return "## Across network namespaces: latency, loss, partitions, linearizability\n\n" + netnsTopologyDoc +
		"### Latency\n\n" + netnsLatencyDoc + bench + "\n(also in `bench/results/netns-" + stamp + ".md` and `.json`)\n\n" + netnsLatencySummary(rows) + "\n" +
		"### Faults\n\n" + netnsFaultsDoc + faults + "\n" + netnsGuaranteesDoc
}

// netnsTrafficSummary says how much of each request's traffic is the
// storage nodes' with MySQL.
func netnsTrafficSummary(rows []trafficRow) string {
	var parts []string
	for _, tr := range rows {
		var all, sql int64
		for _, p := range tr.Pairs {
			all += p.Packets
			if strings.HasPrefix(p.From, "storage") && p.To == "mysql" || p.From == "mysql" && strings.HasPrefix(p.To, "storage") {
				sql += p.Packets
			}
		}
		if all > 0 {
			parts = append(parts, fmt.Sprintf("%s %d of %d", tr.Op, sql, all))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "Packets between the storage nodes and MySQL, of all the request's packets: " + strings.Join(parts, "; ") +
		". The members' own SQL (the row that maps a file ID to its path and state, the group log) is in the path of every write and read.\n"
}
