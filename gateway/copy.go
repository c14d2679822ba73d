package gateway

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tnv-s3/tnv/gateway/index"
	"github.com/tnv-s3/tnv/s3err"
)

// copySource resolves x-amz-copy-source to a readable object.
func (g *Gateway) copySource(r *request) (*Bucket, *object, error) {
	src := r.header.Get("X-Amz-Copy-Source")
	path, q, _ := strings.Cut(src, "?")
	vid := ""
	if q != "" {
		v, _ := url.ParseQuery(q)
		if vid = v.Get("versionId"); v.Has("versionId") && !validVersionID(vid) {
			return nil, nil, invalidVersion()
		}
	}
	p, err := url.PathUnescape(strings.TrimPrefix(path, "/"))
	if err != nil {
		return nil, nil, errMsg(s3err.InvalidArgument, "Invalid copy source encoding.")
	}
	bucket, key, ok := strings.Cut(p, "/")
	if !ok || bucket == "" || key == "" {
		return nil, nil, errMsg(s3err.InvalidArgument, "Copy Source must mention the source bucket and key: sourcebucket/sourcekey")
	}
	b, o, err := g.idx.BucketObject(r.ctx, bucket, key)
	if errors.Is(err, errNotFound) {
		return nil, nil, errCode(s3err.NoSuchBucket)
	}
	if err != nil {
		return nil, nil, errInternal(err)
	}
	// Reading the source is s3:GetObject on it, by its bucket's rules.
	if err := g.authorizeAs(r, r.user, "s3:GetObject", b, key, o); err != nil {
		return nil, nil, err
	}
	if vid != "" {
		if o, err = g.copySourceVersion(r, bucket, key, vid); err != nil { // versioning.go
			return nil, nil, err
		}
	} else if o == nil {
		return nil, nil, errCode(s3err.NoSuchKey)
	}
	if err := copyConditions(r.header, o); err != nil {
		return nil, nil, err
	}
	return b, o, nil
}

// copyConditions applies x-amz-copy-source-if-*; every failure is 412.
func copyConditions(h http.Header, o *object) error {
	c := http.Header{}
	for _, n := range []string{"Match", "None-Match", "Modified-Since", "Unmodified-Since"} {
		if v := h.Get("X-Amz-Copy-Source-If-" + n); v != "" {
			c.Set("If-"+n, v)
		}
	}
	if err := checkConditions(c, o); err != nil {
		return errCode(s3err.PreconditionFailed)
	}
	return nil
}

func (g *Gateway) copyObject(r *request) error {
	srcBucket, src, err := g.copySource(r)
	if err != nil {
		return err
	}
	srcKey, err := g.copySourceKey(r, src)
	if err != nil {
		return err
	}
	directive := strings.ToUpper(r.header.Get("X-Amz-Metadata-Directive"))
	if directive == "" {
		directive = "COPY"
	}
	if directive != "COPY" && directive != "REPLACE" {
		return errMsg(s3err.InvalidArgument, "Unknown metadata directive.")
	}
	// The request's own headers are checked whatever the directive, as
	// S3 does: metadata over the limit, object-lock and encryption
	// headers are refused even when the source's metadata is kept.
	reqHdr, err := requestHeaders(r.header)
	if err != nil {
		return err
	}
	alg, err := copyChecksumAlg(r.header, src)
	if err != nil {
		return err
	}
	same := srcBucket.Name == r.bucketName && src.Key == r.key
	if same && directive == "COPY" && !sseAsked(r.header) && r.header.Get("X-Amz-Checksum-Algorithm") == "" && !copiesVersion(r) {
		return errMsg(s3err.InvalidRequest, "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
	}
	cond, err := g.writeConditions(r) // the destination's
	if err != nil {
		return err
	}
	enc, err := g.newWriteSSE(r) // as the request or the destination bucket asks, never the source's
	if err != nil {
		return err
	}
	hdr := src.Headers
	if directive == "REPLACE" {
		hdr = reqHdr
	}
	if hdr.Tags, err = copyTags(r.header, src); err != nil {
		return err
	}
	hdr.SSE = enc.record()
	// The copy's ACL is the request's, never the source's (as S3).
	if hdr.ACL, err = g.newObjectACL(r, r.bucket, r.user, r.header); err != nil {
		return err
	}
	if hdr.Lock, err = g.requestLock(r, false); err != nil { // objectlock.go: never the source's
		return err
	}
	o := &object{Bucket: r.bucketName, Key: r.key, Headers: hdr, MTime: time.Now().UTC().Truncate(time.Millisecond)}
	if same && sharesBlobs(r, src) && src.Headers.SSE == nil && enc == nil && r.header.Get("X-Amz-Checksum-Algorithm") == "" {
		// New metadata over the same bytes: the row keeps its blobs (the
		// publish collects none of them), and the source must not have
		// changed meanwhile.
		o.Size, o.ETag, o.Blobs, o.Parts = src.Size, src.ETag, src.Blobs, src.Parts
		o.Headers.Checksum = src.Headers.Checksum
		cond.IfVersion = src.Version
		if err := g.publish(r, o, cond, nil); err != nil {
			return err
		}
	} else {
		if src.Size > MaxPutSize {
			return errMsg(s3err.InvalidRequest, "The specified copy source is larger than the maximum allowable size for a copy source: %d", int64(MaxPutSize))
		}
		if same && !copiesVersion(r) {
			cond.IfVersion = src.Version // new bytes (re-encrypted) or a new checksum over the same: the source must not have changed
		}
		etag, blobs, intents, sum, err := g.copyBytesChecksum(r, srcBucket, src, srcKey, 0, src.Size, 0, alg, enc.key())
		if err != nil {
			return err
		}
		o.Size, o.ETag, o.Blobs = src.Size, enc.etag(etag), blobs
		o.Headers.Checksum = sum.full()
		if err := g.publish(r, o, cond, intents); err != nil {
			return err
		}
	}
	r.setSSEHeaders(hdr.SSE, enc.customer())
	if srcBucket.Versioning != index.Unversioned {
		r.c.Set("x-amz-copy-source-version-id", src.VersionID)
	}
	res := copyObjectResult{Xmlns: xmlns, LastModified: isoTime(o.MTime), ETag: `"` + o.ETag + `"`}
	if ck := o.Headers.Checksum; ck != nil {
		res.checksumFields = makeChecksumFields(ck.Algorithm, shown(ck, o.Parts))
		res.ChecksumType = ck.Type
	}
	return r.sendXML(http.StatusOK, res)
}

func (g *Gateway) uploadPartCopy(r *request) error {
	n, u, err := g.partTarget(r)
	if err != nil {
		return err
	}
	alg, err := partChecksumAlg(u, r.header, true)
	if err != nil {
		return err
	}
	srcBucket, src, err := g.copySource(r)
	if err != nil {
		return err
	}
	srcKey, err := g.copySourceKey(r, src)
	if err != nil {
		return err
	}
	dataKey, ck, err := g.partSSE(r, u)
	if err != nil {
		return err
	}
	off, size := int64(0), src.Size
	if rg := r.header.Get("X-Amz-Copy-Source-Range"); rg != "" {
		a, b, ok := strings.Cut(strings.TrimPrefix(rg, "bytes="), "-")
		first, e1 := strconv.ParseInt(a, 10, 64)
		last, e2 := strconv.ParseInt(b, 10, 64)
		if !strings.HasPrefix(rg, "bytes=") || !ok || e1 != nil || e2 != nil || first < 0 || last < first || last >= src.Size {
			return errMsg(s3err.InvalidArgument, "Range specified is not valid for source object of size: %d", src.Size)
		}
		off, size = first, last-first+1
	}
	if size > MaxPutSize {
		return errCode(s3err.EntityTooLarge)
	}
	etag, blobs, intents, sum, err := g.copyBytesChecksum(r, srcBucket, src, srcKey, off, size, n, alg, dataKey)
	if err != nil {
		return err
	}
	etag = sseETag(u.Headers.SSE, dataKey, etag)
	r.setSSEHeaders(u.Headers.SSE, ck)
	p := &part{Number: n, ETag: etag, Size: size, MTime: time.Now().UTC(), Blobs: blobs, Checksum: sum.value()}
	if err := g.putPart(r, u.ID, p, intents); err != nil {
		return err
	}
	res := copyPartResult{Xmlns: xmlns, LastModified: isoTime(p.MTime), ETag: `"` + etag + `"`}
	if alg != nil {
		res.checksumFields = makeChecksumFields(alg.Name, p.Checksum)
	}
	return r.sendXML(http.StatusOK, res)
}
