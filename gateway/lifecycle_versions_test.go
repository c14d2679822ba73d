package gateway

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// lcVersionEnvs runs fn on a gateway whose clock tests move, on each
// index implementation.
func lcVersionEnvs(t *testing.T, fn func(t *testing.T, e *env, advance func(time.Duration) time.Time)) {
	for _, c := range []struct {
		name string
		o    envOpt
	}{
		{"sqlite", envOpt{}},
		{"mysql", envOpt{mysql: true}},
		{"memory", envOpt{memory: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, clock, _ := lcEnv(t, c.o)
			fn(t, e, clock.Advance)
		})
	}
}

// marker is the one latest delete marker among listV's entries.
func marker(t *testing.T, vs []string) string {
	t.Helper()
	var out []string
	for _, v := range vs {
		if strings.HasSuffix(v, ":M:*") {
			out = append(out, v)
		}
	}
	if len(out) != 1 {
		t.Fatalf("%q: want one latest delete marker", vs)
	}
	return out[0]
}

func lcRule(id, prefix string) types.LifecycleRule {
	return types.LifecycleRule{ID: aws.String(id), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String(prefix)}}
}

// deleteV deletes a key (vid "": a delete marker is made) with the SDK.
func (e *env) deleteV(bucket, key, vid string) {
	e.t.Helper()
	in := &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if vid != "" {
		in.VersionId = aws.String(vid)
	}
	_, err := e.root().DeleteObject(ctx(), in)
	must(e.t, err)
}

// keyVersions is listV of the versions of keys under prefix (the SDK
// returns versions and delete markers apart: compare as sets).
func (e *env) keyVersions(bucket, prefix string) []string {
	e.t.Helper()
	var out []string
	for _, v := range e.listV(bucket) {
		if strings.HasPrefix(v, prefix) {
			out = append(out, v)
		}
	}
	return out
}

// TestLifecyclePass_Versions: in a versioned bucket, NoncurrentDays
// expires noncurrent versions (NewerNoncurrentVersions keeping the newest
// N), Expiration puts a delete marker on a current object (Enabled: the
// object kept as noncurrent; Suspended: the null version goes), and
// ExpiredObjectDeleteMarker removes a delete marker alone on its key but
// not one with versions beneath. Clients: aws-sdk-go-v2.
func TestLifecyclePass_Versions(t *testing.T) {
	lcVersionEnvs(t, func(t *testing.T, e *env, advance func(time.Duration) time.Time) {
		e.mkBucket("ver")
		e.enableVersioning("ver", types.BucketVersioningStatusEnabled)
		nc, keep := lcRule("nc-1d", "nc/"), lcRule("keep2-1d", "keep/")
		nc.NoncurrentVersionExpiration = &types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(1)}
		keep.NoncurrentVersionExpiration = &types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(1), NewerNoncurrentVersions: aws.Int32(2)}
		cur, dm := lcRule("cur-1d", "cur/"), lcRule("markers", "dm/")
		cur.Expiration = &types.LifecycleExpiration{Days: aws.Int32(1)}
		dm.Expiration = &types.LifecycleExpiration{ExpiredObjectDeleteMarker: aws.Bool(true)}
		e.putLifecycle("ver", nc, keep, cur, dm)

		a := []string{e.putV("ver", "nc/a", "a1"), e.putV("ver", "nc/a", "a2-"), e.putV("ver", "nc/a", "a3--")}
		b := []string{e.putV("ver", "keep/b", "b1"), e.putV("ver", "keep/b", "b2"), e.putV("ver", "keep/b", "b3"), e.putV("ver", "keep/b", "b4")}
		c := e.putV("ver", "cur/c", "c1")
		d := e.putV("ver", "dm/d", "d1")
		e.deleteV("ver", "dm/d", "")
		e.deleteV("ver", "dm/d", d) // the marker is left alone
		ev := e.putV("ver", "dm/e", "e1")
		e.deleteV("ver", "dm/e", "") // a marker with e1 beneath
		markerE := marker(t, e.keyVersions("ver", "dm/e"))

		// Day 0: only the lone marker is due (ExpiredObjectDeleteMarker
		// is due at once).
		if s := e.g.lifecycleOnce(ctx()); s.Expired != 1 || s.Bytes != 0 || s.Passes != 1 || s.Errors != 0 || s.Locked != 0 {
			t.Fatalf("pass on day 0: %+v", s)
		}
		if got := e.keyVersions("ver", "dm/"); !sameSet(got, []string{markerE, "dm/e:" + ev}) {
			t.Fatalf("dm/ after day 0: %q; want the lone marker of dm/d gone, dm/e's kept", got)
		}
		// 49 h: every 1-day rule is due.
		advance(49 * time.Hour)
		s := e.g.lifecycleOnce(ctx())
		// a1, a2 (2+3 bytes), b1 (2 bytes), and cur/c's marker
		if s.Expired != 4 || s.Bytes != 7 || s.Passes != 1 || s.Errors != 0 {
			t.Fatalf("pass after 49 h: %+v", s)
		}
		if got, want := e.keyVersions("ver", "nc/"), []string{"nc/a:" + a[2] + ":*"}; !sameSet(got, want) {
			t.Fatalf("nc/a: %q, want %q", got, want)
		}
		if got, want := e.keyVersions("ver", "keep/"), []string{"keep/b:" + b[3] + ":*", "keep/b:" + b[2], "keep/b:" + b[1]}; !sameSet(got, want) {
			t.Fatalf("keep/b: %q, want %q (the newest 2 noncurrent kept)", got, want)
		}
		cv := e.keyVersions("ver", "cur/")
		if len(cv) != 2 || !sameSet(cv, []string{marker(t, cv), "cur/c:" + c}) {
			t.Fatalf("cur/c: %q; want a delete marker over c1", cv)
		}
		if _, err := e.getV("ver", "cur/c", ""); apiCode(err) != "NoSuchKey" {
			t.Fatalf("GET cur/c after expiry: %v", err)
		}
		if body, err := e.getV("ver", "cur/c", c); err != nil || body != "c1" {
			t.Fatalf("GET cur/c's version after expiry: %q, %v", body, err)
		}
		if got := e.keyVersions("ver", "dm/"); !sameSet(got, []string{markerE, "dm/e:" + ev}) {
			t.Fatalf("dm/ after 49 h: %q", got)
		}
		// Nothing more is due.
		if s := e.g.lifecycleOnce(ctx()); s.Expired != 0 || s.Passes != 1 {
			t.Fatalf("a pass again: %+v", s)
		}

		// Suspended: the null version goes under a null marker.
		e.mkBucket("sus")
		e.enableVersioning("sus", types.BucketVersioningStatusEnabled)
		e.enableVersioning("sus", types.BucketVersioningStatusSuspended)
		all := lcRule("all-1d", "")
		all.Expiration = &types.LifecycleExpiration{Days: aws.Int32(1)}
		e.putLifecycle("sus", all)
		if vid := e.putV("sus", "n", "null-body"); vid != "null" {
			t.Fatalf("a PUT in a Suspended bucket: version %q", vid)
		}
		advance(49 * time.Hour)
		s = e.g.lifecycleOnce(ctx())
		if s.Expired != 1 || s.Bytes != 9 || s.Errors != 0 {
			t.Fatalf("pass of the Suspended bucket: %+v", s)
		}
		if got := e.listV("sus"); !sameSet(got, []string{"n:null:M:*"}) {
			t.Fatalf("sus: %q, want the null marker alone", got)
		}
	})
}

// TestLifecyclePass_VersionsLocked: object lock keeps noncurrent versions
// that NoncurrentVersionExpiration would delete (a legal hold, governance
// retention in force) and the pass counts them; an unlocked one goes;
// Expiration still adds a delete marker over a locked current version.
func TestLifecyclePass_VersionsLocked(t *testing.T) {
	e, clock, reg := lcEnv(t, envOpt{})
	c := e.root()
	e.lockBucket("locked")
	rule := lcRule("nc-1d", "")
	rule.NoncurrentVersionExpiration = &types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(1)}
	rule.Expiration = &types.LifecycleExpiration{Days: aws.Int32(30)}
	e.putLifecycle("locked", rule)
	put := func(key, body string, lock func(*s3.PutObjectInput)) string {
		in := &s3.PutObjectInput{Bucket: aws.String("locked"), Key: aws.String(key), Body: strings.NewReader(body), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32}
		if lock != nil {
			lock(in)
		}
		out, err := c.PutObject(ctx(), in)
		must(t, err)
		return aws.ToString(out.VersionId)
	}
	held := put("held", "h1", func(in *s3.PutObjectInput) { in.ObjectLockLegalHoldStatus = types.ObjectLockLegalHoldStatusOn })
	retained := put("retained", "r1", func(in *s3.PutObjectInput) {
		in.ObjectLockMode = types.ObjectLockModeGovernance
		in.ObjectLockRetainUntilDate = aws.Time(clock.Now().Add(10 * 24 * time.Hour))
	})
	free := put("free", "f1", nil)
	heldNow := put("held", "h2", nil)
	retainedNow := put("retained", "r2", nil)
	freeNow := put("free", "f2", nil)

	clock.Advance(49 * time.Hour)
	s := e.g.lifecycleOnce(ctx())
	if s.Expired != 1 || s.Bytes != 2 || s.Locked != 2 || s.Errors != 0 || s.Passes != 1 {
		t.Fatalf("pass: %+v; want f1 expired, h1 and r1 kept by object lock", s)
	}
	want := []string{"free:" + freeNow + ":*", "held:" + heldNow + ":*", "held:" + held, "retained:" + retainedNow + ":*", "retained:" + retained}
	if got := e.listV("locked"); !sameSet(got, want) {
		t.Fatalf("versions: %q, want %q", got, want)
	}
	if _, err := e.getV("locked", "free", free); apiCode(err) != "NoSuchVersion" {
		t.Fatalf("GET of the expired version: %v", err)
	}
	got := map[string]float64{}
	mfs, err := reg.Gather()
	must(t, err)
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "tnv_s3_lifecycle_") {
			got[mf.GetName()] = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if got["tnv_s3_lifecycle_locked_skipped_total"] != 2 || got["tnv_s3_lifecycle_objects_expired_total"] != 1 {
		t.Fatalf("metrics: %v", got)
	}

	// Expiration of a current version under a legal hold: a delete marker
	// over it, as a DELETE without a version ID makes; the version kept.
	_, err = c.PutObjectLegalHold(ctx(), &s3.PutObjectLegalHoldInput{Bucket: aws.String("locked"), Key: aws.String("held"), VersionId: aws.String(heldNow),
		LegalHold: &types.ObjectLockLegalHold{Status: types.ObjectLockLegalHoldStatusOn}, ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	must(t, err)
	clock.Advance(31 * 24 * time.Hour)
	s = e.g.lifecycleOnce(ctx())
	// markers over f2, h2 (held) and r2; r1's retention is over; h1 held
	if s.Errors != 0 || s.Expired != 4 || s.Locked != 1 {
		t.Fatalf("pass after 31 days: %+v", s)
	}
	hv := e.keyVersions("locked", "held")
	if len(hv) != 3 || !sameSet(hv, []string{marker(t, hv), "held:" + heldNow, "held:" + held}) {
		t.Fatalf("held: %q; want a marker over h2 and h1, both kept", hv)
	}
}

// TestLifecyclePass_VersionsLostLease: a pass in a versioned bucket whose
// holder lost the lease (stalled past its expiry, another gateway took
// it) deletes no more versions.
func TestLifecyclePass_VersionsLostLease(t *testing.T) {
	for _, o := range []envOpt{{memory: true}, {}} {
		e, clock, _ := lcEnv(t, o)
		e.mkBucket("bkt")
		e.enableVersioning("bkt", types.BucketVersioningStatusEnabled)
		for i := range 4 {
			e.putV("bkt", fmt.Sprint("k", i), "old")
			e.putV("bkt", fmt.Sprint("k", i), "new")
		}
		rule := lcRule("nc", "")
		rule.NoncurrentVersionExpiration = &types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(1)}
		e.putLifecycle("bkt", rule)
		clock.Advance(49 * time.Hour)
		e.g.lc.hook = func(event, key string) {
			if event == "expired" && key == "k0" {
				clock.Advance(lifecycleLeaseTTL + time.Second)
				if _, ok, err := e.g.idx.TakeLifecycleLease(ctx(), "bkt", "gw-other", e.g.nowUnix(), e.g.nowUnix()+300); !ok || err != nil {
					t.Errorf("the other gateway could not take the expired lease: %v, %v", ok, err)
				}
			}
		}
		if s := e.g.lifecycleOnce(ctx()); s.Expired != 1 || s.Passes != 0 || s.Errors != 0 {
			t.Fatalf("pass that lost its lease: %+v; want only k0's old version expired", s)
		}
		for i := 1; i < 4; i++ {
			if vs := e.keyVersions("bkt", fmt.Sprint("k", i)); len(vs) != 2 {
				t.Fatalf("k%d: %q; a version expired under a lost lease", i, vs)
			}
		}
	}
}

// TestLifecyclePass_VersionsResume: a versioned bucket's pass over batches
// smaller than a key's versions still counts NewerNoncurrentVersions per
// key, and a pass cut short resumes after the last key it finished.
func TestLifecyclePass_VersionsResume(t *testing.T) {
	e, clock, _ := lcEnv(t, envOpt{}) // SQL: a cancelled context stops it
	e.mkBucket("bkt")
	e.enableVersioning("bkt", types.BucketVersioningStatusEnabled)
	rule := lcRule("keep1", "")
	rule.NoncurrentVersionExpiration = &types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(1), NewerNoncurrentVersions: aws.Int32(1)}
	e.putLifecycle("bkt", rule)
	var newest = map[string][]string{}
	for _, k := range []string{"a", "b", "c"} {
		for i := range 5 {
			v := e.putV("bkt", k, fmt.Sprint(k, i))
			newest[k] = append([]string{v}, newest[k]...)
		}
	}
	clock.Advance(49 * time.Hour)
	e.g.lc.batch = 2
	cut, cancel := context.WithCancel(ctx())
	defer cancel()
	n := 0
	e.g.lc.hook = func(event, key string) {
		if event == "expired" && key == "b" {
			if n++; n == 1 {
				cancel() // gone in the middle of b, a saved as done
			}
		}
	}
	s := e.g.lifecycleOnce(cut)
	if s.Passes != 0 || s.Expired != 4 { // a's 3 old versions, one of b's
		t.Fatalf("cut pass: %+v", s)
	}
	e.g.lc.hook = nil
	clock.Advance(lifecycleLeaseTTL + time.Second)
	s = e.g.lifecycleOnce(ctx())
	if s.Passes != 1 || s.Expired != 5 || s.Examined != 9 {
		t.Fatalf("resumed pass: %+v; want b's 2 remaining old versions and c's 3 expired, b and c examined", s)
	}
	for _, k := range []string{"a", "b", "c"} {
		want := []string{k + ":" + newest[k][0] + ":*", k + ":" + newest[k][1]}
		if got := e.keyVersions("bkt", k); !sameSet(got, want) {
			t.Fatalf("%s: %q, want %q", k, got, want)
		}
	}
	if _, err := e.getV("bkt", "a", newest["a"][4]); apiCode(err) != "NoSuchVersion" {
		t.Fatalf("a's oldest version: %v", err)
	}
}
