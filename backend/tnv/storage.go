package tnv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tnv-s3/tnv/proto"
)

// stopError ends the failover: trying another node cannot help (the caller's
// reader failed, or the body is partly consumed and cannot be rewound).
type stopError struct{ err error }

func (e *stopError) Error() string { return e.err.Error() }
func (e *stopError) Unwrap() error { return e.err }

func isStop(err error) bool {
	var se *stopError
	return errors.As(err, &se)
}

// onNodes runs try on the storage nodes of the file's group, in the tracker's
// order with recently failed nodes last, until one succeeds or an error
// settles the request. read marks FILESIZE/DOWNLOAD, for which a mirror's
// ENOENT is not final. again, if set, is asked before each further attempt.
// It returns the nodes not tried.
func (c *Client) onNodes(ctx context.Context, op string, ref proto.FileRef, read bool,
	again func() bool, try func(addr string) error) ([]string, error) {
	l, err := c.locate(ctx, ref.AppID, ref.UserID, ref.FileID)
	if err != nil {
		return nil, fmt.Errorf("tnv: %s %s: %w", op, ref.FileID, err)
	}
	group, addrs := l.group, c.order(l.addrs)
	if op == "upload" && l.unwritable > 0 {
		// Nodes that cannot write now (read-only, full, failing) last:
		// tried only when every other one failed.
		k := len(l.addrs) - l.unwritable
		addrs = append(c.order(l.addrs[:k]), c.order(l.addrs[k:])...)
	}
	var errs []error
	notFound, noSpace := 0, 0
	for i, addr := range addrs {
		if i > 0 && again != nil && !again() {
			errs = append(errs, errors.New("body partly sent and not rewindable: not retried"))
			return nil, fmt.Errorf("tnv: %s %s: %w", op, ref.FileID, errors.Join(errs...))
		}
		err := try(addr)
		if err == nil {
			return addrs[i+1:], nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("tnv: %s %s: %w", op, ref.FileID, ctx.Err())
		}
		var stop *stopError
		var re *proto.ErrorReply
		switch {
		case errors.Is(err, ErrClosed):
			return nil, err
		case errors.As(err, &stop):
			return nil, fmt.Errorf("tnv: %s %s: %w", op, ref.FileID, stop.err)
		case errors.As(err, &re):
			rerr := &RemoteError{Op: op, Addr: addr, Reply: re}
			if final(re, read) {
				return nil, rerr
			}
			switch re.Errno {
			case proto.ENOENT:
				notFound++
			case proto.ENOSPC:
				noSpace++
			}
			err = rerr
		default:
			c.markDown(addr)
			err = fmt.Errorf("storage %s: %w", addr, err)
		}
		c.log.Debug("tnv: storage node failed, trying the next", "op", op, "addr", addr, "err", err)
		errs = append(errs, err)
	}
	if len(errs) > 0 && (notFound == len(errs) || noSpace == len(errs)) {
		return nil, errs[0] // every member says so: the file is not there, or does not fit
	}
	c.forget(ref.AppID, ref.UserID) // the tracker may know better by now
	return nil, fmt.Errorf("tnv: %s %s: group %s: %w: %w", op, ref.FileID, group, ErrNoNode, errors.Join(errs...))
}

// replayMax is how much of an upload's body that cannot be rewound is kept,
// so that the upload can go to another member when the first one refuses
// it or fails before answering: a node that cannot write refuses from the
// head, and by then the client has sent what the socket buffers hold.
const replayMax = 1 << 20

// source counts what Upload took from the caller's reader and keeps its
// error. With replay set it keeps the first replayMax bytes taken, to send
// again (rewind).
type source struct {
	r   io.Reader
	n   int64
	err error

	replay   bool
	kept     []byte
	pos      int  // next byte of kept to give; len(kept) when reading r
	overflow bool // more than replayMax taken: cannot rewind
}

func (s *source) Read(p []byte) (int, error) {
	if s.pos < len(s.kept) {
		n := copy(p, s.kept[s.pos:])
		s.pos += n
		s.n += int64(n)
		return n, nil
	}
	n, err := s.r.Read(p)
	s.n += int64(n)
	if s.replay && !s.overflow && n > 0 {
		if len(s.kept)+n > replayMax {
			s.overflow, s.kept = true, s.kept[:0]
		} else {
			s.kept = append(s.kept, p[:n]...)
		}
		s.pos = len(s.kept)
	}
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

// replayPool holds the kept copies of bodies of replayMax bytes or more,
// so that big uploads do not each allocate (and grow) one.
var replayPool = sync.Pool{New: func() any { b := make([]byte, 0, replayMax); return &b }}

// keep makes s keep what it reads of a body of size bytes; release gives
// the buffer back.
func (s *source) keep(size int64) (release func()) {
	s.replay = true
	if size < replayMax {
		s.kept = make([]byte, 0, size)
		return func() {}
	}
	bp := replayPool.Get().(*[]byte)
	s.kept = (*bp)[:0]
	return func() {
		*bp = (*bp)[:0]
		replayPool.Put(bp)
	}
}

// rewind starts the bytes over from the kept copy; false when they were
// not all kept.
func (s *source) rewind() bool {
	if !s.replay || s.overflow || s.err != nil {
		return false
	}
	s.pos, s.n = 0, 0
	return true
}

// writerOnly hides io.ReaderFrom so that io.CopyBuffer uses our buffer.
type writerOnly struct{ io.Writer }

// Upload stores exactly size bytes read from r as the file. The bytes are
// streamed; if r ends early the connection is dropped, so the node discards
// what it got. When a node refuses or fails, another node of the group is
// tried (those that take uploads first) while the body can be sent again:
// nothing of r consumed, r an io.Seeker that can be rewound, or at most
// replayMax bytes consumed (kept for that).
func (c *Client) Upload(ctx context.Context, appid, userid, fileid string, r io.Reader, size int64) error {
	_, err := c.upload(ctx, appid, userid, fileid, r, size, false)
	return err
}

// UploadStaged is Upload that, when the node it reaches runs in this
// process and stages uploads (StagingNode), leaves the upload's group log
// commit to the caller: the file is readable only once the returned
// Staged is committed, and it is removed if that does not happen (Abandon,
// or the node's StagedTTL). A nil Staged means the node committed the
// upload itself, as Upload does.
func (c *Client) UploadStaged(ctx context.Context, appid, userid, fileid string, r io.Reader, size int64) (*Staged, error) {
	return c.upload(ctx, appid, userid, fileid, r, size, true)
}

func (c *Client) upload(ctx context.Context, appid, userid, fileid string, r io.Reader, size int64, staging bool) (*Staged, error) {
	ref, err := fileRef(appid, userid, fileid)
	if err != nil {
		return nil, fmt.Errorf("tnv: upload: %w", err)
	}
	if size < 0 || size > proto.MaxUploadBytes {
		return nil, fmt.Errorf("tnv: upload %s: %w: size %d", fileid, ErrInvalid, size)
	}
	head, err := (&proto.UploadHead{FileRef: ref, Size: size}).Encode()
	if err != nil {
		return nil, fmt.Errorf("tnv: upload %s: %w: %v", fileid, ErrInvalid, err)
	}
	frame := make([]byte, proto.HeaderLen+len(head))
	copy(frame[proto.HeaderLen:], head)

	src := &source{r: r}
	seeker, _ := r.(io.Seeker)
	var start int64
	if seeker != nil {
		if start, err = seeker.Seek(0, io.SeekCurrent); err != nil {
			seeker = nil
		}
	}
	if seeker == nil {
		defer src.keep(size)()
	}
	again := func() bool {
		if src.n == 0 {
			return true
		}
		if seeker == nil {
			return src.rewind()
		}
		if _, err := seeker.Seek(start, io.SeekStart); err != nil {
			return false
		}
		src.n = 0
		return true
	}
	var staged *Staged
	_, err = c.onNodes(ctx, "upload", ref, false, again, func(addr string) error {
		cmd, sn := proto.CmdStorageUpload, c.stagingNode(addr, staging)
		if sn != nil {
			cmd = proto.CmdStorageUploadStaged
		}
		proto.Header{BodyLen: proto.UploadHeadLen + size, Cmd: cmd}.Encode(frame)
		return c.with(ctx, addr, again, func(cn *conn) error {
			body, err := upload(cn, frame, src, size)
			if sn == nil || err != nil && body == nil {
				return err
			}
			tok, derr := proto.DecodeStagedToken(body)
			switch {
			case derr != nil:
				cn.broken = true
				return derr
			case err != nil: // staged, but the body failed at its end
				sn.AbandonStaged(tok)
				return err
			}
			staged = &Staged{node: sn, token: tok}
			return nil
		})
	})
	return staged, err
}

const (
	writing int32 = iota
	written
	aborted
)

// upload sends one UPLOAD. A goroutine reads the reply while the body is
// being written: a node that refuses the upload early (ENOSPC, EEXIST) and
// closes is heard, instead of a bare "broken pipe".
func upload(cn *conn, frame []byte, src *source, size int64) ([]byte, error) {
	if _, err := cn.Write(frame); err != nil {
		return nil, err
	}
	var state atomic.Int32
	replyc := make(chan error, 1)
	var reply []byte // UPLOAD_STAGED's token; UPLOAD's reply is empty
	go func() {
		_, body, err := proto.ReadReply(cn.nc, proto.CmdStorageReply, proto.StagedTokenLen)
		reply = body
		if state.CompareAndSwap(writing, aborted) {
			// The node answered before the writer finished: stop a write
			// that may be blocked, without closing a stream that may turn
			// out complete (the reply raced the last bytes).
			cn.nc.SetWriteDeadline(time.Unix(1, 0))
		}
		replyc <- err
	}()
	bp := bufPool.Get().(*[]byte)
	n, err := io.CopyBuffer(writerOnly{cn}, io.LimitReader(src, size), *bp)
	bufPool.Put(bp)
	sent := err == nil && n == size
	if sent && state.CompareAndSwap(writing, written) {
		cn.nc.SetReadDeadline(time.Now().Add(cn.timeout)) // the node fsyncs and mirrors before it answers
		err := <-replyc
		var re *proto.ErrorReply
		if err != nil && !errors.As(err, &re) {
			cn.broken = true
		}
		return reply, err
	}
	if sent { // the reply came as the last bytes went out: the stream is whole
		cn.pushed = time.Time{} // the next use resets the deadline the reader moved
		err := <-replyc
		if err != nil {
			cn.broken = true // a refusal: the node closes after it
		}
		return reply, err
	}
	cn.broken = true
	if n == size && src.err != nil && state.CompareAndSwap(writing, written) {
		// Every byte went out and the body's reader failed only after
		// them (a digest checked at its end): the node takes the upload
		// as whole and answers. Its answer is returned with the error,
		// so that a staged upload is given up at once, not at its TTL.
		cn.nc.SetReadDeadline(time.Now().Add(cn.timeout))
		rerr := <-replyc
		cn.nc.Close()
		if rerr != nil {
			reply = nil
		}
		return reply, &stopError{fmt.Errorf("reading the body: %w", src.err)}
	}
	if err == nil || src.err != nil {
		cn.nc.Close()
		<-replyc
		if src.err != nil {
			return nil, &stopError{fmt.Errorf("reading the body: %w", src.err)}
		}
		return nil, &stopError{fmt.Errorf("body ended after %d of %d bytes: %w", n, size, io.ErrUnexpectedEOF)}
	}
	// Writing failed: the node may have said why before it closed.
	t := time.NewTimer(earlyReplyIn)
	defer t.Stop()
	select {
	case rerr := <-replyc:
		var re *proto.ErrorReply
		if errors.As(rerr, &re) {
			return nil, re
		}
		if rerr == nil {
			return nil, errors.New("storage replied before the body was sent")
		}
		// The node closed the connection (the write was stopped because
		// of it): say so, so that a stale pooled connection is known.
		return nil, fmt.Errorf("%w; the node closed the connection: %w", err, rerr)
	case <-t.C:
		cn.nc.Close()
		<-replyc
	}
	return nil, err
}

// FileSize returns the size of the file.
func (c *Client) FileSize(ctx context.Context, appid, userid, fileid string) (int64, error) {
	ref, err := fileRef(appid, userid, fileid)
	if err != nil {
		return 0, fmt.Errorf("tnv: filesize: %w", err)
	}
	body, _ := ref.Encode()
	var size int64
	_, err = c.onNodes(ctx, "filesize", ref, true, nil, func(addr string) error {
		return c.with(ctx, addr, nil, func(cn *conn) error {
			b, err := request(cn, proto.CmdStorageFilesize, proto.CmdStorageReply, body, 8)
			if err != nil {
				return err
			}
			if size, err = proto.DecodeInt64(b); err == nil && size < 0 {
				err = fmt.Errorf("proto: negative file size %d", size)
			}
			return err
		})
	})
	return size, err
}

// Delete deletes the file (soft: unreadable at once, purged later).
func (c *Client) Delete(ctx context.Context, appid, userid, fileid string) error {
	ref, err := fileRef(appid, userid, fileid)
	if err != nil {
		return fmt.Errorf("tnv: delete: %w", err)
	}
	body, _ := ref.Encode()
	_, err = c.onNodes(ctx, "delete", ref, false, nil, func(addr string) error {
		return c.with(ctx, addr, nil, func(cn *conn) error {
			_, err := request(cn, proto.CmdStorageDelete, proto.CmdStorageReply, body, 0)
			return err
		})
	})
	return err
}
