package gateway

import (
	"context"
	"encoding/xml"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/tnv-s3/tnv/gateway/index"
	"github.com/tnv-s3/tnv/s3err"
)

// Object lock as S3 defines it: CreateBucket with
// x-amz-bucket-object-lock-enabled (versioning on, never suspended);
// Put/GetObjectLockConfiguration with a default retention;
// Put/GetObjectRetention and Put/GetObjectLegalHold of a version;
// x-amz-object-lock-* on PutObject, CopyObject and CreateMultipartUpload
// (and on GET and HEAD); deleting a locked version is AccessDenied.
// Governance retention is bypassed with x-amz-bypass-governance-retention:
// true, by the bucket's owner or a user a bucket policy allows
// s3:BypassGovernanceRetention; compliance retention is never shortened. A version's lock lives with its headers
// (index.Headers.Lock).

type lock = index.Lock

// bypassGovernance tells whether a request asks to bypass governance
// retention on key, and may (s3:BypassGovernanceRetention: the bucket's
// owner, or a user a bucket policy allows it).
func (g *Gateway) bypassGovernance(r *request, key string) bool {
	if !strings.EqualFold(r.header.Get("X-Amz-Bypass-Governance-Retention"), "true") {
		return false
	}
	return g.authorizeAs(r, r.user, "s3:BypassGovernanceRetention", r.bucket, key, nil) == nil
}

func missingLockConfig() *s3Error {
	return errMsg(s3err.InvalidRequest, "Bucket is missing Object Lock Configuration")
}

// parseRetainUntil parses a retain-until date (ISO 8601), which must be in
// the future.
func parseRetainUntil(s string, now time.Time) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil {
		return t, errMsg(s3err.InvalidArgument, "The retain until date must be provided in ISO 8601 format")
	}
	t = t.UTC().Truncate(time.Millisecond)
	if !t.After(now) {
		return t, errMsg(s3err.InvalidArgument, "The retain until date must be in the future!")
	}
	return t, nil
}

// requestLock is the lock a new version gets from x-amz-object-lock-*
// headers, or else from the bucket's default retention. body tells a
// request with a body (PutObject), which must then carry a digest.
func (g *Gateway) requestLock(r *request, body bool) (lock, error) {
	var l lock
	mode := r.header.Get("X-Amz-Object-Lock-Mode")
	until := r.header.Get("X-Amz-Object-Lock-Retain-Until-Date")
	hold := r.header.Get("X-Amz-Object-Lock-Legal-Hold")
	cfg := r.bucket.ObjectLock
	if mode == "" && until == "" && hold == "" {
		if cfg == nil || cfg.Mode == "" {
			return l, nil
		}
		l.Mode, l.Until = cfg.Mode, defaultUntil(cfg, g.nowMillis())
	} else {
		if cfg == nil {
			return l, missingLockConfig()
		}
		if (mode == "") != (until == "") {
			return l, errMsg(s3err.InvalidArgument, "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied")
		}
		if mode != "" {
			if mode != index.Governance && mode != index.Compliance {
				return l, errMsg(s3err.InvalidArgument, "Unknown wormMode directive.")
			}
			t, err := parseRetainUntil(until, g.nowMillis())
			if err != nil {
				return l, err
			}
			l.Mode, l.Until = mode, t
		} else if cfg.Mode != "" {
			l.Mode, l.Until = cfg.Mode, defaultUntil(cfg, g.nowMillis())
		}
		switch hold {
		case "", "OFF":
		case "ON":
			l.LegalHold = true
		default:
			return l, errMsg(s3err.InvalidArgument, "Legal Hold must be either of 'ON' or 'OFF'")
		}
	}
	if body && (l.Mode != "" || l.LegalHold) && r.header.Get("Content-Md5") == "" && !hasChecksumHeader(r.header) {
		return l, errMsg(s3err.InvalidRequest, "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters")
	}
	return l, nil
}

// defaultUntil is the end of a default retention starting at now.
func defaultUntil(cfg *index.LockConfig, now time.Time) time.Time {
	return now.AddDate(cfg.Years, 0, cfg.Days)
}

// setLockHeaders tells GET and HEAD a version's lock.
func setLockHeaders(r *request, l lock) {
	if l.Mode != "" {
		r.c.Set("x-amz-object-lock-mode", l.Mode)
		r.c.Set("x-amz-object-lock-retain-until-date", isoTime(l.Until))
	}
	if l.LegalHold {
		r.c.Set("x-amz-object-lock-legal-hold", "ON")
	}
}

// enableObjectLock serves CreateBucket's x-amz-bucket-object-lock-enabled
// on a bucket just made (empty): when it fails, the bucket goes again, so
// that a retry does not find a bucket without the lock asked for.
func (g *Gateway) enableObjectLock(r *request) error {
	err := g.idx.SetObjectLock(r.ctx, r.bucketName, &index.LockConfig{})
	if err == nil {
		err = g.idx.SetVersioning(r.ctx, r.bucketName, index.VersioningEnabled)
	}
	if err == nil {
		return nil
	}
	if b, e := g.idx.Bucket(context.WithoutCancel(r.ctx), r.bucketName); e == nil {
		if e := g.idx.DeleteBucket(context.WithoutCancel(r.ctx), b, g.gcDue()); e != nil {
			g.log.Error("gateway: dropping a bucket whose object lock failed", "bucket", r.bucketName, "err", e)
		}
	}
	return errInternal(err)
}

// objectLockConfiguration is the document of Put/GetObjectLockConfiguration.
type objectLockConfiguration struct {
	XMLName           xml.Name `xml:"ObjectLockConfiguration"`
	Xmlns             string   `xml:"xmlns,attr,omitempty"`
	ObjectLockEnabled string   `xml:"ObjectLockEnabled,omitempty"`
	Rule              *struct {
		DefaultRetention *defaultRetention `xml:"DefaultRetention"`
	} `xml:"Rule,omitempty"`
}

type defaultRetention struct {
	Mode  string `xml:"Mode,omitempty"`
	Days  *int   `xml:"Days,omitempty"`
	Years *int   `xml:"Years,omitempty"`
}

// parseLockConfig parses an ObjectLockConfiguration: enabled, and with a
// rule, a default retention of a mode and either Days or Years (> 0).
func parseLockConfig(b []byte) (*index.LockConfig, error) {
	var doc objectLockConfiguration
	if err := decodeStrict(b, &doc); err != nil {
		return nil, err
	}
	if doc.ObjectLockEnabled != "Enabled" {
		return nil, errCode(s3err.MalformedXML)
	}
	cfg := &index.LockConfig{}
	if doc.Rule == nil {
		return cfg, nil
	}
	d := doc.Rule.DefaultRetention
	if d == nil || (d.Days == nil) == (d.Years == nil) {
		return nil, errCode(s3err.MalformedXML)
	}
	switch d.Mode {
	case index.Governance, index.Compliance:
	default:
		return nil, errCode(s3err.MalformedXML)
	}
	cfg.Mode = d.Mode
	// AWS's bounds: 36500 days, 100 years
	if d.Days != nil {
		if *d.Days <= 0 || *d.Days > 36500 {
			return nil, errMsg(s3err.InvalidArgument, "Default retention period must be a positive integer value for 'Days'")
		}
		cfg.Days = *d.Days
	} else {
		if *d.Years <= 0 || *d.Years > 100 {
			return nil, errMsg(s3err.InvalidArgument, "Default retention period must be a positive integer value for 'Years'")
		}
		cfg.Years = *d.Years
	}
	return cfg, nil
}

func (g *Gateway) putObjectLockConfiguration(r *request) error {
	if err := requireDigest(r.header); err != nil {
		return err
	}
	b, err := r.readXML(64 << 10)
	if err != nil {
		return err
	}
	cfg, err := parseLockConfig(b)
	if err != nil {
		return err
	}
	if r.bucket.ObjectLock == nil && r.bucket.Versioning != index.VersioningEnabled {
		return errMsg(s3err.InvalidBucketState, "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration")
	}
	if err := g.idx.SetObjectLock(r.ctx, r.bucketName, cfg); err != nil {
		return toS3Error(err)
	}
	return r.c.Status(http.StatusOK).Send(nil) // SendStatus would add a text body
}

func (g *Gateway) getObjectLockConfiguration(r *request) error {
	cfg := r.bucket.ObjectLock
	if cfg == nil {
		return errCode(s3err.ObjectLockConfigurationNotFoundError)
	}
	doc := objectLockConfiguration{Xmlns: xmlns, ObjectLockEnabled: "Enabled"}
	if cfg.Mode != "" {
		d := &defaultRetention{Mode: cfg.Mode}
		if cfg.Days > 0 {
			d.Days = &cfg.Days
		} else {
			d.Years = &cfg.Years
		}
		doc.Rule = &struct {
			DefaultRetention *defaultRetention `xml:"DefaultRetention"`
		}{d}
	}
	return r.sendXML(http.StatusOK, doc)
}

// retention is the document of Put/GetObjectRetention.
type retention struct {
	XMLName         xml.Name `xml:"Retention"`
	Xmlns           string   `xml:"xmlns,attr,omitempty"`
	Mode            string   `xml:"Mode,omitempty"`
	RetainUntilDate string   `xml:"RetainUntilDate,omitempty"`
}

// parseRetention parses a Retention: a mode and a future date, or neither
// (which removes a governance retention).
func parseRetention(b []byte, now time.Time) (lock, error) {
	var doc retention
	var l lock
	if err := decodeStrict(b, &doc); err != nil {
		return l, err
	}
	if doc.Mode == "" && doc.RetainUntilDate == "" {
		return l, nil
	}
	if doc.Mode != index.Governance && doc.Mode != index.Compliance || doc.RetainUntilDate == "" {
		return l, errCode(s3err.MalformedXML)
	}
	t, err := parseRetainUntil(doc.RetainUntilDate, now)
	if err != nil {
		return l, err
	}
	return lock{Mode: doc.Mode, Until: t}, nil
}

// legalHold is the document of Put/GetObjectLegalHold.
type legalHold struct {
	XMLName xml.Name `xml:"LegalHold"`
	Xmlns   string   `xml:"xmlns,attr,omitempty"`
	Status  string   `xml:"Status"`
}

func parseLegalHold(b []byte) (bool, error) {
	var doc legalHold
	if err := decodeStrict(b, &doc); err != nil {
		return false, err
	}
	switch doc.Status {
	case "ON":
		return true, nil
	case "OFF":
		return false, nil
	}
	return false, errCode(s3err.MalformedXML)
}

// errNotVersion is an update's refusal of a delete marker.
var errNotVersion = errCode(s3err.MethodNotAllowed)

// updateLock changes the lock of the version a request names.
func (g *Gateway) updateLock(r *request, change func(l *lock) error) error {
	if r.bucket.ObjectLock == nil {
		return missingLockConfig()
	}
	vid, err := r.versionID()
	if err != nil {
		return err
	}
	o, err := g.idx.UpdateVersion(r.ctx, r.bucketName, r.key, vid, func(o *object) error {
		if o.DeleteMarker {
			return errNotVersion
		}
		return change(&o.Headers.Lock)
	})
	if err != nil {
		return versionError(err, vid)
	}
	if r.bucket.Versioning != index.Unversioned {
		r.c.Set("x-amz-version-id", o.VersionID)
	}
	g.holdBlobs(r, o, holdUntil(o.Headers.Lock))
	return r.c.Status(http.StatusOK).Send(nil) // SendStatus would add a text body
}

// versionError is what a client is told of an index refusal about a
// version.
func versionError(err error, vid string) error {
	var se *s3Error
	switch {
	case errors.As(err, &se):
		return se
	case errors.Is(err, errNotFound) && vid != "":
		return errCode(s3err.NoSuchVersion)
	case errors.Is(err, errNotFound):
		return errCode(s3err.NoSuchKey)
	}
	return errInternal(err)
}

func (g *Gateway) putObjectRetention(r *request) error {
	if err := requireDigest(r.header); err != nil {
		return err
	}
	b, err := r.readXML(64 << 10)
	if err != nil {
		return err
	}
	now := g.nowMillis()
	want, err := parseRetention(b, now)
	if err != nil {
		return err
	}
	bypass := g.bypassGovernance(r, r.key)
	return g.updateLock(r, func(l *lock) error {
		if l.Mode != "" && now.Before(l.Until) {
			// a retention in force may be extended; shortened, removed or
			// changed in mode only in governance mode with bypass
			extends := want.Mode == l.Mode && !want.Until.Before(l.Until)
			if !extends && (l.Mode == index.Compliance || !bypass) {
				return errMsg(s3err.AccessDenied, "Access Denied because object protected by object lock.")
			}
		}
		l.Mode, l.Until = want.Mode, want.Until
		return nil
	})
}

func (g *Gateway) getObjectRetention(r *request) error {
	o, err := g.lockedVersion(r)
	if err != nil {
		return err
	}
	if o.Headers.Lock.Mode == "" {
		return errCode(s3err.NoSuchObjectLockConfiguration)
	}
	return r.sendXML(http.StatusOK, retention{Xmlns: xmlns, Mode: o.Headers.Lock.Mode, RetainUntilDate: isoTime(o.Headers.Lock.Until)})
}

func (g *Gateway) putObjectLegalHold(r *request) error {
	if err := requireDigest(r.header); err != nil {
		return err
	}
	b, err := r.readXML(64 << 10)
	if err != nil {
		return err
	}
	on, err := parseLegalHold(b)
	if err != nil {
		return err
	}
	return g.updateLock(r, func(l *lock) error {
		l.LegalHold = on
		return nil
	})
}

func (g *Gateway) getObjectLegalHold(r *request) error {
	o, err := g.lockedVersion(r)
	if err != nil {
		return err
	}
	doc := legalHold{Xmlns: xmlns, Status: "OFF"}
	if o.Headers.Lock.LegalHold {
		doc.Status = "ON"
	}
	return r.sendXML(http.StatusOK, doc)
}

// lockedVersion loads the version a Get*Retention/LegalHold names, in a
// bucket with object lock.
func (g *Gateway) lockedVersion(r *request) (*object, error) {
	if r.bucket.ObjectLock == nil {
		return nil, missingLockConfig()
	}
	o, err := g.loadVersion(r)
	if err != nil {
		return nil, err
	}
	if r.bucket.Versioning != index.Unversioned {
		r.c.Set("x-amz-version-id", o.VersionID)
	}
	return o, nil
}

// BlobHolder is a BlobStore that can hold blobs against deletion
// (TNVStore: the storage nodes' HOLD, 80), so that a locked version's
// bytes survive even a delete that bypasses the gateway.
type BlobHolder interface {
	// Hold holds a blob until the Unix time until (-1: until released;
	// 0: release it).
	Hold(ctx context.Context, appid, userid, fileid string, until int64) error
}

func (s TNVStore) Hold(ctx context.Context, appid, userid, fileid string, until int64) error {
	return s.C.Hold(ctx, appid, userid, fileid, until)
}

// The special hold times of BlobHolder.Hold (proto.HoldForever and
// proto.HoldRelease on the wire).
const (
	holdForever int64 = -1
	holdRelease int64 = 0
)

// holdUntil is what the storage layer is told of a lock: -1 for a legal
// hold, the end of a retention (rounded up to the second), 0 for none.
func holdUntil(l lock) int64 {
	switch {
	case l.LegalHold:
		return holdForever
	case l.Mode != "":
		return l.Until.Add(time.Second - time.Nanosecond).Unix()
	}
	return holdRelease
}

// holdBlobs tells the blob store how long the blobs of version o are
// held (released when until is 0). The index refuses to delete a locked
// version anyway: a hold that fails is logged, not the request's failure
// (the version is published by then).
func (g *Gateway) holdBlobs(r *request, o *object, until int64) {
	h, ok := g.cfg.Blobs.(BlobHolder)
	if !ok {
		return
	}
	for _, b := range o.Blobs {
		if err := h.Hold(context.WithoutCancel(r.ctx), r.bucket.AppID, b.UserID, b.FileID, until); err != nil {
			g.log.Error("gateway: hold", "request_id", r.id, "bucket", o.Bucket, "key", o.Key, "version", o.VersionID, "fileid", b.FileID, "until", until, "err", err)
		}
	}
}
