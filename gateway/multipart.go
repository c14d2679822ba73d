package gateway

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tnv-s3/tnv/s3err"
)

// MinPartSize is the smallest a part other than the last may be.
const MinPartSize = 5 << 20

func newUploadID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// ---- handlers

func (g *Gateway) createMultipartUpload(r *request) error {
	hdr, err := requestHeaders(r.header)
	if err != nil {
		return err
	}
	enc, err := g.newWriteSSE(r)
	if err != nil {
		return err
	}
	hdr.SSE = enc.record()
	if hdr.ACL, err = g.newObjectACL(r, r.bucket, r.user, r.header); err != nil {
		return err
	}
	if hdr.Checksum, err = uploadChecksum(r.header); err != nil {
		return err
	}
	if hdr.Lock, err = g.requestLock(r, false); err != nil { // objectlock.go
		return err
	}
	u := &upload{ID: newUploadID(), Bucket: r.bucketName, Key: r.key, Initiated: time.Now().UTC(), Owner: r.user, Headers: hdr}
	if err := g.idx.CreateUpload(r.ctx, r.bucket.AppID, u); err != nil {
		return writeError(err)
	}
	r.setSSEHeaders(hdr.SSE, enc.customer())
	if ck := hdr.Checksum; ck != nil {
		r.c.Set("x-amz-checksum-algorithm", ck.Algorithm)
		r.c.Set("x-amz-checksum-type", ck.Type)
	}
	return r.sendXML(http.StatusOK, initiateMultipartUploadResult{Xmlns: xmlns, Bucket: r.bucketName, Key: r.key, UploadId: u.ID})
}

func partNumber(r *request) (int, error) {
	n, err := strconv.Atoi(r.query.Get("partNumber"))
	if err != nil || n < 1 || n > 10000 {
		return 0, errMsg(s3err.InvalidArgument, "Part number must be an integer between 1 and 10000, inclusive")
	}
	return n, nil
}

// partTarget is the part number and the upload of an UploadPart or
// UploadPartCopy, checked before any byte is read.
func (g *Gateway) partTarget(r *request) (n int, u *upload, err error) {
	if n, err = partNumber(r); err != nil {
		return 0, nil, err
	}
	if u, err = g.idx.Upload(r.ctx, r.query.Get("uploadId"), r.bucketName, r.key); err != nil {
		return 0, nil, toS3Error(err)
	}
	return n, u, nil
}

func (g *Gateway) uploadPart(r *request) error {
	n, u, err := g.partTarget(r)
	if err != nil {
		return err
	}
	size, err := r.putSize()
	if err != nil {
		return err
	}
	dataKey, ck, err := g.partSSE(r, u)
	if err != nil {
		return err
	}
	alg, err := partChecksumAlg(u, r.header, false)
	if err != nil {
		return err
	}
	blobs, intents, etag, sum, err := g.storeBodyChecksum(r, g.sealedStore(dataKey, nil), size, n, alg)
	if err != nil {
		return err
	}
	p := &part{Number: n, ETag: sseETag(u.Headers.SSE, dataKey, etag), Size: size, MTime: time.Now().UTC(), Blobs: blobs, Checksum: storedPartChecksum(u, alg, sum.value())}
	if err := g.putPart(r, u.ID, p, intents); err != nil {
		return err
	}
	r.c.Set("ETag", `"`+p.ETag+`"`)
	r.setSSEHeaders(u.Headers.SSE, ck)
	if alg != nil {
		r.c.Set(alg.Header, sum.value())
	}
	return r.c.Status(http.StatusOK).Send(nil) // SendStatus would add a text body
}

// putPart records part p of upload id; on failure its new blobs are
// collected.
func (g *Gateway) putPart(r *request, id string, p *part, intents []int64) error {
	if err := g.idx.PutPart(r.ctx, r.bucket.AppID, r.bucketName, r.key, id, p, intents, g.gcDue()); err != nil {
		g.expediteIntents(g.ctx, intents)
		return toS3Error(err)
	}
	return nil
}

func (g *Gateway) completeMultipartUpload(r *request) error {
	id := r.query.Get("uploadId")
	want, err := takeCompleteChecksum(r)
	if err != nil {
		return err
	}
	b, err := r.readXML(1 << 20)
	if err != nil {
		return err
	}
	req, err := parseComplete(b)
	if err != nil {
		return err
	}
	cond, err := g.writeConditions(r)
	if err != nil {
		return err
	}
	o, err := g.idx.CompleteUpload(r.ctx, r.bucket.AppID, r.bucketName, r.key, id, g.gcDue(), cond, func(u *upload, have []part) (*object, error) {
		byNum := map[int]*part{}
		for i := range have {
			byNum[have[i].Number] = &have[i]
		}
		o := &object{Bucket: r.bucketName, Key: r.key, Headers: u.Headers, MTime: time.Now().UTC().Truncate(time.Millisecond), Parts: len(req.Part)}
		sums := md5.New()
		listed := make([]part, 0, len(req.Part))
		for i, rp := range req.Part {
			p := byNum[rp.PartNumber]
			if p == nil || strings.Trim(strings.TrimSpace(rp.ETag), `"`) != p.ETag {
				return nil, errCode(s3err.InvalidPart)
			}
			if err := checkCompletePart(u, rp, p); err != nil {
				return nil, err
			}
			if i < len(req.Part)-1 && p.Size < g.minPartSize {
				return nil, entityTooSmall(p, g.minPartSize)
			}
			raw, _ := hex.DecodeString(p.ETag)
			sums.Write(raw)
			o.Size += p.Size
			o.Blobs = append(o.Blobs, partBlobs(u, p)...)
			listed = append(listed, *p)
		}
		o.ETag = fmt.Sprintf("%s-%d", hex.EncodeToString(sums.Sum(nil)), len(req.Part))
		var err error
		o.Headers.Checksum, err = completedChecksum(u, listed, want)
		return o, err
	})
	if err != nil {
		return writeError(err)
	}
	g.published(r, o) // versioning.go
	r.setSSEHeaders(o.Headers.SSE, nil)
	res := completeMultipartUploadResult{Xmlns: xmlns, Location: r.objectURL(), Bucket: r.bucketName, Key: r.key, ETag: `"` + o.ETag + `"`}
	if ck := o.Headers.Checksum; ck != nil {
		res.checksumFields = makeChecksumFields(ck.Algorithm, shown(ck, o.Parts))
		res.ChecksumType = ck.Type
	}
	return r.sendXML(http.StatusOK, res)
}

func (g *Gateway) abortMultipartUpload(r *request) error {
	id := r.query.Get("uploadId")
	if err := g.idx.AbortUpload(r.ctx, r.bucket.AppID, r.bucketName, r.key, id, g.gcDue()); err != nil {
		return toS3Error(err)
	}
	return r.c.Status(http.StatusNoContent).Send(nil) // SendStatus would add a text body
}

func (g *Gateway) listParts(r *request) error {
	id := r.query.Get("uploadId")
	u, err := g.idx.Upload(r.ctx, id, r.bucketName, r.key)
	if err != nil {
		return toS3Error(err)
	}
	max, err := r.queryCount("max-parts", 1000)
	if err != nil {
		return err
	}
	max = min(max, 1000)
	marker, err := r.queryCount("part-number-marker", 0)
	if err != nil {
		return err
	}
	ps, err := g.idx.Parts(r.ctx, id, marker, max+1)
	if err != nil {
		return errInternal(err)
	}
	who := owner{ID: u.Owner, DisplayName: u.Owner}
	res := listPartsResult{Xmlns: xmlns, Bucket: r.bucketName, Key: r.key, UploadId: id, Initiator: who, Owner: who,
		StorageClass: "STANDARD", PartNumberMarker: marker, MaxParts: max}
	if len(ps) > max {
		ps = ps[:max]
		res.IsTruncated = true
	}
	if ck := u.Headers.Checksum; ck != nil {
		res.ChecksumAlgorithm, res.ChecksumType = ck.Algorithm, ck.Type
	}
	for _, p := range ps {
		pe := partEntry{PartNumber: p.Number, LastModified: isoTime(p.MTime), ETag: `"` + p.ETag + `"`, Size: p.Size}
		pe.checksumFields = makeChecksumFields(partChecksumOf(u, &p))
		res.Part = append(res.Part, pe)
		res.NextPartNumberMarker = p.Number
	}
	return r.sendXML(http.StatusOK, res)
}

func (g *Gateway) listMultipartUploads(r *request) error {
	prefix, delim := r.query.Get("prefix"), r.query.Get("delimiter")
	keyMarker, idMarker := r.query.Get("key-marker"), r.query.Get("upload-id-marker")
	max, err := r.queryCount("max-uploads", 1000)
	if err != nil {
		return err
	}
	max = min(max, 1000)
	encode, et := func(s string) string { return s }, ""
	if v := r.query.Get("encoding-type"); v == "url" {
		encode, et = s3URLEncode, "url"
	} else if v != "" {
		return errMsg(s3err.InvalidArgument, "Invalid Encoding Method specified in Request")
	}
	// Uploads after (key-marker, upload-id-marker), in key then ID order.
	ups, err := g.idx.Uploads(r.ctx, r.bucketName, keyMarker, idMarker, 10000)
	if err != nil {
		return errInternal(err)
	}
	res := listMultipartUploadsResult{Xmlns: xmlns, Bucket: r.bucketName, KeyMarker: encode(keyMarker), UploadIdMarker: idMarker,
		Prefix: encode(prefix), Delimiter: encode(delim), MaxUploads: max, EncodingType: et}
	seenCP := map[string]bool{}
	count := 0
	for _, u := range ups {
		key := u.Key
		if !strings.HasPrefix(key, prefix) {
			continue
		}
		if delim != "" {
			if i := strings.Index(key[len(prefix):], delim); i >= 0 {
				cp := key[:len(prefix)+i+len(delim)]
				if seenCP[cp] {
					continue
				}
				if count == max {
					res.IsTruncated = true
					break
				}
				seenCP[cp] = true
				res.CommonPrefixes = append(res.CommonPrefixes, commonPrefix{Prefix: encode(cp)})
				res.NextKeyMarker, res.NextUploadIdMarker = encode(cp), ""
				count++
				continue
			}
		}
		if count == max {
			res.IsTruncated = true
			break
		}
		who := owner{ID: u.Owner, DisplayName: u.Owner}
		res.Upload = append(res.Upload, uploadEntry{Key: encode(key), UploadId: u.ID, Initiator: who, Owner: who, StorageClass: "STANDARD",
			Initiated: isoTime(u.Initiated)})
		res.NextKeyMarker, res.NextUploadIdMarker = encode(key), u.ID
		count++
	}
	if !res.IsTruncated {
		res.NextKeyMarker, res.NextUploadIdMarker = "", ""
	}
	return r.sendXML(http.StatusOK, res)
}

var _ = errors.New
