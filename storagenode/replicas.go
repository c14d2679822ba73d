package storagenode

import (
	"context"

	"github.com/tnv-s3/tnv/proto"
)

// countCopies checks an upload about to be acknowledged against the group:
// when fewer members than the group has hold it (this node and those that
// acked), it is counted (UnderReplicated, the metric
// tnv_storage_underreplicated_writes_total) and a warning names the file
// and the members without it. Those members copy it from the group log
// once they can (sync.go): back from a restart, or able to write again.
func (s *Server) countCopies(ctx context.Context, ref proto.FileRef, acked []string) {
	members := s.trackers.groupMembers(ctx)
	have := map[string]bool{s.node: true}
	for _, a := range acked {
		have[a] = true
	}
	var missing []string
	for _, m := range members {
		if !have[m.Addr] {
			missing = append(missing, m.Addr+" ("+m.State+"/"+m.Health+")")
		}
	}
	if len(missing) == 0 {
		return
	}
	s.underReplicated.Add(1)
	s.log.Warn("storage: write acknowledged with fewer copies than the group has members; the others catch up from the group log",
		"appid", ref.AppID, "userid", ref.UserID, "fileid", ref.FileID, "copies", len(acked)+1, "members", len(members), "missing", missing)
}

// UnderReplicated is the number of uploads this node acknowledged with
// fewer copies than its group has members.
func (s *Server) UnderReplicated() int64 { return s.underReplicated.Load() }
