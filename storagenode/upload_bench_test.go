package storagenode

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkUploadMirrored4KiB measures 4 KiB uploads into a group of two in-process
// members through one coordinator, at 1 and 8 at a time, on SQLite and
// MariaDB: "now" as handleUpload does; "replicate" with the mirror sent
// REPLICATE, which commits a pending row of its own before it answers (as
// before REPLICATE_LINKED); "late-seq" with the log number
// reserved after the copies are durable (MariaDB; as before earlySeq);
// "dir-fsync" with each copy's directory fsynced too (as before
// linkRidesFsync). Run with TMPDIR on the disk that matters; the
// variants of one database run against the same two nodes, one after the
// other, so run it with -count and compare across.
func BenchmarkUploadMirrored4KiB(b *testing.B) {
	data := make([]byte, 4096)
	for _, c := range dbCases {
		b.Run(c.name, func(b *testing.B) {
			e := newEnv(b, c.open(b))
			n1 := e.start("", "", nil)
			n2 := e.start("", "", nil)
			e.waitMembers(2)
			nodes := []*testNode{n1, n2}
			var next atomic.Int64
			// replicate: the mirror is sent REPLICATE (its own pending row,
			// flipped later) instead of REPLICATE_LINKED.
			for _, variant := range []string{"now", "replicate", "late-seq", "dir-fsync"} {
				if variant == "late-seq" && c.name != "mysql" {
					continue
				}
				for _, par := range []int{1, 8} {
					b.Run(fmt.Sprintf("%s/c=%d", variant, par), func(b *testing.B) {
						if variant == "replicate" {
							n1.linkedPeers.Store(n2.addr, linkedProbe{ok: false, at: time.Now()})
						} else {
							n1.linkedPeers.Delete(n2.addr)
						}
						for _, n := range nodes {
							n.lateSeq = variant == "late-seq"
							for _, st := range n.stores {
								st.linkSynced = variant != "dir-fsync" && linkRidesFsync(st.dir)
							}
						}
						run := func() {
							r := ref(fmt.Sprintf("b%d", next.Add(1)))
							if err := upload(n1.addr, r, data); err != nil {
								b.Fatal(err)
							}
						}
						if par == 1 {
							for i := 0; i < b.N; i++ {
								run()
							}
							return
						}
						b.SetParallelism(max(1, par/runtime.GOMAXPROCS(0)))
						b.RunParallel(func(pb *testing.PB) {
							for pb.Next() {
								run()
							}
						})
					})
				}
			}
		})
	}
}
