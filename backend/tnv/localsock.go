package tnv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tnv-s3/tnv/internal/connpool"
	"github.com/tnv-s3/tnv/proto"
)

// Storage nodes started with a local socket (--local-socket) name it in
// NODESTAT. With Config.LocalReads a client on their machine opens their
// files through it (LOCAL_OPEN: the node decides as for DOWNLOAD and passes
// the open file back) and a download becomes sendfile from the page cache
// to the caller's socket. A node is taken as local only when its socket
// answers NODESTAT with the address the tracker gave: another machine's
// socket at the same path is never mistaken for it.

// localRecheck is how long "no local socket" is believed before asking the
// node again.
const localRecheck = time.Minute

type localEntry struct {
	node  *sockNode // nil: none
	until time.Time // for nil entries
}

// discoverLocal returns the node at addr as a LocalNode when it is known
// to serve a local socket this process reaches, else nil. An address not
// asked yet (or not for localRecheck) is asked in the background: the
// request at hand goes over the network rather than wait for the answer
// (or for the dial timeout of a node that is down).
func (c *Client) discoverLocal(addr string) LocalNode {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.locals[addr]
	if ok && (e.node != nil || now.Before(e.until)) {
		c.mu.Unlock()
		if e.node == nil {
			return nil
		}
		return e.node
	}
	if c.closed.Load() {
		c.mu.Unlock()
		return nil
	}
	if c.locals == nil {
		c.locals = map[string]localEntry{}
	}
	// Until the probe answers: none (and no second probe).
	c.locals[addr] = localEntry{until: now.Add(localRecheck)}
	c.mu.Unlock()
	go func() {
		n := c.probeLocal(addr)
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.closed.Load() {
			if n != nil {
				n.close()
			}
			return
		}
		c.locals[addr] = localEntry{node: n, until: time.Now().Add(localRecheck)}
	}()
	return nil
}

// dropLocal forgets a local socket that failed; the next read asks the
// node again (a restarted node has a new socket at the same path).
func (c *Client) dropLocal(addr string, n *sockNode) {
	c.mu.Lock()
	if e := c.locals[addr]; e.node == n {
		delete(c.locals, addr)
	}
	c.mu.Unlock()
	n.close()
}

func (c *Client) probeLocal(addr string) *sockNode {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.DialTimeout)
	defer cancel()
	var text []byte
	err := c.with(ctx, addr, nil, func(cn *conn) (err error) {
		text, err = request(cn, proto.CmdStorageStat, proto.CmdStorageReply, nil, 1<<16)
		return err
	})
	if err != nil {
		return nil
	}
	path := proto.StatField(string(text), "localsocket")
	if path == "" {
		return nil
	}
	n := newSockNode(addr, path, c.cfg.IOTimeout, c.cfg.PoolSize, c.cfg.IdleTimeout)
	uc, err := n.pool.Get(ctx, n.path)
	if err != nil {
		c.log.Debug("tnv: storage node's local socket not reachable", "addr", addr, "path", path, "err", err)
		return nil
	}
	defer n.put(uc)
	text, err = n.request(uc, proto.CmdStorageStat, nil, 1<<16)
	if err != nil || proto.StatField(string(text), "node") != addr {
		c.log.Debug("tnv: local socket belongs to another node", "addr", addr, "path", path, "node", proto.StatField(string(text), "node"), "err", err)
		n.close()
		return nil
	}
	c.log.Debug("tnv: storage node reachable through its local socket", "addr", addr, "path", path)
	return n
}

// sockNode is a storage node reached on its local socket, with a pool of
// connections to it (keyed by the socket's path).
type sockNode struct {
	addr, path string
	timeout    time.Duration
	pool       *connpool.Pool
	noLive     atomic.Bool // the node refused LOCAL_OPEN_LIVE: older than it
}

func newSockNode(addr, path string, timeout time.Duration, maxIdle int, idle time.Duration) *sockNode {
	dial := func(ctx context.Context, path string) (net.Conn, error) {
		d := net.Dialer{Timeout: timeout}
		return d.DialContext(ctx, "unix", path)
	}
	return &sockNode{addr: addr, path: path, timeout: timeout,
		pool: connpool.New(connpool.Config{Dial: dial, MaxIdle: maxIdle, IdleTimeout: idle})}
}

func (n *sockNode) put(uc *connpool.Conn) { n.pool.Put(uc) }

func (n *sockNode) close() { n.pool.Close() }

func (n *sockNode) request(uc *connpool.Conn, cmd uint8, body []byte, max int64) ([]byte, error) {
	uc.SetDeadline(time.Now().Add(n.timeout))
	if err := proto.WriteFrame(uc, cmd, proto.StatusOK, body); err != nil {
		return nil, err
	}
	_, b, err := proto.ReadReply(uc, proto.CmdStorageReply, max)
	return b, err
}

// errNoLocalCopy: the node has no good copy of its own (EXDEV); DOWNLOAD
// over the network serves a peer's.
var errNoLocalCopy = errors.New("tnv: no local copy")

// OpenLocal sends LOCAL_OPEN (LOCAL_OPEN_LIVE with live) and receives the
// file with the reply. An idle connection that turns out dead (the node
// restarted) is replaced by a new one once; the pool's checkout already
// drops those it sees closed. A node that does not know LOCAL_OPEN_LIVE is
// asked with LOCAL_OPEN, now and from then on.
func (n *sockNode) OpenLocal(ctx context.Context, appid, userid, fileid string, offset, size int64, live bool) (*os.File, int64, error) {
	if live && !n.noLive.Load() {
		f, k, err := n.openLocal(ctx, appid, userid, fileid, offset, size, proto.CmdStorageLocalOpenLive)
		if !unknownCommand(err) {
			return f, k, err
		}
		n.noLive.Store(true)
	}
	return n.openLocal(ctx, appid, userid, fileid, offset, size, proto.CmdStorageLocalOpen)
}

// openLocal is OpenLocal with the command given.
func (n *sockNode) openLocal(ctx context.Context, appid, userid, fileid string, offset, size int64, cmd uint8) (*os.File, int64, error) {
	ref, err := fileRef(appid, userid, fileid)
	if err != nil {
		return nil, 0, err
	}
	body, err := (&proto.Download{FileRef: ref, Offset: offset, Size: size}).Encode()
	if err != nil {
		return nil, 0, err
	}
	for fresh := false; ; fresh = true {
		get := n.pool.Get
		if fresh {
			get = n.pool.Dial
		}
		uc, err := get(ctx, n.path)
		if err != nil {
			return nil, 0, err
		}
		f, k, sent, err := n.open(ctx, uc, cmd, body)
		if err != nil && !sent && !fresh && uc.Stale(ctx, err) {
			continue // closed while idle: the request never arrived
		}
		return f, k, err
	}
}

// open runs one LOCAL_OPEN on uc; sent reports whether any reply came.
func (n *sockNode) open(ctx context.Context, pc *connpool.Conn, cmd uint8, body []byte) (_ *os.File, _ int64, sent bool, _ error) {
	uc := pc.Conn.(*net.UnixConn)
	stop := context.AfterFunc(ctx, func() { uc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	uc.SetDeadline(time.Now().Add(n.timeout))
	if err := proto.WriteFrame(pc, cmd, proto.StatusOK, body); err != nil {
		pc.Fail()
		uc.Close()
		return nil, 0, false, err
	}
	// The descriptor comes with the reply's first bytes.
	buf := make([]byte, proto.HeaderLen+8)
	oob := make([]byte, syscall.CmsgSpace(4))
	m, oobn, _, _, err := uc.ReadMsgUnix(buf, oob)
	if err != nil || m == 0 {
		pc.Fail()
		uc.Close()
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return nil, 0, false, err
	}
	f, ferr := fileOf(oob[:oobn])
	fail := func(err error) (*os.File, int64, bool, error) {
		if f != nil {
			f.Close()
		}
		pc.Fail()
		uc.Close()
		return nil, 0, true, err
	}
	if ferr != nil {
		return fail(ferr)
	}
	_, b, err := proto.ReadReply(io.MultiReader(bytes.NewReader(buf[:m]), uc), proto.CmdStorageReply, 8)
	var re *proto.ErrorReply
	if errors.As(err, &re) {
		if f != nil {
			f.Close()
		}
		if unknownCommand(re) {
			pc.Fail() // the node closes the connection after it
			uc.Close()
		} else {
			n.put(pc)
		}
		if re.Errno == proto.EXDEV {
			return nil, 0, true, fmt.Errorf("%w: %s", errNoLocalCopy, re.Desc)
		}
		return nil, 0, true, re
	}
	if err != nil {
		return fail(err)
	}
	k, err := proto.DecodeInt64(b)
	if err != nil || k < 0 || f == nil {
		return fail(fmt.Errorf("proto: LOCAL_OPEN reply of %d bytes, length %d, file passed: %v: %v", len(b), k, f != nil, err))
	}
	n.put(pc)
	return f, k, true, nil
}

// fileOf is the file passed in a control message, if any.
func fileOf(oob []byte) (*os.File, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var f *os.File
	for _, m := range msgs {
		fds, err := syscall.ParseUnixRights(&m)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if f == nil {
				f = os.NewFile(uintptr(fd), "tnv-local")
			} else {
				syscall.Close(fd)
			}
		}
	}
	return f, nil
}
