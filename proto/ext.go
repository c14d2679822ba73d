package proto

// CmdTrackerMembers (14, extension) asks a tracker for the members of one
// group: request groupname[17], reply 100 with NUL-terminated text, one line
// per member (docs/protocol.md, "Tracker extensions").
const CmdTrackerMembers uint8 = 14

// MembersBodyLen is the request body of MEMBERS: one group name field.
const MembersBodyLen = GroupNameSize

// Extension commands beyond the seed's (documented in docs/protocol.md) add
// their body bounds here so that CheckRequest knows them.
func extensionLimits(cmd uint8) (min, max int64, ok bool) {
	switch cmd {
	case CmdTrackerMembers:
		return MembersBodyLen, MembersBodyLen, true
	}
	return 0, 0, false
}
