package storagenode

import (
	"context"
	"testing"
	"time"
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
