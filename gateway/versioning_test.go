package gateway

import (
	"bytes"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"
)

// versionEnvs are the index implementations the versioning tests run on.
func forEachVersionEnv(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, c := range []struct {
		name string
		o    envOpt
	}{
		{"sqlite", envOpt{}},
		{"mysql", envOpt{mysql: true}},
		{"memory", envOpt{memory: true}},
	} {
		t.Run(c.name, func(t *testing.T) { fn(t, newEnv(t, c.o)) })
	}
}

func (e *env) enableVersioning(bucket string, status types.BucketVersioningStatus) {
	e.t.Helper()
	_, err := e.root().PutBucketVersioning(ctx(), &s3.PutBucketVersioningInput{Bucket: aws.String(bucket),
		VersioningConfiguration: &types.VersioningConfiguration{Status: status}})
	must(e.t, err)
}

func (e *env) putV(bucket, key, body string) string {
	e.t.Helper()
	out, err := e.root().PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)})
	must(e.t, err)
	return aws.ToString(out.VersionId)
}

func (e *env) getV(bucket, key, vid string) (string, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if vid != "" {
		in.VersionId = aws.String(vid)
	}
	out, err := e.root().GetObject(ctx(), in)
	if err != nil {
		return "", err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	return string(b), err
}

// listV lists every version of a bucket as "key:vid[:M][:*]" (marker,
// latest), with the SDK.
func (e *env) listV(bucket string) []string {
	e.t.Helper()
	out, err := e.root().ListObjectVersions(ctx(), &s3.ListObjectVersionsInput{Bucket: aws.String(bucket)})
	must(e.t, err)
	type ent struct {
		key, s string
		t      time.Time
	}
	var got []string
	// the SDK splits versions and markers: put them back in key order,
	// newest first, as the document has them
	all := map[string][]ent{}
	var keys []string
	add := func(k, s string, t time.Time) {
		if _, ok := all[k]; !ok {
			keys = append(keys, k)
		}
		all[k] = append(all[k], ent{k, s, t})
	}
	for _, v := range out.Versions {
		s := aws.ToString(v.Key) + ":" + aws.ToString(v.VersionId)
		if aws.ToBool(v.IsLatest) {
			s += ":*"
		}
		add(aws.ToString(v.Key), s, aws.ToTime(v.LastModified))
	}
	for _, m := range out.DeleteMarkers {
		s := aws.ToString(m.Key) + ":" + aws.ToString(m.VersionId) + ":M"
		if aws.ToBool(m.IsLatest) {
			s += ":*"
		}
		add(aws.ToString(m.Key), s, aws.ToTime(m.LastModified))
	}
	for _, k := range keys {
		for _, x := range all[k] {
			got = append(got, x.s)
		}
	}
	return got
}

func sameSet(a, b []string) bool {
	m := map[string]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return len(a) == len(b)
}

// TestVersioning_PutGetDeleteMarkers: an Enabled bucket keeps every write;
// GET by version; DELETE makes a marker (GET 404 with
// x-amz-delete-marker, GET of the marker's version 405); deleting the
// marker restores the object; listings show only current objects;
// overwrites release no blob, deleting a version does.
func TestVersioning_PutGetDeleteMarkers(t *testing.T) {
	forEachVersionEnv(t, func(t *testing.T, e *env) {
		c := e.root()
		e.mkBucket("bkt")
		if v := e.putV("bkt", "k", "null-body"); v != "" {
			t.Fatalf("unversioned PUT answered version %q", v)
		}
		gv, err := c.GetBucketVersioning(ctx(), &s3.GetBucketVersioningInput{Bucket: aws.String("bkt")})
		must(t, err)
		if gv.Status != "" {
			t.Fatalf("status before: %q", gv.Status)
		}
		e.enableVersioning("bkt", types.BucketVersioningStatusEnabled)
		gv, err = c.GetBucketVersioning(ctx(), &s3.GetBucketVersioningInput{Bucket: aws.String("bkt")})
		must(t, err)
		if gv.Status != types.BucketVersioningStatusEnabled {
			t.Fatalf("status: %q", gv.Status)
		}
		blobsBefore := e.store.(*memStore).count()
		v1 := e.putV("bkt", "k", "one")
		v2 := e.putV("bkt", "k", "two")
		if v1 == "" || v2 == "" || v1 == v2 || v1 == "null" {
			t.Fatalf("version IDs %q %q", v1, v2)
		}
		for vid, want := range map[string]string{"": "two", v1: "one", v2: "two", "null": "null-body"} {
			if got, err := e.getV("bkt", "k", vid); err != nil || got != want {
				t.Fatalf("GET version %q: %q %v, want %q", vid, got, err, want)
			}
		}
		h, err := c.HeadObject(ctx(), &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k"), VersionId: aws.String(v1)})
		must(t, err)
		if aws.ToString(h.VersionId) != v1 || aws.ToInt64(h.ContentLength) != 3 {
			t.Fatalf("HEAD v1: %q %d", aws.ToString(h.VersionId), aws.ToInt64(h.ContentLength))
		}
		_, err = e.getV("bkt", "k", "0000000000000000000000000A")
		wantCode(t, err, "NoSuchVersion")
		_, err = e.getV("bkt", "k", "not-a-version")
		wantCode(t, err, "InvalidArgument")

		// DELETE makes a marker
		d, err := c.DeleteObject(ctx(), &s3.DeleteObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k")})
		must(t, err)
		mk := aws.ToString(d.VersionId)
		if !aws.ToBool(d.DeleteMarker) || mk == "" {
			t.Fatalf("DELETE: marker %v version %q", aws.ToBool(d.DeleteMarker), mk)
		}
		resp, _ := e.signed("GET", "/bkt/k", nil, nil)
		if resp.StatusCode != 404 || resp.Header.Get("x-amz-delete-marker") != "true" || resp.Header.Get("x-amz-version-id") != mk {
			t.Fatalf("GET under a marker: %d %v", resp.StatusCode, resp.Header)
		}
		resp, body := e.signed("GET", "/bkt/k?versionId="+mk, nil, nil)
		if resp.StatusCode != 405 || !bytes.Contains(body, []byte("MethodNotAllowed")) || resp.Header.Get("x-amz-delete-marker") != "true" {
			t.Fatalf("GET of the marker: %d %s", resp.StatusCode, body)
		}
		resp, _ = e.signed("HEAD", "/bkt/k?versionId="+mk, nil, nil)
		if resp.StatusCode != 405 {
			t.Fatalf("HEAD of the marker: %d", resp.StatusCode)
		}
		l, err := c.ListObjectsV2(ctx(), &s3.ListObjectsV2Input{Bucket: aws.String("bkt")})
		must(t, err)
		if len(l.Contents) != 0 {
			t.Fatalf("ListObjectsV2 under a marker: %d entries", len(l.Contents))
		}
		if got, want := e.listV("bkt"), []string{"k:" + v2, "k:" + v1, "k:null", "k:" + mk + ":M:*"}; !sameSet(got, want) {
			t.Fatalf("versions %q, want %q", got, want)
		}
		if n := e.store.(*memStore).count(); n != blobsBefore+2 {
			t.Fatalf("blobs: %d, want %d (nothing released)", n, blobsBefore+2)
		}
		_, err = c.DeleteBucket(ctx(), &s3.DeleteBucketInput{Bucket: aws.String("bkt")})
		wantCode(t, err, "BucketNotEmpty")

		// deleting the marker restores v2
		d, err = c.DeleteObject(ctx(), &s3.DeleteObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k"), VersionId: aws.String(mk)})
		must(t, err)
		if !aws.ToBool(d.DeleteMarker) || aws.ToString(d.VersionId) != mk {
			t.Fatalf("DELETE of the marker: %v %q", aws.ToBool(d.DeleteMarker), aws.ToString(d.VersionId))
		}
		if got, err := e.getV("bkt", "k", ""); err != nil || got != "two" {
			t.Fatalf("restored: %q %v", got, err)
		}
		// deleting a version releases its blob
		_, err = c.DeleteObject(ctx(), &s3.DeleteObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k"), VersionId: aws.String(v1)})
		must(t, err)
		e.waitCollected()
		if n := e.store.(*memStore).count(); n != blobsBefore+1 {
			t.Fatalf("blobs after deleting a version: %d, want %d", n, blobsBefore+1)
		}
		_, err = e.getV("bkt", "k", v1)
		wantCode(t, err, "NoSuchVersion")

		// never back to unversioned
		resp, body = e.signed("PUT", "/bkt?versioning", nil, []byte(`<VersioningConfiguration><Status>Disabled</Status></VersioningConfiguration>`))
		if resp.StatusCode != 400 || !bytes.Contains(body, []byte("MalformedXML")) {
			t.Fatalf("Status Disabled: %d %s", resp.StatusCode, body)
		}
		resp, body = e.signed("PUT", "/bkt?versioning", nil, []byte(`<VersioningConfiguration/>`))
		if resp.StatusCode != 400 || !bytes.Contains(body, []byte("IllegalVersioningConfigurationException")) {
			t.Fatalf("no Status: %d %s", resp.StatusCode, body)
		}
	})
}

// TestVersioning_SuspendedNullVersion: in a Suspended bucket writes and
// deletes replace the null version and keep the others.
func TestVersioning_SuspendedNullVersion(t *testing.T) {
	forEachVersionEnv(t, func(t *testing.T, e *env) {
		c := e.root()
		e.mkBucket("bkt")
		e.enableVersioning("bkt", types.BucketVersioningStatusEnabled)
		v1 := e.putV("bkt", "k", "one")
		e.enableVersioning("bkt", types.BucketVersioningStatusSuspended)
		if v := e.putV("bkt", "k", "two"); v != "null" {
			t.Fatalf("suspended PUT: version %q", v)
		}
		if v := e.putV("bkt", "k", "three"); v != "null" {
			t.Fatalf("suspended PUT: version %q", v)
		}
		if got := e.listV("bkt"); !sameSet(got, []string{"k:null:*", "k:" + v1}) {
			t.Fatalf("versions %q", got)
		}
		d, err := c.DeleteObject(ctx(), &s3.DeleteObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k")})
		must(t, err)
		if aws.ToString(d.VersionId) != "null" || !aws.ToBool(d.DeleteMarker) {
			t.Fatalf("suspended DELETE: %q %v", aws.ToString(d.VersionId), aws.ToBool(d.DeleteMarker))
		}
		if got := e.listV("bkt"); !sameSet(got, []string{"k:null:M:*", "k:" + v1}) {
			t.Fatalf("versions %q", got)
		}
		if got, err := e.getV("bkt", "k", v1); err != nil || got != "one" {
			t.Fatalf("v1: %q %v", got, err)
		}
	})
}

// TestVersioning_ListObjectVersions: prefix, delimiter, common prefixes,
// paging with key-marker/version-id-marker, encoding-type, with minio-go
// and raw requests.
func TestVersioning_ListObjectVersions(t *testing.T) {
	forEachVersionEnv(t, func(t *testing.T, e *env) {
		c := e.root()
		e.mkBucket("bkt")
		e.enableVersioning("bkt", types.BucketVersioningStatusEnabled)
		var want []string
		for _, k := range []string{"a", "d/1", "d/2", "z y"} {
			var vs []string
			for i := range 3 {
				vs = append([]string{e.putV("bkt", k, strings.Repeat("x", i))}, vs...)
			}
			for i, v := range vs {
				s := k + ":" + v
				if i == 0 {
					s += ":*"
				}
				want = append(want, s)
			}
		}
		// page through two at a time
		var got []string
		in := &s3.ListObjectVersionsInput{Bucket: aws.String("bkt"), MaxKeys: aws.Int32(2)}
		for range 20 {
			out, err := c.ListObjectVersions(ctx(), in)
			must(t, err)
			for _, v := range out.Versions {
				s := aws.ToString(v.Key) + ":" + aws.ToString(v.VersionId)
				if aws.ToBool(v.IsLatest) {
					s += ":*"
				}
				got = append(got, s)
			}
			if !aws.ToBool(out.IsTruncated) {
				break
			}
			in.KeyMarker, in.VersionIdMarker = out.NextKeyMarker, out.NextVersionIdMarker
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("paged versions:\n got %q\nwant %q", got, want)
		}
		// delimiter: d/ rolls up
		out, err := c.ListObjectVersions(ctx(), &s3.ListObjectVersionsInput{Bucket: aws.String("bkt"), Delimiter: aws.String("/")})
		must(t, err)
		if len(out.CommonPrefixes) != 1 || aws.ToString(out.CommonPrefixes[0].Prefix) != "d/" || len(out.Versions) != 6 {
			t.Fatalf("delimited: %d prefixes, %d versions", len(out.CommonPrefixes), len(out.Versions))
		}
		// prefix
		out, err = c.ListObjectVersions(ctx(), &s3.ListObjectVersionsInput{Bucket: aws.String("bkt"), Prefix: aws.String("d/2")})
		must(t, err)
		if len(out.Versions) != 3 || aws.ToString(out.Versions[0].Key) != "d/2" {
			t.Fatalf("prefixed: %d versions", len(out.Versions))
		}
		// encoding-type=url
		resp, body := e.signed("GET", "/bkt?versions&encoding-type=url&prefix=z", nil, nil)
		if resp.StatusCode != 200 || !bytes.Contains(body, []byte("<Key>z%20y</Key>")) || !bytes.Contains(body, []byte("<EncodingType>url</EncodingType>")) {
			t.Fatalf("encoded: %d %s", resp.StatusCode, body)
		}
		// minio-go lists versions too
		mc := e.minio(rootAK, rootSK)
		n := 0
		for o := range mc.ListObjects(ctx(), "bkt", minio.ListObjectsOptions{WithVersions: true, Recursive: true}) {
			must(t, o.Err)
			n++
		}
		if n != 12 {
			t.Fatalf("minio-go listed %d versions, want 12", n)
		}
	})
}

// TestVersioning_CopyTaggingAclDeleteObjects: a copy from a version
// (restoring it onto its key), tagging and ACL of a version, DeleteObjects
// of versions.
func TestVersioning_CopyTaggingAclDeleteObjects(t *testing.T) {
	forEachVersionEnv(t, func(t *testing.T, e *env) {
		c := e.root()
		e.mkBucket("bkt")
		e.enableVersioning("bkt", types.BucketVersioningStatusEnabled)
		v1 := e.putV("bkt", "k", "one")
		v2 := e.putV("bkt", "k", "two")
		cp, err := c.CopyObject(ctx(), &s3.CopyObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k"), CopySource: aws.String("bkt/k?versionId=" + v1)})
		must(t, err)
		v3 := aws.ToString(cp.VersionId)
		if aws.ToString(cp.CopySourceVersionId) != v1 || v3 == "" || v3 == v2 {
			t.Fatalf("copy: source version %q, new version %q", aws.ToString(cp.CopySourceVersionId), v3)
		}
		if got, err := e.getV("bkt", "k", ""); err != nil || got != "one" {
			t.Fatalf("restored by copy: %q %v", got, err)
		}
		// deleting the copy's source version leaves the copy readable
		_, err = c.DeleteObject(ctx(), &s3.DeleteObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k"), VersionId: aws.String(v1)})
		must(t, err)
		e.waitCollected()
		if got, err := e.getV("bkt", "k", ""); err != nil || got != "one" {
			t.Fatalf("copy after its source version went: %q %v", got, err)
		}

		_, err = c.PutObjectTagging(ctx(), &s3.PutObjectTaggingInput{Bucket: aws.String("bkt"), Key: aws.String("k"), VersionId: aws.String(v2),
			Tagging: &types.Tagging{TagSet: sdkTags("old", "yes")}})
		must(t, err)
		tg, err := c.GetObjectTagging(ctx(), &s3.GetObjectTaggingInput{Bucket: aws.String("bkt"), Key: aws.String("k"), VersionId: aws.String(v2)})
		must(t, err)
		if got := flatTags(tg.TagSet); !reflect.DeepEqual(got, []string{"old=yes"}) || aws.ToString(tg.VersionId) != v2 {
			t.Fatalf("tags of v2: %q %q", got, aws.ToString(tg.VersionId))
		}
		tg, err = c.GetObjectTagging(ctx(), &s3.GetObjectTaggingInput{Bucket: aws.String("bkt"), Key: aws.String("k")})
		must(t, err)
		if len(tg.TagSet) != 0 || aws.ToString(tg.VersionId) != v3 {
			t.Fatalf("tags of the current version %q: %q", aws.ToString(tg.VersionId), flatTags(tg.TagSet))
		}
		pt, err := c.PutObjectTagging(ctx(), &s3.PutObjectTaggingInput{Bucket: aws.String("bkt"), Key: aws.String("k"), Tagging: &types.Tagging{TagSet: sdkTags("cur", "1")}})
		must(t, err)
		if aws.ToString(pt.VersionId) != v3 {
			t.Fatalf("PutObjectTagging of the current version answered version %q, want %q", aws.ToString(pt.VersionId), v3)
		}
		e.wantTags("bkt", "k", "cur=1")
		_, err = c.GetObjectAcl(ctx(), &s3.GetObjectAclInput{Bucket: aws.String("bkt"), Key: aws.String("k"), VersionId: aws.String(v2)})
		must(t, err)
		_, err = c.GetObjectAcl(ctx(), &s3.GetObjectAclInput{Bucket: aws.String("bkt"), Key: aws.String("k"), VersionId: aws.String(v1)})
		wantCode(t, err, "NoSuchVersion")

		dm, err := c.DeleteObject(ctx(), &s3.DeleteObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k")})
		must(t, err)
		out, err := c.DeleteObjects(ctx(), &s3.DeleteObjectsInput{Bucket: aws.String("bkt"), Delete: &types.Delete{Objects: []types.ObjectIdentifier{
			{Key: aws.String("k"), VersionId: aws.String(v2)}, {Key: aws.String("k"), VersionId: aws.String(v3)},
			{Key: aws.String("k"), VersionId: dm.VersionId}, {Key: aws.String("other")},
		}}})
		must(t, err)
		if len(out.Errors) != 0 || len(out.Deleted) != 4 {
			t.Fatalf("DeleteObjects: %d deleted, errors %+v", len(out.Deleted), out.Errors)
		}
		if !aws.ToBool(out.Deleted[2].DeleteMarker) || !aws.ToBool(out.Deleted[3].DeleteMarker) || aws.ToString(out.Deleted[3].DeleteMarkerVersionId) == "" {
			t.Fatalf("DeleteObjects markers: %+v", out.Deleted)
		}
		if got := e.listV("bkt"); len(got) != 1 || !strings.HasPrefix(got[0], "other:") {
			t.Fatalf("left: %q", got)
		}
	})
}

// TestVersioning_Multipart: completing an upload in an Enabled bucket
// makes a new version and keeps the old one.
func TestVersioning_Multipart(t *testing.T) {
	forEachVersionEnv(t, func(t *testing.T, e *env) {
		c := e.root()
		e.mkBucket("bkt")
		e.enableVersioning("bkt", types.BucketVersioningStatusEnabled)
		v1 := e.putV("bkt", "k", "small")
		cu, err := c.CreateMultipartUpload(ctx(), &s3.CreateMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("k")})
		must(t, err)
		up, err := c.UploadPart(ctx(), &s3.UploadPartInput{Bucket: aws.String("bkt"), Key: aws.String("k"), UploadId: cu.UploadId,
			PartNumber: aws.Int32(1), Body: strings.NewReader("part one")})
		must(t, err)
		done, err := c.CompleteMultipartUpload(ctx(), &s3.CompleteMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("k"), UploadId: cu.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: up.ETag}}}})
		must(t, err)
		v2 := aws.ToString(done.VersionId)
		if v2 == "" || v2 == v1 {
			t.Fatalf("completed version %q (previous %q)", v2, v1)
		}
		if got, err := e.getV("bkt", "k", v1); err != nil || got != "small" {
			t.Fatalf("v1: %q %v", got, err)
		}
		if got, err := e.getV("bkt", "k", ""); err != nil || got != "part one" {
			t.Fatalf("current: %q %v", got, err)
		}
	})
}
