package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// A system's memory is the resident sets of all its processes, summed:
// each process the bench started for it and every descendant of those
// (found by walking /proc once the system is up: none forks during a
// cell). RSS counts pages shared between processes (the tnv binary's text,
// shared libraries) once per process, so the sum overstates a
// multi-process system a little against a one-process one. MariaDB is not
// part of it: it is a server of this machine that the multi-process
// systems share; its RSS is reported beside theirs (dbRSSPID).

// parents reads every process's parent from procDir (/proc): pid → ppid.
func parents(procDir string) map[int]int {
	ents, err := os.ReadDir(procDir)
	if err != nil {
		return nil
	}
	pp := map[int]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(procDir, e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		if ppid, ok := statPPID(string(b)); ok {
			pp[pid] = ppid
		}
	}
	return pp
}

// statFields is a /proc/PID/stat line's fields after "pid (comm)" — state,
// ppid, … — found after comm's last parenthesis, as comm may hold spaces
// and parentheses; nil when there is none.
func statFields(stat string) []string {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(stat[i+1:])
}

// statPPID takes the parent out of a /proc/PID/stat line.
func statPPID(stat string) (int, bool) {
	f := statFields(stat)
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}

// descendants returns roots and every process below them, sorted.
func descendants(ppid map[int]int, roots []int) []int {
	children := map[int][]int{}
	for pid, parent := range ppid {
		children[parent] = append(children[parent], pid)
	}
	seen := map[int]bool{}
	var out []int
	var walk func(int)
	walk = func(pid int) {
		if seen[pid] {
			return
		}
		seen[pid] = true
		out = append(out, pid)
		for _, c := range children[pid] {
			walk(c)
		}
	}
	for _, r := range roots {
		walk(r)
	}
	slices.Sort(out)
	return out
}

// processTree is the PIDs of roots and their descendants, now.
func processTree(roots []int) []int { return descendants(parents("/proc"), roots) }

// rssMiB is the resident set of pid now (0 when it is gone).
func rssMiB(pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// sumRSS is the resident sets of pids, summed.
func sumRSS(pids []int) float64 {
	var s float64
	for _, p := range pids {
		s += rssMiB(p)
	}
	return s
}

// findProcess returns the first process whose command name is one of
// names (e.g. mariadbd), or 0.
func findProcess(names ...string) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err == nil && slices.Contains(names, strings.TrimSpace(string(b))) {
			return pid
		}
	}
	return 0
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/PID/stat's times
// (100 on Linux everywhere).
const clockTicks = 100

// cpuSeconds is the CPU time (user + system) the processes pids have used
// so far, summed (a gone process counts 0; pid 0 none).
func cpuSeconds(pids ...int) float64 {
	var t float64
	for _, pid := range pids {
		if pid <= 0 {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		f := statFields(string(b)) // state ppid ... utime (12th) stime (13th)
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseFloat(f[11], 64)
		k, _ := strconv.ParseFloat(f[12], 64)
		t += (u + k) / clockTicks
	}
	return t
}
