package storagenode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/tnv-s3/tnv/proto"
)

// ErrNotLocal says that OpenLocal cannot hand out a copy of this node's
// own; a DOWNLOAD over the network would serve the file (from a peer).
var ErrNotLocal = errors.New("storagenode: no local copy")

// OpenLocal is DOWNLOAD for a caller in this process (tnv up runs the
// gateway and the storage nodes in one): the same decision — reads follow
// the group log, the copy is checked against its CRC32C unless untouched
// since it was verified, a bad one is repaired from a peer — and instead
// of the bytes on a socket, the open file positioned at offset and the
// number of bytes to read from it (size 0: to the end). The caller then
// sends them with sendfile(2) itself, one hop and one TCP connection fewer
// than DOWNLOAD. Refusals are the error replies DOWNLOAD would give
// (*proto.ErrorReply); ErrNotLocal (wrapped) when this node has no good
// copy of its own and DOWNLOAD would proxy a peer's. live is
// DOWNLOAD_LIVE's promise: the caller's index holds the file live
// (resolveLive).
func (s *Server) OpenLocal(ctx context.Context, appid, userid, fileid string, offset, size int64, live bool) (*os.File, int64, error) {
	ref := proto.FileRef{AppID: appid, UserID: userid, FileID: fileid}
	if err := checkRef(ref); err != nil {
		return nil, 0, err
	}
	if s.closing.Load() {
		return nil, 0, fmt.Errorf("%w: node closing", ErrNotLocal)
	}
	// resolveLive and openVerified bound the database and repair work
	// they do (a cached row costs no timer).
	resolve := s.resolveLive
	if !live {
		resolve = s.resolveBounded
	}
	row, _, err := resolve(ctx, ref)
	if err != nil {
		return nil, 0, err
	}
	if row == nil {
		return nil, 0, ErrNotLocal
	}
	d := &proto.Download{FileRef: ref, Offset: offset, Size: size}
	n, err := rangeOf(d, row.size)
	if err != nil {
		return nil, 0, err
	}
	f, err := s.openVerified(ctx, ref, row, true)
	if err != nil {
		var re *proto.ErrorReply
		if errors.As(err, &re) {
			return nil, 0, err
		}
		return nil, 0, fmt.Errorf("%w: %v", ErrNotLocal, err)
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, n, nil
}

// listenLocal listens on the Unix socket path, mode 0600, replacing a
// socket left by an earlier run (never any other kind of file).
func listenLocal(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		os.Remove(path)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// handleLocalOpen serves LOCAL_OPEN (79) and LOCAL_OPEN_LIVE (82) on the
// Unix socket: OpenLocal's answer, the file passed along with the reply.
func (s *Server) handleLocalOpen(c *conn, h proto.Header, live bool) (bool, error) {
	b, err := c.readBody(h)
	if err != nil {
		return false, nil
	}
	uc, ok := c.nc.(*net.UnixConn)
	if !ok {
		return true, proto.Errorf(proto.ENOSYS, "LOCAL_OPEN is served on the node's Unix socket only")
	}
	d, err := proto.DecodeDownload(b)
	if err != nil {
		return true, decodeErr(err)
	}
	f, n, err := s.OpenLocal(s.ctx, d.AppID, d.UserID, d.FileID, d.Offset, d.Size, live)
	if errors.Is(err, ErrNotLocal) {
		return true, proto.Errorf(proto.EXDEV, "%v", err)
	}
	if err != nil {
		return true, err
	}
	defer f.Close() // the receiver holds its own descriptor
	msg := make([]byte, proto.HeaderLen, proto.HeaderLen+8)
	proto.Header{BodyLen: 8, Cmd: proto.CmdStorageReply}.Encode(msg)
	msg = append(msg, proto.EncodeInt64(n)...)
	uc.SetWriteDeadline(time.Now().Add(s.cfg.IOTimeout))
	if _, _, err := uc.WriteMsgUnix(msg, syscall.UnixRights(int(f.Fd())), nil); err != nil {
		return false, nil
	}
	return true, nil
}
