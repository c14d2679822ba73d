package index

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/tnv-s3/tnv/metadb/metadbtest"
)

// lookupCases are keys that a byte-wise lookup tells apart and a text
// comparison might not: case, trailing spaces (PAD SPACE collations),
// bytes that are not UTF-8, a key that is a prefix of another.
var lookupCases = []string{"a", "A", "a ", "a\x00", "\xff\xfe", "dir/", "dir/x", "é", "e\u0301"}

// The lookups batched into one query (MariaDB) answer what each would
// alone: the same bucket and object, no object for a missing key, and
// ErrNotFound for a missing bucket; several buckets mixed in one query.
func TestBucketObjects_AnswerAsAlone(t *testing.T) {
	s := newSQL(t, true)
	ctx := context.Background()
	var ks []bucketKey
	for _, name := range []string{"one", "two"} {
		app := mustBucket(t, s, name).AppID
		for i, key := range lookupCases {
			if i%2 == 1 && name == "two" {
				ks = append(ks, bucketKey{name, key}) // not stored in two
				continue
			}
			o := &Object{Bucket: name, Key: key, Size: int64(i + 1), ETag: fmt.Sprint("e", i), Headers: Headers{ContentType: "text/plain", Meta: map[string]string{"n": fmt.Sprint(i)}},
				Blobs: []Blob{{UserID: "u", FileID: fmt.Sprint(name, i), Size: int64(i + 1)}}}
			if err := s.PutObject(ctx, app, o, PutCond{}, nil, 0); err != nil {
				t.Fatal(err)
			}
			ks = append(ks, bucketKey{name, key})
		}
	}
	ks = append(ks, bucketKey{"three", "a"}, bucketKey{"one", "missing"})
	for _, n := range []int{2, 3, 5, 9, lookupBatch} {
		for start := 0; start+n <= len(ks); start += n {
			batch := ks[start : start+n]
			vs, errs, err := s.bucketObjects(ctx, batch)
			if err != nil {
				t.Fatal(err)
			}
			for i, k := range batch {
				want, wantErr := s.bucketObject(ctx, k)
				if !errors.Is(errs[i], wantErr) && errs[i] != wantErr {
					t.Fatalf("%q/%q in %d: error %v, alone %v", k.bucket, k.key, n, errs[i], wantErr)
				}
				if !reflect.DeepEqual(vs[i], want) {
					t.Fatalf("%q/%q in %d: %+v %+v, alone %+v %+v", k.bucket, k.key, n, vs[i].b, vs[i].o, want.b, want.o)
				}
				if wantErr == nil && want.o != nil && want.o.Key != k.key {
					t.Fatalf("%q/%q: found key %q", k.bucket, k.key, want.o.Key)
				}
			}
		}
	}
}

// Each lookup of a batched query reads its rows by primary key: no scan,
// however many objects the bucket holds.
func TestBucketObjects_ReadByPrimaryKey(t *testing.T) {
	s := newSQL(t, true)
	for i := range 50 { // enough that a scan would cost more than a lookup
		mustBucket(t, s, fmt.Sprint("bucket", i))
	}
	var args []string
	for range 4 {
		args = append(args, "'bucket1'", "'k'")
	}
	plan := metadbtest.Access(t, s.db, bucketObjectsQuery(4), args...)
	for _, table := range []string{"b", "o"} {
		if plan[table] != "eq_ref PRIMARY" {
			t.Fatalf("table %s read by %q, want eq_ref PRIMARY (plan %v)", table, plan[table], plan)
		}
	}
}

// BucketObject called by many at once (MariaDB: batched) answers each
// caller its own object.
func TestBucketObject_ConcurrentCallersGetTheirOwn(t *testing.T) {
	s := newSQL(t, true)
	ctx := context.Background()
	app := mustBucket(t, s, "one").AppID
	const keys = 50
	for i := range keys {
		o := &Object{Bucket: "one", Key: fmt.Sprint("k", i), Size: int64(i), ETag: fmt.Sprint("e", i), Blobs: []Blob{{UserID: "u", FileID: fmt.Sprint(i), Size: int64(i)}}}
		if err := s.PutObject(ctx, app, o, PutCond{}, nil, 0); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errc := make(chan error, 64)
	for g := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 40 {
				i := (g*7 + j) % (keys + 5) // some keys missing
				b, o, err := s.BucketObject(ctx, "one", fmt.Sprint("k", i))
				switch {
				case err != nil:
					errc <- err
				case b == nil || b.AppID != app:
					errc <- fmt.Errorf("k%d: bucket %+v", i, b)
				case i >= keys && o != nil:
					errc <- fmt.Errorf("k%d: object %+v, want none", i, o)
				case i < keys && (o == nil || o.Key != fmt.Sprint("k", i) || o.ETag != fmt.Sprint("e", i)):
					errc <- fmt.Errorf("k%d: object %+v", i, o)
				default:
					continue
				}
				return
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
}
