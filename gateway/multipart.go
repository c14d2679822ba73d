package gateway

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
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

// upload is a row of s3_multipart.
type upload struct {
	ID        string
	Bucket    string
	Key       string
	Initiated time.Time
	Owner     string
	Headers   headers
}

// part is a row of s3_parts.
type part struct {
	Number int
	ETag   string
	Size   int64
	MTime  time.Time
	Blobs  []blob
}

func newUploadID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// ---- SQL

func (m *meta) createUpload(ctx context.Context, u *upload) error {
	hdr, _ := json.Marshal(u.Headers)
	_, err := m.db.ExecContext(ctx, "INSERT INTO s3_multipart (upload_id, bucket, okey, initiated, owner, headers) VALUES (?, ?, ?, ?, ?, ?)",
		u.ID, u.Bucket, []byte(u.Key), u.Initiated.UnixMilli(), u.Owner, string(hdr))
	return err
}

type querier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// upload loads an upload of bucket/key; another bucket's or key's is
// NoSuchUpload.
func (m *meta) upload(ctx context.Context, q querier, id, bucket, key, lock string) (*upload, error) {
	u := &upload{ID: id}
	var k []byte
	var init int64
	var hdr string
	err := q.QueryRowContext(ctx, "SELECT bucket, okey, initiated, owner, headers FROM s3_multipart WHERE upload_id = ?"+lock, id).
		Scan(&u.Bucket, &k, &init, &u.Owner, &hdr)
	if err == sql.ErrNoRows {
		return nil, errCode(s3err.NoSuchUpload)
	}
	if err != nil {
		return nil, err
	}
	u.Key, u.Initiated = string(k), time.UnixMilli(init).UTC()
	if u.Bucket != bucket || u.Key != key {
		return nil, errCode(s3err.NoSuchUpload)
	}
	if err := json.Unmarshal([]byte(hdr), &u.Headers); err != nil {
		return nil, err
	}
	return u, nil
}

// putPart records a part whose blobs are durable, replacing (and
// collecting) an earlier upload of the same part number.
func (m *meta) putPart(ctx context.Context, appid, bucket, key, id string, p *part, intents []int64, gcDue int64) error {
	blobs, _ := json.Marshal(p.Blobs)
	if p.Blobs == nil {
		blobs = []byte("[]")
	}
	return m.tx(ctx, func(tx *sql.Tx) error {
		if _, err := m.upload(ctx, tx, id, bucket, key, m.forUpdate()); err != nil {
			return err
		}
		var old string
		err := tx.QueryRowContext(ctx, "SELECT blobs FROM s3_parts WHERE upload_id = ? AND part_number = ?", id, p.Number).Scan(&old)
		switch {
		case err == sql.ErrNoRows:
			_, err = tx.ExecContext(ctx, "INSERT INTO s3_parts (upload_id, part_number, etag, size, mtime, blobs) VALUES (?, ?, ?, ?, ?, ?)",
				id, p.Number, p.ETag, p.Size, p.MTime.UnixMilli(), string(blobs))
			if err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			if _, err := tx.ExecContext(ctx, "UPDATE s3_parts SET etag = ?, size = ?, mtime = ?, blobs = ? WHERE upload_id = ? AND part_number = ?",
				p.ETag, p.Size, p.MTime.UnixMilli(), string(blobs), id, p.Number); err != nil {
				return err
			}
			var ob []blob
			if err := json.Unmarshal([]byte(old), &ob); err != nil {
				return err
			}
			if err := gcInsert(ctx, tx, appid, ob, gcDue); err != nil {
				return err
			}
		}
		return dropIntents(ctx, tx, intents)
	})
}

func (m *meta) parts(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, id string, after, limit int) ([]part, error) {
	rows, err := q.QueryContext(ctx, "SELECT part_number, etag, size, mtime, blobs FROM s3_parts WHERE upload_id = ? AND part_number > ? ORDER BY part_number LIMIT ?", id, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []part
	for rows.Next() {
		var p part
		var mt int64
		var blobs string
		if err := rows.Scan(&p.Number, &p.ETag, &p.Size, &mt, &blobs); err != nil {
			return nil, err
		}
		p.MTime = time.UnixMilli(mt).UTC()
		if err := json.Unmarshal([]byte(blobs), &p.Blobs); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// dropUploadTx deletes an upload and queues all its parts' blobs.
func (m *meta) dropUploadTx(ctx context.Context, tx *sql.Tx, appid, id string, gcDue int64) error {
	ps, err := m.parts(ctx, tx, id, 0, 10001)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if err := gcInsert(ctx, tx, appid, p.Blobs, gcDue); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM s3_parts WHERE upload_id = ?", id); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, "DELETE FROM s3_multipart WHERE upload_id = ?", id)
	return err
}

// ---- handlers

func (g *Gateway) createMultipartUpload(r *request) error {
	hdr, err := requestHeaders(r.header)
	if err != nil {
		return err
	}
	u := &upload{ID: newUploadID(), Bucket: r.bucketName, Key: r.key, Initiated: time.Now().UTC(), Owner: r.user, Headers: hdr}
	if err := g.meta.createUpload(r.ctx, u); err != nil {
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

func (g *Gateway) uploadPart(r *request) error {
	n, err := partNumber(r)
	if err != nil {
		return err
	}
	id := r.query.Get("uploadId")
	if _, err := g.meta.upload(r.ctx, g.cfg.DB, id, r.bucketName, r.key, ""); err != nil {
		return toS3Error(err)
	}
	size, err := r.contentLength()
	if err != nil {
		return err
	}
	if size > MaxPutSize {
		return errCode(s3err.EntityTooLarge)
	}
	body, err := r.body()
	if err != nil {
		return err
	}
	tee, sum, stop := newMD5Tee(body, size)
	defer stop()
	blobs, intents, err := g.writeBlobs(r.ctx, r.bucket.AppID, tee, size, n)
	if err != nil {
		return bodyError(err)
	}
	p := &part{Number: n, ETag: hex.EncodeToString(sum()), Size: size, MTime: time.Now().UTC(), Blobs: blobs}
	if err := g.meta.putPart(r.ctx, r.bucket.AppID, r.bucketName, r.key, id, p, intents, g.gcDue()); err != nil {
		g.meta.expediteIntents(g.ctx, intents)
		return toS3Error(err)
	}
	r.c.Set("ETag", `"`+p.ETag+`"`)
	echoChecksum(r)
	return r.c.Status(http.StatusOK).Send(nil) // SendStatus would add a text body
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
	var o *object
	err = g.meta.tx(r.ctx, func(tx *sql.Tx) error {
		u, err := g.meta.upload(r.ctx, tx, id, r.bucketName, r.key, g.meta.forUpdate())
		if err != nil {
			return err
		}
		have, err := g.meta.parts(r.ctx, tx, id, 0, 10001)
		if err != nil {
			return err
		}
		byNum := map[int]*part{}
		for i := range have {
			byNum[have[i].Number] = &have[i]
		}
		o = &object{Bucket: r.bucketName, Key: r.key, Headers: u.Headers, MTime: time.Now().UTC().Truncate(time.Millisecond), Parts: len(req.Part)}
		sums := md5.New()
		used := map[int]bool{}
		for i, rp := range req.Part {
			p := byNum[rp.PartNumber]
			if p == nil || strings.Trim(strings.TrimSpace(rp.ETag), `"`) != p.ETag {
				return errCode(s3err.InvalidPart)
			}
			if i < len(req.Part)-1 && p.Size < g.minPartSize {
				return errMsg(s3err.EntityTooSmall, "Your proposed upload is smaller than the minimum allowed object size. Part %d is %d bytes.", p.Number, p.Size)
			}
			raw, _ := hex.DecodeString(p.ETag)
			sums.Write(raw)
			o.Size += p.Size
			o.Blobs = append(o.Blobs, p.Blobs...)
			used[p.Number] = true
		}
		o.ETag = fmt.Sprintf("%s-%d", hex.EncodeToString(sums.Sum(nil)), len(req.Part))
		gone, err := g.meta.putObjectTx(r.ctx, tx, o, putCond{})
		if err != nil {
			return err
		}
		if err := gcInsert(r.ctx, tx, r.bucket.AppID, gone, g.gcDue()); err != nil {
			return err
		}
		for _, p := range have {
			if !used[p.Number] {
				if err := gcInsert(r.ctx, tx, r.bucket.AppID, p.Blobs, g.gcDue()); err != nil {
					return err
				}
			}
		}
		if _, err := tx.ExecContext(r.ctx, "DELETE FROM s3_parts WHERE upload_id = ?", id); err != nil {
			return err
		}
		_, err = tx.ExecContext(r.ctx, "DELETE FROM s3_multipart WHERE upload_id = ?", id)
		return err
	})
	if err != nil {
		return toS3Error(err)
	}
	loc := "/" + r.bucketName + "/" + r.key
	return r.sendXML(http.StatusOK, completeMultipartUploadResult{Xmlns: xmlns, Location: loc, Bucket: r.bucketName, Key: r.key, ETag: `"` + o.ETag + `"`})
}

func (g *Gateway) abortMultipartUpload(r *request) error {
	id := r.query.Get("uploadId")
	err := g.meta.tx(r.ctx, func(tx *sql.Tx) error {
		if _, err := g.meta.upload(r.ctx, tx, id, r.bucketName, r.key, g.meta.forUpdate()); err != nil {
			return err
		}
		return g.meta.dropUploadTx(r.ctx, tx, r.bucket.AppID, id, g.gcDue())
	})
	if err != nil {
		return toS3Error(err)
	}
	return r.c.Status(http.StatusNoContent).Send(nil) // SendStatus would add a text body
}

func (g *Gateway) listParts(r *request) error {
	id := r.query.Get("uploadId")
	u, err := g.meta.upload(r.ctx, g.cfg.DB, id, r.bucketName, r.key, "")
	if err != nil {
		return toS3Error(err)
	}
	max := 1000
	if s := r.query.Get("max-parts"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return errMsg(s3err.InvalidArgument, "Provided max-parts not an integer or within integer range")
		}
		max = min(n, 1000)
	}
	marker := 0
	if s := r.query.Get("part-number-marker"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return errMsg(s3err.InvalidArgument, "Provided part-number-marker not an integer or within integer range")
		}
		marker = n
	}
	ps, err := g.meta.parts(r.ctx, g.cfg.DB, id, marker, max+1)
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
	max := 1000
	if s := r.query.Get("max-uploads"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return errMsg(s3err.InvalidArgument, "Provided max-uploads not an integer or within integer range")
		}
		max = min(n, 1000)
	}
	encode, et := func(s string) string { return s }, ""
	if v := r.query.Get("encoding-type"); v == "url" {
		encode, et = s3URLEncode, "url"
	} else if v != "" {
		return errMsg(s3err.InvalidArgument, "Invalid Encoding Method specified in Request")
	}
	// Uploads after (key-marker, upload-id-marker), in key then ID order.
	rows, err := g.cfg.DB.QueryContext(r.ctx,
		"SELECT upload_id, okey, initiated, owner FROM s3_multipart WHERE bucket = ? AND (okey > ? OR (okey = ? AND upload_id > ?)) ORDER BY okey, upload_id LIMIT ?",
		r.bucketName, []byte(keyMarker), []byte(keyMarker), idMarker, 10000)
	if err != nil {
		return errInternal(err)
	}
	defer rows.Close()
	res := listMultipartUploadsResult{Xmlns: xmlns, Bucket: r.bucketName, KeyMarker: encode(keyMarker), UploadIdMarker: idMarker,
		Prefix: encode(prefix), Delimiter: encode(delim), MaxUploads: max, EncodingType: et}
	seenCP := map[string]bool{}
	count := 0
	for rows.Next() {
		var id, own string
		var k []byte
		var init int64
		if err := rows.Scan(&id, &k, &init, &own); err != nil {
			return errInternal(err)
		}
		key := string(k)
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
		who := owner{ID: own, DisplayName: own}
		res.Upload = append(res.Upload, uploadEntry{Key: encode(key), UploadId: id, Initiator: who, Owner: who, StorageClass: "STANDARD",
			Initiated: isoTime(time.UnixMilli(init))})
		res.NextKeyMarker, res.NextUploadIdMarker = encode(key), id
		count++
	}
	if err := rows.Err(); err != nil {
		return errInternal(err)
	}
	if !res.IsTruncated {
		res.NextKeyMarker, res.NextUploadIdMarker = "", ""
	}
	return r.sendXML(http.StatusOK, res)
}

var _ = errors.New
