package storagenode

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// openTmpfile opens an unnamed file in dir (O_TMPFILE): nothing to remove
// on failure, nothing left behind by a crash, and no name to create and
// unlink in a directory that every upload shares.
func openTmpfile(dir string) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_RDWR|unix.O_TMPFILE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, &os.PathError{Op: "open O_TMPFILE", Path: dir, Err: err}
	}
	return os.NewFile(uintptr(fd), dir+"/(unnamed)"), nil
}

// linkTmpfile gives an unnamed file the name dst (never replacing one:
// os.ErrExist). Through /proc/self/fd, as linkat's AT_EMPTY_PATH needs a
// capability.
func linkTmpfile(f *os.File, dst string) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) {
		lerr = unix.Linkat(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", fd), unix.AT_FDCWD, dst, unix.AT_SYMLINK_FOLLOW)
	}); err != nil {
		return err
	}
	if lerr != nil {
		return &os.LinkError{Op: "link", Old: f.Name(), New: dst, Err: lerr}
	}
	return nil
}
