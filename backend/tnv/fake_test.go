package tnv

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tnv-s3/tnv/proto"
)

// fakeNode is an in-memory TNV server for the client's unit tests: it answers
// the tracker commands with a fixed group and address list, and the storage
// commands from a map. The end-to-end tests in e2e/ use the real servers.
type fakeNode struct {
	t  *testing.T
	ln net.Listener

	mu         sync.Mutex
	files      map[string][]byte
	group      string
	addrs      []string // SADDRS answer
	unwritable []string // SADDRS answer: nodes marked unable to take uploads

	accepts atomic.Int64      // connections accepted
	cmds    [256]atomic.Int64 // requests received, by command
	// before > 0: commands from this number on are unknown, answered as a
	// storage node older than them answers (ENOSYS, connection closed).
	before atomic.Int32
	// dropRequests > 0: close the connection on that many requests, after
	// their header and before any reply (a server's idle close racing the
	// request), counting down.
	dropRequests atomic.Int64
	// Failure knobs, read under mu.
	dropDownloadAfter int64 // > 0: send this many bytes of a DOWNLOAD, then close
	dropUploadAfter   int64 // > 0: read this many bytes of an UPLOAD's body, then close
	refuseUpload      int16 // errno replied as soon as an UPLOAD header arrives
	saddrsErr         int16 // errno replied to SADDRS
	uploads           int   // completed uploads
}

func newFakeNode(t *testing.T) *fakeNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeNode{t: t, ln: ln, files: map[string][]byte{}, group: "g1"}
	go f.serve()
	t.Cleanup(func() { ln.Close() })
	return f
}

func (f *fakeNode) addr() string { return f.ln.Addr().String() }

func (f *fakeNode) set(fn func(f *fakeNode)) {
	f.mu.Lock()
	fn(f)
	f.mu.Unlock()
}

func (f *fakeNode) serve() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.accepts.Add(1)
		go f.conn(c)
	}
}

func key(r proto.FileRef) string { return r.AppID + "/" + r.UserID + "/" + r.FileID }

func (f *fakeNode) conn(c net.Conn) {
	defer c.Close()
	for {
		h, err := proto.ReadHeader(c)
		if err != nil {
			return
		}
		if n := f.dropRequests.Load(); n > 0 && f.dropRequests.CompareAndSwap(n, n-1) {
			return
		}
		f.cmds[h.Cmd].Add(1)
		if b := f.before.Load(); b > 0 && int32(h.Cmd) >= b && h.Cmd < proto.CmdAuthHello {
			proto.WriteError(c, proto.CmdStorageReply, proto.Errorf(proto.ENOSYS, "unknown command %d", h.Cmd))
			return
		}
		if err := proto.CheckRequest(h); err != nil {
			proto.WriteError(c, h.Cmd, proto.Errorf(proto.EINVAL, "%v", err))
			return
		}
		if !f.handle(c, h) {
			return
		}
	}
}

func (f *fakeNode) fail(c net.Conn, cmd uint8, errno int16) bool {
	return proto.WriteError(c, cmd, proto.Errorf(errno, "fake errno %d", errno)) == nil
}

// handle serves one request; false closes the connection.
func (f *fakeNode) handle(c net.Conn, h proto.Header) bool {
	f.mu.Lock()
	refuse, dropAfter, saddrsErr, dropUpload := f.refuseUpload, f.dropDownloadAfter, f.saddrsErr, f.dropUploadAfter
	f.mu.Unlock()
	if h.Cmd == proto.CmdStorageUpload {
		head, err := proto.ReadBody(c, proto.Header{BodyLen: proto.UploadHeadLen}, proto.UploadHeadLen)
		if err != nil {
			return false
		}
		u, err := proto.DecodeUploadHead(head, h.BodyLen)
		if err != nil {
			f.fail(c, proto.CmdStorageReply, proto.EINVAL)
			return false
		}
		if refuse != 0 {
			f.fail(c, proto.CmdStorageReply, refuse)
			return false // the body is not read: the client must hear the reply anyway
		}
		if dropUpload > 0 {
			io.CopyN(io.Discard, c, dropUpload)
			return false
		}
		var buf bytes.Buffer
		if _, err := io.CopyN(&buf, c, u.Size); err != nil {
			return false
		}
		f.mu.Lock()
		f.files[key(u.FileRef)] = buf.Bytes()
		f.uploads++
		f.mu.Unlock()
		return proto.WriteFrame(c, proto.CmdStorageReply, proto.StatusOK, nil) == nil
	}
	b, err := proto.ReadBody(c, h, h.BodyLen)
	if err != nil {
		return false
	}
	switch h.Cmd {
	case proto.CmdTrackerSaddrs:
		if saddrsErr != 0 {
			return f.fail(c, proto.CmdTrackerReply, saddrsErr)
		}
		f.mu.Lock()
		s := proto.Saddrs{Group: f.group, Addrs: f.addrs, Unwritable: f.unwritable}
		f.mu.Unlock()
		out, err := s.Encode()
		if err != nil {
			f.t.Errorf("fake: saddrs: %v", err)
			return false
		}
		return proto.WriteFrame(c, proto.CmdTrackerReply, proto.StatusOK, out) == nil
	case proto.CmdTrackerGroups:
		out, _ := proto.EncodeText("group g1\n")
		return proto.WriteFrame(c, proto.CmdTrackerReply, proto.StatusOK, out) == nil
	case proto.CmdStorageFilesize, proto.CmdStorageDelete:
		r, err := proto.DecodeFileRef(b)
		if err != nil {
			return f.fail(c, proto.CmdStorageReply, proto.EINVAL)
		}
		f.mu.Lock()
		data, ok := f.files[key(*r)]
		if h.Cmd == proto.CmdStorageDelete {
			delete(f.files, key(*r))
		}
		f.mu.Unlock()
		if !ok {
			return f.fail(c, proto.CmdStorageReply, proto.ENOENT)
		}
		var out []byte
		if h.Cmd == proto.CmdStorageFilesize {
			out = proto.EncodeInt64(int64(len(data)))
		}
		return proto.WriteFrame(c, proto.CmdStorageReply, proto.StatusOK, out) == nil
	case proto.CmdStorageDownload, proto.CmdStorageDownloadLive:
		d, err := proto.DecodeDownload(b)
		if err != nil {
			return f.fail(c, proto.CmdStorageReply, proto.EINVAL)
		}
		f.mu.Lock()
		data, ok := f.files[key(d.FileRef)]
		f.mu.Unlock()
		if !ok {
			return f.fail(c, proto.CmdStorageReply, proto.ENOENT)
		}
		end := int64(len(data))
		if d.Size > 0 {
			end = d.Offset + d.Size
		}
		if d.Offset > int64(len(data)) || end > int64(len(data)) {
			return f.fail(c, proto.CmdStorageReply, proto.ERANGE)
		}
		part := data[d.Offset:end]
		hdr := proto.Header{BodyLen: int64(len(part)), Cmd: proto.CmdStorageReply}.Bytes()
		if _, err := c.Write(hdr); err != nil {
			return false
		}
		if dropAfter > 0 && dropAfter < int64(len(part)) {
			c.Write(part[:dropAfter])
			return false // the node dies mid-reply
		}
		_, err = c.Write(part)
		return err == nil
	}
	return f.fail(c, h.Cmd, proto.ENOSYS)
}

var errFake = errors.New("fake reader failure")
