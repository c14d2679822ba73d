package tracker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tnv-s3/tnv/proto"
)

// validHost accepts what a node may call itself: a DNS name, an IPv4 or IPv6
// literal, or nothing (then its peer address is used).
func validHost(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' || c == '.' || c == '_' || c == ':':
		default:
			return false
		}
	}
	return true
}

// validVersion accepts printable ASCII without spaces, or nothing.
func validVersion(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// admit checks that group may hold nodes: a valid name, and registered, or
// registered now unless the tracker admits registered groups only.
func (s *Server) admit(ctx context.Context, group string) *proto.ErrorReply {
	if !proto.ValidGroupName(group) {
		return proto.Errorf(proto.EINVAL, "invalid group name %q", group)
	}
	if s.cfg.RegisteredOnly {
		ok, err := s.groups.registered(ctx, group)
		if err != nil {
			s.log.Error("tracker: group lookup", "group", group, "err", err)
			return proto.Errorf(proto.EIO, "group lookup failed")
		}
		if !ok {
			return proto.Errorf(proto.EACCES, "group %s is not registered", group)
		}
		return nil
	}
	added, err := s.groups.register(ctx, group)
	if err != nil {
		s.log.Error("tracker: register group", "group", group, "err", err)
		return proto.Errorf(proto.EIO, "group registration failed")
	}
	if added {
		s.log.Info("tracker: group registered", "group", group)
	}
	return nil
}

func (s *Server) join(ctx context.Context, c *conn, body []byte) *proto.ErrorReply {
	j, err := proto.DecodeJoin(body)
	if err != nil {
		return badBody("JOIN", err)
	}
	switch {
	case !validVersion(j.Version):
		return proto.Errorf(proto.EINVAL, "JOIN: invalid version %q", j.Version)
	case !validHost(j.Host):
		return proto.Errorf(proto.EINVAL, "JOIN: invalid hostname %q", j.Host)
	case j.Port == 0:
		return proto.Errorf(proto.EINVAL, "JOIN: port 0")
	}
	if e := s.admit(ctx, j.Group); e != nil {
		return e
	}
	addr := nodeAddr(j.Host, j.Port, c.RemoteAddr())
	fresh, eb := s.nodes.join(j, addr, c.ID, s.cfg.Now())
	if eb != nil {
		return proto.Errorf(eb.errno, "JOIN: %s", eb.msg)
	}
	if fresh {
		s.log.Info("tracker: node ONLINE", "group", j.Group, "addr", addr, "host", j.Host, "version", j.Version)
	}
	return nil
}

func (s *Server) beat(ctx context.Context, c *conn, body []byte) *proto.ErrorReply {
	b, err := proto.DecodeBeat(body)
	if err != nil {
		return badBody("BEAT", err)
	}
	if !validHost(b.Host) {
		return proto.Errorf(proto.EINVAL, "BEAT: invalid hostname %q", b.Host)
	}
	if b.Extended {
		if b.Port == 0 {
			return proto.Errorf(proto.EINVAL, "BEAT: port 0")
		}
		// An extended BEAT may introduce its node (a tracker restarted
		// under it), so its group must be admitted like a JOIN's.
		if e := s.admit(ctx, b.Group); e != nil {
			return e
		}
	} else if !proto.ValidGroupName(b.Group) {
		return proto.Errorf(proto.EINVAL, "BEAT: invalid group name %q", b.Group)
	}
	old, _ := s.nodes.health(b)
	n, before, eb := s.nodes.beat(b, c.RemoteAddr(), c.ID, s.cfg.Now())
	if eb != nil {
		return proto.Errorf(eb.errno, "BEAT: %s", eb.msg)
	}
	if b.Extended && old != n.Health {
		if n.Health == proto.HealthOK {
			s.log.Info("tracker: node writable again", "group", n.Group, "addr", n.Addr, "was", proto.HealthName(old))
		} else {
			s.log.Warn("tracker: node cannot take uploads", "group", n.Group, "addr", n.Addr, "health", proto.HealthName(n.Health))
		}
	}
	if before != Active {
		s.log.Info("tracker: node ACTIVE", "group", n.Group, "addr", n.Addr, "host", n.Host, "was", before.String(),
			"sync", proto.SyncName(n.SyncState))
	}
	return nil
}

// saddrs answers the group of the user and its readable nodes, routing a new
// user to a group first.
func (s *Server) saddrs(ctx context.Context, body []byte) ([]byte, *proto.ErrorReply) {
	f, err := proto.DecodeFileRef(body)
	if err != nil {
		return nil, badBody("SADDRS", err)
	}
	switch {
	case !proto.ValidAppID(f.AppID):
		return nil, proto.Errorf(proto.EINVAL, "SADDRS: invalid appid %q", f.AppID)
	case !proto.ValidUserID(f.UserID):
		return nil, proto.Errorf(proto.EINVAL, "SADDRS: invalid userid %q", f.UserID)
	case f.FileID != "" && !proto.ValidFileID(f.FileID):
		return nil, proto.Errorf(proto.EINVAL, "SADDRS: invalid fileid %q", f.FileID)
	}
	group, e := s.route(ctx, userKey{f.AppID, f.UserID})
	if e != nil {
		return nil, e
	}
	addrs, unwritable := s.nodes.readableAddrs(group, s.cfg.Now())
	if len(addrs)+len(unwritable) == 0 {
		return nil, proto.Errorf(proto.EAGAIN, "group %s has no ACTIVE storage node", group)
	}
	out, err := (&proto.Saddrs{Group: group, Addrs: addrs, Unwritable: unwritable}).Encode()
	if err != nil {
		s.log.Error("tracker: SADDRS reply", "group", group, "err", err)
		return nil, proto.Errorf(proto.EIO, "SADDRS reply: %v", err)
	}
	return out, nil
}

// Route returns the group of (appid, userid), choosing and recording one for
// a new user: the group with the most free space among those with a node
// that can serve (ACTIVE, in sync).
func (s *Server) Route(ctx context.Context, appid, userid string) (string, error) {
	if !proto.ValidAppID(appid) || !proto.ValidUserID(userid) {
		return "", proto.Errorf(proto.EINVAL, "invalid appid or userid")
	}
	g, e := s.route(ctx, userKey{appid, userid})
	if e != nil {
		return "", e
	}
	return g, nil
}

func (s *Server) route(ctx context.Context, k userKey) (string, *proto.ErrorReply) {
	if g, ok := s.router.cached(k); ok {
		return g, nil
	}
	g, err := s.router.lookup(ctx, k)
	if err != nil {
		s.log.Error("tracker: router", "err", err)
		return "", proto.Errorf(proto.EIO, "router lookup failed")
	}
	if g == "" {
		choice := chooseGroup(capacities(s.nodes.snapshot(s.cfg.Now())), k)
		if choice == "" {
			return "", proto.Errorf(proto.EAGAIN, "no group has an ACTIVE storage node")
		}
		if g, err = s.router.assign(ctx, k, choice); err != nil {
			s.log.Error("tracker: router", "err", err)
			return "", proto.Errorf(proto.EIO, "router insert failed")
		}
		s.log.Debug("tracker: user routed", "appid", k.appid, "userid", k.userid, "group", g, "chosen", choice)
	}
	s.router.remember(k, g)
	return g, nil
}

func (s *Server) members(body []byte) ([]byte, *proto.ErrorReply) {
	group, err := proto.GetString(body)
	if err != nil || len(body) != proto.MembersBodyLen {
		return nil, proto.Errorf(proto.EPROTO, "MEMBERS: group name field: %v", err)
	}
	if !proto.ValidGroupName(group) {
		return nil, proto.Errorf(proto.EINVAL, "MEMBERS: invalid group name %q", group)
	}
	return text(s.MembersText(group, s.cfg.Now()))
}

// badBody is the error reply for a body its decoder refused: EMSGSIZE for a
// length the command does not have, EPROTO for a malformed field.
func badBody(cmd string, err error) *proto.ErrorReply {
	if errors.Is(err, proto.ErrBodyLen) {
		return proto.Errorf(proto.EMSGSIZE, "%s: %v", cmd, err)
	}
	return proto.Errorf(proto.EPROTO, "%s: %v", cmd, err)
}

func text(s string) ([]byte, *proto.ErrorReply) {
	b, err := proto.EncodeText(s)
	if err != nil {
		return nil, proto.Errorf(proto.EIO, "reply text: %v", err)
	}
	return b, nil
}

// MembersText is the MEMBERS reply text of group: one line per node known
// in the group, sorted by address,
//
//	addr state syncstate syncpct lag free total health
//
// e.g. "10.0.0.5:23000 ACTIVE SYNCING 40 12 1000000 2000000 OK". Nodes that
// never sent an extended BEAT show "ACTIVE 100 0 0 0" for the syncstate to
// total fields; health is OK, READONLY, FULL or SICK.
func (s *Server) MembersText(group string, now time.Time) string {
	var sb strings.Builder
	for _, n := range s.nodes.group(group, now) {
		pct := n.SyncPct
		if !n.Capacity {
			pct = 100
		}
		fmt.Fprintf(&sb, "%s %s %s %d %d %d %d %s\n", n.Addr, n.State, proto.SyncName(n.SyncState), pct, n.Lag, n.Free, n.Total, proto.HealthName(n.Health))
	}
	return sb.String()
}

// GroupsText is the GROUPS reply text: for every group, registered or with
// nodes, sorted by name, a group line, then one line per node sorted by
// address:
//
//	group NAME nodes=N active=N readable=N free=BYTES total=BYTES
//	  node ADDR state=STATE sync=SYNC progress=PCT% lag=N free=BYTES total=BYTES beat=AGE host=HOST version=V health=H
//
// STATE is OFFLINE, ONLINE or ACTIVE; SYNC is ACTIVE, WAIT_SYNC or SYNCING;
// H is OK, READONLY, FULL or SICK (whether the node can take uploads);
// readable counts ACTIVE nodes in sync (those SADDRS hands out); the group's
// free/total are the smallest its ACTIVE nodes report. Unknown values are
// "-"; AGE is whole seconds since the last BEAT ("12s") or "never".
func (s *Server) GroupsText(now time.Time) string {
	nodes := s.nodes.snapshot(now)
	caps := capacities(nodes)
	names := s.groups.names()
	for g := range caps {
		if !s.groups.has(g) {
			names = append(names, g)
		}
	}
	sortStrings(names)
	var sb strings.Builder
	for _, g := range names {
		var count, active int
		for _, n := range nodes {
			if n.Group == g {
				count++
				if n.State == Active {
					active++
				}
			}
		}
		c := caps[g]
		if c == nil {
			c = &groupCap{name: g}
		}
		fmt.Fprintf(&sb, "group %s nodes=%d active=%d readable=%d free=%s total=%s\n",
			g, count, active, c.readable, bytesOr(c.free, c.capKnown), bytesOr(c.total, c.capKnown))
		for _, n := range nodes {
			if n.Group != g {
				continue
			}
			progress, lag := "-", "-"
			if n.Capacity {
				progress, lag = fmt.Sprintf("%d%%", n.SyncPct), fmt.Sprint(n.Lag)
			}
			beat := "never"
			if !n.LastBeat.IsZero() {
				beat = fmt.Sprintf("%ds", int64(now.Sub(n.LastBeat)/time.Second))
			}
			fmt.Fprintf(&sb, "  node %s state=%s sync=%s progress=%s lag=%s free=%s total=%s beat=%s host=%s version=%s health=%s\n",
				n.Addr, n.State, proto.SyncName(n.SyncState), progress, lag, bytesOr(n.Free, n.Capacity), bytesOr(n.Total, n.Capacity),
				beat, cleanText(n.Host), cleanText(n.Version), proto.HealthName(n.Health))
		}
	}
	return sb.String()
}

func bytesOr(v int64, known bool) string {
	if !known {
		return "-"
	}
	return fmt.Sprint(v)
}
