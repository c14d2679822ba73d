package proto

import (
	"net"
	"strconv"
	"strings"
)

// Member is a line of the tracker's MEMBERS reply text.
type Member struct {
	Addr      string
	State     string // OFFLINE, ONLINE, ACTIVE
	SyncState string // ACTIVE, WAIT_SYNC, SYNCING
	SyncPct   int
	Lag       int64
	Free      int64
	Total     int64
	Health    string // OK, READONLY, FULL, SICK
}

// ParseMembers reads the MEMBERS text, one member a line:
//
//	host:port state syncstate syncpct lag free total health
//
// Lines with fewer than 3 fields or no host:port are skipped; the numbers
// are optional (older trackers sent 3 fields) and 0 when not numbers;
// health is OK when missing (trackers before it was added).
func ParseMembers(text string) []Member {
	var out []Member
	for _, l := range strings.Split(text, "\n") {
		f := strings.Fields(l)
		if len(f) < 3 {
			continue
		}
		m := Member{Addr: f[0], State: f[1], SyncState: f[2], Health: "OK"}
		if _, _, err := net.SplitHostPort(m.Addr); err != nil {
			continue
		}
		if len(f) >= 7 {
			m.SyncPct, _ = strconv.Atoi(f[3])
			m.Lag, _ = strconv.ParseInt(f[4], 10, 64)
			m.Free, _ = strconv.ParseInt(f[5], 10, 64)
			m.Total, _ = strconv.ParseInt(f[6], 10, 64)
		}
		if len(f) >= 8 {
			m.Health = f[7]
		}
		out = append(out, m)
	}
	return out
}
