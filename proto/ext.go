package proto

// Extension commands beyond the seed's (documented in docs/protocol.md) add
// their body bounds here so that CheckRequest knows them.
func extensionLimits(cmd uint8) (min, max int64, ok bool) {
	switch cmd {
	}
	return 0, 0, false
}
