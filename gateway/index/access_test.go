package index

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tnv-s3/tnv/metadb"
)

// TestAccess: policies, bucket ACLs, ownership and object ACLs are stored
// and read back alike by every index, and go with their bucket.
func TestAccess(t *testing.T) {
	forEach(t, func(t *testing.T, idx Index) {
		b := mustBucket(t, idx, "acc")
		if a, err := idx.BucketAccess(ctx, b.AppID); err != nil || !reflect.DeepEqual(a, Access{}) {
			t.Fatalf("fresh bucket: %+v, %v", a, err)
		}
		acl := &ACL{Owner: "alice", Grants: []Grant{{Group: true, ID: "http://acs.amazonaws.com/groups/global/AllUsers", Permission: "READ"}, {ID: "bob", Permission: "FULL_CONTROL"}}}
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(idx.SetBucketPolicy(ctx, b.AppID, `{"Version":"2012-10-17"}`))
		must(idx.SetBucketACL(ctx, b.AppID, acl))
		must(idx.SetOwnership(ctx, b.AppID, "ObjectWriter"))
		a, err := idx.BucketAccess(ctx, b.AppID)
		want := Access{Policy: `{"Version":"2012-10-17"}`, ACL: acl, Ownership: "ObjectWriter"}
		if err != nil || !reflect.DeepEqual(a, want) {
			t.Fatalf("BucketAccess = %+v, %v", a, err)
		}
		must(idx.SetBucketPolicy(ctx, b.AppID, ""))
		must(idx.SetBucketACL(ctx, b.AppID, nil))
		a, _ = idx.BucketAccess(ctx, b.AppID)
		if a.Policy != "" || a.ACL != nil || a.Ownership != "ObjectWriter" {
			t.Fatalf("after removing policy and ACL: %+v", a)
		}

		o := obj("acc", "k", "f1")
		must(idx.PutObject(ctx, b.AppID, o, PutCond{}, nil, released))
		must(idx.SetObjectACL(ctx, "acc", "k", acl))
		got, err := idx.Object(ctx, "acc", "k")
		if err != nil || !reflect.DeepEqual(got.Headers.ACL, acl) || got.Version != 2 || got.ETag != o.ETag {
			t.Fatalf("after SetObjectACL: %+v, %v", got, err)
		}
		if err := idx.SetObjectACL(ctx, "acc", "nope", acl); err != ErrNotFound {
			t.Fatalf("SetObjectACL of a missing key: %v", err)
		}

		// Deleted and created again: nothing inherited.
		must(idx.SetBucketPolicy(ctx, b.AppID, `{"x":1}`))
		if _, err := idx.DeleteObject(ctx, b.AppID, "acc", "k", released); err != nil {
			t.Fatal(err)
		}
		must(idx.DeleteBucket(ctx, b, released))
		b2 := mustBucket(t, idx, "acc")
		for _, id := range []string{b.AppID, b2.AppID} {
			if a, err := idx.BucketAccess(ctx, id); err != nil || !reflect.DeepEqual(a, Access{}) {
				t.Fatalf("after delete and create: %s %+v, %v", id, a, err)
			}
		}
	})
}

// TestMigratePublicRead: a bucket made public before policies keeps being
// readable and listable, through the policy the flag meant.
func TestMigratePublicRead(t *testing.T) {
	db, err := metadb.Open("sqlite:" + filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c := context.Background()
	if err := Migrate(c, db); err != nil {
		t.Fatal(err)
	}
	s := NewSQL(db)
	defer s.Close()
	mustBucket(t, s, "old-public")
	mustBucket(t, s, "private")
	if err := s.SetPublic(c, "old-public", true); err != nil {
		t.Fatal(err)
	}
	for range 2 { // a second gateway's start changes nothing
		if err := Migrate(c, db); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := s.Bucket(c, "old-public")
	a, err := s.BucketAccess(c, b.AppID)
	if err != nil || b.PublicRead || !strings.Contains(a.Policy, `"arn:aws:s3:::old-public/*"`) || !strings.Contains(a.Policy, "s3:ListBucket") {
		t.Fatalf("migrated: %+v %+v, %v", b, a, err)
	}
	p, _ := s.Bucket(c, "private")
	if a, _ := s.BucketAccess(c, p.AppID); a.Policy != "" {
		t.Fatalf("a private bucket got a policy: %s", a.Policy)
	}
}
