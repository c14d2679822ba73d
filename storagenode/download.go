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

// resolve decides how a read of ref is served: from this node's row, or,
// when the group log has the file and this node lacks it (or holds an older
// copy), from a peer (remote). Reads follow the log, so a file acknowledged
// anywhere in the group is never ENOENT here, and a file deleted anywhere is
// ENOENT at once. The common case (this node's copy is the group's live
// one) is settled by readableRow's two key lookups; the rest by the row and
// the log's last entry.
func (s *Server) resolve(ctx context.Context, ref proto.FileRef) (*fileRow, *logEntry, error) {
	gen := s.rows.begin()
	if row, err := s.readableRow(ctx, ref); err != nil || row != nil {
		if row != nil {
			s.rows.fill(gen, ref, row)
		}
		return row, nil, err
	}
	row, latest, err := s.fileState(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	notFound := proto.Errorf(proto.ENOENT, "no file %s/%s/%s", ref.AppID, ref.UserID, ref.FileID)
	switch {
	case latest == nil:
		if row != nil && row.status == statusOK {
			return row, nil, nil
		}
		return nil, nil, notFound
	case latest.op == opDel:
		if row != nil && row.status == statusOK {
			// A delete this node missed: applied now. (A pending row is an
			// upload in flight that reuses the ID: left alone.)
			s.setStatus(ctx, row, statusOK, statusDeleted, latest.created)
		}
		return nil, nil, notFound
	}
	if row != nil && row.size == latest.size && row.crc == latest.crc {
		switch row.status {
		case statusOK:
			return row, nil, nil
		case statusPending:
			// Our copy of an upload the group has committed.
			if ok, err := s.setStatus(ctx, row, statusPending, statusOK, 0); err != nil {
				return nil, nil, err
			} else if ok {
				row.status = statusOK
				return row, nil, nil
			}
		}
	}
	return nil, latest, nil
}

// resolveBounded is resolve under dbTimeout.
func (s *Server) resolveBounded(ctx context.Context, ref proto.FileRef) (*fileRow, *logEntry, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	return s.resolve(ctx, ref)
}

// resolveLive is resolve for a caller that vouches that the file is live
// (DOWNLOAD_LIVE, LOCAL_OPEN_LIVE: the S3 gateway, which has just read the
// object's row in its index, written only after the group log had the
// put). This node's own readable row then says all there is: it comes
// from the cache when a read found it lately, without a query. A file
// another member deleted since is served until this node applies the
// delete, as it was live when the caller looked; a read that misses the
// cache is resolve's.
//
// ctx need not carry a deadline: a query, when one is made, runs under
// dbTimeout (a cached row costs no timer).
func (s *Server) resolveLive(ctx context.Context, ref proto.FileRef) (*fileRow, *logEntry, error) {
	if row := s.rows.get(ref); row != nil {
		return row, nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	return s.resolve(ctx, ref)
}

// readMode is what a DOWNLOAD-shaped request asks.
type readMode int

const (
	readDownload readMode = iota // DOWNLOAD: follows the group log, proxies a peer's copy
	readLive                     // DOWNLOAD_LIVE: DOWNLOAD, the file vouched live (resolveLive)
	readFetch                    // FETCH: this node's own copy only
)

// handleFilesize serves FILESIZE (71).
func (s *Server) handleFilesize(c *conn, h proto.Header) (bool, error) {
	b, err := c.readBody(h)
	if err != nil {
		return false, nil
	}
	ref, err := proto.DecodeFileRef(b)
	if err != nil {
		return true, decodeErr(err)
	}
	if err := checkRef(*ref); err != nil {
		return true, err
	}
	ctx, cancel := s.dbctx()
	defer cancel()
	row, remote, err := s.resolve(ctx, *ref)
	if err != nil {
		return true, err
	}
	size := int64(0)
	if row != nil {
		size = row.size
	} else {
		size = remote.size
		s.sync.kick()
	}
	return true, c.reply(proto.EncodeInt64(size))
}

// handleDownload serves DOWNLOAD (72), DOWNLOAD_LIVE (81) and FETCH (76),
// a peer's copy: the same bytes preceded by the file's CRC32C and size.
// A FETCH is served from this node's copy only, never from a peer.
func (s *Server) handleDownload(c *conn, h proto.Header, mode readMode) (bool, error) {
	fetch := mode == readFetch
	b, err := c.readBody(h)
	if err != nil {
		return false, nil
	}
	d, err := proto.DecodeDownload(b)
	if err != nil {
		return true, decodeErr(err)
	}
	if err := checkRef(d.FileRef); err != nil {
		return true, err
	}
	// No deadline here: resolveLive and openVerified set one for the
	// database and repair work they do, which a cached row skips.
	ctx := s.ctx
	resolve := s.resolveLive
	if mode != readLive {
		resolve = s.resolveBounded
	}
	row, remote, err := resolve(ctx, d.FileRef)
	if err != nil {
		return true, err
	}
	if row != nil {
		f, err := s.openVerified(ctx, d.FileRef, row, !fetch)
		if err == nil {
			defer f.Close()
			return s.sendLocal(c, f, row, d, fetch)
		}
		var re *proto.ErrorReply
		if errors.As(err, &re) || fetch {
			return true, err
		}
		// A corrupt or missing copy that could not be repaired: a peer's
		// copy is sent instead.
		remote = &logEntry{op: opPut, ref: d.FileRef, size: row.size, crc: row.crc}
	}
	if fetch {
		return true, proto.Errorf(proto.ENOENT, "no copy of %s here", d.FileID)
	}
	s.sync.kick()
	return s.proxy(c, d, remote)
}

// rangeOf checks a DOWNLOAD's offset and size against a file of fsize bytes
// and returns the number of bytes to send.
func rangeOf(d *proto.Download, fsize int64) (int64, error) {
	if d.Offset > fsize {
		return 0, proto.Errorf(proto.ERANGE, "offset %d beyond the file's %d bytes", d.Offset, fsize)
	}
	if d.Size == 0 {
		return fsize - d.Offset, nil
	}
	if d.Size > fsize-d.Offset {
		return 0, proto.Errorf(proto.ERANGE, "offset %d + size %d beyond the file's %d bytes", d.Offset, d.Size, fsize)
	}
	return d.Size, nil
}

// sendLocal answers from this node's copy: the reply header, then the bytes
// sent from the file with sendfile.
func (s *Server) sendLocal(c *conn, f *os.File, row *fileRow, d *proto.Download, fetch bool) (bool, error) {
	n, err := rangeOf(d, row.size)
	if err != nil {
		return true, err
	}
	hb := make([]byte, proto.HeaderLen, proto.HeaderLen+proto.FetchReplyHeadLen)
	bodyLen := n
	if fetch {
		bodyLen += proto.FetchReplyHeadLen
		hb = append(hb, proto.FetchReplyHead{CRC32C: row.crc, FileSize: row.size}.Encode()...)
	}
	proto.Header{BodyLen: bodyLen, Cmd: proto.CmdStorageReply}.Encode(hb)
	c.nc.SetWriteDeadline(time.Now().Add(s.cfg.IOTimeout))
	if err := writeMore(c.nc, hb, n > 0); err != nil {
		return false, nil
	}
	if err := s.sendFile(c.nc, f, d.Offset, n); err != nil {
		s.log.Debug("storage: download cut short", "fileid", d.FileID, "err", err)
		return false, nil
	}
	return true, nil
}

// writeMore writes b to w; when more follows on a TCP connection, with
// MSG_MORE, so that the kernel holds a small head back for the bytes that
// follow (sendfile's) and a small reply leaves in one segment, waking the
// reader once instead of twice.
func writeMore(w net.Conn, b []byte, more bool) error {
	tc, ok := w.(*net.TCPConn)
	if !more || !ok {
		_, err := w.Write(b)
		return err
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return err
	}
	var werr error
	err = rc.Write(func(fd uintptr) bool {
		for len(b) > 0 {
			n, err := syscall.SendmsgN(int(fd), b, nil, nil, syscall.MSG_MORE)
			if err == syscall.EAGAIN {
				return false // wait until writable (the deadline applies)
			}
			if err == syscall.EINTR {
				continue
			}
			if err != nil {
				werr = err
				return true
			}
			b = b[n:]
		}
		return true
	})
	if err != nil {
		return err
	}
	return werr
}

// sendChunk is how much is sent per write deadline.
const sendChunk = 8 << 20

// sendFile writes n bytes of f from off to w. On a TCP connection,
// TCPConn.ReadFrom of an io.LimitedReader around an *os.File is sendfile(2)
// on Linux: the bytes go from the page cache to the socket.
func (s *Server) sendFile(w net.Conn, f *os.File, off, n int64) error {
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return err
	}
	tc, _ := w.(*net.TCPConn)
	var bp *[]byte
	for n > 0 {
		chunk := min(n, sendChunk)
		w.SetWriteDeadline(time.Now().Add(s.cfg.IOTimeout))
		var m int64
		var err error
		if tc != nil {
			m, err = tc.ReadFrom(io.LimitReader(f, chunk))
		} else {
			if bp == nil {
				bp = s.getBuf()
				defer s.putBuf(bp)
			}
			m, err = io.CopyBuffer(writerOnly{w}, io.LimitReader(f, chunk), *bp)
		}
		n -= m
		if err != nil {
			return err
		}
		if m < chunk {
			return io.ErrUnexpectedEOF
		}
	}
	return nil
}

type writerOnly struct{ io.Writer }

// openVerified opens this node's copy. Its CRC32C is checked against the row
// unless the file's ctime is the one recorded when it was last verified
// (written, copied or scrubbed here: nothing has written to it since) and
// that verification is recent (its mtime, checkCopy). A copy that fails is
// repaired from a peer when possible (not for a FETCH: members would ask
// each other in circles); the error then says it could not be.
func (s *Server) openVerified(ctx context.Context, ref proto.FileRef, row *fileRow, repair bool) (*os.File, error) {
	for attempt := 0; ; attempt++ {
		f, bad, err := s.checkCopy(row, s.verifyAge(), nil)
		if err != nil || bad == "" {
			return f, err
		}
		s.log.Error("storage: bad copy", "appid", ref.AppID, "userid", ref.UserID, "fileid", ref.FileID, "store", row.store, "path", row.path, "problem", bad)
		if !repair {
			return nil, proto.Errorf(proto.EIO, "copy of %s is bad: %s", ref.FileID, bad)
		}
		if attempt > 0 {
			return nil, fmt.Errorf("copy of %s still bad after repair: %s", ref.FileID, bad)
		}
		rctx, cancel := context.WithTimeout(ctx, dbTimeout)
		nr, err := s.repair(rctx, ref, row)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("copy of %s is bad (%s) and not repaired: %w", ref.FileID, bad, err)
		}
		row = nr
	}
}

// checkCopy opens the file of row and verifies it when needed (always when
// maxAge <= 0); pace, when set, limits the read rate. bad says what is
// wrong with the copy ("" when it is good).
//
// A copy is trusted without reading it while two things hold. Its ctime is
// the row's vctime, recorded when it was last verified: nothing has changed
// it through the file system since. And that verification is younger than
// maxAge (for reads the scrub period): the file's mtime is the time of its last
// verification — set when it was written, and by checkCopy after each
// verification, which moves the ctime it then records — so that rot below
// the file system, which moves neither, is caught by the first read after
// the period even before the scrub reaches the file.
func (s *Server) checkCopy(row *fileRow, maxAge time.Duration, pace *pacer) (f *os.File, bad string, err error) {
	st := s.byKey[row.store]
	if st == nil {
		return nil, "unknown store " + row.store, nil
	}
	p, err := st.abs(row.path)
	if err != nil {
		return nil, err.Error(), nil
	}
	f, err = os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, "missing", nil
	}
	if err != nil {
		return nil, "", err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, "", err
	}
	if fi.Size() != row.size {
		f.Close()
		return nil, fmt.Sprintf("size %d, want %d", fi.Size(), row.size), nil
	}
	ct := ctimeOf(fi)
	if maxAge > 0 && row.vctime == ct && time.Since(fi.ModTime()) < maxAge {
		return f, "", nil
	}
	bp := s.getBuf()
	crc, n, err := pace.fileCRC(f, *bp)
	s.putBuf(bp)
	if err != nil {
		f.Close()
		return nil, "", err
	}
	if n != row.size || crc != row.crc {
		f.Close()
		s.st.shard[row.shard].setCorrupt.ExecContext(s.ctx, row.id)
		s.rows.drop(row)
		return nil, fmt.Sprintf("CRC32C %08x, want %08x", crc, row.crc), nil
	}
	// Stamp the verification: mtime now, and the ctime that moves with it
	// recorded. A store that refuses (read-only) keeps the old mtime: the
	// copy is verified again on its next read.
	if now := time.Now(); os.Chtimes(p, now, now) == nil {
		if fi, err := f.Stat(); err == nil {
			ct = ctimeOf(fi)
		}
	}
	if _, err := s.st.shard[row.shard].setVctime.ExecContext(s.ctx, ct, row.id); err == nil {
		row.vctime = ct
	}
	s.rows.drop(row)
	return f, "", nil
}
