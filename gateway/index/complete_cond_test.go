package index

import (
	"errors"
	"testing"
	"time"
)

// TestCompleteUpload_Conditions: a completion refused by its conditions
// leaves the object and the upload as they were, and the upload completes
// afterwards.
func TestCompleteUpload_Conditions(t *testing.T) {
	forEach(t, func(t *testing.T, idx Index) {
		b := mustBucket(t, idx, "bkt")
		mt := time.UnixMilli(1_700_000_001_000).UTC()
		if err := idx.CreateUpload(ctx, b.AppID, &Upload{ID: "u1", Bucket: "bkt", Key: "k", Initiated: mt, Owner: "alice"}); err != nil {
			t.Fatal(err)
		}
		if err := idx.PutPart(ctx, b.AppID, "bkt", "k", "u1", &Part{Number: 1, ETag: "e1", Size: 10, MTime: mt, Blobs: blobs("p1")}, nil, released); err != nil {
			t.Fatal(err)
		}
		build := func(u *Upload, ps []Part) (*Object, error) {
			return &Object{Bucket: "bkt", Key: "k", Size: 10, ETag: "mp-1", MTime: mt, Parts: 1, Blobs: ps[0].Blobs}, nil
		}
		complete := func(c PutCond) error {
			_, err := idx.CompleteUpload(ctx, b.AppID, "bkt", "k", "u1", released, c, build)
			return err
		}
		// no object yet: If-Match has nothing to match
		if err := complete(PutCond{IfMatch: "etag-6b"}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("IfMatch on a missing key: %v", err)
		}
		if err := idx.PutObject(ctx, b.AppID, obj("bkt", "k", "old"), PutCond{}, nil, released); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			cond PutCond
			want error
		}{
			{PutCond{IfNoneMatchStar: true}, ErrExists},
			{PutCond{IfMatch: "other"}, ErrPrecondition},
		} {
			if err := complete(c.cond); !errors.Is(err, c.want) {
				t.Fatalf("%+v: %v, want %v", c.cond, err, c.want)
			}
			if o, err := idx.Object(ctx, "bkt", "k"); err != nil || o.ETag != "etag-6b" || o.Blobs[0].FileID != "old" {
				t.Fatalf("object after a refused completion: %+v, %v", o, err)
			}
			if ps, err := idx.Parts(ctx, "u1", 0, 10); err != nil || len(ps) != 1 {
				t.Fatalf("parts after a refused completion: %+v, %v", ps, err)
			}
			wantQueued(t, idx)
		}
		if err := complete(PutCond{IfMatch: "etag-6b"}); err != nil {
			t.Fatalf("IfMatch on the current ETag: %v", err)
		}
		if o, err := idx.Object(ctx, "bkt", "k"); err != nil || o.ETag != "mp-1" || o.Version != 2 {
			t.Fatalf("completed object %+v, %v", o, err)
		}
		wantQueued(t, idx, "old")
	})
}
