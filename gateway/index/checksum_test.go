package index

import (
	"reflect"
	"testing"
	"time"
)

// TestChecksums_StoredWithUploadsPartsAndObjects: an upload keeps its
// checksum algorithm and type, a part its checksum (also when replaced),
// an object its checksum and the part checksums its blobs carry, in every
// implementation.
func TestChecksums_StoredWithUploadsPartsAndObjects(t *testing.T) {
	forEach(t, func(t *testing.T, idx Index) {
		b := mustBucket(t, idx, "bkt")
		up := &Checksum{Algorithm: "SHA256", Type: "COMPOSITE"}
		if err := idx.CreateUpload(ctx, b.AppID, &Upload{ID: "u", Bucket: "bkt", Key: "k", Initiated: time.Now(), Owner: "o", Headers: Headers{Checksum: up}}); err != nil {
			t.Fatal(err)
		}
		up.Type = "changed by the caller"
		u, err := idx.Upload(ctx, "u", "bkt", "k")
		if err != nil || !reflect.DeepEqual(u.Headers.Checksum, &Checksum{Algorithm: "SHA256", Type: "COMPOSITE"}) {
			t.Fatalf("Upload = %+v, %v", u, err)
		}
		for i, sum := range []string{"old", "p1sum", "p2sum"} {
			n := max(i, 1)
			if err := idx.PutPart(ctx, b.AppID, "bkt", "k", "u", &Part{Number: n, ETag: "e", Size: 3, MTime: time.Now(), Blobs: blobs(sum), Checksum: sum}, nil, released); err != nil {
				t.Fatal(err)
			}
		}
		ps, err := idx.Parts(ctx, "u", 0, 10)
		if err != nil || len(ps) != 2 || ps[0].Checksum != "p1sum" || ps[1].Checksum != "p2sum" {
			t.Fatalf("Parts = %+v, %v", ps, err)
		}
		o, err := idx.CompleteUpload(ctx, b.AppID, "bkt", "k", "u", released, PutCond{}, func(u *Upload, ps []Part) (*Object, error) {
			o := &Object{Bucket: "bkt", Key: "k", Size: 6, ETag: "x-2", MTime: time.Now(), Parts: 2, Headers: u.Headers}
			for _, p := range ps {
				bs := append([]Blob(nil), p.Blobs...)
				bs[0].Part, bs[0].Sum = p.Number, p.Checksum
				o.Blobs = append(o.Blobs, bs...)
			}
			o.Headers.Checksum = &Checksum{Algorithm: "SHA256", Type: "COMPOSITE", Value: "whole"}
			return o, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := idx.Object(ctx, "bkt", "k")
		if err != nil || !reflect.DeepEqual(got.Headers.Checksum, o.Headers.Checksum) || got.Blobs[1].Sum != "p2sum" || got.Blobs[1].Part != 2 {
			t.Fatalf("Object = %+v %+v, %v", got, got.Headers.Checksum, err)
		}
	})
}
