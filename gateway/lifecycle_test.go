package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"
	minlc "github.com/minio/minio-go/v7/pkg/lifecycle"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/tnv-s3/tnv/gateway/index"
	"github.com/tnv-s3/tnv/internal/clocktest"
	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/metadb/metadbtest"
)

// Lifecycle tests move the gateway's clock days ahead while clients sign
// with the wall clock: the skew allowed is wide.
const lcSkew = 400 * 24 * time.Hour

// TestLifecycleConfig_SDK: Put, Get and Delete with aws-sdk-go-v2, every
// element read back; refusals as AWS answers them.
func TestLifecycleConfig_SDK(t *testing.T) {
	e := newEnv(t, envOpt{})
	e.mkBucket("lcb")
	c := e.root()
	_, err := c.GetBucketLifecycleConfiguration(ctx(), &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String("lcb")})
	wantCode(t, err, "NoSuchLifecycleConfiguration")
	date := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	rules := []s3types.LifecycleRule{
		{ID: aws.String("tmp"), Status: s3types.ExpirationStatusEnabled,
			Filter: &s3types.LifecycleRuleFilter{And: &s3types.LifecycleRuleAndOperator{Prefix: aws.String("tmp/"),
				Tags: []s3types.Tag{{Key: aws.String("kind"), Value: aws.String("scratch")}}, ObjectSizeGreaterThan: aws.Int64(0), ObjectSizeLessThan: aws.Int64(1 << 20)}},
			Expiration:                  &s3types.LifecycleExpiration{Days: aws.Int32(7)},
			NoncurrentVersionExpiration: &s3types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(3), NewerNoncurrentVersions: aws.Int32(2)}},
		{ID: aws.String("dated"), Status: s3types.ExpirationStatusDisabled, Filter: &s3types.LifecycleRuleFilter{Prefix: aws.String("old/")},
			Expiration: &s3types.LifecycleExpiration{Date: aws.Time(date)}},
		{Status: s3types.ExpirationStatusEnabled, Filter: &s3types.LifecycleRuleFilter{Prefix: aws.String("up/")},
			AbortIncompleteMultipartUpload: &s3types.AbortIncompleteMultipartUpload{DaysAfterInitiation: aws.Int32(2)},
			Expiration:                     &s3types.LifecycleExpiration{ExpiredObjectDeleteMarker: aws.Bool(true)}},
		{ID: aws.String("big"), Status: s3types.ExpirationStatusEnabled, Filter: &s3types.LifecycleRuleFilter{ObjectSizeGreaterThan: aws.Int64(1 << 30)},
			Expiration: &s3types.LifecycleExpiration{Days: aws.Int32(1)}},
	}
	_, err = c.PutBucketLifecycleConfiguration(ctx(), &s3.PutBucketLifecycleConfigurationInput{Bucket: aws.String("lcb"),
		LifecycleConfiguration: &s3types.BucketLifecycleConfiguration{Rules: rules}})
	must(t, err)
	got, err := c.GetBucketLifecycleConfiguration(ctx(), &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String("lcb")})
	must(t, err)
	if len(got.Rules) != 4 {
		t.Fatalf("%d rules read back", len(got.Rules))
	}
	r0, r1, r2, r3 := got.Rules[0], got.Rules[1], got.Rules[2], got.Rules[3]
	and := r0.Filter.And
	if aws.ToString(r0.ID) != "tmp" || r0.Status != s3types.ExpirationStatusEnabled || and == nil || aws.ToString(and.Prefix) != "tmp/" ||
		len(and.Tags) != 1 || aws.ToString(and.Tags[0].Value) != "scratch" || aws.ToInt64(and.ObjectSizeGreaterThan) != 0 ||
		aws.ToInt64(and.ObjectSizeLessThan) != 1<<20 || aws.ToInt32(r0.Expiration.Days) != 7 ||
		aws.ToInt32(r0.NoncurrentVersionExpiration.NoncurrentDays) != 3 || aws.ToInt32(r0.NoncurrentVersionExpiration.NewerNoncurrentVersions) != 2 {
		t.Fatalf("rule 0 read back as %+v", r0)
	}
	if aws.ToString(r1.ID) != "dated" || r1.Status != s3types.ExpirationStatusDisabled || !aws.ToTime(r1.Expiration.Date).Equal(date) || aws.ToString(r1.Filter.Prefix) != "old/" {
		t.Fatalf("rule 1 read back as %+v", r1)
	}
	if aws.ToString(r2.ID) == "" || aws.ToInt32(r2.AbortIncompleteMultipartUpload.DaysAfterInitiation) != 2 || !aws.ToBool(r2.Expiration.ExpiredObjectDeleteMarker) {
		t.Fatalf("rule 2 read back as %+v: want a generated ID", r2)
	}
	if aws.ToInt64(r3.Filter.ObjectSizeGreaterThan) != 1<<30 {
		t.Fatalf("rule 3 read back as %+v", r3)
	}
	// Refusals, the configuration kept as it was.
	for _, bad := range []struct {
		rule s3types.LifecycleRule
		code string
	}{
		{s3types.LifecycleRule{ID: aws.String("z"), Status: s3types.ExpirationStatusEnabled, Filter: &s3types.LifecycleRuleFilter{}, Expiration: &s3types.LifecycleExpiration{Days: aws.Int32(0)}}, "InvalidArgument"},
		{s3types.LifecycleRule{ID: aws.String("z"), Status: s3types.ExpirationStatusEnabled, Filter: &s3types.LifecycleRuleFilter{}}, "InvalidRequest"},
		{s3types.LifecycleRule{ID: aws.String("z"), Status: s3types.ExpirationStatusEnabled, Filter: &s3types.LifecycleRuleFilter{},
			Transitions: []s3types.Transition{{Days: aws.Int32(30), StorageClass: s3types.TransitionStorageClassGlacier}}}, "NotImplemented"},
		{s3types.LifecycleRule{ID: aws.String("z"), Status: s3types.ExpirationStatusEnabled, Filter: &s3types.LifecycleRuleFilter{Tag: &s3types.Tag{Key: aws.String("k"), Value: aws.String("v")}},
			AbortIncompleteMultipartUpload: &s3types.AbortIncompleteMultipartUpload{DaysAfterInitiation: aws.Int32(1)}}, "InvalidRequest"},
	} {
		_, err := c.PutBucketLifecycleConfiguration(ctx(), &s3.PutBucketLifecycleConfigurationInput{Bucket: aws.String("lcb"),
			LifecycleConfiguration: &s3types.BucketLifecycleConfiguration{Rules: []s3types.LifecycleRule{bad.rule}}})
		wantCode(t, err, bad.code)
	}
	if again, err := c.GetBucketLifecycleConfiguration(ctx(), &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String("lcb")}); err != nil || len(again.Rules) != 4 {
		t.Fatalf("after refusals: %v rules, %v", len(again.Rules), err)
	}
	_, err = c.PutBucketLifecycleConfiguration(ctx(), &s3.PutBucketLifecycleConfigurationInput{Bucket: aws.String("nosuchbucket"),
		LifecycleConfiguration: &s3types.BucketLifecycleConfiguration{Rules: rules[:1]}})
	wantCode(t, err, "NoSuchBucket")
	// Another user may not read or change it.
	must(t, AddUser(ctx(), e.db, "LCOTHER", "lc-other-secret-123"))
	_, err = e.sdk("LCOTHER", "lc-other-secret-123").GetBucketLifecycleConfiguration(ctx(), &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String("lcb")})
	wantCode(t, err, "AccessDenied")
	_, err = c.DeleteBucketLifecycle(ctx(), &s3.DeleteBucketLifecycleInput{Bucket: aws.String("lcb")})
	must(t, err)
	_, err = c.GetBucketLifecycleConfiguration(ctx(), &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String("lcb")})
	wantCode(t, err, "NoSuchLifecycleConfiguration")
}

// TestLifecycleConfig_DigestRequired: a PUT without Content-MD5 or a
// checksum is refused as AWS refuses it; a bad document with AWS's
// message; with Content-MD5 it is stored.
func TestLifecycleConfig_DigestRequired(t *testing.T) {
	e := newEnv(t, envOpt{})
	e.mkBucket("lcb")
	body := []byte(`<LifecycleConfiguration><Rule><ID>a</ID><Filter/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>`)
	resp, b := e.signed("PUT", "/lcb?lifecycle", nil, body)
	if resp.StatusCode != 400 || !bytes.Contains(b, []byte("<Code>InvalidRequest</Code>")) || !bytes.Contains(b, []byte("Missing required header for this request: Content-MD5")) {
		t.Fatalf("without a digest: %d %s", resp.StatusCode, b)
	}
	resp, b = e.signed("PUT", "/lcb?lifecycle", map[string]string{"Content-MD5": b64md5([]byte("other"))}, body)
	if resp.StatusCode != 400 || !bytes.Contains(b, []byte("<Code>BadDigest</Code>")) {
		t.Fatalf("with a wrong Content-MD5: %d %s", resp.StatusCode, b)
	}
	bad := bytes.Replace(body, []byte("<Days>1</Days>"), []byte("<Date>2030-01-01T12:00:00Z</Date>"), 1)
	resp, b = e.signed("PUT", "/lcb?lifecycle", map[string]string{"Content-MD5": b64md5(bad)}, bad)
	if resp.StatusCode != 400 || !bytes.Contains(b, []byte("<Code>InvalidArgument</Code>")) || !bytes.Contains(b, []byte("&#39;Date&#39; must be at midnight GMT")) {
		t.Fatalf("a Date not at midnight: %d %s", resp.StatusCode, b)
	}
	resp, b = e.signed("PUT", "/lcb?lifecycle", map[string]string{"Content-MD5": b64md5(body)}, body)
	if resp.StatusCode != 200 {
		t.Fatalf("with Content-MD5: %d %s", resp.StatusCode, b)
	}
	resp, b = e.signed("GET", "/lcb?lifecycle", nil, nil)
	if resp.StatusCode != 200 || !bytes.Contains(b, []byte("<ID>a</ID>")) || resp.Header.Get("Content-Type") != "application/xml" {
		t.Fatalf("GET: %d %s", resp.StatusCode, b)
	}
	// Deleting the bucket takes its configuration with it.
	resp, _ = e.signed("DELETE", "/lcb", nil, nil)
	if resp.StatusCode != 204 {
		t.Fatalf("DeleteBucket: %d", resp.StatusCode)
	}
	e.mkBucket("lcb")
	resp, b = e.signed("GET", "/lcb?lifecycle", nil, nil)
	if resp.StatusCode != 404 || !bytes.Contains(b, []byte("<Code>NoSuchLifecycleConfiguration</Code>")) || !bytes.Contains(b, []byte("<BucketName>lcb</BucketName>")) {
		t.Fatalf("a bucket made again: %d %s", resp.StatusCode, b)
	}
}

// lcEnv is a gateway whose clock tests move, with metrics.
func lcEnv(t *testing.T, o envOpt) (*env, *clocktest.Clock, *prometheus.Registry) {
	clock := clocktest.New(time.Time{})
	reg := prometheus.NewRegistry()
	o.clock, o.maxSkew, o.metrics = clock, lcSkew, NewMetrics(reg)
	return newEnv(t, o), clock, reg
}

func (e *env) putLifecycle(bucket string, rules ...s3types.LifecycleRule) {
	e.t.Helper()
	_, err := e.root().PutBucketLifecycleConfiguration(ctx(), &s3.PutBucketLifecycleConfigurationInput{Bucket: aws.String(bucket),
		LifecycleConfiguration: &s3types.BucketLifecycleConfiguration{Rules: rules}})
	must(e.t, err)
}

func (e *env) exists(bucket, key string) bool {
	e.t.Helper()
	_, err := e.root().HeadObject(ctx(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err == nil {
		return true
	}
	var nf *s3types.NotFound
	if !errors.As(err, &nf) {
		e.t.Fatalf("HEAD %s: %v", key, err)
	}
	return false
}

// TestLifecyclePass_ExpiresAndAborts: Expiration by days with prefix, tag
// and size filters, and AbortIncompleteMultipartUpload, applied when the
// clock has passed their due day, as DELETE and Abort do (blobs
// collected); metrics count them.
func TestLifecyclePass_ExpiresAndAborts(t *testing.T) {
	store := newMemStore()
	e, clock, reg := lcEnv(t, envOpt{store: store})
	e.mkBucket("media")
	c := e.root()
	e.putLifecycle("media",
		s3types.LifecycleRule{ID: aws.String("tmp-3d"), Status: s3types.ExpirationStatusEnabled,
			Filter: &s3types.LifecycleRuleFilter{Prefix: aws.String("tmp/")}, Expiration: &s3types.LifecycleExpiration{Days: aws.Int32(3)}},
		s3types.LifecycleRule{ID: aws.String("scratch-1d"), Status: s3types.ExpirationStatusEnabled,
			Filter:     &s3types.LifecycleRuleFilter{Tag: &s3types.Tag{Key: aws.String("scratch"), Value: aws.String("yes")}},
			Expiration: &s3types.LifecycleExpiration{Days: aws.Int32(1)}},
		s3types.LifecycleRule{ID: aws.String("tiny-1d"), Status: s3types.ExpirationStatusEnabled,
			Filter:     &s3types.LifecycleRuleFilter{And: &s3types.LifecycleRuleAndOperator{Prefix: aws.String("thumbs/"), ObjectSizeLessThan: aws.Int64(100)}},
			Expiration: &s3types.LifecycleExpiration{Days: aws.Int32(1)}},
		s3types.LifecycleRule{ID: aws.String("uploads-1d"), Status: s3types.ExpirationStatusEnabled,
			Filter:                         &s3types.LifecycleRuleFilter{Prefix: aws.String("")},
			AbortIncompleteMultipartUpload: &s3types.AbortIncompleteMultipartUpload{DaysAfterInitiation: aws.Int32(1)}},
		s3types.LifecycleRule{ID: aws.String("off"), Status: s3types.ExpirationStatusDisabled,
			Filter: &s3types.LifecycleRuleFilter{Prefix: aws.String("keep/")}, Expiration: &s3types.LifecycleExpiration{Days: aws.Int32(1)}},
	)
	e.put("media", "tmp/a.ts", randBytes(300))
	e.put("media", "tmp/b.ts", randBytes(200))
	e.put("media", "keep/film.mp4", randBytes(1000))
	e.put("media", "thumbs/small.jpg", randBytes(50))
	e.put("media", "thumbs/large.jpg", randBytes(500))
	_, err := c.PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String("media"), Key: aws.String("work/x.tmp"), Body: bytes.NewReader(randBytes(10)), Tagging: aws.String("scratch=yes")})
	must(t, err)
	_, err = c.PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String("media"), Key: aws.String("work/y.tmp"), Body: bytes.NewReader(randBytes(10)), Tagging: aws.String("scratch=no")})
	must(t, err)
	up, err := c.CreateMultipartUpload(ctx(), &s3.CreateMultipartUploadInput{Bucket: aws.String("media"), Key: aws.String("big.mov")})
	must(t, err)
	_, err = c.UploadPart(ctx(), &s3.UploadPartInput{Bucket: aws.String("media"), Key: aws.String("big.mov"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader(randBytes(1000))})
	must(t, err)
	blobsBefore := store.count()

	// Nothing is due today.
	if s := e.g.lifecycleOnce(ctx()); s.Expired != 0 || s.Aborted != 0 || s.Passes != 1 || s.Examined != 8 {
		t.Fatalf("pass on day 0: %+v", s)
	}
	// Objects were stamped (wall clock) within an hour of the clock's
	// start: 49 h later every 1-day rule is due whatever the time of day
	// (a day, rounded up to the next midnight), no 3-day rule is.
	clock.Advance(49 * time.Hour)
	s := e.g.lifecycleOnce(ctx())
	if s.Expired != 2 || s.Bytes != 60 || s.Aborted != 1 || s.Passes != 1 || s.Errors != 0 {
		t.Fatalf("pass after 49 h: %+v", s)
	}
	for key, want := range map[string]bool{"work/x.tmp": false, "work/y.tmp": true, "thumbs/small.jpg": false, "thumbs/large.jpg": true, "tmp/a.ts": true, "keep/film.mp4": true} {
		if got := e.exists("media", key); got != want {
			t.Errorf("after 49 h: %s exists %v, want %v", key, got, want)
		}
	}
	_, err = c.ListParts(ctx(), &s3.ListPartsInput{Bucket: aws.String("media"), Key: aws.String("big.mov"), UploadId: up.UploadId})
	wantCode(t, err, "NoSuchUpload")
	// 97 h: tmp/ goes; keep/ stays (its rule is disabled).
	clock.Advance(48 * time.Hour)
	if s := e.g.lifecycleOnce(ctx()); s.Expired != 2 || s.Bytes != 500 {
		t.Fatalf("pass after 97 h: %+v", s)
	}
	if e.exists("media", "tmp/a.ts") || e.exists("media", "tmp/b.ts") || !e.exists("media", "keep/film.mp4") {
		t.Fatal("after 97 h: tmp/ should be gone, keep/ kept")
	}
	// The blobs go the way of a DELETE's: queued, then collected.
	e.waitCollected()
	if got, want := store.count(), blobsBefore-5; got != want {
		t.Fatalf("%d blobs stored after collection, want %d", got, want)
	}
	mfs, err := reg.Gather()
	must(t, err)
	got := map[string]float64{}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "tnv_s3_lifecycle_") {
			got[mf.GetName()] = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	want := map[string]float64{"tnv_s3_lifecycle_passes_total": 3, "tnv_s3_lifecycle_objects_expired_total": 4, "tnv_s3_lifecycle_bytes_expired_total": 560,
		"tnv_s3_lifecycle_uploads_aborted_total": 1, "tnv_s3_lifecycle_locked_skipped_total": 0, "tnv_s3_lifecycle_errors_total": 0}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("metrics %v, want %v", got, want)
	}
}

// TestLifecyclePass_MinioGo: set, read and remove a configuration with
// minio-go; a Date rule in the past expires matching objects at the next
// pass; an object rewritten after it was read is not expired by a pass
// that read the old one.
func TestLifecyclePass_MinioGo(t *testing.T) {
	e, clock, _ := lcEnv(t, envOpt{})
	mc := e.minio(rootAK, rootSK)
	must(t, mc.MakeBucket(ctx(), "mlc", minio.MakeBucketOptions{}))
	cfg := minlc.NewConfiguration()
	today := clock.Now().UTC().Truncate(24 * time.Hour)
	cfg.Rules = []minlc.Rule{
		{ID: "old-logs", Status: "Enabled", RuleFilter: minlc.Filter{Prefix: "logs/"}, Expiration: minlc.Expiration{Date: minlc.ExpirationDate{Time: today}}},
		{ID: "abort", Status: "Enabled", RuleFilter: minlc.Filter{Prefix: "parts/"}, AbortIncompleteMultipartUpload: minlc.AbortIncompleteMultipartUpload{DaysAfterInitiation: 3}},
	}
	must(t, mc.SetBucketLifecycle(ctx(), "mlc", cfg))
	got, err := mc.GetBucketLifecycle(ctx(), "mlc")
	must(t, err)
	if len(got.Rules) != 2 || got.Rules[0].ID != "old-logs" || !got.Rules[0].Expiration.Date.Time.Equal(today) ||
		got.Rules[1].AbortIncompleteMultipartUpload.DaysAfterInitiation != 3 || got.Rules[1].RuleFilter.Prefix != "parts/" {
		t.Fatalf("read back: %+v", got.Rules)
	}
	for _, k := range []string{"logs/1", "logs/2", "video/1"} {
		_, err := mc.PutObject(ctx(), "mlc", k, bytes.NewReader([]byte("data-"+k)), int64(len("data-"+k)), minio.PutObjectOptions{})
		must(t, err)
	}
	// The pass reads logs/2, then it is rewritten before the pass gets to
	// expire it: the rewrite is a new object, which that pass leaves.
	var once sync.Once
	e.g.lc.hook = func(event, key string) {
		if event == "expired" && key == "logs/1" {
			once.Do(func() {
				_, err := mc.PutObject(ctx(), "mlc", "logs/2", bytes.NewReader([]byte("new")), 3, minio.PutObjectOptions{})
				must(t, err)
			})
		}
	}
	s := e.g.lifecycleOnce(ctx())
	e.g.lc.hook = nil
	if s.Expired != 1 {
		t.Fatalf("pass: %+v; want logs/1 expired and the rewritten logs/2 left", s)
	}
	if _, err := mc.StatObject(ctx(), "mlc", "logs/1", minio.StatObjectOptions{}); minio.ToErrorResponse(err).Code != "NoSuchKey" {
		t.Fatalf("logs/1 after the pass: %v", err)
	}
	if st, err := mc.StatObject(ctx(), "mlc", "logs/2", minio.StatObjectOptions{}); err != nil || st.Size != 3 {
		t.Fatalf("rewritten logs/2 after the pass: %+v, %v", st, err)
	}
	// The next pass (the date still past) takes it.
	if s := e.g.lifecycleOnce(ctx()); s.Expired != 1 {
		t.Fatalf("second pass: %+v", s)
	}
	if _, err := mc.StatObject(ctx(), "mlc", "video/1", minio.StatObjectOptions{}); err != nil {
		t.Fatalf("video/1: %v", err)
	}
	// An empty configuration removes it (minio-go sends DELETE ?lifecycle).
	must(t, mc.SetBucketLifecycle(ctx(), "mlc", minlc.NewConfiguration()))
	if _, err := mc.GetBucketLifecycle(ctx(), "mlc"); minio.ToErrorResponse(err).Code != "NoSuchLifecycleConfiguration" {
		t.Fatalf("after removal: %v", err)
	}
}

// TestLifecyclePass_LoopRuns: with an interval, the gateway's own loop
// applies a configuration without being asked.
func TestLifecyclePass_LoopRuns(t *testing.T) {
	e, _, _ := lcEnv(t, envOpt{lifecycleInterval: 100 * time.Millisecond})
	e.mkBucket("auto")
	e.put("auto", "gone/1", []byte("x"))
	e.putLifecycle("auto", s3types.LifecycleRule{ID: aws.String("past"), Status: s3types.ExpirationStatusEnabled,
		Filter: &s3types.LifecycleRuleFilter{Prefix: aws.String("gone/")}, Expiration: &s3types.LifecycleExpiration{Date: aws.Time(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))}})
	deadline := time.Now().Add(30 * time.Second)
	for e.exists("auto", "gone/1") {
		if time.Now().After(deadline) {
			t.Fatal("the loop did not expire gone/1 within 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLifecyclePass_TwoGatewaysOneLease runs two gateways on one MariaDB:
// while one holds a bucket's lease the other skips the bucket; a pass cut
// short is resumed by the other gateway after the lease expires, from
// where it stopped.
func TestLifecyclePass_TwoGatewaysOneLease(t *testing.T) {
	dsn := metadbtest.NewTestMySQL(t)
	open := func() *metadb.DB {
		db, err := metadb.Open(dsn)
		must(t, err)
		t.Cleanup(func() { db.Close() })
		return db
	}
	clock := clocktest.New(time.Time{})
	store := newMemStore()
	o := envOpt{store: store, clock: clock, maxSkew: lcSkew}
	e1 := newEnvDB(t, open(), o)
	e2 := newEnvDB(t, open(), o)
	e1.mkBucket("shared")
	keys := make([]string, 6)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%d", i)
		e1.put("shared", keys[i], []byte(keys[i]))
	}
	e1.putLifecycle("shared", s3types.LifecycleRule{ID: aws.String("all-1d"), Status: s3types.ExpirationStatusEnabled,
		Filter: &s3types.LifecycleRuleFilter{}, Expiration: &s3types.LifecycleExpiration{Days: aws.Int32(1)}})
	clock.Advance(49 * time.Hour)

	// Gateway 1 holds the lease, stopped in the middle of its pass.
	inside, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	e1.g.lc.hook = func(event, _ string) {
		if event == "expired" {
			once.Do(func() { close(inside); <-release })
		}
	}
	done := make(chan lifecycleStats)
	go func() { done <- e1.g.lifecycleOnce(ctx()) }()
	<-inside
	if s := e2.g.lifecycleOnce(ctx()); s.Held != 1 || s.Expired != 0 || s.Passes != 0 {
		t.Fatalf("gateway 2 while gateway 1 holds the lease: %+v", s)
	}
	close(release)
	if s := <-done; s.Expired != 6 || s.Passes != 1 {
		t.Fatalf("gateway 1: %+v", s)
	}
	e1.g.lc.hook = nil

	// A pass cut short (its gateway gone) after two batches of two is
	// resumed by the other gateway once the lease has expired.
	for _, k := range keys {
		e1.put("shared", k, []byte(k))
	}
	clock.Advance(48 * time.Hour)
	e1.g.lc.batch = 2
	cut, cancel := context.WithCancel(ctx())
	expired := 0
	e1.g.lc.hook = func(event, _ string) {
		if event == "expired" {
			if expired++; expired == 3 {
				cancel() // gone after k2, with k0..k1 saved as done
			}
		}
	}
	if s := e1.g.lifecycleOnce(cut); s.Expired != 3 || s.Passes != 0 {
		t.Fatalf("cut pass: %+v", s)
	}
	if s := e2.g.lifecycleOnce(ctx()); s.Held != 1 || s.Expired != 0 {
		t.Fatalf("gateway 2 before the lease expired: %+v", s)
	}
	clock.Advance(lifecycleLeaseTTL + time.Second)
	s := e2.g.lifecycleOnce(ctx())
	if s.Passes != 1 || s.Expired != 3 || s.Examined != 3 {
		t.Fatalf("gateway 2 resuming: %+v; want k3..k5 examined and expired (k0..k2 done before)", s)
	}
	for _, k := range keys {
		if e2.exists("shared", k) {
			t.Fatalf("%s survived", k)
		}
	}
	// The bucket is not due again before the interval has passed.
	states, err := e2.g.idx.LifecycleStates(ctx())
	if err != nil || len(states) != 1 || states[0].Phase != index.PhaseIdle || states[0].Owner != "" || states[0].Done != clock.Now().Unix() {
		t.Fatalf("state after the pass: %+v, %v", states, err)
	}
}

// TestLifecyclePass_LostLeaseStopsActing: a holder whose lease was taken
// over (it stalled past the expiry) expires nothing more.
func TestLifecyclePass_LostLeaseStopsActing(t *testing.T) {
	e, clock, _ := lcEnv(t, envOpt{memory: true})
	e.mkBucket("bkt")
	for i := range 4 {
		e.put("bkt", fmt.Sprint("k", i), []byte("x"))
	}
	e.putLifecycle("bkt", s3types.LifecycleRule{ID: aws.String("r"), Status: s3types.ExpirationStatusEnabled,
		Filter: &s3types.LifecycleRuleFilter{}, Expiration: &s3types.LifecycleExpiration{Days: aws.Int32(1)}})
	clock.Advance(49 * time.Hour)
	e.g.lc.hook = func(event, key string) {
		if event == "expired" && key == "k0" {
			// Stalled past the lease; another gateway takes it.
			clock.Advance(lifecycleLeaseTTL + time.Second)
			if _, ok, err := e.g.idx.TakeLifecycleLease(ctx(), "bkt", "gw-other", e.g.nowUnix(), e.g.nowUnix()+300); !ok || err != nil {
				t.Errorf("the other gateway could not take the expired lease: %v, %v", ok, err)
			}
		}
	}
	if s := e.g.lifecycleOnce(ctx()); s.Expired != 1 || s.Passes != 0 || s.Errors != 0 {
		t.Fatalf("pass that lost its lease: %+v; want only k0 expired", s)
	}
	for i := 1; i < 4; i++ {
		if !e.exists("bkt", fmt.Sprint("k", i)) {
			t.Fatalf("k%d expired under a lost lease", i)
		}
	}
}

// TestLifecyclePacer: actions are spaced 1/rate apart; idle time buys no
// burst. The clock and sleeps are recorded, not waited.
func TestLifecyclePacer(t *testing.T) {
	now := time.Unix(1000, 0)
	var slept []time.Duration
	p := &lcPacer{rate: 10, now: func() time.Time { return now }, sleep: func(_ context.Context, d time.Duration) error {
		slept = append(slept, d)
		now = now.Add(d)
		return nil
	}}
	for range 4 {
		must(t, p.wait(ctx()))
	}
	want := []time.Duration{100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond}
	if fmt.Sprint(slept) != fmt.Sprint(want) {
		t.Fatalf("slept %v, want %v", slept, want)
	}
	now = now.Add(time.Minute) // idle
	slept = nil
	must(t, p.wait(ctx()))
	must(t, p.wait(ctx()))
	if fmt.Sprint(slept) != fmt.Sprint([]time.Duration{100 * time.Millisecond}) {
		t.Fatalf("after idling slept %v, want one 100ms", slept)
	}
	// Slow actions (each taking longer than 1/rate) wait for nothing.
	slept = nil
	for range 3 {
		now = now.Add(150 * time.Millisecond)
		must(t, p.wait(ctx()))
	}
	if len(slept) != 0 && !strings.HasPrefix(fmt.Sprint(slept), "[") {
		t.Fatalf("slow actions slept %v", slept)
	}
	if len(slept) != 0 {
		t.Fatalf("slow actions slept %v, want none", slept)
	}
}
