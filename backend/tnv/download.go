package tnv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/tnv-s3/tnv/proto"
)

var errBodyClosed = errors.New("tnv: read on closed download")

// stream is an open DOWNLOAD reply on one connection.
type stream struct {
	cn   *conn
	stop func() bool // ends the ctx watch; false if ctx already closed cn
}

// done hands the connection back: to the pool when the reply was read
// whole, else closed.
func (c *Client) done(s *stream, whole bool) {
	if !s.stop() || !whole {
		s.cn.broken = true
	}
	c.put(s.cn)
}

// openDownload sends DOWNLOAD (DOWNLOAD_LIVE with live) to addr and reads
// the reply header. want, if not negative, is the exact body length the
// reply must announce (a resume). A node that does not know DOWNLOAD_LIVE
// is asked with DOWNLOAD, now and from then on.
func (c *Client) openDownload(ctx context.Context, addr string, d *proto.Download, want int64, live bool) (*stream, int64, error) {
	if live {
		if _, old := c.noLive.Load(addr); !old {
			s, n, err := c.openDownloadCmd(ctx, addr, d, want, proto.CmdStorageDownloadLive)
			if !unknownCommand(err) {
				return s, n, err
			}
			c.noLive.Store(addr, true)
			c.log.Info("tnv: storage node does not know DOWNLOAD_LIVE, using DOWNLOAD", "addr", addr)
		}
	}
	return c.openDownloadCmd(ctx, addr, d, want, proto.CmdStorageDownload)
}

// unknownCommand reports whether err is a node's refusal of a command it
// does not know (ENOSYS; the node closes the connection after it).
func unknownCommand(err error) bool {
	var re *proto.ErrorReply
	return errors.As(err, &re) && re.Errno == proto.ENOSYS
}

// openDownloadCmd is openDownload with the command given.
func (c *Client) openDownloadCmd(ctx context.Context, addr string, d *proto.Download, want int64, cmd uint8) (*stream, int64, error) {
	if c.closed.Load() {
		return nil, 0, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	body, err := d.Encode()
	if err != nil {
		return nil, 0, err
	}
	var (
		cn *conn
		s  *stream
		h  proto.Header
	)
	fail := func(err error) (*stream, int64, error) {
		if !s.stop() {
			cn.broken = true
			err = ctx.Err()
		}
		c.put(cn)
		return nil, 0, err
	}
	for fresh := false; ; fresh = true {
		if cn, err = c.get(ctx, addr, fresh); err != nil {
			return nil, 0, err
		}
		s = &stream{cn: cn, stop: cn.watch(ctx)}
		if err = proto.WriteFrame(cn, cmd, proto.StatusOK, body); err == nil {
			h, err = proto.ReadHeader(cn)
		}
		if err == nil {
			break
		}
		cn.broken = true
		cn.nc.Fail()
		if fresh || !cn.nc.Stale(ctx, err) {
			return fail(err)
		}
		// A pooled connection the server closed while it sat idle: the
		// request was not taken; ask again on a new one.
		s.stop()
		c.put(cn)
	}
	if h.Status != proto.StatusOK {
		b, err := proto.ReadBody(cn, h, proto.MaxErrorBody)
		if err != nil {
			cn.broken = true
			return fail(fmt.Errorf("proto: error reply: %w", err))
		}
		re, err := proto.DecodeError(b)
		if err != nil {
			return fail(fmt.Errorf("proto: error reply: %w", err))
		}
		if unknownCommand(re) {
			cn.broken = true // the node closes the connection after it
		}
		return fail(re)
	}
	switch {
	case h.Cmd != proto.CmdStorageReply:
		cn.broken = true
		return fail(fmt.Errorf("proto: reply command %d, want %d", h.Cmd, proto.CmdStorageReply))
	case want >= 0 && h.BodyLen != want, d.Size > 0 && h.BodyLen > d.Size:
		cn.broken = true
		return fail(fmt.Errorf("proto: DOWNLOAD of %d bytes at %d answered with %d", d.Size, d.Offset, h.BodyLen))
	}
	return s, h.BodyLen, nil
}

// Download returns the file's bytes from offset on, size of them (0 = to the
// end), streamed from the storage node's connection. If that node fails
// midway, the rest is asked from the group's other nodes. Close returns the
// connection to the pool when the body was read whole, else drops it; Close
// may be called from another goroutine to abort a Read.
func (c *Client) Download(ctx context.Context, appid, userid, fileid string, offset, size int64) (io.ReadCloser, error) {
	return c.download(ctx, appid, userid, fileid, offset, size, false)
}

// DownloadLive is Download for a caller whose own index holds the file
// live, having just read it there (the S3 gateway: its index row of an
// object is written after the group log has the blob's put, and removed
// before the blob is deleted). A node may then serve its own copy without
// asking the group log whether another member deleted the file since
// (DOWNLOAD_LIVE, LOCAL_OPEN_LIVE; docs/protocol.md): one database query
// fewer per read. A caller that has not looked the file up in such an
// index wants Download.
func (c *Client) DownloadLive(ctx context.Context, appid, userid, fileid string, offset, size int64) (io.ReadCloser, error) {
	return c.download(ctx, appid, userid, fileid, offset, size, true)
}

// download is Download, DownloadLive with live.
func (c *Client) download(ctx context.Context, appid, userid, fileid string, offset, size int64, live bool) (io.ReadCloser, error) {
	ref, err := fileRef(appid, userid, fileid)
	if err != nil {
		return nil, fmt.Errorf("tnv: download: %w", err)
	}
	if offset < 0 || size < 0 {
		return nil, fmt.Errorf("tnv: download %s: %w: offset %d size %d", fileid, ErrInvalid, offset, size)
	}
	b := &body{c: c, ctx: ctx, ref: ref, off: offset, live: live}
	var lb *localBody
	rest, err := c.onNodes(ctx, "download", ref, true, nil, func(addr string) error {
		if ln := c.localNode(addr); ln != nil {
			f, n, err := ln.OpenLocal(ctx, appid, userid, fileid, offset, size, live)
			if err == nil {
				lb = &localBody{f: f, remain: n}
				return nil
			}
			var re *proto.ErrorReply
			if errors.As(err, &re) {
				return re
			}
			if sn, ok := ln.(*sockNode); ok && !errors.Is(err, errNoLocalCopy) {
				c.dropLocal(addr, sn) // the socket failed: over the network until it is found again
			}
			c.log.Debug("tnv: no local copy, downloading over the network", "addr", addr, "fileid", fileid, "err", err)
		}
		s, n, err := c.openDownload(ctx, addr, &proto.Download{FileRef: ref, Offset: offset, Size: size}, -1, live)
		if err != nil {
			return err
		}
		b.s, b.remain = s, n
		return nil
	})
	if err != nil {
		return nil, err
	}
	if lb != nil {
		return lb, nil
	}
	b.rest = rest
	if b.remain == 0 {
		c.done(b.s, true)
		b.s = nil
	}
	return b, nil
}

// body is the ReadCloser of Download.
type body struct {
	c    *Client
	ctx  context.Context
	ref  proto.FileRef
	rest []string // nodes to resume on
	live bool     // DownloadLive's

	mu     sync.Mutex
	s      *stream // nil when released, or lost and to be resumed
	off    int64   // file offset of the next byte
	remain int64   // bytes still to come
	err    error   // sticky
	closed bool
}

func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	switch {
	case b.closed:
		b.mu.Unlock()
		return 0, errBodyClosed
	case b.err != nil:
		b.mu.Unlock()
		return 0, b.err
	case b.remain == 0:
		b.mu.Unlock()
		return 0, io.EOF
	}
	s := b.s
	if int64(len(p)) > b.remain {
		p = p[:b.remain]
	}
	b.mu.Unlock()
	if s == nil {
		var err error
		if s, err = b.resume(); err != nil {
			return 0, err
		}
	}
	n, err := s.cn.Read(p)

	b.mu.Lock()
	defer b.mu.Unlock()
	b.off += int64(n)
	b.remain -= int64(n)
	switch {
	case b.closed:
		return n, errBodyClosed
	case b.remain == 0:
		b.c.done(s, true)
		b.s = nil
		return n, nil
	case err == nil:
		return n, nil
	}
	b.c.done(s, false)
	b.s = nil
	if b.ctx.Err() != nil {
		b.err = fmt.Errorf("tnv: download %s: %w", b.ref.FileID, b.ctx.Err())
	} else if len(b.rest) == 0 {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		b.err = fmt.Errorf("tnv: download %s: storage %s: %w", b.ref.FileID, s.cn.nc.Addr, err)
	} else {
		b.c.markDown(s.cn.nc.Addr)
		b.c.log.Debug("tnv: download broke off, resuming on another node",
			"fileid", b.ref.FileID, "addr", s.cn.nc.Addr, "offset", b.off, "err", err)
	}
	if n > 0 {
		return n, nil
	}
	if b.err != nil {
		return 0, b.err
	}
	return 0, nil // the next Read resumes
}

// spliceChunk is how much WriteTo moves per deadline push.
const spliceChunk = 4 << 20

// WriteTo streams the rest of the download to w. The bytes are copied from
// the storage node's connection with w's ReadFrom when it has one, which for
// a TCP destination is splice(2): socket to socket without passing through
// user space. The progress deadline is pushed per spliceChunk. A node that
// ends its reply early is resumed on another one as with Read; an error
// during a copy is final (it may have been the destination's).
func (b *body) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		b.mu.Lock()
		switch {
		case b.closed:
			b.mu.Unlock()
			return total, errBodyClosed
		case b.err != nil:
			b.mu.Unlock()
			return total, b.err
		case b.remain == 0:
			b.mu.Unlock()
			return total, nil
		}
		s, chunk := b.s, min(b.remain, spliceChunk)
		b.mu.Unlock()
		if s == nil {
			var err error
			if s, err = b.resume(); err != nil {
				return total, err
			}
		}
		s.cn.pushed = time.Now()
		// The connection itself, not the pool's wrapper: splice(2) needs
		// the *net.TCPConn. A *tls.Conn is read through a buffer by w's
		// ReadFrom (net.TCPConn falls back to a copy for any other source).
		raw := s.cn.nc.Conn
		raw.SetDeadline(s.cn.pushed.Add(s.cn.timeout))
		n, err := io.Copy(w, &io.LimitedReader{R: raw, N: chunk})
		total += n

		b.mu.Lock()
		b.off += n
		b.remain -= n
		switch {
		case b.closed:
			b.mu.Unlock()
			return total, errBodyClosed
		case b.remain == 0:
			b.c.done(s, true)
			b.s = nil
			b.mu.Unlock()
			return total, nil
		case err == nil && n == chunk:
			b.mu.Unlock()
			continue
		}
		b.c.done(s, false)
		b.s = nil
		switch {
		case b.ctx.Err() != nil:
			b.err = fmt.Errorf("tnv: download %s: %w", b.ref.FileID, b.ctx.Err())
		case err != nil:
			b.err = fmt.Errorf("tnv: download %s: storage %s: %w", b.ref.FileID, s.cn.nc.Addr, err)
		case len(b.rest) == 0:
			b.err = fmt.Errorf("tnv: download %s: storage %s: %w", b.ref.FileID, s.cn.nc.Addr, io.ErrUnexpectedEOF)
		default: // the node's reply ended early: the next round resumes
			b.c.markDown(s.cn.nc.Addr)
			b.c.log.Debug("tnv: download broke off, resuming on another node",
				"fileid", b.ref.FileID, "addr", s.cn.nc.Addr, "offset", b.off)
		}
		err = b.err
		b.mu.Unlock()
		if err != nil {
			return total, err
		}
	}
}

// resume asks the remaining nodes for the rest of the range.
func (b *body) resume() (*stream, error) {
	b.mu.Lock()
	off, remain, rest := b.off, b.remain, b.rest
	b.mu.Unlock()
	var errs []error
	for i, addr := range rest {
		d := &proto.Download{FileRef: b.ref, Offset: off, Size: remain}
		s, _, err := b.c.openDownload(b.ctx, addr, d, remain, b.live)
		if err == nil {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.rest = rest[i+1:]
			if b.closed {
				b.c.done(s, false)
				return nil, errBodyClosed
			}
			b.s = s
			return s, nil
		}
		if b.ctx.Err() != nil {
			errs = append(errs, b.ctx.Err())
			break
		}
		errs = append(errs, fmt.Errorf("storage %s: %w", addr, err))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rest = nil
	b.err = fmt.Errorf("tnv: download %s: resuming at %d: %w", b.ref.FileID, off, errors.Join(errs...))
	return nil, b.err
}

// Close ends the download. A connection not read to the end is dropped.
func (b *body) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	if b.s != nil {
		b.c.done(b.s, false)
		b.s = nil
	}
	return nil
}

// DownloadTo writes the file's bytes from offset on, size of them (0 = to
// the end), to w, and returns how many it wrote.
func (c *Client) DownloadTo(ctx context.Context, appid, userid, fileid string, offset, size int64, w io.Writer) (int64, error) {
	rc, err := c.Download(ctx, appid, userid, fileid, offset, size)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	return io.CopyBuffer(writerOnly{w}, rc, *bp)
}

func (c *Client) localNode(addr string) LocalNode {
	switch {
	case c.cfg.Local != nil:
		return c.cfg.Local(addr)
	case c.cfg.LocalReads:
		return c.discoverLocal(addr)
	}
	return nil
}

// localBody is a download from a storage node in this process: its file,
// positioned, and the bytes left.
type localBody struct {
	f      *os.File
	remain int64
	once   sync.Once
}

func (b *localBody) Read(p []byte) (int, error) {
	if b.remain <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.remain {
		p = p[:b.remain]
	}
	n, err := b.f.Read(p)
	b.remain -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF // shorter than the node said
	}
	return n, err
}

// WriteTo sends the rest to w. io.Copy hands w's ReadFrom a LimitedReader
// around the file, which a TCP connection (or a bufio.Writer in front of
// one, as fasthttp's) turns into sendfile(2).
func (b *localBody) WriteTo(w io.Writer) (int64, error) {
	lr := &io.LimitedReader{R: b.f, N: b.remain}
	n, err := io.Copy(w, lr)
	b.remain -= n
	if err == nil && b.remain > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// Close closes the file; it may be called from another goroutine to abort
// a Read.
func (b *localBody) Close() error {
	b.once.Do(func() { b.f.Close() })
	return nil
}
