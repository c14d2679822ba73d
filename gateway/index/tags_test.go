package index

import (
	"errors"
	"reflect"
	"testing"
)

func TestTags_ObjectAndBucket(t *testing.T) {
	forEach(t, func(t *testing.T, idx Index) {
		b := mustBucket(t, idx, "bkt")
		o := obj("bkt", "k", "f1")
		o.Headers.Tags = []Tag{{"z", "1"}, {"a", ""}}
		if err := idx.PutObject(ctx, b.AppID, o, PutCond{}, nil, released); err != nil {
			t.Fatal(err)
		}
		got, err := idx.Object(ctx, "bkt", "k")
		if err != nil || !reflect.DeepEqual(got.Headers.Tags, o.Headers.Tags) {
			t.Fatalf("tags put with the object: %+v, %v", got, err)
		}
		// a new tag set: same bytes, ETag and MTime, a new version
		want := []Tag{{"k", "v w"}}
		if err := idx.SetObjectTags(ctx, "bkt", "k", want); err != nil {
			t.Fatal(err)
		}
		now, err := idx.Object(ctx, "bkt", "k")
		if err != nil || !reflect.DeepEqual(now.Headers.Tags, want) || now.ETag != got.ETag || !now.MTime.Equal(got.MTime) ||
			now.Version != got.Version+1 || now.Headers.Meta["a"] != "1" || len(now.Blobs) != 1 {
			t.Fatalf("after SetObjectTags: %+v, %v", now, err)
		}
		if err := idx.SetObjectTags(ctx, "bkt", "k", nil); err != nil {
			t.Fatal(err)
		}
		if now, _ := idx.Object(ctx, "bkt", "k"); now.Headers.Tags != nil {
			t.Fatalf("tags after removal: %+v", now.Headers.Tags)
		}
		if err := idx.SetObjectTags(ctx, "bkt", "missing", want); !errors.Is(err, ErrNotFound) {
			t.Fatalf("tags of a missing key: %v", err)
		}
		// a stale self-copy after a tag change conflicts
		if err := idx.PutObject(ctx, b.AppID, obj("bkt", "k", "f1"), PutCond{IfVersion: got.Version}, nil, released); !errors.Is(err, ErrConflict) {
			t.Fatalf("put at the version before the tag change: %v", err)
		}
		wantQueued(t, idx)

		// bucket tags
		if tags, err := idx.BucketTags(ctx, "bkt"); err != nil || tags != nil {
			t.Fatalf("tags of a new bucket: %+v, %v", tags, err)
		}
		bt := []Tag{{"team", "media"}, {"cost", "7"}}
		if err := idx.SetBucketTags(ctx, "bkt", bt); err != nil {
			t.Fatal(err)
		}
		if err := idx.SetBucketTags(ctx, "bkt", bt); err != nil { // no change: still found
			t.Fatal(err)
		}
		if tags, err := idx.BucketTags(ctx, "bkt"); err != nil || !reflect.DeepEqual(tags, bt) {
			t.Fatalf("bucket tags %+v, %v", tags, err)
		}
		if _, err := idx.BucketTags(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("tags of a missing bucket: %v", err)
		}
		if err := idx.SetBucketTags(ctx, "nope", bt); !errors.Is(err, ErrNotFound) {
			t.Fatalf("set tags of a missing bucket: %v", err)
		}
		if err := idx.SetBucketTags(ctx, "bkt", nil); err != nil {
			t.Fatal(err)
		}
		if tags, err := idx.BucketTags(ctx, "bkt"); err != nil || tags != nil {
			t.Fatalf("bucket tags after removal: %+v, %v", tags, err)
		}
		// a deleted and re-created bucket has none
		if err := idx.SetBucketTags(ctx, "bkt", bt); err != nil {
			t.Fatal(err)
		}
		if _, err := idx.DeleteObject(ctx, b.AppID, "bkt", "k", released); err != nil {
			t.Fatal(err)
		}
		if err := idx.DeleteBucket(ctx, b, released); err != nil {
			t.Fatal(err)
		}
		mustBucket(t, idx, "bkt")
		if tags, err := idx.BucketTags(ctx, "bkt"); err != nil || tags != nil {
			t.Fatalf("tags of a re-created bucket: %+v, %v", tags, err)
		}
	})
}

func TestTags_UploadCarriesTags(t *testing.T) {
	forEach(t, func(t *testing.T, idx Index) {
		b := mustBucket(t, idx, "bkt")
		u := &Upload{ID: "u1", Bucket: "bkt", Key: "k", Owner: "alice", Headers: Headers{Tags: []Tag{{"a", "b"}}}}
		if err := idx.CreateUpload(ctx, b.AppID, u); err != nil {
			t.Fatal(err)
		}
		got, err := idx.Upload(ctx, "u1", "bkt", "k")
		if err != nil || !reflect.DeepEqual(got.Headers.Tags, u.Headers.Tags) {
			t.Fatalf("upload %+v, %v", got, err)
		}
	})
}
