package e2e

import (
	"fmt"
	"strings"
)

// The prose of docs/reliability.md's netns section; the tables and the
// figures derived from them come from the run.

const netnsTopologyDoc = "Written by `TestNetns` (`e2e/netns_*_test.go`) in its long form:\n\n" + "```sh" + `
go test -count=1 -run 'TestNetns$' -timeout 60m -v ./e2e/ -netns.long   # as root; MariaDB as for every e2e test
go test -count=1 -run 'TestNetns$' ./e2e/ -netns.docs ../bench/results/netns-DATE.json  # this section again from saved figures
` + "```" + `

The short form (one latency point, 2 ms RTT, 4 KiB and 1 MiB; three faults of 5 s) runs in CI with
the other e2e tests, about 50 s. It skips only when not root.

### Topology

Every process of the cluster runs in a Linux network namespace of its own, with an address of its
own in 10.213.0.0/24 — a range that exists only inside those namespaces (no address, route or
interface is added to the host's stack):

| namespace | address | runs |
| --- | --- | --- |
| clients | 10.213.0.1 | the test's S3 clients (aws-sdk-go-v2, no retries): their sockets are opened in this namespace |
| mysql | 10.213.0.2:3306 | a relay to the test MariaDB (below) |
| idserver1 | 10.213.0.3:22000 | the ID server |
| tracker1, tracker2 | 10.213.0.4, .5 :21000 | two trackers |
| storage-g1-1, storage-g1-2 | 10.213.0.6, .7 :23000 | group g1's two mirrored members |
| storage-g2-1, storage-g2-2 | 10.213.0.8, .9 :23000 | group g2's two mirrored members |
| gateway1, gateway2 | 10.213.0.10, .11 :8080 | two S3 gateways, neither beside a storage node (no local socket: every read goes over TCP) |

Each process is the real ` + "`tnv`" + ` binary started with ` + "`ip netns exec NAMESPACE tnv …`" + ` by
` + "`internal/proctest`" + ` (` + "`Topology.Place`, `StartWhere`" + `). The namespaces are named
` + "`tnvt<pid>-<n>-<host>`" + `; the test removes them when it ends, failed or not, and every run first
removes those of runs whose process is gone (a run that was killed).

**The wire** (` + "`internal/nsnet`" + `): each namespace has one TUN interface (MTU 9000) and the test
process is the switch between them: it reads every packet a namespace sends, and writes it into the
destination's interface after a fixed **one-way delay** (RTT/2, the same between any two
namespaces: clients→gateway, gateway→tracker/storage/MySQL, storage→storage, storage→ID server);
**loss** drops a share of the packets to and from one host at random; a **partition** drops every
packet between two hosts, both ways, silently — no RST, no ICMP, as a cut cable: TCP retransmits
until the cut heals or a timeout gives up. The machine's kernel is built without ` + "`sch_netem`" + `
and without a tc drop action, and neither iptables nor nft is installed, so veth pairs on a bridge
shaped with ` + "`tc netem`" + ` were not an option here; the switch needs only ` + "`CONFIG_TUN`" + ` and ` + "`ip`" + `.
Its own cost adds to the configured delay, and on a busy machine its goroutines wait for a CPU like
everyone else's: the table gives the measured RTT (the median of the kernel's TCP estimates of 5
fresh connections from the clients to gateway1). Waits under a millisecond spin rather than sleep
(a timer sleep of 0.25 ms took about 0.9 ms here).

**MariaDB**: the test MariaDB on the host's 127.0.0.1:3306 (the system's server, untouched; each run
gets a database of its own) is reached through a relay that listens inside the mysql namespace and
forwards each connection, streaming both ways, to the host's loopback. Traffic to MySQL crosses the
switch like any other, so it is delayed, and a partition from the mysql namespace is a partition
from MySQL.

`

const netnsFaultsDoc = `One fault at a time, each under a load of single-key operations: 4 clients, each one operation after
another (30 ms apart) on 6 keys fresh to the fault, through gateway1 or gateway2 at random: PUT
40 % (a value no other PUT writes), GET 30 %, LIST 15 % (ListObjectsV2 with the key as prefix: the
key's ETag or nothing), DELETE 15 %. The load runs 5 s before the fault, during it, and 2 s after it
ends. Then, the load stopped:

- **service back**: from the fault's end until a PUT and a GET of it succeeded through each gateway
  (bound 15 s);
- **members ACTIVE**: until the trackers' GROUPS shows every member ACTIVE and in sync (bound 60 s);
- every key is read once more with GET and LIST through each gateway (part of the history);
- **copies agree**: until every key's final value is on every member of the group that holds it,
  read with FETCH (the member's own copy), and on no member of the other group (bound 90 s);
- **linearizable**: the whole history (the load's and the final reads) is checked with porcupine
  (github.com/anishathalye/porcupine v1.3.1) against a register per key — PUT sets the value,
  DELETE clears it, GET must return the value or not-found, LIST the value's ETag or nothing, as of
  some instant between the request's start and its answer. A GET or LIST that failed observed
  nothing and is left out; a PUT or DELETE that failed may have taken effect at any instant after its
  start, or never. A GET of an older value than a completed PUT's (stale read), of a deleted object,
  of bytes never written, or a LIST that disagrees, makes the history illegal; the checker then
  writes its visualization (HTML) to the temporary directory and the test prints the path.
- **errors**: every failed request, by operation, status and S3 code ("timeout": the client's 30 s),
  in the window (a request under way at some instant from the fault's start until 2 s after service
  was back); outside it none is allowed.

`

const netnsGuaranteesDoc = `### Guarantees, exactly

For a single key, through either gateway, with the index in one MySQL (MariaDB) primary:

- **Read-after-write.** Once a PUT has been answered 200, every GET that starts afterwards, through
  either gateway, returns that PUT's bytes or a later write's — never an older value, never a
  deleted one. Why: the gateway answers 200 only after the blob is on every ACTIVE member and the
  index row naming it is committed in MySQL; a GET reads the row from MySQL (no cache in the
  gateway) and the blob it names; a blob is a new TNV file per write, never rewritten in place, so a
  row names exactly its write's bytes.
- **List-after-write.** Once a PUT has been answered 200, every LIST that starts afterwards shows the
  key with that write's ETag (or a later write's). LIST reads the same index.
- **Delete visibility.** Once a DELETE has been answered 204, every later GET answers 404 NoSuchKey
  and every later LIST omits the key (until the next PUT).
- **A failed write** (5xx, or no answer) may or may not have taken effect; if it did, it is seen
  exactly as written. No request returns bytes no PUT wrote.

Under which faults: every one of the seven above, as measured in the table (the checker found each
history linearizable, and the final reads and copies agreed), and, since they rest only on MySQL's
commit order, under any fault that leaves MySQL itself whole. During a fault a request that cannot
reach what it needs fails with a 5xx or **waits** — never answers with old or wrong bytes. What each
fault does (the table's "slowest request" and "errors" columns give this run's figures):

- **1 % loss on a member**: TCP hides it; requests take longer (retransmissions), none fails.
- **A member cut off from its peer** (both still reach trackers, gateways, MySQL): for the trackers
  both stay ACTIVE, so both keep taking writes; each upload waits for the unreachable peer until
  ` + "`--replica-timeout`" + ` (5 s), then is acknowledged with one copy (logged: "write acknowledged with
  fewer copies"). A GET sent to the member that lacks a new file waits while that member asks its
  peer for it (a fresh dial gives up after 3 s; a request on a connection opened before the cut
  waits longer: the slowest GET, 28.8 s, completed only after the cut had healed), then the
  gateway reads the other member. Durability is one copy for the
  window's writes until the cut heals and the group log repairs them (the "copies agree" column).
- **A member cut off from the trackers**: after ` + "`--offline-after`" + ` (5 s) the trackers call it OFFLINE
  and hand out only its peer, which acknowledges writes with its own copy; the member catches up
  from the group log when it is back.
- **A gateway cut off from a group**: its requests to that group wait — TCP retransmits into the
  cut — until the cut heals (then they complete) or the backend's progress deadline (60 s per
  member) passes; a few were answered 503 or timed out at the client (30 s). Everything else goes
  on.
- **A tracker cut off from everything**: gateways and members use the other tracker. A tracker that
  did not answer is now tried last for 5 s (` + "`backend/tnv`" + `); before that fix, found by this suite,
  every other request of a gateway started with the cut tracker and waited a dial or read timeout
  for it (the slowest GET took 26.6 s; with the fix the slowest requests took 13.6 s and 5.8 s:
  those already waiting on the cut tracker when it was cut).
- **MySQL out of reach from one gateway**: that gateway's requests wait for ` + "`--db-timeout`" + ` (10 s) and
  are answered 503 ServiceUnavailable — also when the driver's dial times out, which was answered
  500 InternalError until this suite found it (` + "`gateway/errors.go`" + `); the other gateway serves on.
- **A split that heals after 20 s**: both sides keep MySQL, so every acknowledged write is in the one
  index; each side's members take writes with one copy; requests crossing the split wait (up to
  the window) and complete when it heals; the members agree again within seconds.

What is **not** claimed: guarantees across keys (a transaction over several keys, or an order
between two keys' writes as seen by LIST of a prefix); a MySQL with asynchronous replicas serving
reads (the gateway is not built for that and it was not tested); a partition of MySQL itself or of
a whole group from everything (no copy reachable: 503, and nothing else to measure).
`

// netnsLatencySummary derives, from the latency table, the round trips a
// request costs: (median at the largest RTT − median on loopback) /
// measured RTT.
func netnsLatencySummary(rows []benchRow) string {
	var lo, far []benchRow
	maxRTT := 0.0
	for _, r := range rows {
		if r.Setup == "loopback" {
			lo = append(lo, r)
		} else {
			maxRTT = max(maxRTT, r.RTT)
		}
	}
	for _, r := range rows {
		if r.Setup != "loopback" && r.RTT == maxRTT {
			far = append(far, r)
		}
	}
	if len(lo) == 0 || len(far) == 0 || maxRTT == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "What the RTT costs, as sequential round trips ((median at %.2f ms measured RTT − median on loopback) / RTT):", maxRTT)
	for _, f := range far {
		if f.Size >= 64<<20 && !strings.HasPrefix(f.Op, "seek") {
			continue // bound by the switch's bandwidth, not by round trips
		}
		for _, l := range lo {
			if l.Op == f.Op && l.Size == f.Size {
				n := (f.Median - l.Median) / maxRTT
				what := f.Op + " " + sizeName(f.Size)
				if strings.HasPrefix(f.Op, "seek") {
					what = f.Op
				}
				fmt.Fprintf(&b, " %s ≈ %.0f;", what, n)
			}
		}
	}
	return strings.TrimSuffix(b.String(), ";") + ". A GET's time to first byte crosses client→gateway, gateway→MySQL (the index row), gateway→tracker (which group: the answer is cached) and gateway→storage; a PUT adds the ID server, the replication to the peer and the index's transaction. Large objects are bound by bandwidth, not round trips: the switch moves every packet through this process, so the 64 MiB figures say more about the emulation on a busy 2-core machine than about a real network.\n"
}

const netnsLatencyDoc = `Through gateway1, one request at a time: PUT then GET of each size (4 KiB and 1 MiB: 20 and 10
repetitions, 64 MiB: 3), and a 256 KiB Range GET from the middle of a 64 MiB object (a video seek,
20 times); medians. "Time to first byte" is from the request's start until the first body byte
arrived. The same workload runs in the same test against a second cluster of the same shape on
loopback (no namespaces, no switch), first. Figures only; nothing is asserted about them, except
that every byte comes back.

`
