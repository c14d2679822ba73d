package proto

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

const membersSample = "127.0.0.1:23001 ACTIVE ACTIVE 100 0 1000 4000\n" +
	"127.0.0.1:23002 ONLINE SYNCING 40 12 2000 4000 READONLY\n" +
	"[::1]:23003 OFFLINE WAIT_SYNC\n"

func TestParseMembers(t *testing.T) {
	got := ParseMembers(membersSample + "not-an-address ACTIVE ACTIVE\nshort line\n\n")
	want := []Member{
		{Addr: "127.0.0.1:23001", State: "ACTIVE", SyncState: "ACTIVE", SyncPct: 100, Free: 1000, Total: 4000, Health: "OK"},
		{Addr: "127.0.0.1:23002", State: "ONLINE", SyncState: "SYNCING", SyncPct: 40, Lag: 12, Free: 2000, Total: 4000, Health: "READONLY"},
		{Addr: "[::1]:23003", State: "OFFLINE", SyncState: "WAIT_SYNC", Health: "OK"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

// Any text parses without panicking into members with a host:port, no more
// than its lines; written back in the tracker's format a member reads the
// same.
func FuzzParseMembers(f *testing.F) {
	f.Add(membersSample)
	f.Add("a:1 x y z 1 2 3\n:0 A A -1 -2 99999999999999999999 x\n")
	f.Fuzz(func(t *testing.T, s string) {
		ms := ParseMembers(s)
		if len(ms) > strings.Count(s, "\n")+1 {
			t.Fatalf("%d members from %d lines", len(ms), strings.Count(s, "\n")+1)
		}
		for _, m := range ms {
			line := fmt.Sprintf("%s %s %s %d %d %d %d %s\n", m.Addr, m.State, m.SyncState, m.SyncPct, m.Lag, m.Free, m.Total, m.Health)
			again := ParseMembers(line)
			if len(again) != 1 || again[0] != m {
				t.Fatalf("%+v written as %q reads %+v", m, line, again)
			}
		}
	})
}
