package index

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestWrites_IntoABucketGone: every write that adds to a bucket carries
// the app ID its caller read the bucket with; after the bucket was deleted
// and created again under its name, such a write is ErrNoSuchBucket and
// changes nothing, and a DeleteBucket of the old bucket leaves the new one.
func TestWrites_IntoABucketGone(t *testing.T) {
	forEach(t, func(t *testing.T, idx Index) {
		old := mustBucket(t, idx, "bkt")
		if err := idx.CreateUpload(ctx, old.AppID, &Upload{ID: "u-old", Bucket: "bkt", Key: "m", Initiated: time.Now(), Owner: "alice"}); err != nil {
			t.Fatal(err)
		}
		if err := idx.DeleteBucket(ctx, old, released); err != nil {
			t.Fatal(err)
		}
		cur := mustBucket(t, idx, "bkt")
		if err := idx.PutObject(ctx, cur.AppID, obj("bkt", "k", "f-cur"), PutCond{}, nil, released); err != nil {
			t.Fatal(err)
		}
		if err := idx.CreateUpload(ctx, cur.AppID, &Upload{ID: "u-cur", Bucket: "bkt", Key: "m", Initiated: time.Now(), Owner: "alice"}); err != nil {
			t.Fatal(err)
		}
		stale := old.AppID
		part := &Part{Number: 1, ETag: "e", Size: 10, MTime: time.Now(), Blobs: blobs("f-part")}
		complete := func(u *Upload, ps []Part) (*Object, error) { return obj("bkt", "m", "f-part"), nil }
		for name, write := range map[string]func() error{
			"PutObject new key":   func() error { return idx.PutObject(ctx, stale, obj("bkt", "new", "f1"), PutCond{}, nil, released) },
			"PutObject overwrite": func() error { return idx.PutObject(ctx, stale, obj("bkt", "k", "f2"), PutCond{}, nil, released) },
			"PutObject If-None-Match": func() error {
				return idx.PutObject(ctx, stale, obj("bkt", "k", "f3"), PutCond{IfNoneMatchStar: true}, nil, released)
			},
			"PutObject If-Match": func() error {
				return idx.PutObject(ctx, stale, obj("bkt", "k", "f4"), PutCond{IfMatch: "etag-6b"}, nil, released)
			},
			"PutObject versioned": func() error {
				return idx.PutObject(ctx, stale, obj("bkt", "v", "f5"), PutCond{Versioning: VersioningEnabled}, nil, released)
			},
			"PutDeleteMarker": func() error {
				_, err := idx.PutDeleteMarker(ctx, stale, "bkt", "k", VersioningEnabled, time.Now(), released)
				return err
			},
			"CreateUpload": func() error {
				return idx.CreateUpload(ctx, stale, &Upload{ID: "u-stale", Bucket: "bkt", Key: "m", Initiated: time.Now(), Owner: "alice"})
			},
			"PutPart": func() error { return idx.PutPart(ctx, stale, "bkt", "m", "u-cur", part, nil, released) },
			"CompleteUpload": func() error {
				_, err := idx.CompleteUpload(ctx, stale, "bkt", "m", "u-cur", released, PutCond{}, complete)
				return err
			},
			"DeleteBucket": func() error { return idx.DeleteBucket(ctx, old, released) },
		} {
			if err := write(); !errors.Is(err, ErrNoSuchBucket) {
				t.Errorf("%s with the app ID of a bucket deleted and created again: %v, want ErrNoSuchBucket", name, err)
			}
		}
		b, err := idx.Bucket(ctx, "bkt")
		if err != nil || b.AppID != cur.AppID {
			t.Fatalf("the bucket now: %+v, %v; want app ID %s", b, err, cur.AppID)
		}
		rows, err := idx.ScanKeys(ctx, "bkt", "", false, "", 10)
		if err != nil || len(rows) != 1 || rows[0].Key != "k" || rows[0].ETag != "etag-6b" {
			t.Fatalf("objects of the new bucket: %+v, %v; want k alone", rows, err)
		}
		if o, err := idx.Object(ctx, "bkt", "k"); err != nil || !slices.Equal(o.Blobs, blobs("f-cur")) {
			t.Fatalf("k: %+v, %v", o, err)
		}
		us, err := idx.Uploads(ctx, "bkt", "", "", 10)
		if err != nil || len(us) != 1 || us[0].ID != "u-cur" {
			t.Fatalf("uploads of the new bucket: %+v, %v; want u-cur alone", us, err)
		}
		if ps, err := idx.Parts(ctx, "u-cur", 0, 10); err != nil || len(ps) != 0 {
			t.Fatalf("parts of u-cur: %+v, %v", ps, err)
		}
		wantQueued(t, idx)
	})
}

// TestDeleteBucket_RacesWrites runs DeleteBucket against PUTs of new keys
// and a part upload into the same bucket, many times: either the bucket
// is deleted and every write fails with ErrNoSuchBucket (a part recorded
// before the delete has its blob queued), or the delete finds an object.
// No object row outlives its bucket.
func TestDeleteBucket_RacesWrites(t *testing.T) {
	forEach(t, func(t *testing.T, idx Index) {
		const rounds, puts = 25, 6
		deleted := 0
		for r := range rounds {
			b := mustBucket(t, idx, "race")
			uid := fmt.Sprint("u", r)
			if err := idx.CreateUpload(ctx, b.AppID, &Upload{ID: uid, Bucket: "race", Key: "m", Initiated: time.Now(), Owner: "alice"}); err != nil {
				t.Fatal(err)
			}
			partBlob := fmt.Sprintf("p%d", r)
			start := make(chan struct{})
			var wg sync.WaitGroup
			putErrs := make([]error, puts)
			var partErr, delErr error
			for i := range puts {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					putErrs[i] = idx.PutObject(ctx, b.AppID, obj("race", fmt.Sprint("k", i), fmt.Sprintf("f%d-%d", r, i)), PutCond{}, nil, released)
				}()
			}
			wg.Add(2)
			go func() {
				defer wg.Done()
				<-start
				partErr = idx.PutPart(ctx, b.AppID, "race", "m", uid, &Part{Number: 1, ETag: "e", Size: 10, MTime: time.Now(), Blobs: blobs(partBlob)}, nil, released)
			}()
			go func() {
				defer wg.Done()
				<-start
				delErr = idx.DeleteBucket(ctx, b, released)
			}()
			close(start)
			wg.Wait()
			published := 0
			for _, err := range putErrs {
				switch {
				case err == nil:
					published++
				case !errors.Is(err, ErrNoSuchBucket):
					t.Fatalf("round %d: PutObject: %v", r, err)
				}
			}
			rows, err := idx.ScanKeys(ctx, "race", "", false, "", 100)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case delErr == nil:
				deleted++
				if published > 0 || len(rows) > 0 {
					t.Fatalf("round %d: bucket deleted, yet %d PUTs published and %d rows are under its name", r, published, len(rows))
				}
				switch {
				case partErr == nil: // recorded first: dropped with its upload
					if q := queued(t, idx); !slices.Contains(q, partBlob) {
						t.Fatalf("round %d: a part recorded before the delete: blob %s not queued (%q)", r, partBlob, q)
					}
				case !errors.Is(partErr, ErrNoSuchBucket) && !errors.Is(partErr, ErrNoSuchUpload):
					t.Fatalf("round %d: PutPart: %v", r, partErr)
				}
			case errors.Is(delErr, ErrBucketNotEmpty):
				if published == 0 || len(rows) != published {
					t.Fatalf("round %d: delete refused as not empty with %d PUTs published and %d rows", r, published, len(rows))
				}
				for _, row := range rows {
					if _, err := idx.DeleteObject(ctx, b.AppID, "race", row.Key, released); err != nil {
						t.Fatal(err)
					}
				}
				if err := idx.DeleteBucket(ctx, b, released); err != nil {
					t.Fatal(err)
				}
			default:
				t.Fatalf("round %d: DeleteBucket: %v", r, delErr)
			}
		}
		t.Logf("%d of %d rounds deleted the bucket before every write", deleted, rounds)
	})
}
