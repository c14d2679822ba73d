package storagenode

import (
	"context"
	"fmt"
	"testing"

	"github.com/tnv-s3/tnv/metadb/metadbtest"
)

// The batched readable check reads each file's row and live entry by key:
// no scan of the node's files, however many there are.
func TestReadableMany_ReadsByKey(t *testing.T) {
	db := mysqlDB(t)
	ctx := context.Background()
	if err := Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	t1 := fileTable(1)
	for i := range 200 { // enough rows that a scan would cost more than lookups
		f := fmt.Sprint("f", i)
		if _, err := db.ExecContext(ctx, `INSERT INTO `+t1+` (node, appid, userid, fileid, store, path, size, crc32c, created)
			VALUES (?, 'app', 'u', ?, 's', 'p', 1, 1, 0)`, fmt.Sprint("node", i%2), f); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO t_group_live (grp, appid, userid, fileid, size, crc32c) VALUES (?, 'app', 'u', ?, 1, 1)`,
			fmt.Sprint("g", i%2), f); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.ExecContext(ctx, "ANALYZE TABLE "+t1+", t_group_live"); err != nil {
		t.Fatal(err)
	}
	var args []string
	for i := range 4 {
		args = append(args, "'app'", "'u'", fmt.Sprintf("'f%d'", i))
	}
	args = append(args, "'node0'", "'g0'")
	plan := metadbtest.Access(t, db, readableManyQ(t1, 4), args...)
	t.Log(plan)
	for _, table := range []string{"f", "l"} {
		if plan[table] != "eq_ref node" && plan[table] != "eq_ref PRIMARY" {
			t.Fatalf("table %s read by %q, want eq_ref on its unique key (plan %v)", table, plan[table], plan)
		}
	}
}
