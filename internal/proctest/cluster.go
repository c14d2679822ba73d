package proctest

import (
	"fmt"
	"github.com/tnv-s3/tnv/internal/tnvauth"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/proto"
)

// Topology says what Cluster starts. Zero values take the defaults shown.
type Topology struct {
	DB        string        // DSN shared by every server (required)
	Trackers  int           // default 1
	IDServers int           // default 1
	Groups    int           // default 1
	Members   int           // storage nodes per group, default 2
	Beat      time.Duration // storage beat interval, default 1s (tests want fast state changes)
	Offline   time.Duration // tracker --offline-after, default 5s
	Args      []string      // extra flags for every storage node
	IDArgs    []string      // extra flags for every ID server
	// LocalSockets gives every storage node a --local-socket (Sockets) and
	// a --metrics-listen (Metrics).
	LocalSockets bool
	// OpenProtocol runs every server with --open-protocol (the seed's
	// unauthenticated protocol, for tests that speak it by hand), and
	// GroupsText's client too; default: every process proves ClusterSecret.
	OpenProtocol bool
	// Env is extra environment for every process of the cluster and for
	// GroupsText's client: TNV_TLS_CERT, TNV_TLS_KEY, TNV_TLS_CA put the
	// whole cluster on TLS (tnvtlstest.Env).
	Env []string
	// Place, when set, runs each process inside a network namespace of
	// its own: it returns where the process named name runs and the IP it
	// listens on (its port is the role's default: tracker 21000, ID
	// server 22000, storage 23000). ClientNetns is where GroupsText's
	// client runs.
	Place       func(name string) (w *Where, ip string)
	ClientNetns string
}

// Cluster is a running TNV cluster of separate processes on loopback.
type Cluster struct {
	t        testing.TB
	Topo     Topology
	Trackers []*Proc
	IDs      []*Proc
	Groups   [][]*Proc // Groups[g][m] is member m of group "g<g+1>"
	// With Topology.LocalSockets: each member's socket path and metrics
	// address, by its Proc.
	Sockets, Metrics map[*Proc]string
}

// StartCluster starts ID servers, trackers and storage nodes, and waits until
// every storage node is ACTIVE on the first tracker.
func StartCluster(t testing.TB, topo Topology) *Cluster {
	t.Helper()
	if topo.DB == "" {
		t.Fatal("proctest: Topology.DB is required")
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&topo.Trackers, 1)
	def(&topo.IDServers, 1)
	def(&topo.Groups, 1)
	def(&topo.Members, 2)
	if topo.Beat == 0 {
		topo.Beat = time.Second
	}
	if topo.Offline == 0 {
		topo.Offline = 5 * time.Second
	}
	c := &Cluster{t: t, Topo: topo, Sockets: map[*Proc]string{}, Metrics: map[*Proc]string{}}
	for i := range topo.IDServers {
		c.IDs = append(c.IDs, c.startFree(fmt.Sprintf("idserver%d", i+1), 22000, func(a string) []string {
			return c.open(append([]string{"idserver", "--listen", a, "--db", topo.DB}, topo.IDArgs...))
		}))
	}
	for i := range topo.Trackers {
		c.Trackers = append(c.Trackers, c.startFree(fmt.Sprintf("tracker%d", i+1), 21000, func(a string) []string {
			return c.open([]string{"tracker", "--listen", a, "--db", topo.DB, "--offline-after", topo.Offline.String()})
		}))
	}
	for g := range topo.Groups {
		var members []*Proc
		for m := range topo.Members {
			members = append(members, c.StartMember(g, m))
		}
		c.Groups = append(c.Groups, members)
	}
	c.WaitActive(60 * time.Second)
	return c
}

// startFree starts a process of the cluster: on a free loopback port, or,
// with Topology.Place, in its namespace on port.
func (c *Cluster) startFree(name string, port int, args func(addr string) []string) *Proc {
	c.t.Helper()
	if c.Topo.Place == nil {
		return StartFree(c.t, c.Topo.Env, name, args)
	}
	w, ip := c.Topo.Place(name)
	addr := net.JoinHostPort(ip, fmt.Sprint(port))
	return StartWhere(c.t, c.Topo.Env, w, name, addr, args(addr)...)
}

// GroupName is the name of group g.
func GroupName(g int) string { return fmt.Sprintf("g%d", g+1) }

// StartMember starts member m of group g with a store of its own.
func (c *Cluster) StartMember(g, m int) *Proc {
	c.t.Helper()
	store := filepath.Join(c.t.TempDir(), fmt.Sprintf("store-%s-%d", GroupName(g), m+1))
	var sock, metrics string
	if c.Topo.LocalSockets {
		// A short directory: a socket path has at most 107 bytes.
		dir, err := os.MkdirTemp("", "tnvs")
		if err != nil {
			c.t.Fatal(err)
		}
		c.t.Cleanup(func() { os.RemoveAll(dir) })
		sock = filepath.Join(dir, fmt.Sprintf("%s-%d.sock", GroupName(g), m+1))
	}
	p := c.startFree(fmt.Sprintf("storage-%s-%d", GroupName(g), m+1), 23000, func(a string) []string {
		os.RemoveAll(store) // a failed try may have left it; node identity is its address
		args := []string{"storage", "--listen", a, "--group", GroupName(g),
			"--trackers", c.TrackerList(), "--idservers", c.IDList(), "--store", store,
			"--db", c.Topo.DB, "--beat", c.Topo.Beat.String()}
		if sock != "" {
			metrics = FreeAddr(c.t)
			args = append(args, "--local-socket", sock, "--metrics-listen", metrics)
		}
		return c.open(append(args, c.Topo.Args...))
	})
	if sock != "" {
		c.Sockets[p], c.Metrics[p] = sock, metrics
	}
	return p
}

// TrackerList is the comma-separated tracker addresses.
func (c *Cluster) TrackerList() string { return addrList(c.Trackers) }

// IDList is the comma-separated ID server addresses.
func (c *Cluster) IDList() string { return addrList(c.IDs) }

func addrList(ps []*Proc) string {
	var a []string
	for _, p := range ps {
		a = append(a, p.Addr)
	}
	return strings.Join(a, ",")
}

// Members returns every storage process.
func (c *Cluster) Members() []*Proc {
	var all []*Proc
	for _, g := range c.Groups {
		all = append(all, g...)
	}
	return all
}

// Groups text of the first tracker, through `tnv client groups`.
func (c *Cluster) GroupsText() (string, error) {
	return RunInErr(c.t, c.Topo.ClientNetns, c.Topo.Env, c.open([]string{"client", "--trackers", c.TrackerList(), "groups"})...)
}

// open adds --open-protocol to a command's args when the topology asks for
// the open protocol.
func (c *Cluster) open(args []string) []string {
	if c.Topo.OpenProtocol {
		return append(args, "--open-protocol")
	}
	return args
}

// WaitActive waits until the GROUPS text shows every storage node ACTIVE and
// in sync (the tracker's "node ADDR state=ACTIVE sync=ACTIVE ..." line).
func (c *Cluster) WaitActive(timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		text, err := c.GroupsText()
		missing := ""
		if err == nil {
			for _, p := range c.Members() {
				if !c.Readable(text, p.Addr) {
					missing = p.Addr
					break
				}
			}
			if missing == "" {
				return
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("storage nodes not ACTIVE after %v (first missing %s, err %v):\n%s", timeout, missing, err, text)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// NodeLine returns the GROUPS line of the node at addr, or "".
func NodeLine(text, addr string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "node "+addr+" ") {
			return l
		}
	}
	return ""
}

// Readable reports whether GROUPS text shows the node at addr ACTIVE and in
// sync, so that the tracker hands it out.
func (c *Cluster) Readable(text, addr string) bool {
	n, ok := proto.FindNode(proto.ParseGroups(text), addr)
	return ok && n.Readable()
}

// Key is the cluster key a client in the test process (backend/tnv,
// tnvauth) proves to the cluster's servers: ClusterSecret's, or nil when
// the topology runs the open protocol.
func (c *Cluster) Key() *tnvauth.Key {
	if c.Topo.OpenProtocol {
		return nil
	}
	return ClusterKey()
}

// ClusterKey is ClusterSecret as a tnvauth key.
func ClusterKey() *tnvauth.Key {
	k, err := tnvauth.NewKey([]byte(ClusterSecret))
	if err != nil {
		panic(err) // a constant of this package
	}
	return k
}
