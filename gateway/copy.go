package gateway

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
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
	b, err := g.idx.Bucket(r.ctx, bucket)
	if errors.Is(err, errNotFound) {
		return nil, nil, errCode(s3err.NoSuchBucket)
	}
	if err != nil {
		return nil, nil, errInternal(err)
	}
	if !(r.root || r.user == b.Owner || b.PublicRead) {
		return nil, nil, errCode(s3err.AccessDenied)
	}
	o, err := g.copySourceVersion(r, bucket, key, vid) // versioning.go
	if err != nil {
		return nil, nil, err
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
	directive := strings.ToUpper(r.header.Get("X-Amz-Metadata-Directive"))
	if directive == "" {
		directive = "COPY"
	}
	if directive != "COPY" && directive != "REPLACE" {
		return errMsg(s3err.InvalidArgument, "Unknown metadata directive.")
	}
	same := srcBucket.Name == r.bucketName && src.Key == r.key
	if same && directive == "COPY" && !copiesVersion(r) {
		return errMsg(s3err.InvalidRequest, "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
	}
	cond, err := g.writeConditions(r) // the destination's
	if err != nil {
		return err
	}
	hdr := src.Headers
	if directive == "REPLACE" {
		if hdr, err = requestHeaders(r.header); err != nil {
			return err
		}
	}
	if hdr.Tags, err = copyTags(r.header, src); err != nil {
		return err
	}
	if hdr.Lock, err = g.requestLock(r, false); err != nil { // objectlock.go: never the source's
		return err
	}
	o := &object{Bucket: r.bucketName, Key: r.key, Headers: hdr, MTime: time.Now().UTC().Truncate(time.Millisecond)}
	if same && sharesBlobs(r, src) {
		// New metadata over the same bytes: the row keeps its blobs (the
		// publish collects none of them), and the source must not have
		// changed meanwhile.
		o.Size, o.ETag, o.Blobs, o.Parts = src.Size, src.ETag, src.Blobs, src.Parts
		cond.IfVersion = src.Version
		if err := g.publish(r, o, cond, nil); err != nil {
			return err
		}
	} else {
		if src.Size > MaxPutSize {
			return errMsg(s3err.InvalidRequest, "The specified copy source is larger than the maximum allowable size for a copy source: %d", int64(MaxPutSize))
		}
		etag, blobs, intents, err := g.copyBytes(r, srcBucket, src, 0, src.Size, 0)
		if err != nil {
			return err
		}
		o.Size, o.ETag, o.Blobs = src.Size, etag, blobs
		if err := g.publish(r, o, cond, intents); err != nil {
			return err
		}
	}
	if srcBucket.Versioning != index.Unversioned {
		r.c.Set("x-amz-copy-source-version-id", src.VersionID)
	}
	return r.sendXML(http.StatusOK, copyObjectResult{Xmlns: xmlns, LastModified: isoTime(o.MTime), ETag: `"` + o.ETag + `"`})
}

// copyBytes streams [off, off+n) of src into new blobs of the request's
// bucket and returns their MD5.
func (g *Gateway) copyBytes(r *request, srcBucket *Bucket, src *object, off, n int64, part int) (string, []blob, []int64, error) {
	rd := newBlobReader(r.ctx, g.cfg.Blobs, srcBucket.AppID, src.Blobs, off, n)
	defer rd.Close()
	sum := md5.New()
	blobs, intents, err := g.writeBlobs(r.ctx, r.bucket.AppID, io.TeeReader(rd, sum), n, part)
	if err != nil {
		return "", nil, nil, errInternal(fmt.Errorf("copy %s/%s: %w", src.Bucket, src.Key, err))
	}
	return hex.EncodeToString(sum.Sum(nil)), blobs, intents, nil
}

func (g *Gateway) uploadPartCopy(r *request) error {
	n, id, err := g.partTarget(r)
	if err != nil {
		return err
	}
	srcBucket, src, err := g.copySource(r)
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
	etag, blobs, intents, err := g.copyBytes(r, srcBucket, src, off, size, n)
	if err != nil {
		return err
	}
	p := &part{Number: n, ETag: etag, Size: size, MTime: time.Now().UTC(), Blobs: blobs}
	if err := g.putPart(r, id, p, intents); err != nil {
		return err
	}
	return r.sendXML(http.StatusOK, copyPartResult{Xmlns: xmlns, LastModified: isoTime(p.MTime), ETag: `"` + etag + `"`})
}
