package index

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

// vids lists a key's versions as ListVersions gives them: "id" with "*"
// for the latest and "M" for markers.
func listed(t *testing.T, idx Index, bucket string) []Version {
	t.Helper()
	vs, err := idx.ListVersions(ctx, bucket, "", true, "", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

func versionIDs(vs []Version) []string {
	var out []string
	for _, v := range vs {
		s := v.Key + ":" + v.VersionID
		if v.DeleteMarker {
			s += ":M"
		}
		if v.IsLatest {
			s += ":*"
		}
		out = append(out, s)
	}
	return out
}

func wantVersions(t *testing.T, idx Index, bucket string, want ...string) []Version {
	t.Helper()
	vs := listed(t, idx, bucket)
	if got := versionIDs(vs); !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Fatalf("versions:\n got %q\nwant %q", got, want)
	}
	return vs
}

func TestVersions_EnabledKeepsEveryWriteAndMarkers(t *testing.T) {
	forEach(t, func(t *testing.T, idx Index) {
		b := mustBucket(t, idx, "bkt")
		// written before versioning: the null version
		o0 := obj("bkt", "k", "f0")
		if err := idx.PutObject(ctx, b.AppID, o0, PutCond{}, nil, released); err != nil || o0.VersionID != NullVersion {
			t.Fatalf("unversioned put: %q %v", o0.VersionID, err)
		}
		if err := idx.SetVersioning(ctx, "bkt", VersioningEnabled); err != nil {
			t.Fatal(err)
		}
		if b2, err := idx.Bucket(ctx, "bkt"); err != nil || b2.Versioning != VersioningEnabled {
			t.Fatalf("bucket: %+v %v", b2, err)
		}
		en := PutCond{Versioning: VersioningEnabled}
		o1 := obj("bkt", "k", "f1")
		if err := idx.PutObject(ctx, b.AppID, o1, en, nil, released); err != nil {
			t.Fatal(err)
		}
		o2 := obj("bkt", "k", "f2")
		if err := idx.PutObject(ctx, b.AppID, o2, en, nil, released); err != nil {
			t.Fatal(err)
		}
		if o1.VersionID == o2.VersionID || len(o1.VersionID) != 26 || o1.VersionID >= o2.VersionID {
			t.Fatalf("version IDs %q, %q: want distinct, 26 characters, increasing", o1.VersionID, o2.VersionID)
		}
		wantQueued(t, idx) // overwrites release nothing
		wantVersions(t, idx, "bkt", "k:"+o2.VersionID+":*", "k:"+o1.VersionID, "k:null")
		if cur, err := idx.Object(ctx, "bkt", "k"); err != nil || cur.VersionID != o2.VersionID || cur.Blobs[0].FileID != "f2" {
			t.Fatalf("current: %+v %v", cur, err)
		}
		if v, err := idx.ObjectVersion(ctx, "bkt", "k", o1.VersionID); err != nil || v.Blobs[0].FileID != "f1" || v.NoncurrentSince.IsZero() {
			t.Fatalf("version 1: %+v %v", v, err)
		}
		if _, err := idx.ObjectVersion(ctx, "bkt", "k", "nosuch"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing version: %v", err)
		}

		// a delete marker hides the key, keeps everything
		m, err := idx.PutDeleteMarker(ctx, b.AppID, "bkt", "k", VersioningEnabled, time.Now(), released)
		if err != nil || !m.DeleteMarker || m.VersionID == "" {
			t.Fatalf("marker: %+v %v", m, err)
		}
		if _, err := idx.Object(ctx, "bkt", "k"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Object under a marker: %v", err)
		}
		if rows, err := idx.ScanKeys(ctx, "bkt", "", true, "", 10); err != nil || len(rows) != 0 {
			t.Fatalf("ScanKeys under a marker: %v %v", rows, err)
		}
		if v, err := idx.ObjectVersion(ctx, "bkt", "k", m.VersionID); err != nil || !v.DeleteMarker {
			t.Fatalf("marker by version: %+v %v", v, err)
		}
		wantQueued(t, idx)
		wantVersions(t, idx, "bkt", "k:"+m.VersionID+":M:*", "k:"+o2.VersionID, "k:"+o1.VersionID, "k:null")
		if _, err := idx.ExpiredDeleteMarkers(ctx, "bkt", "", 10); err != nil {
			t.Fatal(err)
		}
		if err := idx.DeleteBucket(ctx, b, released); !errors.Is(err, ErrBucketNotEmpty) {
			t.Fatalf("deleting a bucket with only versions: %v", err)
		}

		// deleting the marker restores o2
		if d, err := idx.DeleteVersion(ctx, b.AppID, "bkt", "k", m.VersionID, false, released); err != nil || !d.DeleteMarker {
			t.Fatalf("delete marker: %+v %v", d, err)
		}
		if cur, err := idx.Object(ctx, "bkt", "k"); err != nil || cur.VersionID != o2.VersionID {
			t.Fatalf("restored: %+v %v", cur, err)
		}
		wantQueued(t, idx)
		// deleting the current version promotes the previous one and
		// releases its blobs
		if _, err := idx.DeleteVersion(ctx, b.AppID, "bkt", "k", o2.VersionID, false, released); err != nil {
			t.Fatal(err)
		}
		wantQueued(t, idx, "f2")
		if cur, err := idx.Object(ctx, "bkt", "k"); err != nil || cur.VersionID != o1.VersionID || !cur.NoncurrentSince.IsZero() {
			t.Fatalf("promoted: %+v %v", cur, err)
		}
		// a noncurrent one
		if _, err := idx.DeleteVersion(ctx, b.AppID, "bkt", "k", NullVersion, false, released); err != nil {
			t.Fatal(err)
		}
		wantQueued(t, idx, "f0", "f2")
		if _, err := idx.DeleteVersion(ctx, b.AppID, "bkt", "k", NullVersion, false, released); !errors.Is(err, ErrNotFound) {
			t.Fatalf("deleting a deleted version: %v", err)
		}
		wantVersions(t, idx, "bkt", "k:"+o1.VersionID+":*")

		// a marker over the last version, then the version deleted: the
		// marker is the sole version left, an expired delete marker
		m2, err := idx.PutDeleteMarker(ctx, b.AppID, "bkt", "k", VersioningEnabled, time.Now(), released)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := idx.DeleteVersion(ctx, b.AppID, "bkt", "k", o1.VersionID, false, released); err != nil {
			t.Fatal(err)
		}
		exp, err := idx.ExpiredDeleteMarkers(ctx, "bkt", "", 10)
		if err != nil || len(exp) != 1 || exp[0].VersionID != m2.VersionID || !exp[0].DeleteMarker {
			t.Fatalf("expired markers: %+v %v", exp, err)
		}
		if _, err := idx.DeleteVersion(ctx, b.AppID, "bkt", "k", m2.VersionID, false, released); err != nil {
			t.Fatal(err)
		}
		wantVersions(t, idx, "bkt")
		if err := idx.DeleteBucket(ctx, b, released); err != nil {
			t.Fatalf("deleting the emptied bucket: %v", err)
		}
	})
}

func TestVersions_SuspendedReplacesTheNullVersion(t *testing.T) {
	forEach(t, func(t *testing.T, idx Index) {
		b := mustBucket(t, idx, "bkt")
		en, su := PutCond{Versioning: VersioningEnabled}, PutCond{Versioning: VersioningSuspended}
		o0 := obj("bkt", "k", "f0")
		if err := idx.PutObject(ctx, b.AppID, o0, PutCond{}, nil, released); err != nil {
			t.Fatal(err)
		}
		o1 := obj("bkt", "k", "f1")
		if err := idx.PutObject(ctx, b.AppID, o1, en, nil, released); err != nil {
			t.Fatal(err)
		}
		// suspended: a new null version replaces the (noncurrent) old one
		o2 := obj("bkt", "k", "f2")
		if err := idx.PutObject(ctx, b.AppID, o2, su, nil, released); err != nil || o2.VersionID != NullVersion {
			t.Fatalf("suspended put: %q %v", o2.VersionID, err)
		}
		wantQueued(t, idx, "f0")
		wantVersions(t, idx, "bkt", "k:null:*", "k:"+o1.VersionID)
		// and again: replaces the current null version
		o3 := obj("bkt", "k", "f3")
		if err := idx.PutObject(ctx, b.AppID, o3, su, nil, released); err != nil {
			t.Fatal(err)
		}
		wantQueued(t, idx, "f0", "f2")
		// a suspended delete: a null marker replaces the null version
		m, err := idx.PutDeleteMarker(ctx, b.AppID, "bkt", "k", VersioningSuspended, time.Now(), released)
		if err != nil || m.VersionID != NullVersion {
			t.Fatalf("null marker: %+v %v", m, err)
		}
		wantQueued(t, idx, "f0", "f2", "f3")
		wantVersions(t, idx, "bkt", "k:null:M:*", "k:"+o1.VersionID)
		// again, the key without a current object: a null marker replaces
		// the null marker
		if m, err := idx.PutDeleteMarker(ctx, b.AppID, "bkt", "k", VersioningSuspended, time.Now(), released); err != nil || m.VersionID != NullVersion {
			t.Fatalf("null marker over a null marker: %+v %v", m, err)
		}
		wantVersions(t, idx, "bkt", "k:null:M:*", "k:"+o1.VersionID)
		// a key whose latest is an Enabled-era marker over its noncurrent
		// null version: that null version is released, the marker kept
		// as noncurrent
		if err := idx.PutObject(ctx, b.AppID, obj("bkt", "j", "g0"), su, nil, released); err != nil {
			t.Fatal(err)
		}
		j1 := obj("bkt", "j", "g1")
		if err := idx.PutObject(ctx, b.AppID, j1, en, nil, released); err != nil {
			t.Fatal(err)
		}
		em, err := idx.PutDeleteMarker(ctx, b.AppID, "bkt", "j", VersioningEnabled, time.Now(), released)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := idx.PutDeleteMarker(ctx, b.AppID, "bkt", "j", VersioningSuspended, time.Now(), released); err != nil {
			t.Fatal(err)
		}
		wantQueued(t, idx, "f0", "f2", "f3", "g0")
		wantVersions(t, idx, "bkt", "j:null:M:*", "j:"+em.VersionID+":M", "j:"+j1.VersionID, "k:null:M:*", "k:"+o1.VersionID)
	})
}

func TestVersions_ListingPagesAndBounds(t *testing.T) {
	forEach(t, func(t *testing.T, idx Index) {
		b := mustBucket(t, idx, "bkt")
		en := PutCond{Versioning: VersioningEnabled}
		ids := map[string][]string{}
		for _, k := range []string{"a", "b/1", "b/2", "c"} {
			for i := range 2 {
				o := obj("bkt", k, k+string(rune('0'+i)))
				if err := idx.PutObject(ctx, b.AppID, o, en, nil, released); err != nil {
					t.Fatal(err)
				}
				ids[k] = append([]string{o.VersionID}, ids[k]...) // newest first
			}
		}
		m, err := idx.PutDeleteMarker(ctx, b.AppID, "bkt", "c", VersioningEnabled, time.Now(), released)
		if err != nil {
			t.Fatal(err)
		}
		all := wantVersions(t, idx, "bkt", "a:"+ids["a"][0]+":*", "a:"+ids["a"][1], "b/1:"+ids["b/1"][0]+":*", "b/1:"+ids["b/1"][1],
			"b/2:"+ids["b/2"][0]+":*", "b/2:"+ids["b/2"][1], "c:"+m.VersionID+":M:*", "c:"+ids["c"][0], "c:"+ids["c"][1])
		// page through two at a time, resuming after (key, version)
		var got []Version
		key, after, incl := "", "", true
		for range 10 {
			page, err := idx.ListVersions(ctx, "bkt", key, incl, after, "", 2)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, page...)
			if len(page) < 2 {
				break
			}
			key, after, incl = page[1].Key, page[1].VersionID, false
		}
		if !reflect.DeepEqual(versionIDs(got), versionIDs(all)) {
			t.Fatalf("paged:\n got %q\nwant %q", versionIDs(got), versionIDs(all))
		}
		// bounds: keys in [b/, b0)
		vs, err := idx.ListVersions(ctx, "bkt", "b/", true, "", "b0", 100)
		if err != nil || len(vs) != 4 || vs[0].Key != "b/1" || vs[3].Key != "b/2" {
			t.Fatalf("bounded: %q %v", versionIDs(vs), err)
		}
		// noncurrent versions carry the time they stopped being current
		for _, v := range all {
			if v.IsLatest != v.NoncurrentSince.IsZero() {
				t.Fatalf("%s %s: latest %v, noncurrent since %v", v.Key, v.VersionID, v.IsLatest, v.NoncurrentSince)
			}
		}
	})
}

func TestVersions_LockRefusesDeletion(t *testing.T) {
	forEach(t, func(t *testing.T, idx Index) {
		now := time.Now().UTC()
		switch x := idx.(type) {
		case *Memory:
			x.Clock = func() time.Time { return now }
		case *SQL:
			x.Clock = func() time.Time { return now }
		}
		b := mustBucket(t, idx, "bkt")
		if err := idx.SetObjectLock(ctx, "bkt", &LockConfig{Mode: Governance, Days: 1}); err != nil {
			t.Fatal(err)
		}
		if b2, err := idx.Bucket(ctx, "bkt"); err != nil || b2.ObjectLock == nil || b2.ObjectLock.Days != 1 {
			t.Fatalf("lock config: %+v %v", b2, err)
		}
		en := PutCond{Versioning: VersioningEnabled}
		o := obj("bkt", "k", "f1")
		o.Headers.Lock = Lock{Mode: Governance, Until: now.Add(time.Hour).Truncate(time.Millisecond)}
		o.Headers.Tags = []Tag{{Key: "keep", Value: "yes"}}
		if err := idx.PutObject(ctx, b.AppID, o, en, nil, released); err != nil {
			t.Fatal(err)
		}
		if _, err := idx.DeleteVersion(ctx, b.AppID, "bkt", "k", o.VersionID, false, released); !errors.Is(err, ErrLocked) {
			t.Fatalf("governance, no bypass: %v", err)
		}
		// compliance with a legal hold too, set on the version
		v, err := idx.UpdateVersion(ctx, "bkt", "k", o.VersionID, func(o *Object) error {
			o.Headers.Lock.Mode = Compliance
			o.Headers.Lock.LegalHold = true
			return nil
		})
		if err != nil || v.Headers.Lock.Mode != Compliance {
			t.Fatalf("update: %+v %v", v, err)
		}
		// kept as noncurrent when overwritten, still locked
		if err := idx.PutObject(ctx, b.AppID, obj("bkt", "k", "f2"), en, nil, released); err != nil {
			t.Fatal(err)
		}
		got, err := idx.ObjectVersion(ctx, "bkt", "k", o.VersionID)
		if err != nil || !got.Headers.Lock.LegalHold || !got.Headers.Lock.Until.Equal(o.Headers.Lock.Until) {
			t.Fatalf("noncurrent locked version: %+v %v", got, err)
		}
		// what lifecycle reads of it in a listing: lock, tags, size, when
		vs := listed(t, idx, "bkt")
		if len(vs) != 2 || vs[1].VersionID != o.VersionID || !vs[1].Lock.Locked(now, true) || len(vs[1].Tags) != 1 || vs[1].Size != 10 || vs[1].NoncurrentSince.IsZero() {
			t.Fatalf("listed noncurrent version: %+v", vs)
		}
		if _, err := idx.DeleteVersion(ctx, b.AppID, "bkt", "k", o.VersionID, true, released); !errors.Is(err, ErrLocked) {
			t.Fatalf("compliance + hold, bypass: %v", err)
		}
		if _, err := idx.UpdateVersion(ctx, "bkt", "k", o.VersionID, func(o *Object) error { o.Headers.Lock.LegalHold = false; return nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := idx.DeleteVersion(ctx, b.AppID, "bkt", "k", o.VersionID, true, released); !errors.Is(err, ErrLocked) {
			t.Fatalf("compliance, bypass: %v", err)
		}
		wantQueued(t, idx)
		now = now.Add(2 * time.Hour) // retention over
		if _, err := idx.DeleteVersion(ctx, b.AppID, "bkt", "k", o.VersionID, false, released); err != nil {
			t.Fatalf("after retention: %v", err)
		}
		wantQueued(t, idx, "f1")
	})
}

func TestLock_Locked(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	later, earlier := now.Add(time.Second), now.Add(-time.Second)
	for _, c := range []struct {
		l            Lock
		bypass, want bool
	}{
		{Lock{}, false, false},
		{Lock{LegalHold: true}, true, true},
		{Lock{Mode: Governance, Until: later}, false, true},
		{Lock{Mode: Governance, Until: later}, true, false},
		{Lock{Mode: Compliance, Until: later}, true, true},
		{Lock{Mode: Compliance, Until: earlier}, false, false},
		{Lock{Mode: Compliance, Until: now}, false, false},
	} {
		if got := c.l.Locked(now, c.bypass); got != c.want {
			t.Errorf("%+v bypass %v: locked %v, want %v", c.l, c.bypass, got, c.want)
		}
	}
}
