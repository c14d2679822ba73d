package gateway

import (
	"errors"
	"testing"
)

// GET and HEAD look the bucket and the object up in one query; it must
// agree with the two lookups it replaces, on both dialects.
func TestBucketObject_AgreesWithBucketAndObject(t *testing.T) {
	for _, mysql := range []bool{false, true} {
		name := map[bool]string{false: "sqlite", true: "mysql"}[mysql]
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, envOpt{mysql: mysql})
			e.mkBucket("bob")
			e.mkBucket("empty")
			e.put("bob", "dir/k ü", []byte("hello"))
			b, o, err := e.g.idx.BucketObject(ctx(), "bob", "dir/k ü")
			if err != nil || o == nil {
				t.Fatalf("bucketObject: %v, %v", o, err)
			}
			wb, _ := e.g.idx.Bucket(ctx(), "bob")
			wo, _ := e.g.idx.Object(ctx(), "bob", "dir/k ü")
			if *b != *wb || o.Key != wo.Key || o.Size != wo.Size || o.ETag != wo.ETag || !o.MTime.Equal(wo.MTime) ||
				o.Version != wo.Version || o.Parts != wo.Parts || len(o.Blobs) != len(wo.Blobs) || o.Blobs[0] != wo.Blobs[0] ||
				o.Headers.ContentType != wo.Headers.ContentType {
				t.Fatalf("bucketObject = %+v %+v, want %+v %+v", b, o, wb, wo)
			}
			if b, o, err := e.g.idx.BucketObject(ctx(), "bob", "nope"); err != nil || o != nil || b.Name != "bob" {
				t.Fatalf("missing key: %v %v %v", b, o, err)
			}
			if _, o, err := e.g.idx.BucketObject(ctx(), "empty", "dir/k ü"); err != nil || o != nil {
				t.Fatalf("key of another bucket: %v %v", o, err)
			}
			if _, _, err := e.g.idx.BucketObject(ctx(), "nobucket", "k"); !errors.Is(err, errNotFound) {
				t.Fatalf("missing bucket: %v, want errNotFound", err)
			}
		})
	}
}
