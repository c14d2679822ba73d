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
	if hdr.Lock, err = g.requestLock(r, false); err != nil { // objectlock.go
		return err
	}
	u := &upload{ID: newUploadID(), Bucket: r.bucketName, Key: r.key, Initiated: time.Now().UTC(), Owner: r.user, Headers: hdr}
	if err := g.idx.CreateUpload(r.ctx, u); err != nil {
		return errInternal(err)
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
func (g *Gateway) partTarget(r *request) (n int, id string, err error) {
	if n, err = partNumber(r); err != nil {
		return 0, "", err
	}
	id = r.query.Get("uploadId")
	if _, err := g.idx.Upload(r.ctx, id, r.bucketName, r.key); err != nil {
		return 0, "", toS3Error(err)
	}
	return n, id, nil
}

func (g *Gateway) uploadPart(r *request) error {
	n, id, err := g.partTarget(r)
	if err != nil {
		return err
	}
	size, err := r.putSize()
	if err != nil {
		return err
	}
	blobs, intents, etag, err := g.storeBody(r, size, n)
	if err != nil {
		return err
	}
	p := &part{Number: n, ETag: etag, Size: size, MTime: time.Now().UTC(), Blobs: blobs}
	if err := g.putPart(r, id, p, intents); err != nil {
		return err
	}
	r.c.Set("ETag", `"`+p.ETag+`"`)
	echoChecksum(r)
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
		for i, rp := range req.Part {
			p := byNum[rp.PartNumber]
			if p == nil || strings.Trim(strings.TrimSpace(rp.ETag), `"`) != p.ETag {
				return nil, errCode(s3err.InvalidPart)
			}
			if i < len(req.Part)-1 && p.Size < g.minPartSize {
				return nil, errMsg(s3err.EntityTooSmall, "Your proposed upload is smaller than the minimum allowed object size. Part %d is %d bytes.", p.Number, p.Size)
			}
			raw, _ := hex.DecodeString(p.ETag)
			sums.Write(raw)
			o.Size += p.Size
			o.Blobs = append(o.Blobs, p.Blobs...)
		}
		o.ETag = fmt.Sprintf("%s-%d", hex.EncodeToString(sums.Sum(nil)), len(req.Part))
		return o, nil
	})
	if err != nil {
		return writeError(err)
	}
	g.published(r, o) // versioning.go
	loc := "/" + r.bucketName + "/" + r.key
	return r.sendXML(http.StatusOK, completeMultipartUploadResult{Xmlns: xmlns, Location: loc, Bucket: r.bucketName, Key: r.key, ETag: `"` + o.ETag + `"`})
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
	for _, p := range ps {
		res.Part = append(res.Part, partEntry{PartNumber: p.Number, LastModified: isoTime(p.MTime), ETag: `"` + p.ETag + `"`, Size: p.Size})
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
