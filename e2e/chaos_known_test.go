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

var knownDefects = []knownDefect{
	// A storage member killed while it receives a PUT body: the gateway
	// answers 400 IncompleteBody (SDKs do not retry a 400), not a 5xx.
	{"storage-kill/clean-errors", "PUT 400 IncompleteBody", "issue 13 item 1: cluster errors while a PUT body streams must be 5xx (gwtrust)"},
	{"storage-kill/clean-errors", "MPU 400 IncompleteBody", "issue 13 item 1: cluster errors while a PUT body streams must be 5xx (gwtrust)"},
	// A member down 25 s under load (the long form) is SYNCING for over 60 s
	// after its restart: the syncer waits 30 s (gapGrace) on each hole of
	// its group's log, the entries of other groups.
	{"storage-kill/caught-up-within-60s", "", "issue 13 item 2: a restarted member catches up at disk speed (catchup)"},
	// Both trackers down: the gateway logs GET 200 with the full byte count
	// but the client gets a closed connection without any status, or a 200
	// whose body is cut off; a 503 is due.
	{"tracker-kill/clean-errors", "GET conn closed", "issue 13 item 1: reads never lie, 503 when no member is reachable (gwtrust)"},
	{"tracker-kill/no-cut-reads", "", "issue 13 item 1: reads never lie, 503 when no member is reachable (gwtrust)"},
	// A PUT the cluster fails while its body streams (no tracker, no ID
	// server): the gateway logs 500 "body partly sent" and closes the
	// connection without reading the rest, so the client, still sending,
	// gets a reset (broken pipe) and never sees the 500.
	{"*/clean-errors", "PUT conn reset", putResetDefect},
	{"*/clean-errors", "MPU conn reset", putResetDefect},
	// A member whose store is read-only or full stays ACTIVE and chosen
	// for uploads: the PUTs it receives fail with 500 (10–15 % of all).
	{"read-only-store/puts-unaffected", "", "issue 13 item 3: a sick member steps aside, its PUTs are placed elsewhere (sick)"},
	{"full-store/puts-unaffected", "", "issue 13 item 3: a sick member steps aside, its PUTs are placed elsewhere (sick)"},
	// After an idle period longer than the ID server's idle timeout, the
	// storage members' pooled connections to it are dead: the first PUTs
	// fail with 500 ("no file ID … broken pipe").
	{"idle/clean-errors", "PUT 500 InternalError", idleDefect},
	{"idle/clean-errors", "MPU 500 InternalError", idleDefect},
	{"idle/no-errors-outside-fault", "PUT 500 InternalError", idleDefect},
	{"idle/no-errors-outside-fault", "MPU 500 InternalError", idleDefect},
	// Every process killed and restarted under load: both members of a
	// group come back SYNCING and wait on the log's holes (gapGrace, 30 s),
	// so the group has no readable member for well over 60 s: its PUTs
	// fail with 500, its GETs get a dropped connection (no 503).
	{"cluster-restart/recovery-within-15s", "", restartDefect},
	{"cluster-restart/caught-up-within-60s", "", restartDefect},
	{"cluster-restart/no-errors-outside-fault", "GET conn closed", restartDefect},
	{"cluster-restart/no-errors-outside-fault", "PUT 500 InternalError", restartDefect},
	{"cluster-restart/no-errors-outside-fault", "MPU 500 InternalError", restartDefect},
	{"cluster-restart/no-errors-outside-fault", "PUT conn reset", putResetDefect},
	{"cluster-restart/no-errors-outside-fault", "MPU conn reset", putResetDefect},
	{"cluster-restart/no-cut-reads", "", restartDefect},
	{"cluster-restart/reads", ": conn closed: ", restartDefect},
	{"cluster-restart/reads", ": 200 then cut (", restartDefect},
	{"cluster-restart/uncertain", ": conn closed: ", restartDefect},
	{"cluster-restart/uncertain", ": 200 then cut (", restartDefect},
	{"cluster-restart/copies", ": no copy of ", restartDefect},
}

const putResetDefect = "issue 13 item 1: a PUT failed by the cluster must reach the client as a 5xx, not a reset mid-body (gwtrust)"

const idleDefect = "issue 13 item 4: one connection pool with liveness checks and idle limits below the servers' (pool)"

const restartDefect = "issue 13 item 2: a restarted group catches up at disk speed, not after 30 s waits on other groups' log entries (catchup); item 1: 503, not a dropped connection, when no member is readable (gwtrust)"

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
