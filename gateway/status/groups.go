// Package status serves the gateway's reserved routes under /_tnv/: a health
// check, a status page of the cluster (groups, nodes, state, capacity, last
// beat, sync progress) and Prometheus metrics, all from the tracker's GROUPS
// text (documented in docs/protocol.md) and the process's own registry.
package status

import (
	"strconv"
	"strings"
)

// Group is one group of the GROUPS text.
type Group struct {
	Name                    string
	NodeCount, Active, Read int
	Free, Total             int64 // -1 when unknown
	Nodes                   []Node
}

// Node is one storage node of the GROUPS text.
type Node struct {
	Addr, State, Sync string
	Progress          int   // percent, -1 when unknown
	Lag               int64 // -1 when unknown
	Free, Total       int64 // -1 when unknown
	BeatAge           int64 // seconds since the last BEAT, -1 = never
	Host, Version     string
	Health            string // OK, READONLY, FULL, SICK; "" from a tracker that does not say
}

// Parse reads the tracker's GROUPS text:
//
//	group NAME nodes=N active=N readable=N free=BYTES total=BYTES
//	  node ADDR state=STATE sync=SYNC progress=PCT% lag=N free=BYTES total=BYTES beat=AGE host=HOST version=V health=H
//
// Unknown fields are skipped, so the tracker may add some.
func Parse(text string) []Group {
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
				NodeCount: atoi(kv["nodes"]),
				Active:    atoi(kv["active"]),
				Read:      atoi(kv["readable"]),
				Free:      num(kv["free"]),
				Total:     num(kv["total"]),
			})
		case "node":
			if len(groups) == 0 {
				continue
			}
			g := &groups[len(groups)-1]
			beat := int64(-1)
			if b := kv["beat"]; b != "never" {
				beat = num(strings.TrimSuffix(b, "s"))
			}
			g.Nodes = append(g.Nodes, Node{
				Addr:     f[1],
				State:    kv["state"],
				Sync:     kv["sync"],
				Progress: int(num(strings.TrimSuffix(kv["progress"], "%"))),
				Lag:      num(kv["lag"]),
				Free:     num(kv["free"]),
				Total:    num(kv["total"]),
				BeatAge:  beat,
				Host:     kv["host"],
				Version:  kv["version"],
				Health:   kv["health"],
			})
		}
	}
	return groups
}

func atoi(s string) int { return int(max(num(s), 0)) }

// num parses a decimal, or -1 for "-", empty or anything else.
func num(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return -1
	}
	return n
}
