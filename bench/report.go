package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

func randInt63n(n int64) int64 { return mrand.Int64N(n) }

// Machine describes where the bench ran.
type Machine struct {
	CPU          string  `json:"cpu"`
	Cores        int     `json:"cores"`
	RAMGiB       float64 `json:"ram_gib"`
	Disk         string  `json:"disk"`
	Kernel       string  `json:"kernel"`
	GoVersion    string  `json:"go_version"`
	TNVCommit    string  `json:"tnv_commit"`
	MinIOVersion string  `json:"minio_version"`
	// LoadStart and LoadEnd are /proc/loadavg at the start and the end:
	// other work on a shared machine shows here.
	LoadStart string `json:"loadavg_start"`
	LoadEnd   string `json:"loadavg_end,omitempty"`
	// dev is the data directory's block device as /proc/diskstats names
	// it ("" when it is not a /dev node): what settle watches.
	dev string
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func describe(root, dataDir, minioVersion string) Machine {
	m := Machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version(), MinIOVersion: minioVersion, LoadStart: loadavg()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
				m.RAMGiB = kb / (1 << 20)
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if out, err := exec.Command("findmnt", "-n", "-o", "SOURCE,FSTYPE", "-T", dataDir).Output(); err == nil {
		f := strings.Fields(string(out))
		if len(f) == 2 {
			m.Disk = f[0] + " (" + f[1] + ")"
			dev := filepath.Base(f[0])
			if strings.HasPrefix(f[0], "/dev/") {
				m.dev = dev
			}
			if b, err := os.ReadFile("/sys/class/block/" + dev + "/queue/rotational"); err == nil {
				if strings.TrimSpace(string(b)) == "0" {
					m.Disk += ", non-rotational"
				} else {
					m.Disk += ", rotational"
				}
			}
			if b, err := os.ReadFile("/sys/class/block/" + dev + "/size"); err == nil {
				sectors, _ := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
				m.Disk += fmt.Sprintf(", %.0f GiB", sectors*512/(1<<30))
			}
		}
	}
	cmd := exec.Command("git", "describe", "--always", "--dirty", "--abbrev=12")
	cmd.Dir = root
	if out, err := cmd.Output(); err == nil {
		m.TNVCommit = strings.TrimSpace(string(out))
	}
	return m
}

// Results is one run.
type Results struct {
	Date        string  `json:"date"`
	Command     string  `json:"command"`
	Seconds     float64 `json:"seconds"`
	CellSeconds float64 `json:"cell_seconds"`
	Machine     Machine `json:"machine"`
	Limits      Limits  `json:"limits"`
	Repetitions int     `json:"repetitions"`
	// Orders is the systems' order in each repetition.
	Orders [][]string `json:"orders"`
	// Checks: the machine's speed just before each system started.
	Checks  []Check  `json:"checks"`
	Systems []System `json:"systems"`
	Cells   []Cell   `json:"cells"`
	Bounds  []Bound  `json:"bounds"`
}

// Bound is the machine limit that caps one cell of one system.
type Bound struct {
	System   string  `json:"system"`
	Workload string  `json:"workload"`
	Limit    string  `json:"limit"`
	MiBs     float64 `json:"limit_mib_s"`
	Fraction float64 `json:"fraction"`
}

// bound names the machine limit of a cell: for PUT the disk (divided by the
// copies written), loopback and MD5 over the cores in use; for GET loopback
// (the objects are in the page cache), and for one stream also a cached
// file sent with sendfile, the shape of a GET through a gateway that reads
// its nodes' files (tnv up, --local-socket) as of MinIO's. Mixed and seek
// runs have none.
func (r *Results) bound(sys System, c Cell) (string, float64) {
	l := r.Limits
	net, netName := l.Loopback8MiBs, "loopback 8 streams"
	if c.Conc == 1 {
		net, netName = l.Loopback1MiBs, "loopback 1 stream"
	}
	switch c.Op {
	case "PUT":
		name, v := netName, net
		copies := max(sys.Copies, 1)
		disk := l.DiskWriteMiBs / float64(copies)
		if disk < v {
			name, v = "disk write+fsync", disk
			if copies > 1 {
				name = fmt.Sprintf("disk write+fsync / %d copies", copies)
			}
		}
		md5 := l.MD5MiBs * float64(min(c.Conc, r.Machine.Cores))
		if md5 < v {
			name, v = fmt.Sprintf("MD5 on %d core(s)", min(c.Conc, r.Machine.Cores)), md5
		}
		return name, v
	case "GET":
		if c.Conc == 1 && l.SendfileMiBs > 0 && l.SendfileMiBs < net {
			return "cached file via sendfile 1 stream", l.SendfileMiBs
		}
		return netName, net
	}
	return "", 0
}

func (r *Results) system(key string) (System, bool) {
	for _, s := range r.Systems {
		if s.Key == key {
			return s, true
		}
	}
	return System{}, false
}

func (r *Results) cell(sys, workload string) (Cell, bool) {
	for _, c := range r.Cells {
		if c.System == sys && c.Workload == workload {
			return c, true
		}
	}
	return Cell{}, false
}

func (r *Results) workloads() []string {
	var w []string
	seen := map[string]bool{}
	for _, c := range r.Cells {
		if !seen[c.Workload] {
			seen[c.Workload] = true
			w = append(w, c.Workload)
		}
	}
	return w
}

var ours = []string{"up", "mirror", "mirror-tcp", "mirror-tls", "single"}

// rangeOf formats a figure's median with its lowest and highest run:
// "255 [247–262]"; just the median for one repetition.
func rangeOf(c Cell, name, format string, median float64) string {
	s := fmt.Sprintf(format, median)
	if rg, ok := c.Range[name]; ok && c.Repetitions > 1 {
		s += fmt.Sprintf(" ["+format+"–"+format+"]", rg[0], rg[1])
	}
	return s
}

// headline is the cell's main figure, median [min–max]: objects/s for
// objects under 1 MiB, MiB/s for the rest, ops/s for the mixed run, TTFB
// p50 / p99 for seeks.
func headline(c Cell) string {
	var s string
	switch {
	case c.Op == "SEEK":
		s = "TTFB " + rangeOf(c, "ttfb_p50_ms", "%.1f", c.TTFB50ms) + " / " + rangeOf(c, "ttfb_p99_ms", "%.1f", c.TTFB99ms) + " ms"
	case c.Op == "MIXED":
		s = rangeOf(c, "ops_s", "%.0f", c.OpsPerSec) + " op/s"
	case c.Size < 1<<20:
		s = rangeOf(c, "ops_s", "%.0f", c.OpsPerSec) + " obj/s"
	default:
		s = rangeOf(c, "mib_s", "%.1f", c.MiBs) + " MiB/s"
	}
	if c.Errors > 0 {
		s += fmt.Sprintf(" (%d err)", c.Errors)
	}
	return s
}

// ratio is ours against MinIO, >1 meaning ours is better: throughput for
// transfers, ops/s for mixed, the inverse of TTFB p99 for seeks.
func ratio(our, ref Run) float64 {
	switch our.Op {
	case "SEEK":
		if our.TTFB99ms == 0 {
			return 0
		}
		return ref.TTFB99ms / our.TTFB99ms
	case "MIXED":
		if ref.OpsPerSec == 0 {
			return 0
		}
		return our.OpsPerSec / ref.OpsPerSec
	}
	if ref.MiBs == 0 {
		return 0
	}
	return our.MiBs / ref.MiBs
}

// ratioText is the median of the per-repetition ratios, with their range.
func ratioText(our, ref Cell) string {
	sp := ratios(our, ref, ratio)
	if our.Repetitions > 1 {
		return fmt.Sprintf("%.2f× [%.2f–%.2f]", sp.Median, sp.Min, sp.Max)
	}
	return fmt.Sprintf("%.2f×", sp.Median)
}

// table is the one table: per workload, MinIO's figure, ours with the
// ratio, and the mirrored cluster's fraction of its machine limit.
func (r *Results) table() [][]string {
	head := []string{"workload", "MinIO"}
	var keys []string
	for _, k := range ours {
		if s, ok := r.system(k); ok {
			keys = append(keys, k)
			head = append(head, s.Label, "×MinIO")
		}
	}
	head = append(head, "machine limit (2x2 mirrored)", "2x2 % of limit")
	rows := [][]string{head}
	r.Bounds = nil
	for _, w := range r.workloads() {
		ref, haveRef := r.cell("minio", w)
		row := []string{w, "–"}
		if haveRef {
			row[1] = headline(ref)
		}
		for _, k := range keys {
			c, ok := r.cell(k, w)
			if !ok {
				row = append(row, "–", "–")
				continue
			}
			x := "–"
			if haveRef {
				x = ratioText(c, ref)
			}
			row = append(row, headline(c), x)
		}
		for _, k := range append([]string{"minio"}, keys...) {
			s, _ := r.system(k)
			if c, ok := r.cell(k, w); ok {
				if name, v := r.bound(s, c); v > 0 {
					r.Bounds = append(r.Bounds, Bound{System: k, Workload: w, Limit: name, MiBs: v, Fraction: c.MiBs / v})
				}
			}
		}
		lim, frac := "–", "–"
		if s, ok := r.system("mirror"); ok {
			if c, ok := r.cell("mirror", w); ok {
				if name, v := r.bound(s, c); v > 0 {
					lim = fmt.Sprintf("%s %.0f MiB/s", name, v)
					frac = fmt.Sprintf("%.0f %%", 100*c.MiBs/v)
				}
			}
		}
		rows = append(rows, append(row, lim, frac))
	}
	return rows
}

// systemColumns is the keys of the systems in the results, MinIO first,
// and a table head of "workload" and their labels.
func (r *Results) systemColumns() (keys, head []string) {
	head = []string{"workload"}
	for _, k := range append([]string{"minio"}, ours...) {
		if s, ok := r.system(k); ok {
			keys = append(keys, k)
			head = append(head, s.Label)
		}
	}
	return keys, head
}

// latency is p50/p99 per system (TTFB for seeks), and the peak RSS summed
// over each system's processes.
func (r *Results) latency() [][]string {
	keys, head := r.systemColumns()
	head = append(head, "peak RSS MiB, all processes ("+strings.Join(keys, " / ")+")", "MariaDB RSS MiB")
	rows := [][]string{head}
	for _, w := range r.workloads() {
		row := []string{w}
		var rss []string
		db := "–"
		for _, k := range keys {
			c, ok := r.cell(k, w)
			if !ok {
				row = append(row, "–")
				rss = append(rss, "–")
				continue
			}
			row = append(row, fmt.Sprintf("%.1f / %.1f ms", c.P50ms, c.P99ms))
			rss = append(rss, fmt.Sprintf("%.0f", c.RSS))
			if c.DBRSS > 0 {
				db = fmt.Sprintf("%.0f", c.DBRSS)
			}
		}
		rows = append(rows, append(row, strings.Join(rss, " / "), db))
	}
	return rows
}

// checkTable is Checks by system (rows) and repetition (columns).
func (r *Results) checkTable() [][]string {
	if len(r.Checks) == 0 {
		return nil
	}
	head := []string{"system"}
	for i := range r.Repetitions {
		head = append(head, fmt.Sprintf("repetition %d", i+1))
	}
	rows := [][]string{head}
	for _, s := range r.Systems {
		row := []string{s.Key}
		for i := range r.Repetitions {
			v := "–"
			for _, c := range r.Checks {
				if c.System == s.Key && c.Rep == i+1 {
					v = fmt.Sprintf("%.0f / %.2f (position %d)", c.MD5MiBs, c.FsyncMs, c.Position)
				}
			}
			row = append(row, v)
		}
		rows = append(rows, row)
	}
	return rows
}

// cpuTable is the CPU time per operation of each system (its processes
// summed; + MariaDB's for the systems on it) and of the load generator,
// medians over the repetitions, for the cells below 1 MiB: where small
// operations are bound by the 2 cores rather than by waits.
func (r *Results) cpuTable() [][]string {
	keys, head := r.systemColumns()
	rows := [][]string{head}
	for _, w := range r.workloads() {
		row := []string{w}
		any := false
		for _, k := range keys {
			c, ok := r.cell(k, w)
			if !ok || c.Size >= 1<<20 || c.CPUms == 0 {
				row = append(row, "–")
				continue
			}
			any = true
			v := fmt.Sprintf("%.2f", c.CPUms)
			if c.DBCPUms > 0 {
				v += fmt.Sprintf(" + %.2f = %.2f", c.DBCPUms, c.CPUms+c.DBCPUms)
			}
			row = append(row, v+fmt.Sprintf(" (client %.2f)", c.LoadCPUms))
		}
		if any {
			rows = append(rows, row)
		}
	}
	if len(rows) == 1 {
		return nil
	}
	return rows
}

// phaseTable is the median of each phase of a workload's PUTs per system
// (ms, median over the repetitions [min–max]); nil when no system has
// phases for it.
func (r *Results) phaseTable(workload string) [][]string {
	head := []string{"phase", "what"}
	var cells []Cell
	for _, k := range ours {
		if c, ok := r.cell(k, workload); ok && len(c.Runs) > 0 && c.Runs[0].Phases != nil {
			s, _ := r.system(k)
			head = append(head, s.Label)
			cells = append(cells, c)
		}
	}
	if len(cells) == 0 {
		return nil
	}
	rows := [][]string{head}
	for _, ph := range phaseOrder {
		row := []string{ph.key, ph.what}
		any := false
		for _, c := range cells {
			sp, _, ok := phaseSpread(c, ph.key)
			if !ok {
				row = append(row, "–")
				continue
			}
			any = true
			v := fmt.Sprintf("%.2f", sp.Median)
			if c.Repetitions > 1 {
				v += fmt.Sprintf(" [%.2f–%.2f]", sp.Min, sp.Max)
			}
			row = append(row, v)
		}
		if any {
			rows = append(rows, row)
		}
	}
	row := []string{"client", "the load generator's p50 (whole request)"}
	for _, c := range cells {
		row = append(row, fmt.Sprintf("%.2f", c.P50ms))
	}
	return append(rows, row)
}

// readsText says how each multi-process system's storage nodes served the
// GET cells, summed over every run: the check that mirror-tcp never used
// the same-machine shortcut.
func (r *Results) readsText() string {
	var parts []string
	for _, k := range ours {
		total := map[string]int{}
		seen := false
		for _, c := range r.Cells {
			if c.System != k || c.Op != "GET" {
				continue
			}
			for _, run := range c.Runs {
				for cmd, n := range run.NodeReads {
					total[cmd] += n
					seen = true
				}
			}
		}
		if seen {
			part := fmt.Sprintf("%s: DOWNLOAD %d, LOCAL_OPEN %d", k, total["DOWNLOAD"], total["LOCAL_OPEN"])
			if live := total[rowCacheHit] + total[rowCacheMiss]; live > 0 {
				part += fmt.Sprintf(" (row cache: %d of %d live reads answered without a query)", total[rowCacheHit], live)
			}
			if n := total[lookupCacheHit] + total[lookupCacheMiss]; n > 0 {
				part += fmt.Sprintf(", the gateway's index lookups %d of %d from its lookup cache", total[lookupCacheHit], n)
			}
			parts = append(parts, part)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "Reads the storage nodes served during the GET cells (their tnv_requests_total; tnv up reads its in-process nodes without either), and the gateway's index lookups (tnv_index_lookup_cache_total): " +
		strings.Join(parts, "; ") + "."
}

// phaseWorkloads are the cells whose phase tables the report shows.
var phaseWorkloads = []string{"PUT 4KiB c=1", "PUT 4KiB c=32", owWorkload}

func markdownTable(rows [][]string) string {
	var b strings.Builder
	for i, row := range rows {
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
		if i == 0 {
			seps := make([]string, len(row))
			for j := range seps {
				seps[j] = "---"
			}
			b.WriteString("| " + strings.Join(seps, " | ") + " |\n")
		}
	}
	return b.String()
}

func textTable(rows [][]string) string {
	width := make([]int, len(rows[0]))
	for _, row := range rows {
		for j, c := range row {
			width[j] = max(width[j], len([]rune(c)))
		}
	}
	var b strings.Builder
	for i, row := range rows {
		for j, c := range row {
			b.WriteString(c + strings.Repeat(" ", width[j]-len([]rune(c))+2))
		}
		b.WriteString("\n")
		if i == 0 {
			for j := range row {
				b.WriteString(strings.Repeat("-", width[j]) + "  ")
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

func (r *Results) limitsText() string {
	l := r.Limits
	return fmt.Sprintf("Machine limits: disk write+fsync %.0f MiB/s and read %.0f MiB/s (%s, %d MiB file); "+
		"loopback TCP %.0f MiB/s with 1 stream, %.0f MiB/s with 8; a cached 64 MiB file in 1 stream: %.0f MiB/s sent to the reader with sendfile (MinIO's shape, and ours when the gateway reads its nodes' files), %.0f MiB/s through a relay that splices (ours from a node on another machine: storage node → gateway → client); one core: MD5 %.0f MiB/s, CRC32C %.0f MiB/s, SHA-256 %.0f MiB/s.",
		l.DiskWriteMiBs, l.DiskReadMiBs, l.DiskNote, l.DiskFileMiB, l.Loopback1MiBs, l.Loopback8MiBs, l.SendfileMiBs, l.RelayMiBs, l.MD5MiBs, l.CRC32CMiBs, l.SHA256MiBs)
}

func (r *Results) machineText() string {
	m := r.Machine
	minio := ""
	if m.MinIOVersion != "" {
		minio = "; MinIO " + m.MinIOVersion
	}
	return fmt.Sprintf("Machine: %s, %d cores, %.1f GiB RAM; disk %s; kernel %s; %s; tnv %s%s; load average %s at the start, %s at the end.",
		m.CPU, m.Cores, m.RAMGiB, m.Disk, m.Kernel, m.GoVersion, m.TNVCommit, minio, m.LoadStart, m.LoadEnd)
}

func (r *Results) text() string {
	s := "\n" + r.machineText() + "\n" + r.limitsText() + "\n" + r.readsText() + "\n\n" + textTable(r.table()) + "\nLatency p50 / p99 (seeks: whole request), RSS:\n" + textTable(r.latency())
	for _, w := range phaseWorkloads {
		if rows := r.phaseTable(w); rows != nil {
			s += "\nWhere the time of " + w + " goes: median per phase, ms:\n" + textTable(dropColumn(rows, 1))
		}
	}
	if rows := r.tlsCost(); rows != nil {
		s += "\nThe cost of TLS on the TNV links (2x2 mirrored, gateway reading over TNV):\n" + textTable(rows)
	}
	if rows := r.sseCost(); rows != nil {
		s += "\nSSE cost (encrypted ÷ plain throughput, same system, same repetition; < 1: encryption costs):\n" + textTable(rows)
		if t := r.sseRefusedText(); t != "" {
			s += t + "\n"
		}
	}
	return s
}

// dropColumn is rows without column i (the long "what" in the terminal).
func dropColumn(rows [][]string, i int) [][]string {
	out := make([][]string, len(rows))
	for k, row := range rows {
		out[k] = append(slices.Clone(row[:i]), row[i+1:]...)
	}
	return out
}

func (r *Results) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# TNV-S3 benchmark, %s\n\n", r.Date)
	reps := fmt.Sprintf("%d repetitions", r.Repetitions)
	if r.Repetitions == 1 {
		reps = "1 repetition"
	}
	fmt.Fprintf(&b, "Command: `%s` (%.0f s in all; %s of %.0f s cells, operations in flight at the end of a cell complete and count).\n\n",
		r.Command, r.Seconds, reps, r.CellSeconds)
	b.WriteString(r.machineText() + "\n\n" + r.limitsText() + "\n\n")
	b.WriteString("Systems: ")
	for i, s := range r.Systems {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s (%s, %d processes)", s.Label, s.Key, s.Processes)
	}
	b.WriteString(".\n\nOrder of the systems in each repetition (each started afresh: new data directory, new database): ")
	for i, o := range r.Orders {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%d: %s", i+1, strings.Join(o, " "))
	}
	b.WriteString(".\n\n" + methodText + "\n\n")
	if t := r.readsText(); t != "" {
		b.WriteString(t + "\n\n")
	}
	b.WriteString(markdownTable(r.table()))
	b.WriteString("\nLatency p50 / p99 per request (whole request, medians over the repetitions), and the peak RSS summed over all processes of each system " +
		"(tnv up and MinIO: one process; the MariaDB systems: ID server, tracker, storage nodes and gateway; MariaDB itself is shared by them and shown apart):\n\n")
	b.WriteString(markdownTable(r.latency()))
	if rows := r.checkTable(); rows != nil {
		b.WriteString("\nThe machine just before each system started, per repetition (bench/settle.go): MD5 on one core, MiB/s / a 4 KiB write + fdatasync in the data directory, median of 20, ms. " +
			"A repetition whose figures stand apart from the others' for every system was a slow machine, not a slow system:\n\n")
		b.WriteString(markdownTable(rows))
	}
	if rows := r.cpuTable(); rows != nil {
		b.WriteString("\nCPU time per operation, ms (user + system, from /proc/PID/stat over the cell; medians over the repetitions): the system's processes summed, " +
			"+ MariaDB's = both for the systems on it, and in brackets the load generator's (this bench process). With 2 cores, 2000 ms/s ÷ (system + MariaDB + client) " +
			"bounds the operations per second whatever the waits:\n\n")
		b.WriteString(markdownTable(rows))
	}
	for _, w := range phaseWorkloads {
		if rows := r.phaseTable(w); rows != nil {
			fmt.Fprintf(&b, "\nWhere the time of %s goes: the median of each phase (ms; median over the repetitions [lowest–highest]), from the gateway's and storage nodes' "+
				"tnv_s3_put_phase_seconds and tnv_phase_seconds histograms (read off their √2-wide buckets). UPLOAD is the node the gateway sent the blob to, REPLICATE its mirror; "+
				"the mirror's phases run while the node receives and fsyncs; gateway/blob spans all of the node's:\n\n", w)
			b.WriteString(markdownTable(rows))
		}
	}
	if rows := r.tlsCost(); rows != nil {
		b.WriteString("\nThe cost of TLS on the TNV links: the 2x2 mirrored cluster with its gateway reading every byte over TNV TCP, and over TNV on mutual TLS " +
			"(no --local-socket in either; TLS ÷ TCP < 1 means TLS is slower):\n\n")
		b.WriteString(markdownTable(rows))
	}
	if rows := r.sseCost(); rows != nil {
		b.WriteString("\nSSE cost: each system's SSE cells (`-sse`), plain, SSE-S3 (x-amz-server-side-encryption: AES256, the gateway's master key) and SSE-C " +
			"(the customer key's three headers), run one mode after the other; the ratios are the encrypted run's throughput over the plain run's of the same system " +
			"in the same repetition (median of the per-repetition ratios [lowest–highest]; < 1 means encryption costs). An encrypted object's bytes pass through the gateway's " +
			"decrypter (no sendfile) where a plain one is sent with sendfile (`up`, `mirror`, `single`):\n\n")
		b.WriteString(markdownTable(rows))
		if t := r.sseRefusedText(); t != "" {
			b.WriteString("\n" + t + "\n")
		}
	}
	var errs []string
	for _, c := range r.Cells {
		if c.Errors > 0 {
			errs = append(errs, fmt.Sprintf("- %s %s: %d errors, first: %s", c.System, c.Workload, c.Errors, c.FirstErr))
		}
	}
	if len(errs) > 0 {
		b.WriteString("\nErrors:\n\n" + strings.Join(errs, "\n") + "\n")
	}
	return b.String()
}

// methodText is how the figures were made, for the Markdown.
const methodText = "How: `mirror` reads its nodes' files through their --local-socket (the gateway shares their machine: LOCAL_OPEN and sendfile), " +
	"`mirror-tcp` the same cluster with every byte over TNV TCP (no socket, gateway --local-reads=false), as a gateway on another machine reads; " +
	"`tnv up` reads its in-process nodes' files. MinIO: single node, one drive, not in CI mode. " +
	"One load generator (bench/, aws-sdk-go-v2, unsigned payloads, no retries) on the same machine. " +
	"PUT cells write fresh keys only; OVERWRITE replaces existing keys, with the gateways collecting replaced blobs at once (--gc-delay 1ms --gc-interval 100ms), " +
	"and the cell's time runs until the collector has deleted as many blobs as the cell replaced. " +
	"Each figure is the median over the repetitions, [lowest–highest] beside it; ×MinIO is the median of the per-repetition ratios. " +
	"PUT/GET cells: objects/s below 1 MiB, MiB/s from 1 MiB; MIXED: 45 % GET, 30 % HEAD, 15 % PUT, 10 % DELETE of 1 MiB objects; " +
	"SEEK: random 256 KiB ranges of a 1 GiB object, time to first byte p50 / p99, cold right after the upload, then warm after one whole read. " +
	"×MinIO > 1 means ours is better (for SEEK: MinIO's TTFB p99 over ours)."

// write saves DATE.md and DATE.json in dir.
func (r *Results) write(dir, stamp string) (string, string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	md := filepath.Join(dir, stamp+".md")
	r.table() // fills Bounds
	if err := os.WriteFile(md, []byte(r.markdown()), 0o644); err != nil {
		return "", "", err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", "", err
	}
	js := filepath.Join(dir, stamp+".json")
	return md, js, os.WriteFile(js, append(b, '\n'), 0o644)
}
