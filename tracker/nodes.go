package tracker

import (
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tnv-s3/tnv/proto"
)

// State is a storage node's state as the seed defines it.
type State uint8

const (
	Offline State = iota // no JOIN or BEAT within OfflineAfter
	Online               // joined, no BEAT since
	Active               // beating
)

func (s State) String() string {
	switch s {
	case Online:
		return "ONLINE"
	case Active:
		return "ACTIVE"
	}
	return "OFFLINE"
}

// nodeKey is a node's identity: group, hostname as it JOINed, port.
type nodeKey struct {
	group string
	host  string
	port  uint16
}

// node is the soft state of one storage node, rebuilt from JOIN and BEAT.
type node struct {
	key     nodeKey
	addr    string // "ip:port" that clients dial
	version string
	stime   int64
	jtime   int64
	conn    uint64 // connection of the last JOIN

	state    State     // Online or Active as last reported; Offline when stale
	joined   time.Time // zero for a node known from an extended BEAT only
	lastBeat time.Time // zero before the first BEAT
	lastSeen time.Time // last JOIN or BEAT

	capacity  bool // an extended BEAT reported the fields below
	total     int64
	free      int64
	syncState uint8
	syncPct   uint8
	lag       int64
	health    uint8 // proto.HealthOK unless a BEAT said otherwise
}

// NodeInfo is a snapshot of a node for callers and tests.
type NodeInfo struct {
	Group, Host string
	Port        uint16
	Addr        string
	Version     string
	State       State
	Capacity    bool // Total, Free, Sync* and Lag were reported
	Total, Free int64
	SyncState   uint8
	SyncPct     uint8
	Lag         int64
	Health      uint8     // proto.HealthOK, or why the node cannot take uploads
	LastBeat    time.Time // zero if it never beat
	LastSeen    time.Time // last JOIN or BEAT
}

// readable reports whether clients may be sent to the node: ACTIVE and
// holding every file of its group.
func (n NodeInfo) readable() bool { return n.State == Active && n.SyncState == proto.SyncActive }

// writable reports whether the node said it can take uploads.
func (n NodeInfo) writable() bool { return n.Health == proto.HealthOK }

// registry holds the nodes. State is computed at the time of asking, so a
// node that stopped beating is OFFLINE at once even between sweeps.
type registry struct {
	offlineAfter time.Duration
	maxNodes     int // bounds memory against a flood of made-up JOINs
	mu           sync.RWMutex
	nodes        map[nodeKey]*node
	rotate       map[string]uint64 // per group, the SADDRS rotation counter
}

func newRegistry(offlineAfter time.Duration, maxNodes int) *registry {
	return &registry{offlineAfter: offlineAfter, maxNodes: maxNodes, nodes: map[nodeKey]*node{}, rotate: map[string]uint64{}}
}

var errTooMany = &errBeat{proto.EAGAIN, "tracker knows too many nodes"}

func (r *registry) stateAt(n *node, now time.Time) State {
	if now.Sub(n.lastSeen) > r.offlineAfter {
		return Offline
	}
	return n.state
}

func (r *registry) info(n *node, now time.Time) NodeInfo {
	return NodeInfo{
		Group: n.key.group, Host: n.key.host, Port: n.key.port, Addr: n.addr, Version: n.version,
		State: r.stateAt(n, now), Capacity: n.capacity, Total: n.total, Free: n.free,
		SyncState: n.syncState, SyncPct: n.syncPct, Lag: n.lag, Health: n.health, LastBeat: n.lastBeat, LastSeen: n.lastSeen,
	}
}

// nodeAddr is where clients reach a node: its JOIN hostname when that is an
// IP literal (not 0.0.0.0 or ::), else the IP the tracker sees it connect
// from. Names are not resolved: a node's own name often resolves to a
// loopback or internal address on its host, and DNS must not stall JOIN.
func nodeAddr(host string, port uint16, peer net.Addr) string {
	ip := net.ParseIP(host)
	if ip == nil || ip.IsUnspecified() {
		ip = nil
		if ta, ok := peer.(*net.TCPAddr); ok {
			ip = ta.IP
		} else if h, _, err := net.SplitHostPort(peer.String()); err == nil {
			ip = net.ParseIP(h)
		}
	}
	s := "0.0.0.0"
	if ip != nil {
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		s = ip.String()
	}
	return net.JoinHostPort(s, fmt.Sprint(port))
}

// join records a JOIN: the node is ONLINE until it beats. It reports whether
// the node was unknown or had been OFFLINE.
func (r *registry) join(j *proto.Join, addr string, conn uint64, now time.Time) (fresh bool, e *errBeat) {
	k := nodeKey{j.Group, j.Host, j.Port}
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.nodes[k]
	fresh = n == nil || r.stateAt(n, now) == Offline
	if n == nil {
		if len(r.nodes) >= r.maxNodes {
			return false, errTooMany
		}
		n = &node{key: k}
		r.nodes[k] = n
	}
	n.addr, n.version, n.stime, n.jtime, n.conn = addr, j.Version, j.STime, j.JTime, conn
	n.state, n.joined, n.lastSeen = Online, now, now
	return fresh, nil
}

// errBeat is why a BEAT matched no node.
type errBeat struct {
	errno int16
	msg   string
}

// beat records a BEAT. An extended BEAT names its node fully and creates it
// when unknown (a tracker restarted under a running node); a seed BEAT has no
// port and is matched by (group, host): to the node JOINed on the same
// connection, or to the only node of that (group, host). before is the
// state the node had (Offline for a new one).
func (r *registry) beat(b *proto.Beat, peer net.Addr, conn uint64, now time.Time) (NodeInfo, State, *errBeat) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var n *node
	if b.Extended {
		k := nodeKey{b.Group, b.Host, b.Port}
		n = r.nodes[k]
		if n == nil {
			if len(r.nodes) >= r.maxNodes {
				return NodeInfo{}, Offline, errTooMany
			}
			n = &node{key: k, addr: nodeAddr(b.Host, b.Port, peer), conn: conn}
			r.nodes[k] = n
		}
	} else {
		var same, all []*node
		for _, c := range r.nodes {
			if c.key.group == b.Group && c.key.host == b.Host {
				all = append(all, c)
				if c.conn == conn {
					same = append(same, c)
				}
			}
		}
		switch {
		case len(same) >= 1:
			n = same[0]
			for _, c := range same[1:] {
				if c.joined.After(n.joined) {
					n = c
				}
			}
		case len(all) == 1:
			n = all[0]
		case len(all) == 0:
			return NodeInfo{}, Offline, &errBeat{proto.ENOENT, fmt.Sprintf("no node %s/%s has joined: JOIN first", b.Group, b.Host)}
		default:
			return NodeInfo{}, Offline, &errBeat{proto.EINVAL, fmt.Sprintf(
				"%d nodes %s/%s: a seed BEAT must come on the JOIN's connection, or send the extended BEAT with the port", len(all), b.Group, b.Host)}
		}
	}
	before := r.stateAt(n, now)
	n.state, n.lastBeat, n.lastSeen = Active, now, now
	if b.Extended {
		n.capacity = true
		n.total, n.free, n.syncState, n.syncPct, n.lag, n.health = b.Total, b.Free, b.SyncState, b.SyncPct, b.Lag, b.Health
	}
	return r.info(n, now), before, nil
}

// sweep marks stale nodes OFFLINE (returning them, for the log) and forgets
// nodes OFFLINE for longer than forgetAfter.
func (r *registry) sweep(now time.Time, forgetAfter time.Duration) (offline, forgotten []NodeInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, n := range r.nodes {
		if r.stateAt(n, now) != Offline {
			continue
		}
		if n.state != Offline {
			n.state = Offline
			offline = append(offline, r.info(n, now))
		}
		if now.Sub(n.lastSeen) > forgetAfter {
			delete(r.nodes, k)
			forgotten = append(forgotten, r.info(n, now))
		}
	}
	return offline, forgotten
}

// snapshot returns the nodes, sorted by group and address.
func (r *registry) snapshot(now time.Time) []NodeInfo {
	r.mu.RLock()
	out := make([]NodeInfo, 0, len(r.nodes))
	for _, n := range r.nodes {
		out = append(out, r.info(n, now))
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Group != out[j].Group {
			return out[i].Group < out[j].Group
		}
		if out[i].Addr != out[j].Addr {
			return out[i].Addr < out[j].Addr
		}
		return out[i].Host < out[j].Host
	})
	return out
}

// group returns the nodes of one group, sorted by address.
func (r *registry) group(name string, now time.Time) []NodeInfo {
	var out []NodeInfo
	for _, n := range r.snapshot(now) {
		if n.Group == name {
			out = append(out, n)
		}
	}
	return out
}

// readableAddrs returns the addresses of the group's readable nodes: those
// that can take uploads, rotated by one place per call so that clients
// taking the first address spread over them, and apart those that cannot
// (read-only, full, failing writes), which still serve reads.
func (r *registry) readableAddrs(group string, now time.Time) (writable, unwritable []string) {
	seen := map[string]bool{}
	for _, n := range r.group(group, now) {
		if n.readable() && !seen[n.Addr] {
			seen[n.Addr] = true
			if n.writable() {
				writable = append(writable, n.Addr)
			} else {
				unwritable = append(unwritable, n.Addr)
			}
		}
	}
	if len(writable) < 2 {
		return writable, unwritable
	}
	r.mu.Lock()
	i := r.rotate[group]
	r.rotate[group] = i + 1
	r.mu.Unlock()
	k := int(i % uint64(len(writable)))
	return append(writable[k:], writable[:k]...), unwritable
}

// groupCap is what the router knows of a group's capacity.
type groupCap struct {
	name     string
	readable int   // ACTIVE nodes with every file
	writable int   // of those, the ones that take uploads
	free     int64 // smallest free space reported by its ACTIVE nodes (mirrors: the group holds no more than its smallest member); 0 when unknown
	total    int64
	capKnown bool
}

// capacities summarises every group that has nodes.
func capacities(nodes []NodeInfo) map[string]*groupCap {
	caps := map[string]*groupCap{}
	for _, n := range nodes {
		g := caps[n.Group]
		if g == nil {
			g = &groupCap{name: n.Group}
			caps[n.Group] = g
		}
		if n.readable() {
			g.readable++
			if n.writable() {
				g.writable++
			}
		}
		if n.State == Active && n.Capacity {
			if !g.capKnown || n.Free < g.free {
				g.free = n.Free
			}
			if !g.capKnown || n.Total < g.total {
				g.total = n.Total
			}
			g.capKnown = true
		}
	}
	return caps
}

// cleanText makes a peer-supplied string safe for one space-separated field
// of the GROUPS text.
func cleanText(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}

func sortStrings(s []string) { sort.Strings(s) }

// health returns the write health a node named by an extended BEAT had
// before it; false for a seed BEAT or an unknown node.
func (r *registry) health(b *proto.Beat) (uint8, bool) {
	if !b.Extended {
		return proto.HealthOK, false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	n := r.nodes[nodeKey{b.Group, b.Host, b.Port}]
	if n == nil {
		return proto.HealthOK, false
	}
	return n.health, true
}
