package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// writeReliability writes the long form's results as docs/reliability.md:
// what was killed, what was measured, when, on which commit and machine.
func writeReliability(path string, h *chaosHarness) error {
	var b strings.Builder
	now := time.Now().UTC()
	b.WriteString("# Reliability: the chaos suite\n\n")
	b.WriteString("Written by the chaos suite's long form (`e2e/chaos_test.go`):\n\n")
	b.WriteString("```sh\ngo test -race -count=1 -run 'TestChaos$' -timeout 60m -v ./e2e/ -chaos.long   # as root (tmpfs stores), MariaDB at $TNV_TEST_MYSQL_DSN or 127.0.0.1:3306\n```\n\n")
	fmt.Fprintf(&b, "Run %s, commit %s, on %s.\n\n", now.Format("2006-01-02 15:04 MST"), commit(), machine())
	b.WriteString(`The cluster is separate ` + "`tnv`" + ` processes on loopback sharing one MariaDB database: 2 trackers,
1 ID server, 2 groups × 2 mirrored storage members (each member's store a tmpfs of its own, all of
one size, so that member g2-2's disk can be made read-only or full), 2 S3 gateways. A bounded mixed load (each of ` + fmt.Sprint(h.shape.Workers) + ` workers:
35 % PUT — ` + fmt.Sprintf("%.0f", h.shape.MultipartShare*100) + ` % of them multipart of 5–8 MiB —, 50 % GET, 15 % DELETE; sizes 4 KiB–8 MiB, most under
64 KiB; half the workers on each gateway; aws-sdk-go-v2 without retries) runs through the gateways and
keeps a ledger of every acknowledged write (with its SHA-256) and every acknowledged delete.
One fault at a time; after each, with the load stopped:

- every acknowledged object is read from **every member** of its group with FETCH (the member's own
  copy, never a peer's) and must be byte-identical to the ledger, and must GET byte-identical through a
  gateway; no acknowledged delete may be found; a key whose write failed is absent or exact;
- **recovery**: from the end of the fault until a PUT and a GET of it succeeded through each gateway
  (bound 15 s);
- **catch-up**: from the end of the fault until the trackers' GROUPS shows every member ACTIVE and in
  sync (bound 60 s); **all copies**: when every acknowledged object was found on every member, after
  the fault ended — at the verification's first look (which begins after the load's tail), or, when
  a copy was missing then, after looking again every second (bound 60 s after the fault);
- during the fault window (its start until recovery, at least until 15 s after its end) only clean
  5xx answers are allowed (and failed connections to a gateway that was killed); before the fault and
  after the window, none; a 200 with wrong or cut-off bytes never.

`)
	b.WriteString("| fault | window | requests | errors by kind | recovery | catch-up | all copies | verified | checks |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range h.results {
		if r.Skipped != "" {
			fmt.Fprintf(&b, "| **%s**: %s | – | – | – | – | – | – | – | skipped: %s |\n", r.Name, r.What, r.Skipped)
			continue
		}
		var checks []string
		for _, c := range r.Checks {
			if c.Status != "pass" {
				s := fmt.Sprintf("%s: %s (%d)", c.Name, c.Status, c.Failures)
				if c.Known != "" {
					s += ", " + c.Known
				}
				checks = append(checks, s)
			}
		}
		status := "all pass"
		if len(checks) > 0 {
			status = strings.Join(checks, "; ")
		}
		v := r.Verify
		fmt.Fprintf(&b, "| **%s**: %s | %.1f s | %s | %s | %s | %s | %s | %d objects, %d copies, %.0f MiB | %s |\n",
			r.Name, r.What, r.FaultEnd.Sub(r.FaultStart).Seconds(), r.opsText(), r.errorsText(),
			fmtDur(r.Recovery), fmtDur(r.CatchUp), r.copiesText(), v.Objects, v.Copies, float64(v.Bytes)/(1<<20), status)
	}
	b.WriteString("\nChecks that did not pass, first failure each:\n\n")
	none := true
	for _, r := range h.results {
		for _, c := range r.Checks {
			if c.Status != "pass" {
				none = false
				first := strings.ReplaceAll(c.First, "\n", " ")
				if len(first) > 400 {
					first = first[:400] + "…"
				}
				fmt.Fprintf(&b, "- `%s/%s` (%s): %s\n", r.Name, c.Name, c.Status, first)
			}
		}
	}
	if none {
		b.WriteString("- none\n")
	}
	b.WriteString("\nA check marked *known defect* failed only in ways `e2e/chaos_known_test.go` lists as defects being\n" +
		"fixed (that list is empty when every check is strict); `-chaos.strict` fails on them.\n")
	b.WriteString("\nThe short form of the same suite (shorter windows and loads, the ID server's idle timeout 3 s\ninstead of 5 min) runs in CI with the other e2e tests.\n")
	if s := netnsSection(path); s != "" {
		b.WriteString("\n" + s + "\n") // the netns suite's section, kept
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func commit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
		c += " (with uncommitted changes)"
	}
	return c
}

func machine() string {
	kernel := "unknown kernel"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = "Linux " + strings.TrimSpace(string(b))
	}
	load := ""
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			load = fmt.Sprintf(", load average %s %s %s at the end", f[0], f[1], f[2])
		}
	}
	return fmt.Sprintf("%d CPUs, %s, %s%s", runtime.NumCPU(), kernel, runtime.Version(), load)
}
