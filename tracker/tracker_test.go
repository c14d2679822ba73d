package tracker

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/internal/clocktest"
	"github.com/tnv-s3/tnv/proto"
)

func TestJoin_NodeIsOnlineAtItsIPLiteral(t *testing.T) {
	r := start(t, Config{})
	c := dial(t, r.addr)
	if err := c.join("g1", "10.1.2.3", 23000); err != nil {
		t.Fatal(err)
	}
	if got := nodeState(t, r.srv, "10.1.2.3:23000"); got != Online {
		t.Fatalf("state %v, want ONLINE", got)
	}
	if !strings.Contains(c.groups(), "  node 10.1.2.3:23000 state=ONLINE ") {
		t.Fatalf("GROUPS:\n%s", c.groups())
	}
}

func TestJoin_NodeAddress(t *testing.T) {
	cases := []struct{ host, want string }{
		{"10.0.0.7", "10.0.0.7:23001"},
		{"::1", "[::1]:23001"},
		{"storage-a.example", "127.0.0.1:23001"}, // a name: the peer's IP
		{"0.0.0.0", "127.0.0.1:23001"},           // unspecified: the peer's IP
		{"", "127.0.0.1:23001"},
	}
	for _, tc := range cases {
		t.Run(tc.host, func(t *testing.T) {
			r := start(t, Config{})
			if err := dial(t, r.addr).join("g", tc.host, 23001); err != nil {
				t.Fatal(err)
			}
			if n := r.srv.Nodes(); len(n) != 1 || n[0].Addr != tc.want {
				t.Fatalf("nodes %+v, want addr %s", n, tc.want)
			}
		})
	}
}

func TestBeat_MakesJoinedNodeActive(t *testing.T) {
	r := start(t, Config{})
	c := dial(t, r.addr)
	c.join("g1", "127.0.0.1", 23000)
	if err := c.beat(extBeat("g1", "127.0.0.1", 23000, 500)); err != nil {
		t.Fatal(err)
	}
	n := r.srv.Nodes()[0]
	if n.State != Active || !n.Capacity || n.Free != 500 {
		t.Fatalf("node %+v", n)
	}
	// A re-JOIN (the node restarted) is ONLINE again until it beats.
	c.join("g1", "127.0.0.1", 23000)
	if got := nodeState(t, r.srv, "127.0.0.1:23000"); got != Online {
		t.Fatalf("after re-JOIN: %v", got)
	}
}

func TestBeat_SeedForm146Bytes(t *testing.T) {
	seed := func(group, host string) proto.Beat { return proto.Beat{Group: group, Host: host} }
	cases := []struct {
		name   string
		joins  []uint16 // ports joined on the joining connection, host "h1"
		other  []uint16 // ports joined on another connection, host "h1"
		onJoin bool     // the BEAT comes on the joining connection
		errno  int16
		active string // which node becomes ACTIVE
	}{
		{"on the joining connection", []uint16{23000}, nil, true, 0, "127.0.0.1:23000"},
		{"on another connection, only node of its host", []uint16{23000}, nil, false, 0, "127.0.0.1:23000"},
		{"two nodes on one host, on the joining connection", []uint16{23001}, []uint16{23002}, true, 0, "127.0.0.1:23001"},
		{"two nodes on one host, elsewhere: ambiguous", []uint16{23001}, []uint16{23002}, false, proto.EINVAL, ""},
		{"never joined", nil, nil, false, proto.ENOENT, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := start(t, Config{})
			jc, oc := dial(t, r.addr), dial(t, r.addr)
			for _, p := range tc.joins {
				if err := jc.join("g", "h1", p); err != nil {
					t.Fatal(err)
				}
			}
			for _, p := range tc.other {
				oc.join("g", "h1", p)
			}
			bc := dial(t, r.addr)
			if tc.onJoin {
				bc = jc
			}
			err := bc.beat(seed("g", "h1"))
			if errno(err) != tc.errno && !(tc.errno == 0 && err == nil) {
				t.Fatalf("BEAT: %v, want errno %d", err, tc.errno)
			}
			for _, n := range r.srv.Nodes() {
				if want := n.Addr == tc.active; (n.State == Active) != want {
					t.Errorf("node %s: %v", n.Addr, n.State)
				}
			}
		})
	}
}

func TestBeat_ExtendedFromUnknownNode_RegistersIt(t *testing.T) {
	// A tracker restarted under running nodes learns them from their BEATs.
	r := start(t, Config{})
	c := dial(t, r.addr)
	if err := c.beat(extBeat("g1", "10.0.0.9", 23000, 1)); err != nil {
		t.Fatal(err)
	}
	if got := nodeState(t, r.srv, "10.0.0.9:23000"); got != Active {
		t.Fatalf("state %v", got)
	}
	if s, err := c.saddrs("app", "u1"); err != nil || s.Group != "g1" || len(s.Addrs) != 1 {
		t.Fatalf("SADDRS %+v, %v", s, err)
	}
}

func TestNode_SilentNodeGoesOfflineAndComesBack(t *testing.T) {
	const after = time.Second
	clock := clocktest.New(time.Time{})
	r := start(t, Config{OfflineAfter: after, Now: clock.Now})
	c := dial(t, r.addr)
	c.join("g1", "127.0.0.1", 23000)
	c.beat(extBeat("g1", "127.0.0.1", 23000, 10))
	if s, err := c.saddrs("app", "u1"); err != nil || len(s.Addrs) != 1 {
		t.Fatalf("SADDRS %+v, %v", s, err)
	}
	clock.Advance(after + 200*time.Millisecond)
	if got := nodeState(t, r.srv, "127.0.0.1:23000"); got != Offline {
		t.Fatalf("after %v without a BEAT: %v", after, got)
	}
	if !strings.Contains(c.groups(), "state=OFFLINE") {
		t.Fatalf("GROUPS:\n%s", c.groups())
	}
	if _, err := c.saddrs("app", "u1"); errno(err) != proto.EAGAIN {
		t.Fatalf("SADDRS with the only node OFFLINE: %v, want EAGAIN", err)
	}
	if err := c.beat(extBeat("g1", "127.0.0.1", 23000, 10)); err != nil {
		t.Fatal(err)
	}
	if s, err := c.saddrs("app", "u1"); err != nil || len(s.Addrs) != 1 {
		t.Fatalf("SADDRS after the node beat again: %+v, %v", s, err)
	}
}

func TestNode_OnlineWithoutBeat_GoesOffline(t *testing.T) {
	clock := clocktest.New(time.Time{})
	r := start(t, Config{OfflineAfter: 100 * time.Millisecond, Now: clock.Now})
	dial(t, r.addr).join("g1", "127.0.0.1", 23000)
	clock.Advance(300 * time.Millisecond)
	if got := nodeState(t, r.srv, "127.0.0.1:23000"); got != Offline {
		t.Fatalf("%v", got)
	}
}

// The sweeper forgets a node silent for ForgetAfter by the tracker's
// clock, and keeps one that is not.
func TestNode_SilentPastForgetAfter_Forgotten(t *testing.T) {
	clock := clocktest.New(time.Time{})
	r := start(t, Config{OfflineAfter: time.Second, ForgetAfter: time.Hour, SweepEvery: 10 * time.Millisecond, Now: clock.Now})
	c := dial(t, r.addr)
	c.join("g1", "127.0.0.1", 23000)
	clock.Advance(59 * time.Minute)
	c.join("g1", "127.0.0.1", 23001)
	clock.Advance(2 * time.Minute) // 23000 silent 61 min, 23001 2 min
	deadline := time.Now().Add(10 * time.Second)
	for {
		var addrs []string
		for _, n := range r.srv.Nodes() {
			addrs = append(addrs, n.Addr)
		}
		if len(addrs) == 1 && addrs[0] == "127.0.0.1:23001" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nodes %v, want 23000 forgotten and 23001 kept", addrs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := nodeState(t, r.srv, "127.0.0.1:23001"); got != Offline {
		t.Fatalf("23001 after 2 min of silence: %v", got)
	}
}

func TestSaddrs_RotatesOverActiveInSyncNodesOnly(t *testing.T) {
	r := start(t, Config{})
	c := dial(t, r.addr)
	for p := uint16(23000); p < 23003; p++ {
		c.join("g1", "127.0.0.1", p)
		c.beat(extBeat("g1", "127.0.0.1", p, 100))
	}
	syncing := extBeat("g1", "127.0.0.1", 23003, 100)
	syncing.SyncState, syncing.SyncPct, syncing.Lag = proto.SyncSyncing, 40, 12
	c.beat(syncing)
	c.join("g1", "127.0.0.1", 23004) // ONLINE, never beat
	first := map[string]int{}
	for i := 0; i < 30; i++ {
		s, err := c.saddrs("app", "u1")
		if err != nil {
			t.Fatal(err)
		}
		if s.Group != "g1" || len(s.Addrs) != 3 {
			t.Fatalf("SADDRS %+v", s)
		}
		for _, a := range s.Addrs {
			if a == "127.0.0.1:23003" || a == "127.0.0.1:23004" {
				t.Fatalf("SADDRS names %s (SYNCING or ONLINE): %v", a, s.Addrs)
			}
		}
		first[s.Addrs[0]]++
	}
	if len(first) != 3 || first["127.0.0.1:23000"] != 10 {
		t.Fatalf("first addresses %v, want each of 3 nodes 10 times", first)
	}
	// WAIT_SYNC is not readable either.
	syncing.SyncState = proto.SyncWait
	c.beat(syncing)
	if s, _ := c.saddrs("app", "u1"); len(s.Addrs) != 3 {
		t.Fatalf("SADDRS %v", s.Addrs)
	}
}

func TestSaddrs_InvalidRequest(t *testing.T) {
	r := start(t, Config{})
	c := dial(t, r.addr)
	c.beat(extBeat("g1", "127.0.0.1", 23000, 100))
	cases := []struct {
		name          string
		appid, userid string
		fileid        string
		errno         int16
	}{
		{"empty appid", "", "u", "", proto.EINVAL},
		{"appid with a dot", "a.b", "u", "", proto.EINVAL},
		{"empty userid", "app", "", "", proto.EINVAL},
		{"userid with a space", "app", "a b", "", proto.EINVAL},
		{"fileid with a slash", "app", "u", "../x", proto.EINVAL},
		{"no fileid is fine", "app", "u", "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := (&proto.FileRef{AppID: tc.appid, UserID: tc.userid, FileID: tc.fileid}).Encode()
			_, err := c.do(proto.CmdTrackerSaddrs, b)
			if tc.errno == 0 && err != nil || tc.errno != 0 && errno(err) != tc.errno {
				t.Fatalf("%v, want errno %d", err, tc.errno)
			}
		})
	}
}

func TestSaddrs_NoGroupWithActiveNode_EAGAIN(t *testing.T) {
	r := start(t, Config{})
	c := dial(t, r.addr)
	if _, err := c.saddrs("app", "u1"); errno(err) != proto.EAGAIN {
		t.Fatalf("empty cluster: %v", err)
	}
	c.join("g1", "127.0.0.1", 23000) // ONLINE only
	if _, err := c.saddrs("app", "u1"); errno(err) != proto.EAGAIN {
		t.Fatalf("ONLINE node only: %v", err)
	}
}

func TestRouter_MostFreeGroupThenSticky(t *testing.T) {
	for name, dsn := range dialects {
		t.Run(name, func(t *testing.T) {
			r := start(t, Config{DB: openDB(t, dsn(t))})
			c := dial(t, r.addr)
			c.beat(extBeat("small", "127.0.0.1", 23000, 100))
			c.beat(extBeat("big", "127.0.0.1", 23001, 1000))
			// A group whose only node is catching up is never chosen.
			huge := extBeat("syncing", "127.0.0.1", 23002, 1<<40)
			huge.SyncState = proto.SyncSyncing
			c.beat(huge)
			s, err := c.saddrs("app", "alice")
			if err != nil || s.Group != "big" {
				t.Fatalf("new user: %+v, %v; want group big", s, err)
			}
			// big fills up: alice stays, a new user goes to small.
			c.beat(extBeat("big", "127.0.0.1", 23001, 10))
			if s, _ := c.saddrs("app", "alice"); s.Group != "big" {
				t.Fatalf("alice moved to %s", s.Group)
			}
			if s, _ := c.saddrs("app", "bob"); s.Group != "small" {
				t.Fatalf("bob in %s, want small", s.Group)
			}
			// The same user ID in another app is another user.
			if s, _ := c.saddrs("app2", "alice"); s.Group != "small" {
				t.Fatalf("app2/alice in %s", s.Group)
			}
			// The choice is in t_router: a fresh tracker (empty cache) on
			// the same database answers the same, whatever it sees.
			r2 := start(t, Config{DB: r.srv.db})
			c2 := dial(t, r2.addr)
			c2.beat(extBeat("big", "127.0.0.1", 23001, 10))
			c2.beat(extBeat("small", "127.0.0.1", 23000, 100))
			if s, err := c2.saddrs("app", "alice"); err != nil || s.Group != "big" {
				t.Fatalf("second tracker: %+v, %v", s, err)
			}
			// Its group without an ACTIVE node: EAGAIN, not another group.
			r3 := start(t, Config{DB: r.srv.db})
			c3 := dial(t, r3.addr)
			c3.beat(extBeat("small", "127.0.0.1", 23000, 100))
			if _, err := c3.saddrs("app", "alice"); errno(err) != proto.EAGAIN {
				t.Fatalf("alice's group has no node here: %v, want EAGAIN", err)
			}
		})
	}
}

// Two trackers that see different free space (so would choose differently)
// answer every new user with the same group: the first insert wins and both
// re-read it.
func TestRouter_TwoTrackersOneDB_AgreeOnNewUsersUnderConcurrency(t *testing.T) {
	for name, dsn := range dialects {
		t.Run(name, func(t *testing.T) {
			d := dsn(t)
			ra := start(t, Config{DB: openDB(t, d)})
			rb := start(t, Config{DB: openDB(t, d)})
			ca, cb := dial(t, ra.addr), dial(t, rb.addr)
			ca.beat(extBeat("g1", "127.0.0.1", 23000, 1000))
			ca.beat(extBeat("g2", "127.0.0.1", 23001, 10))
			cb.beat(extBeat("g1", "127.0.0.1", 23000, 10))
			cb.beat(extBeat("g2", "127.0.0.1", 23001, 1000))
			const users = 100
			got := make([][2]string, users)
			var wg sync.WaitGroup
			errs := make(chan error, 2*users)
			for side, addr := range []string{ra.addr, rb.addr} {
				for w := 0; w < 4; w++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						c := dial(t, addr)
						for u := w; u < users; u += 4 {
							s, err := c.saddrs("app", fmt.Sprintf("user%d", u))
							if err != nil {
								errs <- err
								return
							}
							got[u][side] = s.Group
						}
					}()
				}
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			var fromA, fromB int
			for u, g := range got {
				if g[0] != g[1] {
					t.Errorf("user%d: tracker A says %s, B says %s", u, g[0], g[1])
				}
				if g[0] == "g1" {
					fromA++
				} else {
					fromB++
				}
			}
			t.Logf("%d users in g1 (A's choice), %d in g2 (B's)", fromA, fromB)
			var rows int
			ra.srv.db.QueryRow("SELECT COUNT(*) FROM t_router").Scan(&rows)
			if rows != users {
				t.Errorf("%d router rows, want %d", rows, users)
			}
		})
	}
}

func TestJoin_RegisteredGroupsOnly(t *testing.T) {
	for name, dsn := range dialects {
		t.Run(name, func(t *testing.T) {
			db := openDB(t, dsn(t))
			r := start(t, Config{DB: db, RegisteredOnly: true})
			c := dial(t, r.addr)
			if err := c.join("ghost", "127.0.0.1", 23000); errno(err) != proto.EACCES {
				t.Fatalf("JOIN to an unregistered group: %v, want EACCES", err)
			}
			if err := c.beat(extBeat("ghost", "127.0.0.1", 23000, 1)); errno(err) != proto.EACCES {
				t.Fatalf("extended BEAT to an unregistered group: %v, want EACCES", err)
			}
			if len(r.srv.Nodes()) != 0 {
				t.Fatalf("nodes %+v", r.srv.Nodes())
			}
			// Registered later (by an operator or another tracker): admitted.
			if err := RegisterGroup(context.Background(), db, "ghost"); err != nil {
				t.Fatal(err)
			}
			if err := c.join("ghost", "127.0.0.1", 23000); err != nil {
				t.Fatal(err)
			}
			// An open tracker registers the groups its nodes join with.
			open := start(t, Config{DB: db})
			dial(t, open.addr).join("fresh", "127.0.0.1", 23000)
			if err := c.join("fresh", "127.0.0.1", 23001); err != nil {
				t.Fatalf("group registered by the other tracker: %v", err)
			}
			if !strings.Contains(c.groups(), "group fresh ") {
				t.Fatalf("GROUPS:\n%s", c.groups())
			}
		})
	}
}

func TestGroups_TextFormat(t *testing.T) {
	r := start(t, Config{})
	c := dial(t, r.addr)
	RegisterGroup(context.Background(), r.srv.db, "empty")
	c.join("g1", "127.0.0.1", 23000)
	c.beat(extBeat("g1", "127.0.0.1", 23000, 5000))
	sy := extBeat("g1", "127.0.0.1", 23001, 3000)
	sy.Total, sy.SyncState, sy.SyncPct, sy.Lag = 9000, proto.SyncSyncing, 40, 12
	c.beat(sy)
	c2 := dial(t, r.addr)
	c2.join("g2", "storage-b", 23000) // named host: peer address, ONLINE
	c2.beat(proto.Beat{Group: "g2", Host: "storage-b"})
	got := c.groups()
	want := []string{
		`^group empty nodes=0 active=0 readable=0 free=- total=-$`,
		`^group g1 nodes=2 active=2 readable=1 free=3000 total=9000$`,
		`^  node 127\.0\.0\.1:23000 state=ACTIVE sync=ACTIVE progress=100% lag=0 free=5000 total=1099511627776 beat=\d+s host=127\.0\.0\.1 version=1\.0 health=OK$`,
		`^  node 127\.0\.0\.1:23001 state=ACTIVE sync=SYNCING progress=40% lag=12 free=3000 total=9000 beat=\d+s host=127\.0\.0\.1 version=- health=OK$`,
		`^group g2 nodes=1 active=1 readable=1 free=- total=-$`,
		`^  node 127\.0\.0\.1:23000 state=ACTIVE sync=ACTIVE progress=- lag=- free=- total=- beat=\d+s host=storage-b version=1\.0 health=OK$`,
	}
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("GROUPS has %d lines, want %d:\n%s", len(lines), len(want), got)
	}
	for i, w := range want {
		if !regexp.MustCompile(w).MatchString(lines[i]) {
			t.Errorf("line %d:\n got %q\nwant %s", i+1, lines[i], w)
		}
	}
}

func TestMembers_OneLinePerNodeOfTheGroup(t *testing.T) {
	clock := clocktest.New(time.Time{})
	r := start(t, Config{OfflineAfter: time.Second, Now: clock.Now})
	c := dial(t, r.addr)
	c.join("g1", "127.0.0.1", 23002)
	clock.Advance(1200 * time.Millisecond) // 23002 goes OFFLINE
	c.join("g1", "127.0.0.1", 23000)
	sy := extBeat("g1", "127.0.0.1", 23001, 3000)
	sy.Total, sy.SyncState, sy.SyncPct, sy.Lag = 9000, proto.SyncSyncing, 40, 12
	c.beat(sy)
	c.beat(extBeat("other", "127.0.0.1", 23009, 1))
	want := "127.0.0.1:23000 ONLINE ACTIVE 100 0 0 0 OK\n" +
		"127.0.0.1:23001 ACTIVE SYNCING 40 12 3000 9000 OK\n" +
		"127.0.0.1:23002 OFFLINE ACTIVE 100 0 0 0 OK\n"
	if got := c.members("g1"); got != want {
		t.Fatalf("MEMBERS g1:\n%s\nwant:\n%s", got, want)
	}
	if got := c.members("nosuch"); got != "" {
		t.Fatalf("MEMBERS of an unknown group: %q", got)
	}
}

func TestChooseGroup(t *testing.T) {
	cases := []struct {
		name string
		caps []groupCap
		want []string // any of
	}{
		{"none", nil, []string{""}},
		{"no readable node", []groupCap{{name: "a", free: 10}}, []string{""}},
		{"most free", []groupCap{{name: "a", readable: 1, free: 10}, {name: "b", readable: 2, free: 20}}, []string{"b"}},
		{"unreadable bigger group skipped", []groupCap{{name: "a", readable: 1, free: 10}, {name: "b", free: 99}}, []string{"a"}},
		{"tie", []groupCap{{name: "a", readable: 1}, {name: "b", readable: 1}}, []string{"a", "b"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := map[string]*groupCap{}
			for i := range tc.caps {
				m[tc.caps[i].name] = &tc.caps[i]
			}
			got := chooseGroup(m, userKey{"app", "u"})
			for _, w := range tc.want {
				if got == w {
					return
				}
			}
			t.Fatalf("got %q, want one of %v", got, tc.want)
		})
	}
	// Ties spread users over the tied groups.
	m := map[string]*groupCap{"a": {name: "a", readable: 1}, "b": {name: "b", readable: 1}}
	seen := map[string]int{}
	for i := 0; i < 100; i++ {
		seen[chooseGroup(m, userKey{"app", fmt.Sprint("u", i)})]++
	}
	if seen["a"] < 20 || seen["b"] < 20 {
		t.Fatalf("tied groups got %v", seen)
	}
}

func TestJoin_BeyondMaxNodes_EAGAIN(t *testing.T) {
	r := start(t, Config{MaxNodes: 2})
	c := dial(t, r.addr)
	for p := uint16(1); p <= 2; p++ {
		if err := c.join("g1", "127.0.0.1", p); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.join("g1", "127.0.0.1", 3); errno(err) != proto.EAGAIN {
		t.Fatalf("third node: %v, want EAGAIN", err)
	}
	if err := c.beat(extBeat("g1", "127.0.0.1", 3, 1)); errno(err) != proto.EAGAIN {
		t.Fatalf("third node by BEAT: %v, want EAGAIN", err)
	}
	if err := c.join("g1", "127.0.0.1", 2); err != nil {
		t.Fatalf("a known node re-joining: %v", err)
	}
}

// A node that says it cannot write stays readable but is listed after the
// writable ones with the mark, shows its health in GROUPS and MEMBERS, and
// is writable again when a BEAT says so; a 174-byte BEAT means writable.
func TestBeat_HealthShownAndUnwritableListedLast(t *testing.T) {
	r := start(t, Config{})
	c := dial(t, r.addr)
	for p := uint16(23000); p < 23002; p++ {
		c.join("g1", "127.0.0.1", p)
		c.beat(extBeat("g1", "127.0.0.1", p, 100))
	}
	ro := extBeat("g1", "127.0.0.1", 23001, 100)
	ro.Health = proto.HealthReadOnly
	if err := c.beat(ro); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		s, err := c.saddrs("app", "u1")
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Addrs) != 1 || s.Addrs[0] != "127.0.0.1:23000" || len(s.Unwritable) != 1 || s.Unwritable[0] != "127.0.0.1:23001" {
			t.Fatalf("SADDRS %+v", s)
		}
	}
	if g := c.groups(); !strings.Contains(g, "node 127.0.0.1:23001 state=ACTIVE") || !strings.Contains(g, "health=READONLY") ||
		!strings.Contains(g, "127.0.0.1:23000 state=ACTIVE sync=ACTIVE") {
		t.Fatalf("GROUPS:\n%s", g)
	}
	if m := c.members("g1"); !strings.Contains(m, "127.0.0.1:23001 ACTIVE ACTIVE 100 0 100 1099511627776 READONLY\n") ||
		!strings.Contains(m, "127.0.0.1:23000 ACTIVE ACTIVE 100 0 100 1099511627776 OK\n") {
		t.Fatalf("MEMBERS:\n%s", m)
	}
	// Only sick nodes: still listed (reads), all marked.
	full := extBeat("g1", "127.0.0.1", 23000, 0)
	full.Health = proto.HealthFull
	c.beat(full)
	if s, err := c.saddrs("app", "u1"); err != nil || len(s.Addrs) != 0 || len(s.Unwritable) != 2 {
		t.Fatalf("SADDRS %+v, %v", s, err)
	}
	// A 174-byte BEAT (no health byte) says writable.
	b, _ := ro.Encode()
	if _, err := c.do(proto.CmdTrackerBeat, b[:proto.BeatExtBodyLen]); err != nil {
		t.Fatal(err)
	}
	if s, _ := c.saddrs("app", "u1"); len(s.Addrs) != 1 || s.Addrs[0] != "127.0.0.1:23001" {
		t.Fatalf("SADDRS after recovery %+v", s)
	}
	if !strings.Contains(c.groups(), "127.0.0.1:23001 state=ACTIVE sync=ACTIVE progress=100% lag=0 free=100 total=1099511627776 beat=0s host=127.0.0.1 version=1.0 health=OK") {
		t.Fatalf("GROUPS:\n%s", c.groups())
	}
}

// A new user goes to a group whose nodes can take uploads, even when a
// group whose only node cannot write reports more free space; with no
// writable group at all, a readable one is still chosen.
func TestRoute_AvoidsGroupsThatCannotWrite(t *testing.T) {
	r := start(t, Config{})
	c := dial(t, r.addr)
	c.join("g1", "127.0.0.1", 23000)
	ro := extBeat("g1", "127.0.0.1", 23000, 1<<40)
	ro.Health = proto.HealthReadOnly
	c.beat(ro)
	c.join("g2", "127.0.0.1", 23001)
	c.beat(extBeat("g2", "127.0.0.1", 23001, 1<<20))
	for i := range 10 {
		s, err := c.saddrs("app", fmt.Sprintf("w%d", i))
		if err != nil || s.Group != "g2" {
			t.Fatalf("user w%d routed to %+v, %v; want g2", i, s, err)
		}
	}
	full := extBeat("g2", "127.0.0.1", 23001, 0)
	full.Health = proto.HealthFull
	c.beat(full)
	if s, err := c.saddrs("app", "nowhere"); err != nil || s.Group != "g1" {
		t.Fatalf("with no writable group: %+v, %v; want the roomiest readable group g1", s, err)
	}
}
