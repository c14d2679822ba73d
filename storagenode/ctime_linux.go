package storagenode

import (
	"os"
	"syscall"
)

// ctimeOf is the inode change time in nanoseconds. Any write, truncation,
// rename, chmod or utimes through the file system moves it, and no user
// space call can set it back: a copy whose ctime is the one recorded when
// its checksum was last verified has not been touched since.
func ctimeOf(fi os.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ctim.Sec*1e9 + st.Ctim.Nsec
	}
	return fi.ModTime().UnixNano()
}
