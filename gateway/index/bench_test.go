package index

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
)

// BenchmarkBucketObject measures the lookup of every GET and HEAD, 32 at a
// time on MariaDB: "batched" as the gateway runs it (concurrent lookups
// share queries, ReadBatch), "alone" one prepared query per lookup as
// before, "text" that query with its arguments interpolated, as reference.
func BenchmarkBucketObject(b *testing.B) {
	s := newSQL(b, true)
	ctx := context.Background()
	app := mustBucket(b, s, "bench").AppID
	for i := range 64 {
		o := &Object{Bucket: "bench", Key: fmt.Sprint("k/", i), Size: 1, ETag: "e", Blobs: []Blob{{UserID: "u", FileID: fmt.Sprint("f", i), Size: 1}}}
		if err := s.PutObject(ctx, app, o, PutCond{}, nil, 0); err != nil {
			b.Fatal(err)
		}
	}
	for _, mode := range []string{"batched", "alone", "text"} {
		b.Run(mode, func(b *testing.B) {
			var n atomic.Int64
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				// as many destinations as the query has columns
				columns := make([]any, strings.Count(bucketObjectQuery[:strings.Index(bucketObjectQuery, " FROM ")], ",")+1)
				for i := range columns {
					columns[i] = new(any)
				}
				for pb.Next() {
					key := fmt.Sprint("k/", n.Add(1)%64)
					var err error
					var o *Object
					switch mode {
					case "batched":
						_, o, err = s.BucketObject(ctx, "bench", key)
					case "alone":
						var r bucketObject
						r, err = s.bucketObject(ctx, bucketKey{"bench", key})
						o = r.o
					default:
						err = s.db.QueryRowContext(ctx, bucketObjectQuery, []byte(key), "bench").Scan(columns...)
						o = &Object{}
					}
					if err != nil || o == nil {
						b.Fatal(key, err)
					}
				}
			})
		})
	}
}

// BenchmarkBucket measures the bucket read of every PUT (and of every
// request but GET and HEAD), 32 at a time: "prepared" as the gateway runs
// it, "text" the same query unprepared, as it ran before.
func BenchmarkBucket(b *testing.B) {
	for _, db := range []string{"mariadb", "sqlite"} {
		b.Run(db, func(b *testing.B) {
			s := newSQL(b, db == "mariadb")
			ctx := context.Background()
			mustBucket(b, s, "bench")
			for _, mode := range []string{"prepared", "text"} {
				b.Run(mode, func(b *testing.B) {
					b.SetParallelism(16)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							var err error
							if mode == "prepared" {
								_, err = s.Bucket(ctx, "bench")
							} else {
								_, err = scanBucket(s.db.QueryRowContext(ctx, bucketQuery, "bench"))
							}
							if err != nil {
								b.Fatal(err)
							}
						}
					})
				})
			}
		})
	}
}

// BenchmarkPutObject measures publishing an object over an existing one
// (500 keys), 32 at a time on MariaDB: the transaction of every PUT.
func BenchmarkPutObject(b *testing.B) {
	s := newSQL(b, true)
	ctx := context.Background()
	app := mustBucket(b, s, "bench").AppID
	for i := range 500 {
		o := &Object{Bucket: "bench", Key: fmt.Sprintf("k/%d", i), Size: 1, ETag: "e", Blobs: []Blob{{UserID: "u", FileID: fmt.Sprint("f", i), Size: 1}}}
		if err := s.PutObject(ctx, app, o, PutCond{}, nil, 0); err != nil {
			b.Fatal(err)
		}
	}
	warm := &Object{Bucket: "bench", Key: "k/0", Size: 1, ETag: "e", Blobs: []Blob{{UserID: "u", FileID: "w", Size: 1}}}
	if err := s.PutObject(ctx, app, warm, PutCond{}, nil, 0); err != nil { // the UPDATE prepared, as in a running gateway
		b.Fatal(err)
	}
	publishParallel(b, s, app, func(i int64) string { return fmt.Sprintf("k/%d", i%500) })
}

// publishParallel publishes objects in bucket "bench" (app ID app), 16 per
// processor at a time, the i-th under key(i), each with a blob of its own.
func publishParallel(b *testing.B, s *SQL, app string, key func(i int64) string) {
	ctx := context.Background()
	var n atomic.Int64
	b.ResetTimer()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			o := &Object{Bucket: "bench", Key: key(i), Size: 1, ETag: "e", Blobs: []Blob{{UserID: "u", FileID: fmt.Sprint("g", i), Size: 1}}}
			if err := s.PutObject(ctx, app, o, PutCond{}, nil, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPutObjectNewKey measures publishing objects under new keys,
// most PUTs' case, 32 at a time on MariaDB and on SQLite.
func BenchmarkPutObjectNewKey(b *testing.B) {
	for _, mysql := range []bool{true, false} {
		b.Run(map[bool]string{true: "mariadb", false: "sqlite"}[mysql], func(b *testing.B) {
			s := newSQL(b, mysql)
			app := mustBucket(b, s, "bench").AppID
			publishParallel(b, s, app, func(i int64) string { return fmt.Sprintf("k/%d", i) })
		})
	}
}

// BenchmarkPutVersion is BenchmarkPutObject's overwrite in a bucket with
// versioning Enabled (the old object kept as a noncurrent version) against
// the same overwrite unversioned, 16 at a time on MariaDB.
func BenchmarkPutVersion(b *testing.B) {
	for _, v := range []Versioning{Unversioned, VersioningEnabled} {
		name := map[Versioning]string{Unversioned: "unversioned", VersioningEnabled: "enabled"}[v]
		b.Run(name, func(b *testing.B) {
			s := newSQL(b, true)
			ctx := context.Background()
			app := mustBucket(b, s, "bench").AppID
			for i := range 500 {
				o := &Object{Bucket: "bench", Key: fmt.Sprintf("k/%d", i), Size: 1, ETag: "e", Blobs: []Blob{{UserID: "u", FileID: fmt.Sprint("f", i), Size: 1}}}
				if err := s.PutObject(ctx, app, o, PutCond{Versioning: v}, nil, 0); err != nil {
					b.Fatal(err)
				}
			}
			var n atomic.Int64
			b.ResetTimer()
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					o := &Object{Bucket: "bench", Key: fmt.Sprintf("k/%d", i%500), Size: 1, ETag: "e", Blobs: []Blob{{UserID: "u", FileID: fmt.Sprint("g", i), Size: 1}}}
					if err := s.PutObject(ctx, app, o, PutCond{Versioning: v}, nil, 0); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
