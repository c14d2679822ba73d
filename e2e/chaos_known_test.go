package e2e

import "strings"

// knownDefect is a failure the chaos suite sees today because of a defect
// of issue 13 that another branch is fixing. Its check still runs and logs
// each such failure; a check whose failures are all known defects is
// skipped, naming the issue item, instead of failing. Any other failure of
// the same check fails it. With -chaos.strict, or once the entry is removed
// here, a known defect fails the test like any other failure.
type knownDefect struct {
	check string // "scenario/check"; scenario "*" matches every scenario
	match string // a failure is this defect when its text contains match ("" = every failure)
	issue string
}

// knownDefects is empty: the defects of issue 13 the suite was written
// against (cluster errors while a PUT streams answered 400 or a reset;
// reads that lied with both trackers down; 30 s waits on other groups' log
// entries; a read-only or full member failing PUTs; dead pooled
// connections after the ID server's idle timeout) are fixed, and every
// check of every scenario is strict again. A defect found later goes here
// with its issue while it is being fixed, never one that excuses wrong
// bytes.
var knownDefects []knownDefect

// applies reports whether d is about check of scenario.
func (d knownDefect) applies(scenario, check string) bool {
	s, c, _ := strings.Cut(d.check, "/")
	return (s == "*" || s == scenario) && c == check
}

// knownDefectOf returns the known defect failure f of check is, or nil.
func knownDefectOf(scenario, check, f string) *knownDefect {
	for i, d := range knownDefects {
		if d.applies(scenario, check) && strings.Contains(f, d.match) {
			return &knownDefects[i]
		}
	}
	return nil
}
