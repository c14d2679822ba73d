package tnv

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/proto"
)

// DownloadLive asks with DOWNLOAD_LIVE; a node older than the command
// (ENOSYS, connection closed) gets DOWNLOAD instead, the read succeeds,
// and that node is asked with DOWNLOAD from then on, while Download never
// sends DOWNLOAD_LIVE.
func TestDownloadLive_OlderNodeGetsDownload(t *testing.T) {
	cl := newCluster(t, 1)
	n := cl.nodes[0]
	c := newClient(t, cl.tracker.addr())
	ref := proto.FileRef{AppID: "app", UserID: "u1", FileID: "f1"}
	data := []byte("vouched by the index")
	cl.mirror(ref, data)
	// read reads the file (DownloadLive with live) and checks the node's
	// count of each command since the start.
	read := func(what string, live bool, wantLive, wantPlain int64) {
		t.Helper()
		get := c.Download
		if live {
			get = c.DownloadLive
		}
		rc, err := get(context.Background(), ref.AppID, ref.UserID, ref.FileID, 0, 0)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(got) != string(data) {
			t.Fatalf("%s: %q, %v", what, got, err)
		}
		if l, d := n.cmds[proto.CmdStorageDownloadLive].Load(), n.cmds[proto.CmdStorageDownload].Load(); l != wantLive || d != wantPlain {
			t.Fatalf("%s: %d DOWNLOAD_LIVE, %d DOWNLOAD; want %d, %d", what, l, d, wantLive, wantPlain)
		}
	}

	read("a node that knows it", true, 1, 0)
	read("Download", false, 1, 1)
	n.before.Store(int32(proto.CmdStorageDownloadLive))
	read("an older node (refused, then DOWNLOAD)", true, 2, 2)
	read("an older node, again (remembered)", true, 2, 3)
}

// oldSocketNode serves LOCAL_OPEN on a Unix socket as a node from before
// LOCAL_OPEN_LIVE: that command is refused (ENOSYS, connection closed),
// LOCAL_OPEN passes the file at fp.
func oldSocketNode(t *testing.T, fp string) (path string, seen *[256]atomic.Int64) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "old.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	seen = new([256]atomic.Int64)
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func(uc *net.UnixConn) {
				defer uc.Close()
				for {
					h, err := proto.ReadHeader(uc)
					if err != nil {
						return
					}
					seen[h.Cmd].Add(1)
					if h.Cmd != proto.CmdStorageLocalOpen {
						proto.WriteError(uc, proto.CmdStorageReply, proto.Errorf(proto.ENOSYS, "unknown command %d", h.Cmd))
						return
					}
					if _, err := proto.ReadBody(uc, h, h.BodyLen); err != nil {
						return
					}
					f, err := os.Open(fp)
					if err != nil {
						return
					}
					fi, _ := f.Stat()
					msg := proto.Header{BodyLen: 8, Cmd: proto.CmdStorageReply}.Bytes()
					msg = append(msg, proto.EncodeInt64(fi.Size())...)
					_, _, err = uc.WriteMsgUnix(msg, syscall.UnixRights(int(f.Fd())), nil)
					f.Close()
					if err != nil {
						return
					}
				}
			}(nc.(*net.UnixConn))
		}
	}()
	return path, seen
}

// The same for LOCAL_OPEN_LIVE on a node's socket: refused by an older
// node, the file comes by LOCAL_OPEN, and that node is asked so from then
// on.
func TestOpenLocalLive_OlderNodeGetsLocalOpen(t *testing.T) {
	data := []byte("a file passed on the socket")
	fp := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(fp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	path, seen := oldSocketNode(t, fp)
	n := newSockNode("127.0.0.1:1", path, 5*time.Second, 4, time.Minute)
	defer n.close()
	for i, want := range [][2]int64{{1, 1}, {1, 2}} {
		g, k, err := n.OpenLocal(context.Background(), "app", "u1", "f1", 0, 0, true)
		if err != nil || k != int64(len(data)) {
			t.Fatalf("read %d: %d bytes, %v", i, k, err)
		}
		got, err := io.ReadAll(io.NewSectionReader(g, 0, k))
		g.Close()
		if err != nil || string(got) != string(data) {
			t.Fatalf("read %d: %q, %v", i, got, err)
		}
		if l, p := seen[proto.CmdStorageLocalOpenLive].Load(), seen[proto.CmdStorageLocalOpen].Load(); l != want[0] || p != want[1] {
			t.Fatalf("read %d: %d LOCAL_OPEN_LIVE, %d LOCAL_OPEN; want %d, %d", i, l, p, want[0], want[1])
		}
	}
}
