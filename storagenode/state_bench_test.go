package storagenode

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/proto"
)

// BenchmarkFileState measures the lookup of every read on MariaDB, 16 at a
// time: "readable" is the check reads run first, batched (concurrent reads
// share queries), "readable-alone" that check a query per read; "state" is
// the node's row and the group log's last entry in one query, the check of
// the cases readable does not settle; "row" is the row alone (the floor of
// any read check).
func BenchmarkFileState(b *testing.B) {
	e := newEnv(b, mysqlDB(b))
	n := e.start("", "", nil)
	e.waitMembers(1)
	r := ref("bench")
	if err := upload(n.addr, r, []byte("x")); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, mode := range []string{"readable", "readable-alone", "state", "row"} {
		b.Run(mode, func(b *testing.B) {
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					c, cancel := context.WithTimeout(ctx, 10*time.Second)
					var err error
					switch mode {
					case "state":
						_, _, err = n.fileState(c, r)
					case "readable", "readable-alone":
						read := n.readableRow
						if mode == "readable-alone" {
							read = n.readableOne
						}
						var row *fileRow
						if row, err = read(c, r); err == nil && row == nil {
							b.Fatal("the uploaded file is not readable")
						}
					default:
						_, err = n.getRow(c, r)
					}
					cancel()
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkRead measures a 4 KiB read over TCP on MariaDB, 8 connections
// at a time, as the gateway asks: "download" follows the group log (the
// readable check, batched when reads overlap), "live" is DOWNLOAD_LIVE,
// answered from the node's row cache after the first read of each file.
func BenchmarkRead(b *testing.B) {
	e := newEnv(b, mysqlDB(b))
	n := e.start("", "", nil)
	e.waitMembers(1)
	waitState(b, n, proto.SyncActive, 10*time.Second)
	data := randBytes(4, 4096)
	var refs []proto.FileRef
	for i := range 64 {
		r := ref(fmt.Sprint("read-", i))
		if err := upload(n.addr, r, data); err != nil {
			b.Fatal(err)
		}
		refs = append(refs, r)
	}
	for _, mode := range []struct {
		name string
		cmd  uint8
	}{{"download", proto.CmdStorageDownload}, {"live", proto.CmdStorageDownloadLive}} {
		b.Run(mode.name, func(b *testing.B) {
			var next atomic.Int64
			b.SetParallelism(4) // × GOMAXPROCS (2 here): 8 connections
			b.RunParallel(func(pb *testing.PB) {
				nc := dial(b, n.addr)
				defer nc.Close()
				for pb.Next() {
					body, _ := (&proto.Download{FileRef: refs[next.Add(1)%int64(len(refs))]}).Encode()
					if err := proto.WriteFrame(nc, mode.cmd, 0, body); err != nil {
						b.Fatal(err)
					}
					if _, got, err := proto.ReadReply(nc, proto.CmdStorageReply, 1<<20); err != nil || len(got) != len(data) {
						b.Fatalf("read: %d bytes, %v", len(got), err)
					}
				}
			})
		})
	}
}
