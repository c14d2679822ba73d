package storagenode

import (
	"context"
	"net"

	"github.com/tnv-s3/tnv/internal/tnvauth"
	"github.com/tnv-s3/tnv/proto"
)

// authenticate runs the cluster handshake on a new connection before its
// first frame (nothing to do without Config.Auth, or on the local Unix
// socket, whose file mode is its guard). false: refused, close it.
func (s *Server) authenticate(nc net.Conn) bool {
	if _, local := nc.(*net.UnixConn); local {
		return true
	}
	if err := tnvauth.Server(nc, s.cfg.Auth, proto.CmdStorageReply); err != nil {
		s.log.Log(context.Background(), tnvauth.LogLevel(err), "storage: refused a connection", "peer", nc.RemoteAddr().String(), "err", err)
		return false
	}
	return true
}
