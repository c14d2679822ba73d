package proto

// The tracker's GROUPS reply text (docs/protocol.md).

import (
	"strconv"
	"strings"
)

// Group is one group of the GROUPS text.
type Group struct {
	Name                    string
	NodeCount, Active, Read int
	Free, Total             int64 // -1 when unknown
	Nodes                   []GroupNode
}

// GroupNode is one storage node of the GROUPS text.
type GroupNode struct {
	Addr, State, Sync string
	Progress          int   // percent, -1 when unknown
	Lag               int64 // -1 when unknown
	Free, Total       int64 // -1 when unknown
	BeatAge           int64 // seconds since the last BEAT, -1 = never
	Host, Version     string
	Health            string // OK, READONLY, FULL, SICK; "" from a tracker that does not say
}

// ParseGroups reads the tracker's GROUPS text:
//
//	group NAME nodes=N active=N readable=N free=BYTES total=BYTES
//	  node ADDR state=STATE sync=SYNC progress=PCT% lag=N free=BYTES total=BYTES beat=AGE host=HOST version=V health=H
//
// Unknown fields are skipped, so the tracker may add some; lines that are
// neither are skipped too. Unknown numbers ("-") are -1. This is the one
// reader of that text (the gateway's status, tnv admin, tests, bench).
func ParseGroups(text string) []Group {
	var groups []Group
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kv := map[string]string{}
		for _, p := range f[2:] {
			if k, v, ok := strings.Cut(p, "="); ok {
				kv[k] = v
			}
		}
		switch f[0] {
		case "group":
			groups = append(groups, Group{
				Name:      f[1],
				NodeCount: groupsInt(kv["nodes"]),
				Active:    groupsInt(kv["active"]),
				Read:      groupsInt(kv["readable"]),
				Free:      groupsNum(kv["free"]),
				Total:     groupsNum(kv["total"]),
			})
		case "node":
			if len(groups) == 0 {
				continue
			}
			g := &groups[len(groups)-1]
			beat := int64(-1)
			if b := kv["beat"]; b != "never" {
				beat = groupsNum(strings.TrimSuffix(b, "s"))
			}
			g.Nodes = append(g.Nodes, GroupNode{
				Addr:     f[1],
				State:    kv["state"],
				Sync:     kv["sync"],
				Progress: int(groupsNum(strings.TrimSuffix(kv["progress"], "%"))),
				Lag:      groupsNum(kv["lag"]),
				Free:     groupsNum(kv["free"]),
				Total:    groupsNum(kv["total"]),
				BeatAge:  beat,
				Host:     kv["host"],
				Version:  kv["version"],
				Health:   kv["health"],
			})
		}
	}
	return groups
}

func groupsInt(s string) int { return int(max(groupsNum(s), 0)) }

// groupsNum parses a decimal, or -1 for "-", empty, negative or anything
// else.
func groupsNum(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 { // the tracker writes no negative number
		return -1
	}
	return n
}

// Readable reports whether the node is ACTIVE and in sync: one SADDRS hands
// out.
func (n GroupNode) Readable() bool { return n.State == "ACTIVE" && n.Sync == "ACTIVE" }

// FindNode returns the node at addr in groups.
func FindNode(groups []Group, addr string) (GroupNode, bool) {
	for _, g := range groups {
		for _, n := range g.Nodes {
			if n.Addr == addr {
				return n, true
			}
		}
	}
	return GroupNode{}, false
}
