package gateway

import (
	"crypto/tls"
	"io"
	"net"
	"time"
)

// lingerFor is how long a connection closed with a request body still
// arriving keeps reading (and dropping) it after the answer has gone out.
const lingerFor = 2 * time.Second

// lingerClose ends the connection of a request refused before its large
// body was read, the way net/http's server does: the answer is sent, the
// write side is shut (the client reads the answer and a clean end), and
// what the client still sends is read and dropped for a moment before the
// socket closes. Closing a socket with unread bytes instead makes the
// kernel send a reset, which can destroy the answer before the client has
// read it: a client uploading 300 MB saw "connection reset by peer", not
// the 501 it was sent.
//
// It hijacks the connection: fasthttp runs the function after writing the
// response, and closes the connection when it returns. Without
// Connection: close in the answer (fasthttp skips hijacks of connections
// marked closing), the shut write side tells the client instead.
func (r *request) lingerClose() {
	raw := r.c.Context().Conn()
	r.c.Context().Hijack(func(c net.Conn) {
		closeWrite(raw)
		c.SetReadDeadline(time.Now().Add(lingerFor))
		io.Copy(io.Discard, c)
	})
}

// closeWrite shuts the write side of a connection: a TLS close_notify, or
// a TCP FIN under the gateway's wrappers.
func closeWrite(c net.Conn) {
	for c != nil {
		switch x := c.(type) {
		case *tls.Conn:
			x.CloseWrite()
			return
		case interface{ CloseWrite() error }:
			x.CloseWrite()
			return
		case interface{ NetConn() net.Conn }:
			c = x.NetConn()
		default:
			return
		}
	}
}
