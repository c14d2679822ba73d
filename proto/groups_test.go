package proto

import (
	"strings"
	"testing"
)

// groupsSample is GROUPS text in the tracker's documented format.
const groupsSample = `group g1 nodes=2 active=2 readable=1 free=1000 total=4000
  node 127.0.0.1:23001 state=ACTIVE sync=ACTIVE progress=100% lag=0 free=1000 total=4000 beat=3s host=127.0.0.1 version=1.0
  node 127.0.0.1:23002 state=ACTIVE sync=SYNCING progress=40% lag=12 free=2000 total=4000 beat=1s host=127.0.0.1 version=1.0 health=READONLY
group g2 nodes=1 active=0 readable=0 free=- total=-
  node 10.0.0.9:23000 state=OFFLINE sync=ACTIVE progress=- lag=- free=- total=- beat=never host=n9 version=1.0
`

func TestParseGroups_ReadsGroupsAndNodes(t *testing.T) {
	gs := ParseGroups(groupsSample)
	if len(gs) != 2 || gs[0].Name != "g1" || gs[1].Name != "g2" {
		t.Fatalf("groups = %+v", gs)
	}
	g1 := gs[0]
	if g1.NodeCount != 2 || g1.Active != 2 || g1.Read != 1 || g1.Free != 1000 || g1.Total != 4000 || len(g1.Nodes) != 2 {
		t.Fatalf("g1 = %+v", g1)
	}
	n := g1.Nodes[1]
	want := GroupNode{Addr: "127.0.0.1:23002", State: "ACTIVE", Sync: "SYNCING", Progress: 40, Lag: 12, Free: 2000, Total: 4000, BeatAge: 1, Host: "127.0.0.1", Version: "1.0", Health: "READONLY"}
	if n != want {
		t.Fatalf("node = %+v, want %+v", n, want)
	}
	off := gs[1].Nodes[0]
	if off.State != "OFFLINE" || off.Progress != -1 || off.Lag != -1 || off.Free != -1 || off.BeatAge != -1 || gs[1].Free != -1 {
		t.Fatalf("unknown values not -1: %+v %+v", gs[1], off)
	}
}

func TestParseGroups_IgnoresNoiseAndUnknownFields(t *testing.T) {
	gs := ParseGroups("  node orphan state=ACTIVE\n\nsomething else\ngroup g nodes=1 future=x\n  node a:1 state=ONLINE new=1\n")
	if len(gs) != 1 || len(gs[0].Nodes) != 1 || gs[0].Nodes[0].State != "ONLINE" {
		t.Fatalf("got %+v", gs)
	}
}

func TestFindNode_Readable(t *testing.T) {
	gs := ParseGroups(groupsSample)
	for _, tc := range []struct {
		addr            string
		found, readable bool
	}{
		{"127.0.0.1:23001", true, true},
		{"127.0.0.1:23002", true, false}, // SYNCING
		{"10.0.0.9:23000", true, false},  // OFFLINE
		{"127.0.0.1:1", false, false},
	} {
		n, ok := FindNode(gs, tc.addr)
		if ok != tc.found || n.Readable() != tc.readable {
			t.Errorf("%s: found %v readable %v, want %v %v", tc.addr, ok, n.Readable(), tc.found, tc.readable)
		}
	}
}

// Any text parses without panicking; every group line makes a group, every
// node line after the first group a node, and numbers are -1 or more.
func FuzzParseGroups(f *testing.F) {
	f.Add(groupsSample)
	f.Add("group\nnode\n")
	f.Fuzz(func(t *testing.T, s string) {
		gs := ParseGroups(s)
		var groups, nodes int
		for _, l := range strings.Split(s, "\n") {
			fl := strings.Fields(l)
			if len(fl) < 2 {
				continue
			}
			switch {
			case fl[0] == "group":
				groups++
			case fl[0] == "node" && groups > 0:
				nodes++
			}
		}
		got := 0
		for _, g := range gs {
			got += len(g.Nodes)
			if g.NodeCount < 0 || g.Active < 0 || g.Read < 0 || g.Free < -1 || g.Total < -1 {
				t.Fatalf("group %+v: a count below 0 or a size below -1", g)
			}
			for _, n := range g.Nodes {
				if n.Progress < -1 || n.Lag < -1 || n.Free < -1 || n.Total < -1 || n.BeatAge < -1 {
					t.Fatalf("node %+v: a number below -1", n)
				}
			}
		}
		if len(gs) != groups || got != nodes {
			t.Fatalf("%d groups and %d nodes parsed, %d and %d lines", len(gs), got, groups, nodes)
		}
	})
}
