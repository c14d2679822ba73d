//go:build !linux

package storagenode

import "os"

// ctimeOf falls back to the modification time where the inode change time
// is not at hand.
func ctimeOf(fi os.FileInfo) int64 { return fi.ModTime().UnixNano() ^ fi.Size() }
