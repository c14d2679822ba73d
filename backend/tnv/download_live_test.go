package tnv

import (
	"context"
	"io"
	"testing"

	"github.com/tnv-s3/tnv/proto"
)

// DownloadLive asks with DOWNLOAD_LIVE; a node older than the command
// (EMSGSIZE, connection closed) gets DOWNLOAD instead, the read succeeds,
// and that node is asked with DOWNLOAD from then on, while Download never
// sends DOWNLOAD_LIVE.
func TestDownloadLive_OlderNodeGetsDownload(t *testing.T) {
	cl := newCluster(t, 1)
	n := cl.nodes[0]
	c := newClient(t, cl.tracker.addr())
	ref := proto.FileRef{AppID: "app", UserID: "u1", FileID: "f1"}
	data := []byte("vouched by the index")
	cl.mirror(ref, data)
	read := func(live bool) {
		t.Helper()
		get := c.Download
		if live {
			get = c.DownloadLive
		}
		rc, err := get(context.Background(), ref.AppID, ref.UserID, ref.FileID, 0, 0)
		if err != nil {
			t.Fatalf("live %v: %v", live, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(got) != string(data) {
			t.Fatalf("live %v: %q, %v", live, got, err)
		}
	}
	count := func() (int64, int64) {
		return n.cmds[proto.CmdStorageDownloadLive].Load(), n.cmds[proto.CmdStorageDownload].Load()
	}

	read(true)
	if l, d := count(); l != 1 || d != 0 {
		t.Fatalf("a node that knows it: %d DOWNLOAD_LIVE, %d DOWNLOAD; want 1, 0", l, d)
	}
	read(false)
	if l, d := count(); l != 1 || d != 1 {
		t.Fatalf("Download: %d DOWNLOAD_LIVE, %d DOWNLOAD; want 1, 1", l, d)
	}

	n.before.Store(int32(proto.CmdStorageDownloadLive))
	read(true)
	if l, d := count(); l != 2 || d != 2 {
		t.Fatalf("an older node: %d DOWNLOAD_LIVE, %d DOWNLOAD; want 2, 2 (refused, then DOWNLOAD)", l, d)
	}
	read(true)
	if l, d := count(); l != 2 || d != 3 {
		t.Fatalf("an older node, again: %d DOWNLOAD_LIVE, %d DOWNLOAD; want 2, 3 (remembered)", l, d)
	}
}
