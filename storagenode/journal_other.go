//go:build !linux

package storagenode

// linkRidesFsync: unknown here, so the directory is fsynced too.
func linkRidesFsync(dir string) bool { return false }
