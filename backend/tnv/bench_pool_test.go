package tnv

import (
	"bytes"
	"context"
	"testing"
)

// BenchmarkPool_FileSize is one small request on a pooled connection, the
// pool's checkout (liveness check included) and return on the hot path.
func BenchmarkPool_FileSize(b *testing.B) {
	t := &testing.T{}
	cl := newCluster(t, 1)
	c, err := New(Config{Trackers: []string{cl.tracker.addr()}})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	data := randBytes(1 << 10)
	if err := c.Upload(ctx, "app", "u1", "f", bytes.NewReader(data), int64(len(data))); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.FileSize(ctx, "app", "u1", "f"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
