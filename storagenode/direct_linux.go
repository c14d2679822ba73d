package storagenode

import (
	"os"
	"syscall"
	"unsafe"
)

// directAlign is what O_DIRECT asks of a write's buffer address, length and
// file offset (the largest logical block size in common use).
const directAlign = 4096

// setDirect turns O_DIRECT on or off for f. It reports false when the file
// system refuses (tmpfs on older kernels, some FUSE mounts).
func setDirect(f *os.File, on bool) bool {
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	ok := false
	rc.Control(func(fd uintptr) {
		fl, _, e := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_GETFL, 0)
		if e != 0 {
			return
		}
		if on {
			fl |= syscall.O_DIRECT
		} else {
			fl &^= syscall.O_DIRECT
		}
		_, _, e = syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_SETFL, fl)
		ok = e == 0
	})
	return ok
}

// directOK reports whether p can be written with O_DIRECT.
func directOK(p []byte) bool {
	return len(p) > 0 && len(p)%directAlign == 0 && uintptr(unsafe.Pointer(&p[0]))%directAlign == 0
}
