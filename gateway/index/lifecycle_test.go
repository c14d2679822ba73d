package index

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestLifecycle_Config: set, read, replace and remove a configuration;
// no such bucket; a deleted bucket takes its configuration with it.
func TestLifecycle_Config(t *testing.T) {
	forEach(t, func(t *testing.T, idx Index) {
		b := mustBucket(t, idx, "lc")
		if doc, err := idx.LifecycleConfig(ctx, "lc"); err != nil || doc != "" {
			t.Fatalf("no configuration yet: %q, %v", doc, err)
		}
		if _, err := idx.LifecycleConfig(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("LifecycleConfig of no such bucket: %v, want ErrNotFound", err)
		}
		if err := idx.SetLifecycleConfig(ctx, "nope", "<x/>"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("SetLifecycleConfig of no such bucket: %v, want ErrNotFound", err)
		}
		big := "<LifecycleConfiguration>" + strings.Repeat("<Rule>ä</Rule>", 10000) + "</LifecycleConfiguration>" // > 64 KiB
		for _, doc := range []string{"<a/>", big} {
			if err := idx.SetLifecycleConfig(ctx, "lc", doc); err != nil {
				t.Fatal(err)
			}
			if got, err := idx.LifecycleConfig(ctx, "lc"); err != nil || got != doc {
				t.Fatalf("read back %d bytes (%v), want %d", len(got), err, len(doc))
			}
		}
		states, err := idx.LifecycleStates(ctx)
		if err != nil || len(states) != 1 || states[0].Bucket != "lc" || states[0].Phase != PhaseIdle || states[0].Owner != "" {
			t.Fatalf("LifecycleStates = %+v, %v", states, err)
		}
		if err := idx.SetLifecycleConfig(ctx, "lc", ""); err != nil {
			t.Fatal(err)
		}
		if doc, err := idx.LifecycleConfig(ctx, "lc"); err != nil || doc != "" {
			t.Fatalf("removed: %q, %v", doc, err)
		}
		if err := idx.SetLifecycleConfig(ctx, "lc", "<b/>"); err != nil {
			t.Fatal(err)
		}
		if err := idx.DeleteBucket(ctx, b, released); err != nil {
			t.Fatal(err)
		}
		mustBucket(t, idx, "lc")
		if doc, err := idx.LifecycleConfig(ctx, "lc"); err != nil || doc != "" {
			t.Fatalf("a bucket made again under the name: configuration %q, %v; want none", doc, err)
		}
		if states, _ := idx.LifecycleStates(ctx); len(states) != 0 {
			t.Fatalf("states after the bucket went: %+v", states)
		}
	})
}

// TestLifecycle_Lease: one holder at a time; an expired lease can be
// taken by another, and the old holder's progress and actions then fail;
// progress is kept for the next holder; a new configuration frees the
// lease and restarts the pass.
func TestLifecycle_Lease(t *testing.T) {
	forEach(t, func(t *testing.T, idx Index) {
		b := mustBucket(t, idx, "lc")
		const now = 1_800_000_000
		if _, ok, err := idx.TakeLifecycleLease(ctx, "lc", "gw-a", now, now+60); ok || err != nil {
			t.Fatalf("lease of a bucket without configuration: %v, %v", ok, err)
		}
		if err := idx.SetLifecycleConfig(ctx, "lc", "<doc/>"); err != nil {
			t.Fatal(err)
		}
		a, ok, err := idx.TakeLifecycleLease(ctx, "lc", "gw-a", now, now+60)
		if !ok || err != nil || a.Doc != "<doc/>" || a.Owner != "gw-a" || a.Until != now+60 {
			t.Fatalf("first taking: %+v, %v, %v", a, ok, err)
		}
		la := LeaseRef{Bucket: "lc", Epoch: a.Epoch}
		if _, ok, _ := idx.TakeLifecycleLease(ctx, "lc", "gw-b", now+59, now+120); ok {
			t.Fatal("gw-b took a lease gw-a holds")
		}
		p := LifecycleProgress{Phase: PhaseObjects, NextKey: "k/ä", Started: now}
		if held, err := idx.SaveLifecycleProgress(ctx, la, p, now+10, now+70); !held || err != nil {
			t.Fatalf("progress of the holder: %v, %v", held, err)
		}
		// The same again (MySQL reports no row changed): still held.
		if held, err := idx.SaveLifecycleProgress(ctx, la, p, now+10, now+70); !held || err != nil {
			t.Fatalf("the same progress again: %v, %v", held, err)
		}
		// The lease runs out at now+70: gw-b takes it and sees the progress.
		bst, ok, err := idx.TakeLifecycleLease(ctx, "lc", "gw-b", now+70, now+130)
		if !ok || err != nil {
			t.Fatalf("expired lease: %v, %v", ok, err)
		}
		if bst.Epoch == a.Epoch || !reflect.DeepEqual(bst.LifecycleProgress, p) {
			t.Fatalf("taken over: epoch %d (was %d), progress %+v, want %+v", bst.Epoch, a.Epoch, bst.LifecycleProgress, p)
		}
		if held, err := idx.SaveLifecycleProgress(ctx, la, LifecycleProgress{}, now+71, now+100); held || err != nil {
			t.Fatalf("progress of the old holder: %v, %v; want refused", held, err)
		}
		// Actions check the lease too.
		if err := idx.PutObject(ctx, b.AppID, obj("lc", "old", "o1"), PutCond{}, nil, released); err != nil {
			t.Fatal(err)
		}
		if _, err := idx.ExpireObject(ctx, la, b.AppID, "old", 1, now+71, released); !errors.Is(err, ErrLeaseLost) {
			t.Fatalf("ExpireObject under a lost lease: %v, want ErrLeaseLost", err)
		}
		lb := LeaseRef{Bucket: "lc", Epoch: bst.Epoch}
		if _, err := idx.ExpireObject(ctx, lb, b.AppID, "old", 1, now+130, released); !errors.Is(err, ErrLeaseLost) {
			t.Fatalf("ExpireObject at the lease's expiry: %v, want ErrLeaseLost", err)
		}
		wantQueued(t, idx)
		// The end of a pass frees the lease at once.
		done := LifecycleProgress{Phase: PhaseIdle, Started: now, Done: now + 80}
		if held, err := idx.SaveLifecycleProgress(ctx, lb, done, now+80, 0); !held || err != nil {
			t.Fatalf("end of pass: %v, %v", held, err)
		}
		c, ok, err := idx.TakeLifecycleLease(ctx, "lc", "gw-a", now+81, now+141)
		if !ok || err != nil || c.Done != now+80 || c.Phase != PhaseIdle {
			t.Fatalf("after the pass ended: %+v, %v, %v", c, ok, err)
		}
		// A new configuration frees the lease, restarts the pass, and the
		// holder's next action fails.
		if err := idx.SetLifecycleConfig(ctx, "lc", "<doc2/>"); err != nil {
			t.Fatal(err)
		}
		if _, err := idx.ExpireObject(ctx, LeaseRef{Bucket: "lc", Epoch: c.Epoch}, b.AppID, "old", 1, now+82, released); !errors.Is(err, ErrLeaseLost) {
			t.Fatalf("ExpireObject after a new configuration: %v, want ErrLeaseLost", err)
		}
		d, ok, err := idx.TakeLifecycleLease(ctx, "lc", "gw-b", now+83, now+143)
		if !ok || err != nil || d.Doc != "<doc2/>" || d.Phase != PhaseIdle || d.Started != 0 || d.NextKey != "" {
			t.Fatalf("after a new configuration: %+v, %v, %v", d, ok, err)
		}
	})
}

// TestLifecycle_ExpireObjectAndUpload: the scan sees tags; an object is
// expired only at the version read, its blobs queued as DeleteObject
// queues them; an upload is aborted with its parts' blobs.
func TestLifecycle_ExpireObjectAndUpload(t *testing.T) {
	forEach(t, func(t *testing.T, idx Index) {
		b := mustBucket(t, idx, "lc")
		const now = 1_800_000_000
		if err := idx.SetLifecycleConfig(ctx, "lc", "<doc/>"); err != nil {
			t.Fatal(err)
		}
		st, _, err := idx.TakeLifecycleLease(ctx, "lc", "gw", now, now+60)
		if err != nil {
			t.Fatal(err)
		}
		l := LeaseRef{Bucket: "lc", Epoch: st.Epoch}
		for _, k := range []string{"a", "b", "c"} {
			if err := idx.PutObject(ctx, b.AppID, obj("lc", k, k+"1"), PutCond{}, nil, released); err != nil {
				t.Fatal(err)
			}
		}
		if err := idx.SetObjectTags(ctx, "lc", "b", []Tag{{Key: "tmp", Value: "yes"}}); err != nil {
			t.Fatal(err)
		}
		rows, err := idx.ExpiryScan(ctx, "lc", "a", 10)
		if err != nil {
			t.Fatal(err)
		}
		want := []ExpiryRow{
			{Key: "b", Size: 10, MTime: 1_700_000_000_123, Version: 2, Tags: []Tag{{Key: "tmp", Value: "yes"}}},
			{Key: "c", Size: 10, MTime: 1_700_000_000_123, Version: 1},
		}
		if !reflect.DeepEqual(rows, want) {
			t.Fatalf("ExpiryScan after a = %+v, want %+v", rows, want)
		}
		if rows, _ := idx.ExpiryScan(ctx, "lc", "", 1); len(rows) != 1 || rows[0].Key != "a" {
			t.Fatalf("ExpiryScan limit 1 = %+v", rows)
		}
		// b was read at version 2; at version 1 (changed since) it stays.
		if done, err := idx.ExpireObject(ctx, l, b.AppID, "b", 1, now, released); done || err != nil {
			t.Fatalf("ExpireObject of a changed object: %v, %v", done, err)
		}
		if done, err := idx.ExpireObject(ctx, l, b.AppID, "b", 2, now, released); !done || err != nil {
			t.Fatalf("ExpireObject: %v, %v", done, err)
		}
		if done, err := idx.ExpireObject(ctx, l, b.AppID, "b", 2, now, released); done || err != nil {
			t.Fatalf("ExpireObject of a gone object: %v, %v", done, err)
		}
		if _, err := idx.Object(ctx, "lc", "b"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("expired object: %v", err)
		}
		wantQueued(t, idx, "b1")
		u := &Upload{ID: "up1", Bucket: "lc", Key: "m", Initiated: time.UnixMilli(1_700_000_000_000).UTC(), Owner: "alice"}
		if err := idx.CreateUpload(ctx, b.AppID, u); err != nil {
			t.Fatal(err)
		}
		if err := idx.PutPart(ctx, b.AppID, "lc", "m", "up1", &Part{Number: 1, ETag: "e", Size: 10, MTime: u.Initiated, Blobs: blobs("p1")}, nil, released); err != nil {
			t.Fatal(err)
		}
		if done, err := idx.ExpireUpload(ctx, l, b.AppID, "other", "up1", now, released); done || err != nil {
			t.Fatalf("ExpireUpload under another key: %v, %v", done, err)
		}
		if done, err := idx.ExpireUpload(ctx, l, b.AppID, "m", "up1", now, released); !done || err != nil {
			t.Fatalf("ExpireUpload: %v, %v", done, err)
		}
		if _, err := idx.Upload(ctx, "up1", "lc", "m"); !errors.Is(err, ErrNoSuchUpload) {
			t.Fatalf("aborted upload: %v", err)
		}
		wantQueued(t, idx, "b1", "p1")
		if done, err := idx.ExpireUpload(ctx, l, b.AppID, "m", "up1", now, released); done || err != nil {
			t.Fatalf("ExpireUpload of a gone upload: %v, %v", done, err)
		}
	})
}

// TestLifecycle_ExpireVersions: in a versioned bucket the pass expires a
// current object with a delete marker (Enabled: kept as noncurrent;
// Suspended: the null version released), deletes noncurrent versions and
// a delete marker alone on its key, each only while still as listed and
// under the lease; a locked version is refused with ErrLocked.
func TestLifecycle_ExpireVersions(t *testing.T) {
	forEach(t, func(t *testing.T, idx Index) {
		b := mustBucket(t, idx, "lc")
		const now = 1_800_000_000
		at := time.Unix(now, 0)
		if err := idx.SetVersioning(ctx, "lc", VersioningEnabled); err != nil {
			t.Fatal(err)
		}
		if err := idx.SetLifecycleConfig(ctx, "lc", "<doc/>"); err != nil {
			t.Fatal(err)
		}
		st, _, err := idx.TakeLifecycleLease(ctx, "lc", "gw", now, now+60)
		if err != nil {
			t.Fatal(err)
		}
		l := LeaseRef{Bucket: "lc", Epoch: st.Epoch}
		en := PutCond{Versioning: VersioningEnabled}
		for _, f := range []string{"f1", "f2", "f3"} {
			if err := idx.PutObject(ctx, b.AppID, obj("lc", "k", f), en, nil, released); err != nil {
				t.Fatal(err)
			}
		}
		vs := listed(t, idx, "lc") // v3 (current), v2, v1
		v3, v2, v1 := vs[0], vs[1], vs[2]
		if !v3.IsLatest || v2.IsLatest || v1.IsLatest {
			t.Fatalf("listed %q", versionIDs(vs))
		}
		// the current version is not deleted as a noncurrent one
		asNoncurrent := v3
		asNoncurrent.IsLatest = false
		if done, err := idx.ExpireVersion(ctx, l, b.AppID, asNoncurrent, at, released); done || err != nil {
			t.Fatalf("ExpireVersion of the current version: %v, %v", done, err)
		}
		if done, err := idx.ExpireVersion(ctx, l, b.AppID, v1, at, released); !done || err != nil {
			t.Fatalf("ExpireVersion of a noncurrent version: %v, %v", done, err)
		}
		if done, err := idx.ExpireVersion(ctx, l, b.AppID, v1, at, released); done || err != nil {
			t.Fatalf("ExpireVersion of a gone version: %v, %v", done, err)
		}
		wantQueued(t, idx, "f1")
		// the current object: a delete marker made, only as listed
		changed := v3
		changed.MTime = changed.MTime.Add(time.Second)
		if done, err := idx.ExpireCurrentVersion(ctx, l, b.AppID, changed, VersioningEnabled, at, released); done || err != nil {
			t.Fatalf("ExpireCurrentVersion of a changed object: %v, %v", done, err)
		}
		if done, err := idx.ExpireCurrentVersion(ctx, l, b.AppID, v3, VersioningEnabled, at, released); !done || err != nil {
			t.Fatalf("ExpireCurrentVersion: %v, %v", done, err)
		}
		if done, err := idx.ExpireCurrentVersion(ctx, l, b.AppID, v3, VersioningEnabled, at, released); done || err != nil {
			t.Fatalf("ExpireCurrentVersion again: %v, %v", done, err)
		}
		vs = listed(t, idx, "lc")
		m := vs[0]
		wantVersions(t, idx, "lc", "k:"+m.VersionID+":M:*", "k:"+v3.VersionID, "k:"+v2.VersionID)
		if !m.MTime.Equal(at) {
			t.Fatalf("marker made at %v, want %v", m.MTime, at)
		}
		wantQueued(t, idx, "f1") // the marker released nothing
		// the marker is not alone yet
		if done, err := idx.ExpireVersion(ctx, l, b.AppID, m, at, released); done || err != nil {
			t.Fatalf("ExpireVersion of a marker with versions beneath: %v, %v", done, err)
		}
		for _, v := range []Version{vs[1], vs[2]} {
			if done, err := idx.ExpireVersion(ctx, l, b.AppID, v, at, released); !done || err != nil {
				t.Fatalf("ExpireVersion %s: %v, %v", v.VersionID, done, err)
			}
		}
		wantQueued(t, idx, "f1", "f2", "f3")
		if done, err := idx.ExpireVersion(ctx, l, b.AppID, m, at, released); !done || err != nil {
			t.Fatalf("ExpireVersion of a marker alone: %v, %v", done, err)
		}
		wantVersions(t, idx, "lc")

		// a locked noncurrent version stays
		lk := obj("lc", "locked", "g1")
		lk.Headers.Lock = Lock{LegalHold: true}
		if err := idx.PutObject(ctx, b.AppID, lk, en, nil, released); err != nil {
			t.Fatal(err)
		}
		if err := idx.PutObject(ctx, b.AppID, obj("lc", "locked", "g2"), en, nil, released); err != nil {
			t.Fatal(err)
		}
		vs = listed(t, idx, "lc")
		if done, err := idx.ExpireVersion(ctx, l, b.AppID, vs[1], at, released); done || !errors.Is(err, ErrLocked) {
			t.Fatalf("ExpireVersion of a version under a legal hold: %v, %v; want ErrLocked", done, err)
		}
		// retention in force (at the time given), then over
		if _, err := idx.UpdateVersion(ctx, "lc", "locked", lk.VersionID, func(o *Object) error {
			o.Headers.Lock = Lock{Mode: Compliance, Until: at.Add(time.Hour)}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if done, err := idx.ExpireVersion(ctx, l, b.AppID, vs[1], at, released); done || !errors.Is(err, ErrLocked) {
			t.Fatalf("ExpireVersion of a version under retention: %v, %v; want ErrLocked", done, err)
		}
		wantVersions(t, idx, "lc", "locked:"+vs[0].VersionID+":*", "locked:"+lk.VersionID)
		wantQueued(t, idx, "f1", "f2", "f3")

		// a lease lost: nothing done
		if _, ok, err := idx.TakeLifecycleLease(ctx, "lc", "gw-other", now+61, now+120); !ok || err != nil {
			t.Fatalf("taking the expired lease: %v, %v", ok, err)
		}
		if done, err := idx.ExpireCurrentVersion(ctx, l, b.AppID, vs[0], VersioningEnabled, at.Add(61*time.Second), released); done || !errors.Is(err, ErrLeaseLost) {
			t.Fatalf("ExpireCurrentVersion under a lost lease: %v, %v", done, err)
		}
		later := at.Add(2 * time.Hour) // retention over, but the lease is lost
		if done, err := idx.ExpireVersion(ctx, l, b.AppID, vs[1], later, released); done || !errors.Is(err, ErrLeaseLost) {
			t.Fatalf("ExpireVersion under a lost lease: %v, %v", done, err)
		}
		wantVersions(t, idx, "lc", "locked:"+vs[0].VersionID+":*", "locked:"+lk.VersionID)

		// Suspended: the marker is the null version and releases the null
		// object it replaces
		sb := mustBucket(t, idx, "sus")
		if err := idx.SetVersioning(ctx, "sus", VersioningSuspended); err != nil {
			t.Fatal(err)
		}
		if err := idx.SetLifecycleConfig(ctx, "sus", "<doc/>"); err != nil {
			t.Fatal(err)
		}
		st, _, err = idx.TakeLifecycleLease(ctx, "sus", "gw", now, now+60)
		if err != nil {
			t.Fatal(err)
		}
		ls := LeaseRef{Bucket: "sus", Epoch: st.Epoch}
		if err := idx.PutObject(ctx, sb.AppID, obj("sus", "n", "h1"), PutCond{Versioning: VersioningSuspended}, nil, released); err != nil {
			t.Fatal(err)
		}
		vs = listed(t, idx, "sus")
		if done, err := idx.ExpireCurrentVersion(ctx, ls, sb.AppID, vs[0], VersioningSuspended, at, released); !done || err != nil {
			t.Fatalf("ExpireCurrentVersion, Suspended: %v, %v", done, err)
		}
		wantVersions(t, idx, "sus", "n:null:M:*")
		wantQueued(t, idx, "f1", "f2", "f3", "h1")
	})
}
