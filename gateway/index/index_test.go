package index

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/metadb/metadbtest"
)

// The same suite runs against every implementation: Memory, SQL on SQLite
// and SQL on MariaDB.

func newSQL(t testing.TB, mysql bool) *SQL {
	t.Helper()
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "meta.db")
	if mysql {
		dsn = metadbtest.NewTestMySQL(t)
	}
	db, err := metadb.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	s := NewSQL(db)
	t.Cleanup(func() { s.Close(); db.Close() })
	return s
}

// newCachedSQL is newSQL with the lookup cache on and its lease held.
func newCachedSQL(t testing.TB, mysql bool) *SQL {
	t.Helper()
	s := newSQL(t, mysql)
	s.StartCache(0)
	waitLease(t, s, true)
	return s
}

// waitLease waits until s holds the index lease (held) or no longer does.
func waitLease(t testing.TB, s *SQL, held bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.CacheStats().Held != held {
		if time.Now().After(deadline) {
			t.Fatalf("index lease held: %v, want %v after 10 s", !held, held)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func forEach(t *testing.T, test func(t *testing.T, idx Index)) {
	impls := []struct {
		name string
		make func(t *testing.T) Index
	}{
		{"memory", func(*testing.T) Index { return NewMemory() }},
		{"sqlite", func(t *testing.T) Index { return newSQL(t, false) }},
		{"mariadb", func(t *testing.T) Index { return newSQL(t, true) }},
		// With the lookup cache on: every write must drop what it changed.
		{"sqlite-cached", func(t *testing.T) Index { return newCachedSQL(t, false) }},
		{"mariadb-cached", func(t *testing.T) Index { return newCachedSQL(t, true) }},
	}
	for _, impl := range impls {
		t.Run(impl.name, func(t *testing.T) { test(t, impl.make(t)) })
	}
}

var ctx = context.Background()

// released is a gcDue in the past: blobs released with it are due at once,
// while intent records (due in the future) are not.
const released = 1000

// queued returns the file IDs due at released, sorted.
func queued(t *testing.T, idx Index) []string {
	t.Helper()
	rows, err := idx.DueBlobs(ctx, released, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		out = append(out, r.FileID)
	}
	sort.Strings(out)
	return out
}

func wantQueued(t *testing.T, idx Index, want ...string) {
	t.Helper()
	if got := queued(t, idx); !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Fatalf("queued for collection: %q, want %q", got, want)
	}
}

func mustBucket(t testing.TB, idx Index, name string) *Bucket {
	t.Helper()
	if ex, err := idx.CreateBucket(ctx, name, "alice"); err != nil || ex != nil {
		t.Fatalf("create %s: existing %v, %v", name, ex, err)
	}
	b, err := idx.Bucket(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func blobs(ids ...string) []Blob {
	var out []Blob
	for _, id := range ids {
		out = append(out, Blob{UserID: "owner-1", FileID: id, Size: 10})
	}
	return out
}

func obj(bucket, key string, ids ...string) *Object {
	return &Object{Bucket: bucket, Key: key, Size: int64(10 * len(ids)), ETag: "etag-" + hex.EncodeToString([]byte(key)),
		Headers: Headers{ContentType: "text/plain", Meta: map[string]string{"a": "1"}},
		MTime:   time.UnixMilli(1_700_000_000_123).UTC(), Blobs: blobs(ids...)}
}

func TestUsers(t *testing.T) {
	forEach(t, func(t *testing.T, idx Index) {
		for _, ak := range []string{"zed", "amy"} {
			if err := idx.AddUser(ctx, ak, "secret-"+ak); err != nil {
				t.Fatal(err)
			}
		}
		if err := idx.AddUser(ctx, "amy", "other"); err == nil {
			t.Fatal("adding an existing key: want an error")
		}
		for _, bad := range [][2]string{{"", "s"}, {"k", ""}, {string(make([]byte, 129)), "s"}} {
			if err := idx.AddUser(ctx, bad[0], bad[1]); err == nil {
				t.Errorf("AddUser(%q, %q): want an error", bad[0], bad[1])
			}
		}
		if s, ok, err := idx.Secret(ctx, "amy"); err != nil || !ok || s != "secret-amy" {
			t.Fatalf("Secret(amy) = %q %v %v", s, ok, err)
		}
		if _, ok, err := idx.Secret(ctx, "nobody"); err != nil || ok {
			t.Fatalf("Secret(nobody) = %v %v, want not found and no error", ok, err)
		}
		us, err := idx.Users(ctx)
		if err != nil || len(us) != 2 || us[0].AccessKey != "amy" || us[1].AccessKey != "zed" || us[0].Created.IsZero() {
			t.Fatalf("Users = %+v, %v", us, err)
		}
		if err := idx.RemoveUser(ctx, "amy", ""); err != nil {
			t.Fatal(err)
		}
		if err := idx.RemoveUser(ctx, "amy", ""); !errors.Is(err, ErrNotFound) {
			t.Fatalf("removing a missing key: %v, want ErrNotFound", err)
		}
	})
}

// Admins, bucket owners, and the removal of a user who owns buckets:
// refused, or with reassignTo done with the hand-over in one step.
func TestUsers_AdminsOwnersRemoval(t *testing.T) {
	forEach(t, func(t *testing.T, idx Index) {
		ctx := context.Background()
		for _, u := range []string{"amy", "bob"} {
			if err := idx.AddUser(ctx, u, "secret-"+u); err != nil {
				t.Fatal(err)
			}
		}
		if a, err := idx.IsAdmin(ctx, "amy"); err != nil || a {
			t.Fatalf("new user IsAdmin = %v %v", a, err)
		}
		if err := idx.SetAdmin(ctx, "amy", true); err != nil {
			t.Fatal(err)
		}
		if a, err := idx.IsAdmin(ctx, "amy"); err != nil || !a {
			t.Fatalf("IsAdmin after SetAdmin = %v %v", a, err)
		}
		if us, err := idx.Users(ctx); err != nil || !us[0].Admin || us[1].Admin {
			t.Fatalf("Users = %+v %v", us, err)
		}
		if err := idx.SetAdmin(ctx, "nobody", true); !errors.Is(err, ErrNotFound) {
			t.Fatalf("SetAdmin(nobody) = %v, want ErrNotFound", err)
		}
		if a, err := idx.IsAdmin(ctx, "nobody"); err != nil || a {
			t.Fatalf("IsAdmin(nobody) = %v %v", a, err)
		}

		if _, err := idx.CreateBucket(ctx, "amys", "amy"); err != nil {
			t.Fatal(err)
		}
		if err := idx.RemoveUser(ctx, "amy", ""); !errors.Is(err, ErrOwnsBuckets) {
			t.Fatalf("removing a bucket owner: %v, want ErrOwnsBuckets", err)
		}
		if err := idx.RemoveUser(ctx, "amy", "nobody"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("reassigning to a missing user: %v, want ErrNotFound", err)
		}
		if _, ok, _ := idx.Secret(ctx, "amy"); !ok {
			t.Fatal("a refused removal removed the user")
		}
		if err := idx.SetBucketOwner(ctx, "amys", "nobody"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("SetBucketOwner to a missing user: %v", err)
		}
		if err := idx.SetBucketOwner(ctx, "nothere", "bob"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("SetBucketOwner of a missing bucket: %v", err)
		}
		if err := idx.RemoveUser(ctx, "amy", "bob"); err != nil {
			t.Fatal(err)
		}
		if b, err := idx.Bucket(ctx, "amys"); err != nil || b.Owner != "bob" {
			t.Fatalf("bucket after reassignment: %+v %v", b, err)
		}
		if err := idx.SetBucketOwner(ctx, "amys", "bob"); err != nil {
			t.Fatal(err)
		}
	})
}

// WithTimeout gives each call a deadline: a call that outlives it fails
// with context.DeadlineExceeded.
func TestWithTimeout_CallsHaveADeadline(t *testing.T) {
	slow := &slowIndex{Index: NewMemory()}
	idx := WithTimeout(slow, 50*time.Millisecond)
	start := time.Now()
	_, _, err := idx.Secret(context.Background(), "amy")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("Secret on a stuck index: %v after %v", err, time.Since(start))
	}
	if WithTimeout(slow, 0) != Index(slow) {
		t.Fatal("WithTimeout(ix, 0) is not ix")
	}
}

// slowIndex's Secret waits for its context, as a query on a locked table.
type slowIndex struct{ Index }

func (s *slowIndex) Secret(ctx context.Context, _ string) (string, bool, error) {
	<-ctx.Done()
	return "", false, ctx.Err()
}

func TestBuckets(t *testing.T) {
	forEach(t, func(t *testing.T, idx Index) {
		b := mustBucket(t, idx, "photos")
		if b.Owner != "alice" || len(b.AppID) != 15 || b.PublicRead || b.CORS != "" || b.Created.IsZero() {
			t.Fatalf("new bucket %+v", b)
		}
		ex, err := idx.CreateBucket(ctx, "photos", "bob")
		if err != nil || ex == nil || ex.Owner != "alice" || ex.AppID != b.AppID {
			t.Fatalf("creating a taken name: existing %+v, %v; want alice's bucket", ex, err)
		}
		if _, err := idx.CreateBucket(ctx, "music", "bob"); err != nil {
			t.Fatal(err)
		}
		if _, err := idx.Bucket(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing bucket: %v", err)
		}
		for _, c := range []struct {
			owner string
			want  []string
		}{{"", []string{"music", "photos"}}, {"bob", []string{"music"}}, {"carol", nil}} {
			bs, err := idx.Buckets(ctx, c.owner)
			var names []string
			for _, b := range bs {
				names = append(names, b.Name)
			}
			if err != nil || !reflect.DeepEqual(names, c.want) {
				t.Errorf("Buckets(%q) = %q, %v; want %q", c.owner, names, err, c.want)
			}
		}
		if err := idx.SetPublic(ctx, "photos", true); err != nil {
			t.Fatal(err)
		}
		if err := idx.SetPublic(ctx, "photos", true); err != nil { // no change is no error
			t.Fatal(err)
		}
		if err := idx.SetPublic(ctx, "nope", true); !errors.Is(err, ErrNotFound) {
			t.Fatalf("SetPublic on a missing bucket: %v", err)
		}
		if err := idx.SetCORS(ctx, "photos", "<CORSConfiguration/>"); err != nil {
			t.Fatal(err)
		}
		if b, _ := idx.Bucket(ctx, "photos"); !b.PublicRead || b.CORS != "<CORSConfiguration/>" {
			t.Fatalf("after SetPublic and SetCORS: %+v", b)
		}
		if err := idx.SetEncryption(ctx, "photos", "AES256"); err != nil {
			t.Fatal(err)
		}
		if b, _ := idx.Bucket(ctx, "photos"); b.Encryption != "AES256" {
			t.Fatalf("after SetEncryption: %+v", b)
		}
		if b, _, _ := idx.BucketObject(ctx, "photos", "nothing"); b.Encryption != "AES256" {
			t.Fatalf("BucketObject's bucket after SetEncryption: %+v", b)
		}
		if err := idx.SetEncryption(ctx, "photos", ""); err != nil {
			t.Fatal(err)
		}
		if b, _ := idx.Bucket(ctx, "photos"); b.Encryption != "" {
			t.Fatalf("encryption not removed: %+v", b)
		}
		if err := idx.SetEncryption(ctx, "nosuchbucket", "AES256"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("SetEncryption of no bucket: %v", err)
		}
		if err := idx.SetCORS(ctx, "photos", ""); err != nil {
			t.Fatal(err)
		}
		if b, _ := idx.Bucket(ctx, "photos"); b.CORS != "" {
			t.Fatalf("CORS not removed: %q", b.CORS)
		}
		for _, k := range []string{"a", "b"} {
			if err := idx.PutObject(ctx, b.AppID, obj("photos", k, "f"+k, "g"+k), PutCond{}, nil, released); err != nil {
				t.Fatal(err)
			}
		}
		if n, size, err := idx.Usage(ctx, "photos"); err != nil || n != 2 || size != 40 {
			t.Fatalf("Usage = %d objects %d bytes, %v; want 2, 40", n, size, err)
		}
		if err := idx.DeleteBucket(ctx, b, released); !errors.Is(err, ErrBucketNotEmpty) {
			t.Fatalf("deleting a bucket with objects: %v", err)
		}
	})
}

func TestObjects_PutGetReplaceDelete(t *testing.T) {
	forEach(t, func(t *testing.T, idx Index) {
		b := mustBucket(t, idx, "bkt")
		key := "dir/ü k\x00\xff" // keys are bytes
		o := obj("bkt", key, "f1", "f2")
		if err := idx.PutObject(ctx, b.AppID, o, PutCond{}, nil, released); err != nil || o.Version != 1 {
			t.Fatalf("put: version %d, %v", o.Version, err)
		}
		got, err := idx.Object(ctx, "bkt", key)
		if err != nil || !reflect.DeepEqual(got, o) {
			t.Fatalf("Object = %+v, %v;\nwant %+v", got, err, o)
		}
		gb, gotO, err := idx.BucketObject(ctx, "bkt", key)
		if err != nil || gb.AppID != b.AppID || !reflect.DeepEqual(gotO, o) {
			t.Fatalf("BucketObject = %+v %+v, %v", gb, gotO, err)
		}
		if gb, gotO, err := idx.BucketObject(ctx, "bkt", "other"); err != nil || gb == nil || gotO != nil {
			t.Fatalf("BucketObject of a missing key = %+v %+v, %v; want the bucket and no object", gb, gotO, err)
		}
		if _, _, err := idx.BucketObject(ctx, "nobkt", key); !errors.Is(err, ErrNotFound) {
			t.Fatalf("BucketObject of a missing bucket: %v", err)
		}
		if _, err := idx.Object(ctx, "bkt", "other"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Object of a missing key: %v", err)
		}
		wantQueued(t, idx)

		// A replacement that keeps f2 (a copy onto itself keeps all) releases f1 only.
		o2 := obj("bkt", key, "f2", "f3")
		if err := idx.PutObject(ctx, b.AppID, o2, PutCond{}, nil, released); err != nil || o2.Version != 2 {
			t.Fatalf("replace: version %d, %v", o2.Version, err)
		}
		wantQueued(t, idx, "f1")
		self := obj("bkt", key, "f2", "f3")
		if err := idx.PutObject(ctx, b.AppID, self, PutCond{IfVersion: 2}, nil, released); err != nil || self.Version != 3 {
			t.Fatalf("self copy: version %d, %v", self.Version, err)
		}
		wantQueued(t, idx, "f1")

		found, err := idx.DeleteObject(ctx, b.AppID, "bkt", key, released)
		if err != nil || !found {
			t.Fatalf("delete: %v %v", found, err)
		}
		wantQueued(t, idx, "f1", "f2", "f3")
		if found, err := idx.DeleteObject(ctx, b.AppID, "bkt", key, released); err != nil || found {
			t.Fatalf("deleting a missing key: %v %v; want not found, no error", found, err)
		}
		if _, err := idx.Object(ctx, "bkt", key); !errors.Is(err, ErrNotFound) {
			t.Fatalf("deleted object: %v", err)
		}
	})
}

func TestObjects_Conditions(t *testing.T) {
	forEach(t, func(t *testing.T, idx Index) {
		b := mustBucket(t, idx, "bkt")
		if err := idx.PutObject(ctx, b.AppID, obj("bkt", "k", "f1"), PutCond{}, nil, released); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name string
			key  string
			cond PutCond
			want error
		}{
			{"IfNoneMatchStarOnExisting", "k", PutCond{IfNoneMatchStar: true}, ErrExists},
			{"IfNoneMatchStarOnNew", "new", PutCond{IfNoneMatchStar: true}, nil},
			{"StaleVersion", "k", PutCond{IfVersion: 7}, ErrConflict},
			{"VersionOfMissingKey", "missing", PutCond{IfVersion: 1}, ErrConflict},
			{"CurrentVersion", "k", PutCond{IfVersion: 1}, nil},
			{"IfMatchOtherETag", "k", PutCond{IfMatch: "nope"}, ErrPrecondition},
			{"IfMatchMissingKey", "missing", PutCond{IfMatch: "etag-6b"}, ErrNotFound},
			{"IfMatchCurrentETag", "k", PutCond{IfMatch: "etag-6b"}, nil},
		} {
			t.Run(c.name, func(t *testing.T) {
				err := idx.PutObject(ctx, b.AppID, obj("bkt", c.key, "x-"+c.name), c.cond, nil, released)
				if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
					t.Fatalf("err %v, want %v", err, c.want)
				}
				if c.want != nil {
					if o, err := idx.Object(ctx, "bkt", c.key); err == nil && o.Blobs[0].FileID == "x-"+c.name {
						t.Fatal("a refused put changed the object")
					}
				}
			})
		}
		// replaced by CurrentVersion, then IfMatchCurrentETag; refused puts released nothing
		wantQueued(t, idx, "f1", "x-CurrentVersion")
	})
}

func TestScanKeys_ByteOrderAndBounds(t *testing.T) {
	forEach(t, func(t *testing.T, idx Index) {
		b := mustBucket(t, idx, "bkt")
		keys := []string{"a", "a/b", "a/c", "b", "\xc3\xa9", "\xff", "Z"}
		for i, k := range keys {
			if err := idx.PutObject(ctx, b.AppID, obj("bkt", k, "f"+string(rune('0'+i))), PutCond{}, nil, released); err != nil {
				t.Fatal(err)
			}
		}
		other := mustBucket(t, idx, "other")
		if err := idx.PutObject(ctx, other.AppID, obj("other", "a/a", "o1"), PutCond{}, nil, released); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name     string
			from     string
			incl     bool
			upTo     string
			limit    int
			wantKeys []string
		}{
			{"All", "", false, "", 100, []string{"Z", "a", "a/b", "a/c", "b", "\xc3\xa9", "\xff"}},
			{"AfterExclusive", "a/b", false, "", 100, []string{"a/c", "b", "\xc3\xa9", "\xff"}},
			{"FromInclusive", "a/b", true, "", 100, []string{"a/b", "a/c", "b", "\xc3\xa9", "\xff"}},
			{"UpTo", "a", true, "a0", 100, []string{"a", "a/b", "a/c"}},
			{"Limit", "", false, "", 2, []string{"Z", "a"}},
			{"NothingAfterLast", "\xff", false, "", 100, nil},
		} {
			t.Run(c.name, func(t *testing.T) {
				rows, err := idx.ScanKeys(ctx, "bkt", c.from, c.incl, c.upTo, c.limit)
				var got []string
				for _, r := range rows {
					got = append(got, r.Key)
				}
				if err != nil || !reflect.DeepEqual(got, c.wantKeys) {
					t.Fatalf("keys %q, %v; want %q", got, err, c.wantKeys)
				}
			})
		}
		rows, _ := idx.ScanKeys(ctx, "bkt", "b", true, "b0", 1)
		if len(rows) != 1 || rows[0].Size != 10 || rows[0].ETag != "etag-62" || !rows[0].MTime.Equal(time.UnixMilli(1_700_000_000_123)) {
			t.Fatalf("row %+v", rows)
		}
	})
}

func TestIntents(t *testing.T) {
	forEach(t, func(t *testing.T, idx Index) {
		b := mustBucket(t, idx, "bkt")
		future := metadb.Now() + 3600
		names := []BlobName{{"owner-1", "i1"}, {"owner-2", "i2"}, {"owner-3", "i3"}, {"owner-4", "i4"}}
		ids, err := idx.ReserveIntents(ctx, b.AppID, names, future)
		if err != nil || len(ids) != 4 || ids[0] == ids[1] {
			t.Fatalf("ReserveIntents = %v, %v", ids, err)
		}
		wantQueued(t, idx) // not due yet
		if rows, _ := idx.DueBlobs(ctx, future, 100); len(rows) != 4 || rows[0].AppID != b.AppID || rows[0].UserID != "owner-1" {
			t.Fatalf("at their due time: %+v", rows)
		}

		// Publishing drops the intents; replacing releases the old blobs.
		if err := idx.PutObject(ctx, b.AppID, obj("bkt", "k", "i1"), PutCond{}, ids[:1], released); err != nil {
			t.Fatal(err)
		}
		if err := idx.PutObject(ctx, b.AppID, obj("bkt", "k", "i2"), PutCond{}, ids[1:2], released); err != nil {
			t.Fatal(err)
		}
		wantQueued(t, idx, "i1")
		if rows, _ := idx.DueBlobs(ctx, future, 100); len(rows) != 3 {
			t.Fatalf("after two publications: %d rows, want i1 released and i3, i4 reserved", len(rows))
		}

		// A write whose intent is gone may be being collected: refused.
		if err := idx.DropIntents(ctx, ids[2:3]); err != nil {
			t.Fatal(err)
		}
		err = idx.PutObject(ctx, b.AppID, obj("bkt", "k", "i3"), PutCond{}, ids[2:3], released)
		if !errors.Is(err, ErrIntentLost) {
			t.Fatalf("publishing under a dropped intent: %v", err)
		}
		if o, _ := idx.Object(ctx, "bkt", "k"); o.Blobs[0].FileID != "i2" {
			t.Fatalf("a refused publication changed the object: %+v", o.Blobs)
		}

		// An expedited intent is due now, and then lost for publishing.
		if err := idx.ExpediteIntents(ctx, ids[3:]); err != nil {
			t.Fatal(err)
		}
		rows, _ := idx.DueBlobs(ctx, metadb.Now(), 100)
		if len(rows) != 2 { // i1 released, i4 expedited
			t.Fatalf("due now: %+v", rows)
		}
		if err := idx.PutObject(ctx, b.AppID, obj("bkt", "k2", "i4"), PutCond{}, ids[3:], released); !errors.Is(err, ErrIntentLost) {
			t.Fatalf("publishing under a due intent: %v", err)
		}

		// The collector: a failed delete is postponed and counted, a done one forgotten.
		var i4 GCRow
		for _, r := range rows {
			if r.FileID == "i4" {
				i4 = r
			}
		}
		if err := idx.Postpone(ctx, i4.ID, future); err != nil {
			t.Fatal(err)
		}
		rows, _ = idx.DueBlobs(ctx, future, 100)
		if len(rows) != 2 || rows[1].FileID != "i4" || rows[1].Tries != 1 {
			t.Fatalf("after Postpone: %+v", rows)
		}
		for _, r := range rows {
			if err := idx.Collected(ctx, r.ID); err != nil {
				t.Fatal(err)
			}
		}
		if rows, _ := idx.DueBlobs(ctx, future, 100); len(rows) != 0 {
			t.Fatalf("after Collected: %+v", rows)
		}
	})
}

func TestMultipart(t *testing.T) {
	forEach(t, func(t *testing.T, idx Index) {
		b := mustBucket(t, idx, "bkt")
		init := time.UnixMilli(1_700_000_000_456).UTC()
		for _, u := range []*Upload{
			{ID: "u1", Bucket: "bkt", Key: "big", Initiated: init, Owner: "alice", Headers: Headers{ContentType: "video/mp4"}},
			{ID: "u0", Bucket: "bkt", Key: "big", Initiated: init, Owner: "alice"},
			{ID: "u2", Bucket: "bkt", Key: "a", Initiated: init, Owner: "bob"},
		} {
			if err := idx.CreateUpload(ctx, b.AppID, u); err != nil {
				t.Fatal(err)
			}
		}
		u, err := idx.Upload(ctx, "u1", "bkt", "big")
		if err != nil || u.Owner != "alice" || u.Headers.ContentType != "video/mp4" || !u.Initiated.Equal(init) {
			t.Fatalf("Upload = %+v, %v", u, err)
		}
		for _, c := range [][3]string{{"nope", "bkt", "big"}, {"u1", "bkt", "other"}, {"u1", "other", "big"}} {
			if _, err := idx.Upload(ctx, c[0], c[1], c[2]); !errors.Is(err, ErrNoSuchUpload) {
				t.Errorf("Upload%q: %v, want ErrNoSuchUpload", c, err)
			}
		}
		for _, c := range []struct {
			key, id string
			limit   int
			want    []string
		}{
			{"", "", 10, []string{"u2", "u0", "u1"}},
			{"big", "u0", 10, []string{"u1"}},
			{"a", "u2", 1, []string{"u0"}},
		} {
			ups, err := idx.Uploads(ctx, "bkt", c.key, c.id, c.limit)
			var got []string
			for _, u := range ups {
				got = append(got, u.ID)
			}
			if err != nil || !reflect.DeepEqual(got, c.want) {
				t.Errorf("Uploads after (%q, %q) = %q, %v; want %q", c.key, c.id, got, err, c.want)
			}
		}

		mt := time.UnixMilli(1_700_000_001_000).UTC()
		put := func(n int, ids ...string) {
			t.Helper()
			if err := idx.PutPart(ctx, b.AppID, "bkt", "big", "u1", &Part{Number: n, ETag: "e" + ids[0], Size: 10, MTime: mt, Blobs: blobs(ids...)}, nil, released); err != nil {
				t.Fatal(err)
			}
		}
		put(1, "p1")
		put(2, "p2old")
		put(2, "p2") // replaces: p2old released
		put(3, "p3")
		wantQueued(t, idx, "p2old")
		if err := idx.PutPart(ctx, b.AppID, "bkt", "other", "u1", &Part{Number: 1}, nil, released); !errors.Is(err, ErrNoSuchUpload) {
			t.Fatalf("part of another key's upload: %v", err)
		}
		ps, err := idx.Parts(ctx, "u1", 1, 1)
		if err != nil || len(ps) != 1 || ps[0].Number != 2 || ps[0].ETag != "ep2" || !ps[0].MTime.Equal(mt) || ps[0].Blobs[0].FileID != "p2" {
			t.Fatalf("Parts after 1, 1 = %+v, %v", ps, err)
		}

		// A build that refuses leaves everything as it was.
		refuse := errors.New("refused")
		if _, err := idx.CompleteUpload(ctx, b.AppID, "bkt", "big", "u1", released, PutCond{}, func(*Upload, []Part) (*Object, error) { return nil, refuse }); !errors.Is(err, refuse) {
			t.Fatalf("refused build: %v", err)
		}
		if _, err := idx.Upload(ctx, "u1", "bkt", "big"); err != nil {
			t.Fatalf("upload gone after a refused completion: %v", err)
		}
		// An object under the key is replaced by the completion.
		if err := idx.PutObject(ctx, b.AppID, obj("bkt", "big", "old"), PutCond{}, nil, released); err != nil {
			t.Fatal(err)
		}
		o, err := idx.CompleteUpload(ctx, b.AppID, "bkt", "big", "u1", released, PutCond{}, func(u *Upload, ps []Part) (*Object, error) {
			if len(ps) != 3 || u.Headers.ContentType != "video/mp4" {
				t.Errorf("build got %+v and %d parts", u, len(ps))
			}
			o := &Object{Bucket: "bkt", Key: "big", Headers: u.Headers, MTime: mt, Parts: 2, ETag: "x-2"}
			for _, p := range []Part{ps[0], ps[2]} { // part 2 left out
				o.Size += p.Size
				o.Blobs = append(o.Blobs, p.Blobs...)
			}
			return o, nil
		})
		if err != nil || o.Version != 2 || len(o.Blobs) != 2 {
			t.Fatalf("complete: %+v, %v", o, err)
		}
		if got, err := idx.Object(ctx, "bkt", "big"); err != nil || !reflect.DeepEqual(got, o) {
			t.Fatalf("completed object %+v, %v; want %+v", got, err, o)
		}
		wantQueued(t, idx, "old", "p2", "p2old")
		if _, err := idx.Upload(ctx, "u1", "bkt", "big"); !errors.Is(err, ErrNoSuchUpload) {
			t.Fatalf("upload after completion: %v", err)
		}
		if ps, _ := idx.Parts(ctx, "u1", 0, 100); len(ps) != 0 {
			t.Fatalf("parts after completion: %+v", ps)
		}

		// Abort releases every part.
		if err := idx.PutPart(ctx, b.AppID, "bkt", "a", "u2", &Part{Number: 1, ETag: "e", Size: 1, MTime: mt, Blobs: blobs("q1")}, nil, released); err != nil {
			t.Fatal(err)
		}
		if err := idx.AbortUpload(ctx, b.AppID, "bkt", "big", "u2", released); !errors.Is(err, ErrNoSuchUpload) {
			t.Fatalf("abort under another key: %v", err)
		}
		if err := idx.AbortUpload(ctx, b.AppID, "bkt", "a", "u2", released); err != nil {
			t.Fatal(err)
		}
		wantQueued(t, idx, "old", "p2", "p2old", "q1")

		// Deleting the (emptied) bucket drops its last upload and releases its parts.
		if err := idx.PutPart(ctx, b.AppID, "bkt", "big", "u0", &Part{Number: 1, ETag: "e", Size: 1, MTime: mt, Blobs: blobs("r1")}, nil, released); err != nil {
			t.Fatal(err)
		}
		if _, err := idx.DeleteObject(ctx, b.AppID, "bkt", "big", released); err != nil {
			t.Fatal(err)
		}
		if err := idx.DeleteBucket(ctx, b, released); err != nil {
			t.Fatal(err)
		}
		wantQueued(t, idx, "old", "p1", "p2", "p2old", "p3", "q1", "r1")
		if _, err := idx.Bucket(ctx, "bkt"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("deleted bucket: %v", err)
		}
		if ups, _ := idx.Uploads(ctx, "bkt", "", "", 10); len(ups) != 0 {
			t.Fatalf("uploads of a deleted bucket: %+v", ups)
		}
	})
}

// The index judges intent records by its Clock, not the wall clock: with
// the clock an hour ahead, a record due in a minute of wall time is due
// already, and publishing under it is refused.
func TestClock_IntentsJudgedByTheIndexClock(t *testing.T) {
	ahead := func() time.Time { return time.Now().Add(time.Hour) }
	for _, impl := range []struct {
		name string
		make func(t *testing.T) Index
	}{
		{"memory", func(*testing.T) Index { m := NewMemory(); m.Clock = ahead; return m }},
		{"sqlite", func(t *testing.T) Index { s := newSQL(t, false); s.Clock = ahead; return s }},
		{"mariadb", func(t *testing.T) Index { s := newSQL(t, true); s.Clock = ahead; return s }},
	} {
		t.Run(impl.name, func(t *testing.T) {
			idx := impl.make(t)
			b := mustBucket(t, idx, "bkt")
			ids, err := idx.ReserveIntents(ctx, b.AppID, []BlobName{{UserID: "u", FileID: "i1"}}, metadb.Now()+60)
			if err != nil {
				t.Fatal(err)
			}
			err = idx.PutObject(ctx, b.AppID, obj("bkt", "k", "i1"), PutCond{}, ids, released)
			if !errors.Is(err, ErrIntentLost) {
				t.Fatalf("publishing under an intent due by the index's clock: %v, want ErrIntentLost", err)
			}
		})
	}
}

func TestShares(t *testing.T) {
	forEach(t, func(t *testing.T, idx Index) {
		h := func(c byte) string { return string(repeat(c, 64)) }
		now := time.Unix(1_800_000_000, 0).UTC()
		a := &Share{Hash: h('a'), Bucket: "films", AppID: "app1", Prefix: "hls/ä/", Owner: "alice", Created: now,
			Expires: now.Add(time.Hour), MaxViewers: 2, Rate: 1 << 20}
		if err := idx.CreateShare(ctx, a); err != nil {
			t.Fatal(err)
		}
		if err := idx.CreateShare(ctx, a); !errors.Is(err, ErrExists) {
			t.Fatalf("a second share of the same hash: %v, want ErrExists", err)
		}
		b := &Share{Hash: h('b'), Bucket: "films", Prefix: "", Owner: "bob", Created: now.Add(time.Second), Expires: now.Add(2 * time.Hour)}
		if err := idx.CreateShare(ctx, b); err != nil {
			t.Fatal(err)
		}
		got, err := idx.Share(ctx, h('a'))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, a) {
			t.Fatalf("Share = %+v, want %+v", got, a)
		}
		if _, err := idx.Share(ctx, h('c')); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Share of no such hash: %v, want ErrNotFound", err)
		}
		// Viewers: two distinct addresses, then the third is refused; a
		// known one stays admitted.
		for i, c := range []struct {
			addr string
			want bool
		}{{"127.0.0.2", true}, {"127.0.0.2", true}, {"127.0.0.3", true}, {"127.0.0.4", false}, {"127.0.0.2", true}, {"127.0.0.3", true}} {
			ok, err := idx.AdmitViewer(ctx, h('a'), c.addr, now)
			if err != nil || ok != c.want {
				t.Fatalf("admission %d of %s: %v, %v; want %v", i, c.addr, ok, err, c.want)
			}
		}
		for i := 0; i < 5; i++ { // no limit on b
			if ok, err := idx.AdmitViewer(ctx, h('b'), "10.0.0."+string(rune('0'+i)), now); !ok || err != nil {
				t.Fatalf("unlimited share: %v, %v", ok, err)
			}
		}
		if _, err := idx.AdmitViewer(ctx, h('c'), "127.0.0.1", now); !errors.Is(err, ErrNotFound) {
			t.Fatalf("AdmitViewer of no such hash: %v, want ErrNotFound", err)
		}
		if err := idx.RevokeShare(ctx, h('a')); err != nil {
			t.Fatal(err)
		}
		if err := idx.RevokeShare(ctx, h('c')); !errors.Is(err, ErrNotFound) {
			t.Fatalf("RevokeShare of no such hash: %v, want ErrNotFound", err)
		}
		list, err := idx.ShareList(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].Hash != h('b') || list[1].Hash != h('a') {
			t.Fatalf("ShareList = %+v, want b then a", list)
		}
		if !list[1].Revoked || list[1].Viewers != 2 || list[0].Revoked || list[0].Viewers != 5 || list[1].Prefix != "hls/ä/" {
			t.Fatalf("ShareList = %+v: want a revoked with 2 viewers, b live with 5", list)
		}
	})
}

func repeat(c byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = c
	}
	return b
}

// TestReserveIntentsEitherWay: the records' IDs come back matched to their
// names, in one INSERT … RETURNING (SQLite, MariaDB) and one statement per
// record (MySQL); unused ones are dropped in batches.
func TestReserveIntentsEitherWay(t *testing.T) {
	for _, mysql := range []bool{false, true} {
		for _, returning := range []bool{true, false} {
			t.Run(fmt.Sprintf("mysql=%v/returning=%v", mysql, returning), func(t *testing.T) {
				s := newSQL(t, mysql)
				if !s.db.Returning {
					t.Fatalf("Returning is false on %s", s.db.Dialect)
				}
				s.db.Returning = returning
				b := mustBucket(t, s, "bkt")
				due := metadb.Now() + 3600
				var names []BlobName
				for i := range 70 {
					names = append(names, BlobName{UserID: fmt.Sprintf("owner-%d", i%4), FileID: fmt.Sprintf("f%02d", i)})
				}
				ids, err := s.ReserveIntents(ctx, b.AppID, names, due)
				if err != nil || len(ids) != len(names) {
					t.Fatalf("ReserveIntents: %d IDs, %v", len(ids), err)
				}
				rows, err := s.DueBlobs(ctx, due, 1000)
				if err != nil || len(rows) != len(names) {
					t.Fatalf("DueBlobs: %d rows, %v", len(rows), err)
				}
				byID := map[int64]GCRow{}
				for _, r := range rows {
					byID[r.ID] = r
				}
				for i, n := range names {
					if r := byID[ids[i]]; r.FileID != n.FileID || r.UserID != n.UserID || r.AppID != b.AppID {
						t.Fatalf("ID %d of %+v is the row %+v", ids[i], n, r)
					}
				}
				if err := s.DropIntents(ctx, ids[:67]); err != nil {
					t.Fatal(err)
				}
				if rows, _ := s.DueBlobs(ctx, due, 1000); len(rows) != 3 || byID[rows[0].ID].FileID < "f67" {
					t.Fatalf("after dropping 67: %+v", rows)
				}
			})
		}
	}
}
