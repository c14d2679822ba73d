// Package sockcheck tells whether an idle pooled connection is still usable.
package sockcheck

import (
	"net"
	"syscall"
)

// Alive reports whether an idle connection is still open and holds no unread
// bytes, with a non-blocking peek: EOF means the server closed it, data means
// the stream is out of sync.
func Alive(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	ok = false
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		ok = err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
		return true
	})
	return err == nil && ok
}
