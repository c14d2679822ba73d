package storagenode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
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
// copy of its own and DOWNLOAD would proxy a peer's.
func (s *Server) OpenLocal(ctx context.Context, appid, userid, fileid string, offset, size int64) (*os.File, int64, error) {
	ref := proto.FileRef{AppID: appid, UserID: userid, FileID: fileid}
	if err := checkRef(ref); err != nil {
		return nil, 0, err
	}
	if s.closing.Load() {
		return nil, 0, fmt.Errorf("%w: node closing", ErrNotLocal)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	row, _, err := s.resolve(ctx, ref)
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
