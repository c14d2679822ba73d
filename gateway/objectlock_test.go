package gateway

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"
)

func (e *env) lockBucket(name string) {
	e.t.Helper()
	_, err := e.root().CreateBucket(ctx(), &s3.CreateBucketInput{Bucket: aws.String(name), ObjectLockEnabledForBucket: aws.Bool(true)})
	must(e.t, err)
}

// TestObjectLock_BucketConfiguration: CreateBucket with object lock turns
// versioning on for good; the configuration's default retention and its
// validation as AWS.
func TestObjectLock_BucketConfiguration(t *testing.T) {
	forEachVersionEnv(t, func(t *testing.T, e *env) {
		c := e.root()
		e.mkBucket("plain")
		_, err := c.GetObjectLockConfiguration(ctx(), &s3.GetObjectLockConfigurationInput{Bucket: aws.String("plain")})
		wantCode(t, err, "ObjectLockConfigurationNotFoundError")
		resp, body := e.signed("PUT", "/plain?object-lock", map[string]string{"Content-MD5": b64md5([]byte("<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>"))},
			[]byte("<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>"))
		if resp.StatusCode != 409 || !bytes.Contains(body, []byte("InvalidBucketState")) {
			t.Fatalf("lock on an unversioned bucket: %d %s", resp.StatusCode, body)
		}
		_, err = c.PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String("plain"), Key: aws.String("k"), Body: strings.NewReader("x"),
			ObjectLockLegalHoldStatus: types.ObjectLockLegalHoldStatusOn})
		wantCode(t, err, "InvalidRequest")

		e.lockBucket("locked")
		gv, err := c.GetBucketVersioning(ctx(), &s3.GetBucketVersioningInput{Bucket: aws.String("locked")})
		must(t, err)
		if gv.Status != types.BucketVersioningStatusEnabled {
			t.Fatalf("versioning of a lock bucket: %q", gv.Status)
		}
		_, err = c.PutBucketVersioning(ctx(), &s3.PutBucketVersioningInput{Bucket: aws.String("locked"),
			VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusSuspended}})
		wantCode(t, err, "InvalidBucketState")
		lc, err := c.GetObjectLockConfiguration(ctx(), &s3.GetObjectLockConfigurationInput{Bucket: aws.String("locked")})
		must(t, err)
		if lc.ObjectLockConfiguration.ObjectLockEnabled != types.ObjectLockEnabledEnabled || lc.ObjectLockConfiguration.Rule != nil {
			t.Fatalf("configuration: %+v", lc.ObjectLockConfiguration)
		}
		_, err = c.PutObjectLockConfiguration(ctx(), &s3.PutObjectLockConfigurationInput{Bucket: aws.String("locked"),
			ObjectLockConfiguration: &types.ObjectLockConfiguration{ObjectLockEnabled: types.ObjectLockEnabledEnabled,
				Rule: &types.ObjectLockRule{DefaultRetention: &types.DefaultRetention{Mode: types.ObjectLockRetentionModeGovernance, Days: aws.Int32(2)}}}})
		must(t, err)
		lc, err = c.GetObjectLockConfiguration(ctx(), &s3.GetObjectLockConfigurationInput{Bucket: aws.String("locked")})
		must(t, err)
		if r := lc.ObjectLockConfiguration.Rule; r == nil || r.DefaultRetention.Mode != types.ObjectLockRetentionModeGovernance || aws.ToInt32(r.DefaultRetention.Days) != 2 {
			t.Fatalf("default retention: %+v", lc.ObjectLockConfiguration.Rule)
		}
		// the default applies to new versions
		put, err := c.PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String("locked"), Key: aws.String("k"), Body: strings.NewReader("x"),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
		must(t, err)
		v := aws.ToString(put.VersionId)
		h, err := c.HeadObject(ctx(), &s3.HeadObjectInput{Bucket: aws.String("locked"), Key: aws.String("k"), VersionId: aws.String(v)})
		must(t, err)
		if h.ObjectLockMode != types.ObjectLockModeGovernance || aws.ToTime(h.ObjectLockRetainUntilDate).Before(time.Now().Add(47*time.Hour)) {
			t.Fatalf("default retention on a PUT: %q until %v", h.ObjectLockMode, aws.ToTime(h.ObjectLockRetainUntilDate))
		}

		for _, tc := range []struct{ doc, code string }{
			{"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>GOVERNANCE</Mode><Days>1</Days><Years>1</Years></DefaultRetention></Rule></ObjectLockConfiguration>", "MalformedXML"},
			{"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>GOVERNANCE</Mode></DefaultRetention></Rule></ObjectLockConfiguration>", "MalformedXML"},
			{"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>SOMETIMES</Mode><Days>1</Days></DefaultRetention></Rule></ObjectLockConfiguration>", "MalformedXML"},
			{"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>COMPLIANCE</Mode><Days>0</Days></DefaultRetention></Rule></ObjectLockConfiguration>", "InvalidArgument"},
			{"<ObjectLockConfiguration><ObjectLockEnabled>Disabled</ObjectLockEnabled></ObjectLockConfiguration>", "MalformedXML"},
		} {
			resp, body := e.signed("PUT", "/locked?object-lock", map[string]string{"Content-MD5": b64md5([]byte(tc.doc))}, []byte(tc.doc))
			if resp.StatusCode != 400 || !bytes.Contains(body, []byte("<Code>"+tc.code+"</Code>")) {
				t.Fatalf("%s: %d %s, want %s", tc.doc, resp.StatusCode, body, tc.code)
			}
		}
		doc := []byte("<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>")
		resp, body = e.signed("PUT", "/locked?object-lock", nil, doc)
		if resp.StatusCode != 400 || !bytes.Contains(body, []byte("Content-MD5")) {
			t.Fatalf("without Content-MD5: %d %s", resp.StatusCode, body)
		}
	})
}

// TestObjectLock_RetentionLegalHoldBypass: a locked version cannot be
// deleted; governance yields to x-amz-bypass-governance-retention,
// compliance to nothing and is never shortened; a legal hold holds until
// released.
func TestObjectLock_RetentionLegalHoldBypass(t *testing.T) {
	forEachVersionEnv(t, func(t *testing.T, e *env) {
		c := e.root()
		e.lockBucket("bkt")
		until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
		put, err := c.PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("g"), Body: strings.NewReader("gov"), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
			ObjectLockMode: types.ObjectLockModeGovernance, ObjectLockRetainUntilDate: aws.Time(until)})
		must(t, err)
		gv := aws.ToString(put.VersionId)
		g, err := c.GetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("g")})
		must(t, err)
		g.Body.Close()
		if g.ObjectLockMode != types.ObjectLockModeGovernance || !aws.ToTime(g.ObjectLockRetainUntilDate).Equal(until) {
			t.Fatalf("GET lock headers: %q %v", g.ObjectLockMode, aws.ToTime(g.ObjectLockRetainUntilDate))
		}
		r, err := c.GetObjectRetention(ctx(), &s3.GetObjectRetentionInput{Bucket: aws.String("bkt"), Key: aws.String("g"), VersionId: aws.String(gv)})
		must(t, err)
		if r.Retention.Mode != types.ObjectLockRetentionModeGovernance || !aws.ToTime(r.Retention.RetainUntilDate).Equal(until) {
			t.Fatalf("retention: %+v", r.Retention)
		}
		// a delete without a version makes a marker: allowed
		_, err = c.DeleteObject(ctx(), &s3.DeleteObjectInput{Bucket: aws.String("bkt"), Key: aws.String("g")})
		must(t, err)
		_, err = c.DeleteObject(ctx(), &s3.DeleteObjectInput{Bucket: aws.String("bkt"), Key: aws.String("g"), VersionId: aws.String(gv)})
		wantCode(t, err, "AccessDenied")
		// shortening governance needs the bypass
		_, err = c.PutObjectRetention(ctx(), &s3.PutObjectRetentionInput{Bucket: aws.String("bkt"), Key: aws.String("g"), VersionId: aws.String(gv),
			Retention: &types.ObjectLockRetention{Mode: types.ObjectLockRetentionModeGovernance, RetainUntilDate: aws.Time(until.Add(-time.Minute))}})
		wantCode(t, err, "AccessDenied")
		_, err = c.DeleteObject(ctx(), &s3.DeleteObjectInput{Bucket: aws.String("bkt"), Key: aws.String("g"), VersionId: aws.String(gv), BypassGovernanceRetention: aws.Bool(true)})
		must(t, err)
		if _, err := e.getV("bkt", "g", gv); apiCode(err) != "NoSuchVersion" {
			t.Fatalf("bypassed delete left the version: %v", err)
		}

		// compliance: no bypass, extended but never shortened
		put, err = c.PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("c"), Body: strings.NewReader("comp"), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
			ObjectLockMode: types.ObjectLockModeCompliance, ObjectLockRetainUntilDate: aws.Time(until)})
		must(t, err)
		cv := aws.ToString(put.VersionId)
		_, err = c.DeleteObject(ctx(), &s3.DeleteObjectInput{Bucket: aws.String("bkt"), Key: aws.String("c"), VersionId: aws.String(cv), BypassGovernanceRetention: aws.Bool(true)})
		wantCode(t, err, "AccessDenied")
		_, err = c.PutObjectRetention(ctx(), &s3.PutObjectRetentionInput{Bucket: aws.String("bkt"), Key: aws.String("c"), VersionId: aws.String(cv), BypassGovernanceRetention: aws.Bool(true),
			Retention: &types.ObjectLockRetention{Mode: types.ObjectLockRetentionModeGovernance, RetainUntilDate: aws.Time(until)}})
		wantCode(t, err, "AccessDenied")
		_, err = c.PutObjectRetention(ctx(), &s3.PutObjectRetentionInput{Bucket: aws.String("bkt"), Key: aws.String("c"), VersionId: aws.String(cv),
			Retention: &types.ObjectLockRetention{Mode: types.ObjectLockRetentionModeCompliance, RetainUntilDate: aws.Time(until.Add(time.Hour))}})
		must(t, err)
		_, err = c.PutObjectRetention(ctx(), &s3.PutObjectRetentionInput{Bucket: aws.String("bkt"), Key: aws.String("c"),
			Retention: &types.ObjectLockRetention{Mode: types.ObjectLockRetentionModeCompliance, RetainUntilDate: aws.Time(time.Now().Add(-time.Hour))}})
		wantCode(t, err, "InvalidArgument")

		// legal hold: holds even with bypass, until released
		put, err = c.PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("h"), Body: strings.NewReader("held")})
		must(t, err)
		hv := aws.ToString(put.VersionId)
		_, err = c.GetObjectRetention(ctx(), &s3.GetObjectRetentionInput{Bucket: aws.String("bkt"), Key: aws.String("h")})
		wantCode(t, err, "NoSuchObjectLockConfiguration")
		_, err = c.PutObjectLegalHold(ctx(), &s3.PutObjectLegalHoldInput{Bucket: aws.String("bkt"), Key: aws.String("h"), VersionId: aws.String(hv),
			LegalHold: &types.ObjectLockLegalHold{Status: types.ObjectLockLegalHoldStatusOn}})
		must(t, err)
		lh, err := c.GetObjectLegalHold(ctx(), &s3.GetObjectLegalHoldInput{Bucket: aws.String("bkt"), Key: aws.String("h"), VersionId: aws.String(hv)})
		must(t, err)
		if lh.LegalHold.Status != types.ObjectLockLegalHoldStatusOn {
			t.Fatalf("legal hold: %q", lh.LegalHold.Status)
		}
		_, err = c.DeleteObject(ctx(), &s3.DeleteObjectInput{Bucket: aws.String("bkt"), Key: aws.String("h"), VersionId: aws.String(hv), BypassGovernanceRetention: aws.Bool(true)})
		wantCode(t, err, "AccessDenied")
		out, err := c.DeleteObjects(ctx(), &s3.DeleteObjectsInput{Bucket: aws.String("bkt"), Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String("h"), VersionId: aws.String(hv)}}}})
		must(t, err)
		if len(out.Errors) != 1 || aws.ToString(out.Errors[0].Code) != "AccessDenied" {
			t.Fatalf("DeleteObjects of a held version: %+v", out.Errors)
		}
		_, err = c.PutObjectLegalHold(ctx(), &s3.PutObjectLegalHoldInput{Bucket: aws.String("bkt"), Key: aws.String("h"), VersionId: aws.String(hv),
			LegalHold: &types.ObjectLockLegalHold{Status: types.ObjectLockLegalHoldStatusOff}})
		must(t, err)
		_, err = c.DeleteObject(ctx(), &s3.DeleteObjectInput{Bucket: aws.String("bkt"), Key: aws.String("h"), VersionId: aws.String(hv)})
		must(t, err)

		// lock headers on PutObject need a digest; bad ones are refused
		for _, tc := range []struct {
			hdr  map[string]string
			code string
		}{
			{map[string]string{"X-Amz-Object-Lock-Mode": "GOVERNANCE", "X-Amz-Object-Lock-Retain-Until-Date": until.Format(time.RFC3339)}, "InvalidRequest"},
			{map[string]string{"Content-MD5": b64md5([]byte("x")), "X-Amz-Object-Lock-Mode": "GOVERNANCE"}, "InvalidArgument"},
			{map[string]string{"Content-MD5": b64md5([]byte("x")), "X-Amz-Object-Lock-Mode": "FOREVER", "X-Amz-Object-Lock-Retain-Until-Date": until.Format(time.RFC3339)}, "InvalidArgument"},
			{map[string]string{"Content-MD5": b64md5([]byte("x")), "X-Amz-Object-Lock-Legal-Hold": "MAYBE"}, "InvalidArgument"},
			{map[string]string{"Content-MD5": b64md5([]byte("x")), "X-Amz-Object-Lock-Mode": "GOVERNANCE", "X-Amz-Object-Lock-Retain-Until-Date": "2001-01-01T00:00:00Z"}, "InvalidArgument"},
		} {
			resp, body := e.signed("PUT", "/bkt/bad", tc.hdr, []byte("x"))
			if resp.StatusCode != 400 || !bytes.Contains(body, []byte("<Code>"+tc.code+"</Code>")) {
				t.Fatalf("%v: %d %s, want %s", tc.hdr, resp.StatusCode, body, tc.code)
			}
		}
		if got := e.listV("bkt"); len(got) != 2 { // g's marker and c; h deleted, nothing of bad
			t.Fatalf("versions left: %q", got)
		}
	})
}

// TestObjectLock_MinioCopyMultipart: minio-go sets retention and legal
// hold; CopyObject and CreateMultipartUpload take lock headers.
func TestObjectLock_MinioCopyMultipart(t *testing.T) {
	forEachVersionEnv(t, func(t *testing.T, e *env) {
		c := e.root()
		mc := e.minio(rootAK, rootSK)
		must(t, mc.MakeBucket(ctx(), "mbkt", minio.MakeBucketOptions{ObjectLocking: true}))
		until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
		mode := minio.Governance
		info, err := mc.PutObject(ctx(), "mbkt", "k", strings.NewReader("minio"), 5, minio.PutObjectOptions{Mode: mode, RetainUntilDate: until, SendContentMd5: true})
		must(t, err)
		gotMode, gotUntil, err := mc.GetObjectRetention(ctx(), "mbkt", "k", info.VersionID)
		must(t, err)
		if gotMode == nil || *gotMode != minio.Governance || !gotUntil.Equal(until) {
			t.Fatalf("minio retention: %v %v", gotMode, gotUntil)
		}
		on := minio.LegalHoldEnabled
		must(t, mc.PutObjectLegalHold(ctx(), "mbkt", "k", minio.PutObjectLegalHoldOptions{VersionID: info.VersionID, Status: &on}))
		st, err := mc.GetObjectLegalHold(ctx(), "mbkt", "k", minio.GetObjectLegalHoldOptions{VersionID: info.VersionID})
		must(t, err)
		if st == nil || *st != minio.LegalHoldEnabled {
			t.Fatalf("minio legal hold: %v", st)
		}
		err = mc.RemoveObject(ctx(), "mbkt", "k", minio.RemoveObjectOptions{VersionID: info.VersionID, GovernanceBypass: true})
		if minio.ToErrorResponse(err).Code != "AccessDenied" {
			t.Fatalf("minio-go delete of a held version: %v", err)
		}

		cp, err := c.CopyObject(ctx(), &s3.CopyObjectInput{Bucket: aws.String("mbkt"), Key: aws.String("copy"), CopySource: aws.String("mbkt/k"),
			ObjectLockMode: types.ObjectLockModeCompliance, ObjectLockRetainUntilDate: aws.Time(until)})
		must(t, err)
		h, err := c.HeadObject(ctx(), &s3.HeadObjectInput{Bucket: aws.String("mbkt"), Key: aws.String("copy"), VersionId: cp.VersionId})
		must(t, err)
		if h.ObjectLockMode != types.ObjectLockModeCompliance || h.ObjectLockLegalHoldStatus == types.ObjectLockLegalHoldStatusOn {
			t.Fatalf("copy's lock: %q hold %q (the source's hold is not copied)", h.ObjectLockMode, h.ObjectLockLegalHoldStatus)
		}
		cu, err := c.CreateMultipartUpload(ctx(), &s3.CreateMultipartUploadInput{Bucket: aws.String("mbkt"), Key: aws.String("mp"),
			ObjectLockLegalHoldStatus: types.ObjectLockLegalHoldStatusOn})
		must(t, err)
		up, err := c.UploadPart(ctx(), &s3.UploadPartInput{Bucket: aws.String("mbkt"), Key: aws.String("mp"), UploadId: cu.UploadId,
			PartNumber: aws.Int32(1), Body: strings.NewReader("part")})
		must(t, err)
		done, err := c.CompleteMultipartUpload(ctx(), &s3.CompleteMultipartUploadInput{Bucket: aws.String("mbkt"), Key: aws.String("mp"), UploadId: cu.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: up.ETag}}}})
		must(t, err)
		_, err = c.DeleteObject(ctx(), &s3.DeleteObjectInput{Bucket: aws.String("mbkt"), Key: aws.String("mp"), VersionId: done.VersionId})
		wantCode(t, err, "AccessDenied")
	})
}
