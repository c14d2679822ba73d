package gateway

import (
	"crypto/md5"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tnv-s3/tnv/gateway/index"
	"github.com/tnv-s3/tnv/s3err"
	"github.com/tnv-s3/tnv/sigv4"
)

// MaxPutSize is the largest single PUT (and part) S3 accepts.
const MaxPutSize = 5 << 30

// maxMetaSize is S3's limit on user metadata (names and values).
const maxMetaSize = 2 << 10

// nowUnix reads the gateway's clock in the metadata's unit, seconds.
func (g *Gateway) nowUnix() int64 { return g.cfg.Now().Unix() }

// requestHeaders collects what is stored with an object.
func requestHeaders(h http.Header) (headers, error) {
	o := headers{
		ContentType:        h.Get("Content-Type"),
		ContentDisposition: h.Get("Content-Disposition"),
		ContentEncoding:    sigv4.StripAWSChunked(h.Get("Content-Encoding")),
		ContentLanguage:    h.Get("Content-Language"),
		CacheControl:       h.Get("Cache-Control"),
		Expires:            h.Get("Expires"),
	}
	size := 0
	for k, v := range h {
		lk := strings.ToLower(k)
		name, ok := strings.CutPrefix(lk, "x-amz-meta-")
		if !ok || name == "" {
			continue
		}
		if o.Meta == nil {
			o.Meta = map[string]string{}
		}
		val := strings.Join(v, ",")
		o.Meta[name] = val
		size += len(name) + len(val)
	}
	if size > maxMetaSize {
		return o, errCode(s3err.MetadataTooLarge)
	}
	var err error
	if o.Tags, err = parseTagHeader(h.Get("X-Amz-Tagging")); err != nil {
		return o, err
	}
	return o, refuseUnsupportedHeaders(h)
}

// setObjectHeaders writes an object's stored headers into the response.
func (r *request) setObjectHeaders(o *object) {
	h := o.Headers
	ct := h.ContentType
	if ct == "" {
		ct = "binary/octet-stream"
	}
	set := func(name, v, override string) {
		if q := r.query.Get(override); q != "" && r.user != "" {
			v = q
		}
		if v != "" {
			r.c.Set(name, v)
		}
	}
	set("Content-Type", ct, "response-content-type")
	set("Content-Disposition", h.ContentDisposition, "response-content-disposition")
	set("Content-Encoding", h.ContentEncoding, "response-content-encoding")
	set("Content-Language", h.ContentLanguage, "response-content-language")
	set("Cache-Control", h.CacheControl, "response-cache-control")
	set("Expires", h.Expires, "response-expires")
	// S3 sends metadata names in lower case and clients (botocore) take
	// the key from the name as sent; fasthttp would send X-Amz-Meta-Color.
	r.c.Response().Header.DisableNormalizing()
	for k, v := range h.Meta {
		r.c.Set("x-amz-meta-"+k, v)
	}
	r.c.Set("ETag", `"`+o.ETag+`"`)
	r.c.Set("Last-Modified", httpTime(o.MTime))
	r.c.Set("Accept-Ranges", "bytes")
	if o.Parts > 0 {
		r.c.Set("x-amz-mp-parts-count", strconv.Itoa(o.Parts))
	}
	r.setTagCount(o)
}

func (g *Gateway) putObject(r *request) error {
	hdr, err := requestHeaders(r.header)
	if err != nil {
		return err
	}
	if hdr.ACL, err = g.newObjectACL(r, r.bucket, r.user, r.header); err != nil {
		return err
	}
	if hdr.Lock, err = g.requestLock(r, true); err != nil { // objectlock.go
		return err
	}
	size, err := r.putSize()
	if err != nil {
		return err
	}
	cond, err := g.writeConditions(r)
	if err != nil {
		return err
	}
	enc, err := g.newWriteSSE(r)
	if err != nil {
		return err
	}
	ph := g.putClock(r) // phases.go
	// staged.go: the blob's commit joins the index row's.
	slot := g.stageOne(r, size)
	defer slot.abandon()
	blobs, intents, etag, sum, err := g.storeBodyChecksum(r, g.sealedStore(enc.key(), nil), size, 0, objectChecksumAlg(r.header))
	if err != nil {
		return err
	}
	hdr.SSE = enc.record()
	hdr.Checksum = sum.full()
	o := &object{Bucket: r.bucketName, Key: r.key, Size: size, ETag: enc.etag(etag),
		Headers: hdr, MTime: time.Now().UTC().Truncate(time.Millisecond), Blobs: blobs}
	if err := g.publish(r, o, cond, intents); err != nil {
		return err
	}
	ph.add(phasePublish)
	ph.done()
	r.c.Set("ETag", `"`+o.ETag+`"`)
	r.setSSEHeaders(hdr.SSE, enc.customer())
	if ck := hdr.Checksum; ck != nil {
		r.setChecksumHeaders(ck, ck.Value)
	}
	return r.c.Status(http.StatusOK).Send(nil) // SendStatus would add a text body
}

// putSize is the size the body of a PUT (an object or a part) declares,
// refused above MaxPutSize before any of it is read.
func (r *request) putSize() (int64, error) {
	size, err := r.contentLength()
	if err != nil {
		return 0, err
	}
	if size > MaxPutSize {
		e := errCode(s3err.EntityTooLarge)
		e.Extra = []sigv4.Field{{Name: "ProposedSize", Value: strconv.FormatInt(size, 10)}, {Name: "MaxSizeAllowed", Value: strconv.FormatInt(MaxPutSize, 10)}}
		return 0, e
	}
	return size, nil
}

// storeBody streams the request's body of size bytes into new blobs (of
// part n; 0 for a whole object) and returns them, their intents and the
// body's MD5 in hex. Its errors are already the client's answer.
func (g *Gateway) storeBody(r *request, size int64, n int) ([]blob, []int64, string, error) {
	blobs, intents, etag, _, err := g.storeBodyChecksum(r, g.cfg.Blobs, size, n, nil)
	return blobs, intents, etag, err
}

// publish writes the index row; on failure the new blobs are collected.
func (g *Gateway) publish(r *request, o *object, cond putCond, intents []int64) error {
	slot := stagedSlotOf(r.ctx) // staged.go
	err := g.idx.PutObject(slot.publishCtx(r.ctx), r.bucket.AppID, o, cond, intents, g.gcDue())
	if err == nil {
		err = slot.published(g.log)
	}
	if err != nil {
		g.expediteIntents(g.ctx, intents)
		return writeError(err) // an index refusal as S3 answers it, anything else InternalError
	}
	g.published(r, o) // versioning.go
	return nil
}

// bodyError maps what went wrong while storing a body to what the client
// is told: its own faults (digests, signatures, short bodies) as such.
func bodyError(err error) error {
	var se *s3Error
	var ve *sigv4.Error
	var ste *storeError
	switch {
	case errors.As(err, &ste):
		return blobError(err)
	case errors.As(err, &se), errors.As(err, &ve):
		return err
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return errCode(s3err.IncompleteBody)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return errCode(s3err.RequestTimeout) // the client stalled its body
	}
	return errInternal(err)
}

// etagMatches reports whether an If-Match / If-None-Match list names etag.
func etagMatches(list, etag string) bool {
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		t = strings.TrimPrefix(t, "W/")
		if t == "*" || strings.Trim(t, `"`) == etag {
			return true
		}
	}
	return false
}

// checkConditions applies If-Match, If-Unmodified-Since, If-None-Match and
// If-Modified-Since in RFC 7232's order, as S3 does.
func checkConditions(h http.Header, o *object) error {
	lm := o.MTime.Truncate(time.Second)
	if im := h.Get("If-Match"); im != "" {
		if !etagMatches(im, o.ETag) {
			return errCode(s3err.PreconditionFailed)
		}
	} else if ius := h.Get("If-Unmodified-Since"); ius != "" {
		if t, err := http.ParseTime(ius); err == nil && lm.After(t) {
			return errCode(s3err.PreconditionFailed)
		}
	}
	if inm := h.Get("If-None-Match"); inm != "" {
		if etagMatches(inm, o.ETag) {
			return errCode(s3err.NotModified)
		}
	} else if ims := h.Get("If-Modified-Since"); ims != "" {
		if t, err := http.ParseTime(ims); err == nil && !lm.After(t) {
			return errCode(s3err.NotModified)
		}
	}
	return nil
}

// byteRange is a resolved Range: first and length.
type byteRange struct{ start, n int64 }

// parseRange resolves a Range header against size. ok is false when the
// header is absent or not a single byte range we honour (then the whole
// object is sent, as RFC 9110 allows); err is InvalidRange when it cannot
// be satisfied.
func parseRange(h string, size int64) (br byteRange, ok bool, err error) {
	spec, found := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !found || strings.Contains(spec, ",") {
		return br, false, nil
	}
	a, b, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return br, false, nil
	}
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	unsat := errCode(s3err.InvalidRange)
	if a == "" {
		n, e := strconv.ParseInt(b, 10, 64)
		if e != nil || n < 0 {
			return br, false, nil
		}
		if n == 0 || size == 0 {
			return br, false, unsat
		}
		n = min(n, size)
		return byteRange{size - n, n}, true, nil
	}
	first, e := strconv.ParseInt(a, 10, 64)
	if e != nil || first < 0 {
		return br, false, nil
	}
	last := size - 1
	if b != "" {
		l, e := strconv.ParseInt(b, 10, 64)
		if e != nil || l < first {
			return br, false, nil
		}
		last = min(l, size-1)
	}
	if first >= size {
		return br, false, unsat
	}
	return byteRange{first, last - first + 1}, true, nil
}

func (g *Gateway) getObject(r *request) error { return g.readObject(r, true) }

func (g *Gateway) headObject(r *request) error { return g.readObject(r, false) }

// readObject serves GET and HEAD of an object.
func (g *Gateway) readObject(r *request, withBody bool) error {
	o, err := g.loadVersion(r) // versioning.go
	if err != nil {
		return err
	}
	dataKey, ck, err := g.readSSE(r, o)
	if err != nil {
		return err
	}
	if err := checkConditions(r.header, o); err != nil {
		if toS3Error(err).Code == s3err.NotModified {
			r.c.Set("ETag", `"`+o.ETag+`"`)
			r.c.Set("Last-Modified", httpTime(o.MTime))
		}
		return err
	}
	start, n := int64(0), o.Size
	status := http.StatusOK
	part, ranged := 0, false
	if r.query.Has("partNumber") {
		p, err := readPartNumber(r)
		if err != nil {
			return err
		}
		s, size, ok := partSpan(o, p)
		if !ok {
			return errCode(s3err.InvalidPartNumber)
		}
		start, n, part = s, size, p
		if n > 0 {
			// S3 answers a part, even part 1 of a single-part object, as
			// a partial content.
			status = http.StatusPartialContent
			r.c.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, start+n-1, o.Size))
		}
	} else if rh := r.header.Get("Range"); rh != "" {
		br, ok, err := parseRange(rh, o.Size)
		if err != nil {
			r.c.Set("Content-Range", fmt.Sprintf("bytes */%d", o.Size))
			r.c.Set("Accept-Ranges", "bytes")
			e := toS3Error(err)
			e.Extra = []sigv4.Field{{Name: "RangeRequested", Value: rh}, {Name: "ActualObjectSize", Value: strconv.FormatInt(o.Size, 10)}}
			return e
		}
		if ok {
			start, n, ranged = br.start, br.n, true
			status = http.StatusPartialContent
			r.c.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, start+n-1, o.Size))
		}
	}
	// The first blob is opened before the status goes out: a blob no member
	// has, or a group with no member reachable, is an error answer, not a
	// 200 followed by a broken body.
	var src *blobReader
	if n > 0 {
		src = newBlobReader(g.ctx, g.sealedStore(dataKey, o.Blobs), r.bucket.AppID, o.Blobs, start, n)
		if !withBody {
			src.n = 1 // HEAD: one byte read proves the blob readable
		}
		if err := src.open(); err != nil {
			return blobError(err)
		}
		if !withBody {
			var one [1]byte
			_, err := io.ReadFull(src, one[:])
			src.Close()
			if err != nil {
				return blobError(err)
			}
		}
	}
	r.setObjectHeaders(o)
	r.setSSEHeaders(o.Headers.SSE, ck)
	r.setGetChecksum(o, part, ranged)
	r.setVersionHeaders(o)
	r.c.Status(status)
	if !withBody {
		r.c.Response().Header.SetContentLength(int(n))
		return nil
	}
	r.bytesOut = n
	if n == 0 {
		r.c.Response().SetBodyRaw(nil)
		return nil
	}
	// The body streams after this handler returns: it lives on the
	// gateway's context, not the request's.
	r.sending = &sentBody{src: src, conn: r.c.Context().Conn(), want: n}
	r.c.Context().SetBodyStream(r.paced(r.sending), int(n))
	return nil
}

// partSpan finds the bytes of part p of an object.
func partSpan(o *object, p int) (start, size int64, ok bool) {
	if o.Parts == 0 {
		return 0, o.Size, p == 1
	}
	var off int64
	for _, b := range o.Blobs {
		if b.Part == p {
			if !ok {
				start, ok = off, true
			}
			size += b.Size
		}
		off += b.Size
	}
	return start, size, ok
}

func (g *Gateway) deleteObject(r *request) error {
	if vid, err := r.versionID(); err != nil {
		return err
	} else if vid != "" || r.bucket.Versioning != index.Unversioned {
		return g.deleteVersioned(r, vid) // versioning.go
	}
	if _, err := g.idx.DeleteObject(r.ctx, r.bucket.AppID, r.bucketName, r.key, g.gcDue()); err != nil {
		return errInternal(err)
	}
	return r.c.Status(http.StatusNoContent).Send(nil) // SendStatus would add a text body
}

// maxDeleteKeys is how many keys one DeleteObjects may name.
const maxDeleteKeys = 1000

func (g *Gateway) deleteObjects(r *request) error {
	if err := requireDigest(r.header); err != nil {
		return err
	}
	b, err := r.readXML(2 << 20)
	if err != nil {
		return err
	}
	req, err := parseDelete(b)
	if err != nil {
		return err
	}
	res := deleteResult{Xmlns: xmlns}
	for _, obj := range req.Object {
		action := "s3:DeleteObject"
		if obj.VersionId != "" {
			action = "s3:DeleteObjectVersion"
		}
		if err := g.authorizeAs(r, r.user, action, r.bucket, obj.Key, nil); err != nil {
			e := toS3Error(err)
			res.Error = append(res.Error, deleteError{Key: obj.Key, VersionId: obj.VersionId, Code: e.Code.String(), Message: e.Message})
			continue
		}
		if obj.VersionId != "" || r.bucket.Versioning != index.Unversioned {
			g.deleteEntry(r, obj.Key, obj.VersionId, req.Quiet, &res) // versioning.go
			continue
		}
		if _, err := g.idx.DeleteObject(r.ctx, r.bucket.AppID, r.bucketName, obj.Key, g.gcDue()); err != nil {
			g.log.Error("gateway: delete", "request_id", r.id, "bucket", r.bucketName, "key", obj.Key, "err", err)
			res.Error = append(res.Error, deleteError{Key: obj.Key, Code: s3err.InternalError.String(), Message: s3err.InternalError.Message()})
			continue
		}
		if !req.Quiet {
			res.Deleted = append(res.Deleted, deletedEntry{Key: obj.Key})
		}
	}
	return r.sendXML(http.StatusOK, res)
}

// requireDigest refuses a request without Content-MD5 or an
// x-amz-checksum-* (header or trailer), as S3 does for the requests whose
// body it must not apply damaged (DeleteObjects, PutBucketCors).
func requireDigest(h http.Header) error {
	if h.Get("Content-Md5") == "" && !hasChecksumHeader(h) {
		return errMsg(s3err.InvalidRequest, "Missing required header for this request: Content-MD5")
	}
	return nil
}

func hasChecksumHeader(h http.Header) bool {
	for _, a := range sigv4.ChecksumAlgorithms {
		if h.Get(a.Header) != "" {
			return true
		}
	}
	// a checksum sent as a trailer
	return strings.Contains(strings.ToLower(h.Get("X-Amz-Trailer")), "x-amz-checksum-")
}

var _ hash.Hash = md5.New()
