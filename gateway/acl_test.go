package gateway

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestACL_OffByDefault: a new bucket is BucketOwnerEnforced as on S3 since
// 2023: ACLs that grant anything are refused, the owner-only ones pass,
// and reading an ACL shows the owner's full control.
func TestACL_OffByDefault(t *testing.T) {
	e := newEnv(t, envOpt{})
	c := e.root()
	_, err := c.CreateBucket(ctx(), &s3.CreateBucketInput{Bucket: aws.String("pubacl"), ACL: types.BucketCannedACLPublicRead})
	wantCode(t, err, "InvalidBucketAclWithObjectOwnership")
	e.mkBucket("enf")
	oc, err := c.GetBucketOwnershipControls(ctx(), &s3.GetBucketOwnershipControlsInput{Bucket: aws.String("enf")})
	if err != nil || oc.OwnershipControls.Rules[0].ObjectOwnership != types.ObjectOwnershipBucketOwnerEnforced {
		t.Fatalf("GetBucketOwnershipControls = %+v, %v", oc, err)
	}
	_, err = c.PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String("enf"), Key: aws.String("k"), Body: strings.NewReader("x"), ACL: types.ObjectCannedACLPublicRead})
	wantCode(t, err, "AccessControlListNotSupported")
	for _, acl := range []types.ObjectCannedACL{types.ObjectCannedACLBucketOwnerFullControl, types.ObjectCannedACLPrivate, ""} {
		_, err = c.PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String("enf"), Key: aws.String("k"), Body: strings.NewReader("x"), ACL: acl})
		must(t, err)
	}
	_, err = c.PutObjectAcl(ctx(), &s3.PutObjectAclInput{Bucket: aws.String("enf"), Key: aws.String("k"), ACL: types.ObjectCannedACLPublicRead})
	wantCode(t, err, "AccessControlListNotSupported")
	_, err = c.PutBucketAcl(ctx(), &s3.PutBucketAclInput{Bucket: aws.String("enf"), GrantRead: aws.String(`uri="` + groupAllUsers + `"`)})
	wantCode(t, err, "AccessControlListNotSupported")
	if st, _ := e.anon("GET", "/enf/k", nil); st != 403 {
		t.Fatalf("anonymous GET: %d", st)
	}
	acl, err := c.GetObjectAcl(ctx(), &s3.GetObjectAclInput{Bucket: aws.String("enf"), Key: aws.String("k")})
	if err != nil || len(acl.Grants) != 1 || acl.Grants[0].Permission != types.PermissionFullControl || aws.ToString(acl.Owner.ID) != rootAK {
		t.Fatalf("GetObjectAcl = %+v, %v", acl, err)
	}
	_, err = c.GetObjectAcl(ctx(), &s3.GetObjectAclInput{Bucket: aws.String("enf"), Key: aws.String("nope")})
	wantCode(t, err, "NoSuchKey")
}

// TestACL_CannedAndGrants: with ACLs on (ObjectWriter), canned ACLs and
// grants decide who reads and lists, for anonymous and signed requests.
func TestACL_CannedAndGrants(t *testing.T) {
	e := newEnv(t, envOpt{})
	must(t, AddUser(ctx(), e.db, "ALICEKEY", "alice-secret-0123456"))
	must(t, AddUser(ctx(), e.db, "BOBKEY", "bob-secret-01234567"))
	alice, bob := e.sdk("ALICEKEY", "alice-secret-0123456"), e.sdk("BOBKEY", "bob-secret-01234567")
	// Created with ACLs on and readable by anyone.
	_, err := alice.CreateBucket(ctx(), &s3.CreateBucketInput{Bucket: aws.String("acls"), ObjectOwnership: types.ObjectOwnershipObjectWriter, ACL: types.BucketCannedACLPublicRead})
	must(t, err)
	if st, _ := e.anon("GET", "/acls?list-type=2", nil); st != 200 {
		t.Fatalf("anonymous list of a public-read bucket: %d", st)
	}
	put := func(key string, acl types.ObjectCannedACL) {
		t.Helper()
		_, err := alice.PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String("acls"), Key: aws.String(key), Body: strings.NewReader(key), ACL: acl})
		must(t, err)
	}
	put("open", types.ObjectCannedACLPublicRead)
	put("closed", "")
	put("members", types.ObjectCannedACLAuthenticatedRead)
	if st, _ := e.anon("GET", "/acls/open", nil); st != 200 {
		t.Errorf("anonymous GET of a public-read object: %d", st)
	}
	if st, _ := e.anon("GET", "/acls/closed", nil); st != 403 {
		t.Errorf("anonymous GET of a private object: %d", st)
	}
	if st, _ := e.anon("GET", "/acls/members", nil); st != 403 {
		t.Errorf("anonymous GET of an authenticated-read object: %d", st)
	}
	_, err = bob.GetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("acls"), Key: aws.String("members")})
	must(t, err)
	_, err = bob.GetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("acls"), Key: aws.String("closed")})
	wantCode(t, err, "AccessDenied")

	// GetObjectAcl shows the grants; PutObjectAcl with a header grant
	// gives bob the object, an XML body takes it away again.
	got, err := alice.GetObjectAcl(ctx(), &s3.GetObjectAclInput{Bucket: aws.String("acls"), Key: aws.String("open")})
	must(t, err)
	if len(got.Grants) != 2 || got.Grants[1].Grantee.Type != types.TypeGroup || aws.ToString(got.Grants[1].Grantee.URI) != groupAllUsers || got.Grants[1].Permission != types.PermissionRead {
		t.Fatalf("GetObjectAcl of public-read: %+v", got.Grants)
	}
	_, err = alice.PutObjectAcl(ctx(), &s3.PutObjectAclInput{Bucket: aws.String("acls"), Key: aws.String("closed"), GrantRead: aws.String(`id="BOBKEY"`)})
	must(t, err)
	_, err = bob.GetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("acls"), Key: aws.String("closed")})
	must(t, err)
	_, err = alice.PutObjectAcl(ctx(), &s3.PutObjectAclInput{Bucket: aws.String("acls"), Key: aws.String("closed"), AccessControlPolicy: &types.AccessControlPolicy{
		Owner:  &types.Owner{ID: aws.String("ALICEKEY")},
		Grants: []types.Grant{{Grantee: &types.Grantee{Type: types.TypeCanonicalUser, ID: aws.String("ALICEKEY")}, Permission: types.PermissionFullControl}},
	}})
	must(t, err)
	_, err = bob.GetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("acls"), Key: aws.String("closed")})
	wantCode(t, err, "AccessDenied")
	// Grants to no user, or by e-mail, are refused.
	_, err = alice.PutObjectAcl(ctx(), &s3.PutObjectAclInput{Bucket: aws.String("acls"), Key: aws.String("closed"), GrantRead: aws.String(`id="NOSUCHKEY"`)})
	wantCode(t, err, "InvalidArgument")
	_, err = alice.PutObjectAcl(ctx(), &s3.PutObjectAclInput{Bucket: aws.String("acls"), Key: aws.String("closed"), GrantRead: aws.String(`emailAddress="bob@example.com"`)})
	wantCode(t, err, "UnresolvableGrantByEmailAddress")

	// Bucket ACL: bob may write into the bucket once granted WRITE; the
	// object is his (ObjectWriter) and he may read it back.
	_, err = bob.PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String("acls"), Key: aws.String("bobs"), Body: strings.NewReader("b")})
	wantCode(t, err, "AccessDenied")
	_, err = alice.PutBucketAcl(ctx(), &s3.PutBucketAclInput{Bucket: aws.String("acls"), GrantWrite: aws.String(`id="BOBKEY"`), GrantRead: aws.String(`uri="` + groupAllUsers + `"`)})
	must(t, err)
	_, err = bob.PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String("acls"), Key: aws.String("bobs"), Body: strings.NewReader("b")})
	must(t, err)
	_, err = bob.GetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("acls"), Key: aws.String("bobs")})
	must(t, err)
	oacl, err := alice.GetObjectAcl(ctx(), &s3.GetObjectAclInput{Bucket: aws.String("acls"), Key: aws.String("bobs")})
	if err != nil || aws.ToString(oacl.Owner.ID) != "BOBKEY" {
		t.Fatalf("the writer owns the object: %+v, %v", oacl, err)
	}
	bacl, err := alice.GetBucketAcl(ctx(), &s3.GetBucketAclInput{Bucket: aws.String("acls")})
	if err != nil || len(bacl.Grants) != 2 {
		t.Fatalf("GetBucketAcl = %+v, %v", bacl, err)
	}
	// ACLs cannot be turned off while the bucket's ACL grants others.
	_, err = alice.PutBucketOwnershipControls(ctx(), &s3.PutBucketOwnershipControlsInput{Bucket: aws.String("acls"), OwnershipControls: &types.OwnershipControls{
		Rules: []types.OwnershipControlsRule{{ObjectOwnership: types.ObjectOwnershipBucketOwnerEnforced}}}})
	wantCode(t, err, "InvalidBucketAclWithObjectOwnership")
	_, err = alice.PutBucketAcl(ctx(), &s3.PutBucketAclInput{Bucket: aws.String("acls"), ACL: types.BucketCannedACLPrivate})
	must(t, err)
	_, err = alice.PutBucketOwnershipControls(ctx(), &s3.PutBucketOwnershipControlsInput{Bucket: aws.String("acls"), OwnershipControls: &types.OwnershipControls{
		Rules: []types.OwnershipControlsRule{{ObjectOwnership: types.ObjectOwnershipBucketOwnerEnforced}}}})
	must(t, err)
	// Enforced: the object ACLs count no more.
	if st, _ := e.anon("GET", "/acls/open", nil); st != 403 {
		t.Errorf("anonymous GET of a public-read object after BucketOwnerEnforced: %d", st)
	}
	_, err = alice.DeleteBucketOwnershipControls(ctx(), &s3.DeleteBucketOwnershipControlsInput{Bucket: aws.String("acls")})
	must(t, err)
	_, err = alice.GetBucketOwnershipControls(ctx(), &s3.GetBucketOwnershipControlsInput{Bucket: aws.String("acls")})
	wantCode(t, err, "OwnershipControlsNotFoundError")
	if st, _ := e.anon("GET", "/acls/open", nil); st != 200 {
		t.Errorf("anonymous GET of a public-read object with ACLs on again: %d", st)
	}
}

// TestACL_CopyAndMultipartTakeTheRequestsACL: CopyObject and
// CreateMultipartUpload apply x-amz-acl (minio-go as the client).
func TestACL_CopyAndMultipartTakeTheRequestsACL(t *testing.T) {
	e := newEnv(t, envOpt{})
	c := e.root()
	_, err := c.CreateBucket(ctx(), &s3.CreateBucketInput{Bucket: aws.String("cpm"), ObjectOwnership: types.ObjectOwnershipBucketOwnerPreferred})
	must(t, err)
	e.put("cpm", "src", []byte("source"))
	_, err = c.CopyObject(ctx(), &s3.CopyObjectInput{Bucket: aws.String("cpm"), Key: aws.String("copy"), CopySource: aws.String("cpm/src"), ACL: types.ObjectCannedACLPublicRead})
	must(t, err)
	if st, _ := e.anon("GET", "/cpm/copy", nil); st != 200 {
		t.Errorf("anonymous GET of a public-read copy: %d", st)
	}
	if st, _ := e.anon("GET", "/cpm/src", nil); st != 403 {
		t.Errorf("anonymous GET of the private source: %d", st)
	}
	mu, err := c.CreateMultipartUpload(ctx(), &s3.CreateMultipartUploadInput{Bucket: aws.String("cpm"), Key: aws.String("mp"), ACL: types.ObjectCannedACLPublicRead})
	must(t, err)
	part, err := c.UploadPart(ctx(), &s3.UploadPartInput{Bucket: aws.String("cpm"), Key: aws.String("mp"), UploadId: mu.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("part one")})
	must(t, err)
	_, err = c.CompleteMultipartUpload(ctx(), &s3.CompleteMultipartUploadInput{Bucket: aws.String("cpm"), Key: aws.String("mp"), UploadId: mu.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{ETag: part.ETag, PartNumber: aws.Int32(1)}}}})
	must(t, err)
	if st, _ := e.anon("GET", "/cpm/mp", nil); st != 200 {
		t.Errorf("anonymous GET of a public-read multipart object: %d", st)
	}
	_, err = c.CreateMultipartUpload(ctx(), &s3.CreateMultipartUploadInput{Bucket: aws.String("cpm"), Key: aws.String("bad"), ACL: "world-writable"})
	wantCode(t, err, "InvalidArgument")
	resp, body := e.signed("PUT", "/cpm/both", map[string]string{"X-Amz-Acl": "private", "X-Amz-Grant-Read": `id="` + rootAK + `"`}, []byte("x"))
	if resp.StatusCode != 400 || errorCode(body) != "InvalidRequest" {
		t.Errorf("canned and grant headers together: %d %s", resp.StatusCode, body)
	}
}
