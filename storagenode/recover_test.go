package storagenode

import (
	"testing"

	"github.com/tnv-s3/tnv/proto"
)

// TestPanicInRequest_ClosesConnection_NodeServesNext: a request whose
// handler panics loses its connection; the node goes on serving.
func TestPanicInRequest_ClosesConnection_NodeServesNext(t *testing.T) {
	e := newEnv(t, sqliteDB(t))
	n := e.start("", "", nil)
	hook := func(h proto.Header) {
		if h.Cmd == proto.CmdStorageFilesize {
			panic("injected by the test")
		}
	}
	testPanicHook.Store(&hook)
	t.Cleanup(func() { testPanicHook.Store(nil) })
	r := ref("missing")
	body, _ := r.Encode()
	nc := dial(t, n.addr)
	defer nc.Close()
	proto.WriteFrame(nc, proto.CmdStorageFilesize, 0, body)
	if _, _, err := proto.ReadReply(nc, proto.CmdStorageReply, 8); err == nil {
		t.Fatal("a request that panicked was answered")
	}
	testPanicHook.Store(nil)
	nc2 := dial(t, n.addr)
	defer nc2.Close()
	proto.WriteFrame(nc2, proto.CmdStorageFilesize, 0, body)
	if _, _, err := proto.ReadReply(nc2, proto.CmdStorageReply, 8); errno(err) != proto.ENOENT {
		t.Fatalf("the next request after a panic: %v", err)
	}
}
