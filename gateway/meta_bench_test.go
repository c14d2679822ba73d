package gateway

import (
	"context"
	"testing"
)

// BenchmarkBucketObject measures the lookup of every GET and HEAD, 32 at a
// time on MariaDB: "prepared" as the gateway runs it against "text", the
// same query with its arguments interpolated, as reference.
func BenchmarkBucketObject(b *testing.B) {
	db := openDB(b, true)
	ctx := context.Background()
	if err := Migrate(ctx, db); err != nil {
		b.Fatal(err)
	}
	m := &meta{db: db}
	defer m.close()
	if _, err := m.createBucket(ctx, "bench", "root"); err != nil {
		b.Fatal(err)
	}
	o := &object{Bucket: "bench", Key: "k/1", Size: 1, ETag: "e", Blobs: []blob{{UserID: "u", FileID: "f", Size: 1}}}
	if err := m.putObject(ctx, "app", o, putCond{}, nil, 0); err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"prepared", "text"} {
		b.Run(mode, func(b *testing.B) {
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if mode == "prepared" {
						if _, o, err := m.bucketObject(ctx, "bench", "k/1"); err != nil || o == nil {
							b.Fatal(err)
						}
						continue
					}
					var name string
					if err := db.QueryRowContext(ctx, bucketObjectQuery, []byte("k/1"), "bench").Scan(&name, new(any), new(any), new(any), new(any), new(any),
						new(any), new(any), new(any), new(any), new(any), new(any), new(any), new(any)); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
