package gateway

import (
	"encoding/xml"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/tnv-s3/tnv/gateway/index"
	"github.com/tnv-s3/tnv/s3err"
)

// Bucket versioning as S3 defines it: Put/GetBucketVersioning; a new
// version ID for every write in an Enabled bucket (x-amz-version-id);
// GET, HEAD, DELETE, CopyObject's source, tagging and GetObjectAcl of a
// version (?versionId=); delete markers; the null version of Suspended
// buckets (and of objects written before versioning); ListObjectVersions;
// DeleteObjects of versions. The index keeps the versions
// (index/versions.go).

// versionIDLen is the length of the version IDs the index makes.
const versionIDLen = 26

// validVersionID tells a version ID this gateway could have made.
func validVersionID(s string) bool {
	if s == index.NullVersion {
		return true
	}
	if len(s) != versionIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'V') {
			return false
		}
	}
	return true
}

func invalidVersion() *s3Error { return errMsg(s3err.InvalidArgument, "Invalid version id specified") }

// versionID is the request's versionId ("" when absent); a malformed one
// is InvalidArgument, as S3 answers.
func (r *request) versionID() (string, error) {
	if !r.query.Has("versionId") {
		return "", nil
	}
	v := r.query.Get("versionId")
	if !validVersionID(v) {
		return "", invalidVersion()
	}
	return v, nil
}

// loadVersion loads the object a request names: the version of its
// versionId, else the current object. No such key is NoSuchKey (with
// x-amz-delete-marker when the latest version is a marker), no such
// version NoSuchVersion, a delete marker named by version 405
// MethodNotAllowed, as S3 answers.
func (g *Gateway) loadVersion(r *request) (*object, error) {
	vid, err := r.versionID()
	if err != nil {
		return nil, err
	}
	if vid == "" {
		o := r.obj
		if !r.objLoaded {
			o, err = g.idx.Object(r.ctx, r.bucketName, r.key)
			if errors.Is(err, errNotFound) {
				o, err = nil, nil
			}
			if err != nil {
				return nil, errInternal(err)
			}
		}
		if o == nil {
			g.markerHeaders(r)
			return nil, errCode(s3err.NoSuchKey)
		}
		return o, nil
	}
	o, err := g.idx.ObjectVersion(r.ctx, r.bucketName, r.key, vid)
	if errors.Is(err, errNotFound) {
		if r.bucket.Versioning == index.Unversioned && vid != index.NullVersion {
			return nil, invalidVersion() // S3 knows no version IDs there
		}
		return nil, errCode(s3err.NoSuchVersion)
	}
	if err != nil {
		return nil, errInternal(err)
	}
	if o.DeleteMarker {
		r.c.Set("x-amz-delete-marker", "true")
		r.c.Set("x-amz-version-id", o.VersionID)
		r.c.Set("Last-Modified", httpTime(o.MTime))
		return nil, errCode(s3err.MethodNotAllowed)
	}
	return o, nil
}

// markerHeaders tells a GET or HEAD of a key whose latest version is a
// delete marker so (x-amz-delete-marker, the marker's version ID).
func (g *Gateway) markerHeaders(r *request) {
	if r.bucket == nil || r.bucket.Versioning == index.Unversioned {
		return
	}
	vs, err := g.idx.ListVersions(r.ctx, r.bucketName, r.key, true, "", "", 1)
	if err != nil || len(vs) == 0 || vs[0].Key != r.key || !vs[0].DeleteMarker || !vs[0].IsLatest {
		return
	}
	r.c.Set("x-amz-delete-marker", "true")
	r.c.Set("x-amz-version-id", vs[0].VersionID)
}

// published finishes a write: its version's headers, and the storage
// layer's hold of a locked version's blobs.
func (g *Gateway) published(r *request, o *object) {
	r.setVersionHeaders(o)
	if o.Headers.Lock != (index.Lock{}) {
		g.holdBlobs(r, o, holdUntil(o.Headers.Lock))
	}
}

// setVersionHeaders adds what S3 sends of a version on GET, HEAD and
// writes: its version ID (in buckets that have had versioning) and its
// object lock state.
func (r *request) setVersionHeaders(o *object) {
	if r.bucket.Versioning != index.Unversioned && o.VersionID != "" {
		r.c.Set("x-amz-version-id", o.VersionID)
	}
	setLockHeaders(r, o.Headers.Lock)
}

func (g *Gateway) putBucketVersioning(r *request) error {
	b, err := r.readXML(64 << 10)
	if err != nil {
		return err
	}
	v, err := parseVersioning(b)
	if err != nil {
		return err
	}
	if r.bucket.ObjectLock != nil && v != index.VersioningEnabled {
		return errMsg(s3err.InvalidBucketState, "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.")
	}
	if err := g.idx.SetVersioning(r.ctx, r.bucketName, v); err != nil {
		return toS3Error(err)
	}
	return r.c.Status(http.StatusOK).Send(nil) // SendStatus would add a text body
}

// parseVersioning parses a VersioningConfiguration: Status Enabled or
// Suspended (there is no way back to unversioned); MFA delete, which
// needs an MFA device this gateway has not, only Disabled.
func parseVersioning(b []byte) (index.Versioning, error) {
	var doc versioningConfiguration
	if err := decodeStrict(b, &doc); err != nil {
		return 0, err
	}
	switch doc.MfaDelete {
	case "", "Disabled":
	case "Enabled":
		return 0, errMsg(s3err.NotImplemented, "MFA delete is not implemented by this gateway.")
	default:
		return 0, errCode(s3err.MalformedXML)
	}
	switch doc.Status {
	case "Enabled":
		return index.VersioningEnabled, nil
	case "Suspended":
		return index.VersioningSuspended, nil
	case "":
		return 0, errCode(s3err.IllegalVersioningConfigurationException)
	}
	return 0, errCode(s3err.MalformedXML)
}

func (g *Gateway) getBucketVersioning(r *request) error {
	doc := versioningConfiguration{Xmlns: xmlns}
	switch r.bucket.Versioning {
	case index.VersioningEnabled:
		doc.Status = "Enabled"
	case index.VersioningSuspended:
		doc.Status = "Suspended"
	}
	return r.sendXML(http.StatusOK, doc)
}

// deleteVersioned serves DeleteObject in a bucket that has had
// versioning, or of a version: it answers with the version deleted or the
// marker made.
func (g *Gateway) deleteVersioned(r *request, vid string) error {
	o, err := g.deleteOne(r, r.key, vid)
	if err != nil {
		return err
	}
	if o != nil {
		if o.DeleteMarker {
			r.c.Set("x-amz-delete-marker", "true")
		}
		r.c.Set("x-amz-version-id", o.VersionID)
	}
	return r.c.Status(http.StatusNoContent).Send(nil) // SendStatus would add a text body
}

// deleteOne deletes a version of key (vid set) or makes a delete marker
// (vid ""): the version deleted or the marker made, nil when there was no
// such version.
func (g *Gateway) deleteOne(r *request, key, vid string) (*object, error) {
	if vid == "" {
		m, err := g.idx.PutDeleteMarker(r.ctx, r.bucket.AppID, r.bucketName, key, r.bucket.Versioning, g.cfg.Now(), g.gcDue())
		if err != nil {
			return nil, toS3Error(err) // NoSuchBucket when deleted meanwhile
		}
		return m, nil
	}
	o, err := g.idx.DeleteVersion(r.ctx, r.bucket.AppID, r.bucketName, key, vid, g.bypassGovernance(r, key), g.gcDue())
	switch {
	case errors.Is(err, errNotFound):
		return nil, nil // S3 answers 204 for a version that is not there
	case errors.Is(err, index.ErrLocked):
		return nil, errMsg(s3err.AccessDenied, "Access Denied because object protected by object lock.")
	case err != nil:
		return nil, errInternal(err)
	}
	if o.Headers.Lock != (index.Lock{}) { // a bypassed governance retention
		g.holdBlobs(r, o, holdRelease)
	}
	return o, nil
}

// listObjectVersions serves GET ?versions: every version and delete
// marker under prefix, by key then newest first, rolled up into common
// prefixes by delimiter as ListObjects does.
func (g *Gateway) listObjectVersions(r *request) error {
	p, err := r.listParams()
	if err != nil {
		return err
	}
	keyMarker, vidMarker := r.query.Get("key-marker"), r.query.Get("version-id-marker")
	if vidMarker != "" {
		if keyMarker == "" {
			return errMsg(s3err.InvalidArgument, "A version-id marker cannot be specified without a key marker.")
		}
		if !validVersionID(vidMarker) {
			return invalidVersion()
		}
	}
	res := listVersionsResult{Xmlns: xmlns, Name: r.bucketName, Prefix: p.encode(p.prefix), KeyMarker: p.encode(keyMarker),
		VersionIdMarker: vidMarker, MaxKeys: p.max, Delimiter: p.encode(p.delim), EncodingType: p.encodingType}
	l, err := g.listVersions(r, p.prefix, p.delim, keyMarker, vidMarker, p.max)
	if err != nil {
		return errInternal(err)
	}
	own := &owner{ID: r.bucket.Owner, DisplayName: r.bucket.Owner}
	for _, v := range l.versions {
		e := versionEntry{XMLName: xml.Name{Local: "Version"}, Key: p.encode(v.Key), VersionId: v.VersionID, IsLatest: v.IsLatest,
			LastModified: isoTime(v.MTime), Owner: own}
		if v.DeleteMarker {
			e.XMLName.Local = "DeleteMarker"
		} else {
			e.ETag, e.Size, e.StorageClass = `"`+v.ETag+`"`, new(int64), "STANDARD"
			*e.Size = v.Size
		}
		res.Entries = append(res.Entries, e)
	}
	for _, c := range l.prefixes {
		res.CommonPrefixes = append(res.CommonPrefixes, commonPrefix{Prefix: p.encode(c)})
	}
	res.IsTruncated = l.truncated
	if l.truncated {
		res.NextKeyMarker, res.NextVersionIdMarker = p.encode(l.lastKey), l.lastVersion
	}
	return r.sendXML(http.StatusOK, res)
}

type versionListing struct {
	versions             []index.Version
	prefixes             []string
	truncated            bool
	lastKey, lastVersion string
}

// listVersions pages through versions as list pages through keys.
func (g *Gateway) listVersions(r *request, prefix, delim, keyMarker, vidMarker string, max int) (*versionListing, error) {
	l := &versionListing{}
	if max == 0 {
		return l, nil
	}
	cpOf := func(key string) string {
		if delim == "" || !strings.HasPrefix(key, prefix) {
			return ""
		}
		if i := strings.Index(key[len(prefix):], delim); i >= 0 {
			return key[:len(prefix)+i+len(delim)]
		}
		return ""
	}
	from, incl, after := prefix, true, ""
	if keyMarker >= prefix {
		from, incl, after = keyMarker, false, vidMarker
		if cp := cpOf(keyMarker); cp != "" && cp == keyMarker {
			if from = successor(cp); from == "" {
				return l, nil
			}
			incl, after = true, ""
		}
	}
	upTo := successor(prefix)
	batch := min(max+1, 1001)
	count := 0
	for {
		vs, err := g.idx.ListVersions(r.ctx, r.bucketName, from, incl, after, upTo, batch)
		if err != nil {
			return nil, err
		}
		requery := false
		for i, v := range vs {
			if cp := cpOf(v.Key); cp != "" {
				if count == max {
					l.truncated = true
					return l, nil
				}
				l.prefixes = append(l.prefixes, cp)
				l.lastKey, l.lastVersion = cp, ""
				count++
				if from = successor(cp); from == "" {
					return l, nil
				}
				incl, after = true, ""
				requery = i+1 < len(vs)
				break
			}
			if count == max {
				l.truncated = true
				return l, nil
			}
			l.versions = append(l.versions, v)
			l.lastKey, l.lastVersion = v.Key, v.VersionID
			count++
			from, incl, after = v.Key, false, v.VersionID
		}
		if !requery && len(vs) < batch {
			return l, nil
		}
	}
}

// listVersionsResult is ListObjectVersions' answer: Version and
// DeleteMarker entries in one sequence, in listing order.
type listVersionsResult struct {
	XMLName             xml.Name `xml:"ListVersionsResult"`
	Xmlns               string   `xml:"xmlns,attr"`
	Name                string
	Prefix              string
	KeyMarker           string
	VersionIdMarker     string
	NextKeyMarker       string `xml:",omitempty"`
	NextVersionIdMarker string `xml:",omitempty"`
	MaxKeys             int
	Delimiter           string `xml:",omitempty"`
	IsTruncated         bool
	EncodingType        string `xml:",omitempty"`
	Entries             []versionEntry
	CommonPrefixes      []commonPrefix
}

type versionEntry struct {
	XMLName      xml.Name
	Key          string
	VersionId    string
	IsLatest     bool
	LastModified string
	ETag         string `xml:",omitempty"`
	Size         *int64 `xml:",omitempty"`
	StorageClass string `xml:",omitempty"`
	Owner        *owner
}

// nowMillis is the gateway's clock at the index's precision.
func (g *Gateway) nowMillis() time.Time { return g.cfg.Now().UTC().Truncate(time.Millisecond) }

// deleteEntry serves one entry of a DeleteObjects naming a version, or in
// a bucket that has had versioning.
func (g *Gateway) deleteEntry(r *request, key, vid string, quiet bool, res *deleteResult) {
	fail := func(e *s3Error) {
		res.Error = append(res.Error, deleteError{Key: key, VersionId: vid, Code: e.Code.String(), Message: e.Message})
	}
	if vid != "" && !validVersionID(vid) {
		fail(invalidVersion())
		return
	}
	o, err := g.deleteOne(r, key, vid)
	if err != nil {
		e := toS3Error(err)
		if e.Code == s3err.InternalError || e.Code == s3err.ServiceUnavailable {
			g.log.Error("gateway: delete", "request_id", r.id, "bucket", r.bucketName, "key", key, "version", vid, "err", err)
		}
		fail(e)
		return
	}
	if quiet {
		return
	}
	d := deletedEntry{Key: key, VersionId: vid}
	if o != nil && o.DeleteMarker {
		d.DeleteMarker = true
		d.DeleteMarkerVersionId = o.VersionID
	}
	res.Deleted = append(res.Deleted, d)
}

// copySourceVersion loads a copy's source: the version vid, or the
// current object. A delete marker is refused as S3 refuses it.
func (g *Gateway) copySourceVersion(r *request, bucket, key, vid string) (*object, error) {
	if vid == "" {
		o, err := g.idx.Object(r.ctx, bucket, key)
		if errors.Is(err, errNotFound) {
			return nil, errCode(s3err.NoSuchKey)
		}
		if err != nil {
			return nil, errInternal(err)
		}
		return o, nil
	}
	o, err := g.idx.ObjectVersion(r.ctx, bucket, key, vid)
	if errors.Is(err, errNotFound) {
		return nil, errCode(s3err.NoSuchVersion)
	}
	if err != nil {
		return nil, errInternal(err)
	}
	if o.DeleteMarker {
		return nil, errMsg(s3err.InvalidRequest, "The source of a copy request may not specifically refer to a delete marker by version id.")
	}
	return o, nil
}

// copiesVersion tells a CopyObject whose source names a version (which
// may be copied onto its own key: that is how a version is restored).
func copiesVersion(r *request) bool {
	_, q, _ := strings.Cut(r.header.Get("X-Amz-Copy-Source"), "?")
	return strings.Contains(q, "versionId=")
}

// sharesBlobs tells whether a copy of src onto its own key may keep its
// blobs: only when the new row replaces src in place (the current null
// version, not kept as a version of its own), else two versions would
// share blobs that deleting either releases.
func sharesBlobs(r *request, src *object) bool {
	switch r.bucket.Versioning {
	case index.Unversioned:
		return true
	case index.VersioningSuspended:
		return src.VersionID == index.NullVersion && !copiesVersion(r)
	}
	return false
}

// setVersionTags serves Put/DeleteObjectTagging of a version, or of the
// current one in a bucket that has had versioning.
func (g *Gateway) setVersionTags(r *request, tags []tag, status int) error {
	vid, err := r.versionID()
	if err != nil {
		return err
	}
	o, err := g.idx.UpdateVersion(r.ctx, r.bucketName, r.key, vid, func(o *object) error {
		if o.DeleteMarker {
			return errNotVersion
		}
		o.Headers.Tags = tags
		return nil
	})
	if err != nil {
		return versionError(err, vid)
	}
	r.c.Set("x-amz-version-id", o.VersionID)
	return r.c.Status(status).Send(nil) // SendStatus would add a text body
}
