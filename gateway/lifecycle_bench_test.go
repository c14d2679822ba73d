package gateway

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/gateway/index"
	"github.com/tnv-s3/tnv/internal/clocktest"
)

// BenchmarkLifecycleExpire measures what a lifecycle pass costs per
// expired object on the SQL index (SQLite, and MariaDB at
// TNV_TEST_MYSQL_DSN), against the same number of plain index
// deletions (DeleteObject, what a DELETE request does) in the same run:
//
//	go test -run '^$' -bench BenchmarkLifecycleExpire -benchtime 2000x ./gateway/
func BenchmarkLifecycleExpire(b *testing.B) {
	for _, mysql := range []bool{false, true} {
		name := "sqlite"
		if mysql {
			name = "mariadb"
		}
		b.Run(name+"/pass", func(b *testing.B) { benchExpire(b, mysql, true) })
		b.Run(name+"/delete", func(b *testing.B) { benchExpire(b, mysql, false) })
	}
}

func benchExpire(b *testing.B, mysql, pass bool) {
	db := openDB(b, mysql)
	clock := clocktest.New(time.Time{})
	g, err := New(Config{DB: db, Blobs: newMemStore(), AccessKey: rootAK, SecretKey: rootSK, Now: clock.Now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), LifecycleInterval: -1, LifecycleRate: 1e9, GCInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	if _, err := g.idx.CreateBucket(ctx(), "bench", rootAK); err != nil {
		b.Fatal(err)
	}
	bk, err := g.idx.Bucket(ctx(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		o := &index.Object{Bucket: "bench", Key: fmt.Sprintf("k%07d", i), Size: 1, ETag: "e", MTime: clock.Now(),
			Blobs: []index.Blob{{UserID: "u", FileID: fmt.Sprint("f", i), Size: 1}}}
		if err := g.idx.PutObject(ctx(), bk.AppID, o, index.PutCond{}, nil, 0); err != nil {
			b.Fatal(err)
		}
	}
	doc := `<LifecycleConfiguration><Rule><ID>all</ID><Filter/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>`
	if err := g.idx.SetLifecycleConfig(ctx(), "bench", doc); err != nil {
		b.Fatal(err)
	}
	clock.Advance(49 * time.Hour)
	b.ResetTimer()
	if pass {
		if s := g.lifecycleOnce(ctx()); s.Expired != b.N {
			b.Fatalf("pass: %+v", s)
		}
	} else {
		for i := 0; i < b.N; i++ {
			if _, err := g.idx.DeleteObject(ctx(), bk.AppID, "bench", fmt.Sprintf("k%07d", i), g.gcDue()); err != nil {
				b.Fatal(err)
			}
		}
	}
}
