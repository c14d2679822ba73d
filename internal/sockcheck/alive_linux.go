// Package sockcheck tells whether an idle pooled connection is still usable.
package sockcheck

import (
	"crypto/tls"
	"net"
	"syscall"
)

// Alive reports whether an idle connection is still open and holds no unread
// bytes, with a non-blocking peek: EOF means the server closed it, data means
// the stream is out of sync. On a TLS connection the peek is on the socket
// under it, where an idle link has nothing to read either: a byte there is a
// close_notify (the server closed it) or a stream out of sync, both the end
// of the connection.
func Alive(nc net.Conn) bool {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
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
