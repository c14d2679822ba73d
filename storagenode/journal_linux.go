package storagenode

import (
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// File systems whose fsync of a file makes a link to it durable.
const (
	ext4Magic = 0xEF53 // ext2, ext3 and ext4 alike: journal checked apart
	xfsMagic  = 0x58465342
)

// linkRidesFsync reports whether, in dir, an fsync of a file makes durable
// a link to it made before (so that the directory's own fsync is
// redundant): the link changes the directory and the file's inode (its link
// count) in one journal transaction, and the file's fsync commits the
// journal up to its inode's last change — every transaction before it
// included. True for XFS (metadata always logged) and for ext4 with a
// journal (ext2, and ext4 without one, are told apart by the journal thread
// the kernel lists for the device in /sys/fs/ext4). Anything else, or in
// doubt: false, and the directory is fsynced as POSIX asks.
func linkRidesFsync(dir string) bool {
	var sf unix.Statfs_t
	if err := unix.Statfs(dir, &sf); err != nil {
		return false
	}
	switch uint32(sf.Type) {
	case xfsMagic:
		return true
	case ext4Magic:
	default:
		return false
	}
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return false
	}
	dev, err := os.Readlink(filepath.Join("/sys/dev/block", devName(st.Dev)))
	if err != nil {
		return false
	}
	_, err = os.Stat(filepath.Join("/sys/fs/ext4", filepath.Base(dev), "journal_task"))
	return err == nil
}

func devName(dev uint64) string {
	return strconv.FormatUint(uint64(unix.Major(dev)), 10) + ":" + strconv.FormatUint(uint64(unix.Minor(dev)), 10)
}
