package index

import (
	"context"
	"database/sql"
	"fmt"
)

// CreateUpload inserts the upload's row from its bucket's, locked as
// insertObject does: none when the bucket is gone.
func (s *SQL) CreateUpload(ctx context.Context, appid string, u *Upload) error {
	n, err := affected(s.db.ExecContext(ctx, "INSERT INTO s3_multipart (upload_id, bucket, okey, initiated, owner, headers) SELECT ?, ?, ?, ?, ?, ?"+bucketRow+s.shareLock(),
		u.ID, u.Bucket, []byte(u.Key), u.Initiated.UnixMilli(), u.Owner, headersJSON(u.Headers), u.Bucket, appid))
	if err == nil && n == 0 {
		return ErrNoSuchBucket
	}
	return err
}

func (s *SQL) Upload(ctx context.Context, id, bucket, key string) (*Upload, error) {
	return s.upload(ctx, s.db, id, bucket, key, "")
}

// upload loads an upload of bucket/key through q, with lock appended to the
// query (forUpdate in a transaction).
func (s *SQL) upload(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, id, bucket, key, lock string) (*Upload, error) {
	u := &Upload{ID: id}
	var k []byte
	var init int64
	var hdr string
	err := q.QueryRowContext(ctx, "SELECT bucket, okey, initiated, owner, headers FROM s3_multipart WHERE upload_id = ?"+lock, id).
		Scan(&u.Bucket, &k, &init, &u.Owner, &hdr)
	if err == sql.ErrNoRows {
		return nil, ErrNoSuchUpload
	}
	if err != nil {
		return nil, err
	}
	u.Key, u.Initiated = string(k), millis(init)
	if u.Bucket != bucket || u.Key != key {
		return nil, ErrNoSuchUpload
	}
	return u, parseHeaders("upload "+id, hdr, &u.Headers)
}

func (s *SQL) Uploads(ctx context.Context, bucket, keyMarker, idMarker string, limit int) ([]Upload, error) {
	return queryAll(ctx, s.db,
		"SELECT upload_id, okey, initiated, owner FROM s3_multipart WHERE bucket = ? AND (okey > ? OR (okey = ? AND upload_id > ?)) ORDER BY okey, upload_id LIMIT ?",
		[]any{bucket, []byte(keyMarker), []byte(keyMarker), idMarker, limit},
		func(sc rowScanner) (Upload, error) {
			u := Upload{Bucket: bucket}
			var k []byte
			var init int64
			err := sc.Scan(&u.ID, &k, &init, &u.Owner)
			u.Key, u.Initiated = string(k), millis(init)
			return u, err
		})
}

func (s *SQL) PutPart(ctx context.Context, appid, bucket, key, id string, p *Part, intents []int64, gcDue int64) error {
	blobs := blobsJSON(p.Blobs)
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.bucketHeld(ctx, tx, bucket, appid); err != nil {
			return err
		}
		if _, err := s.upload(ctx, tx, id, bucket, key, s.forUpdate()); err != nil {
			return err
		}
		var old string
		err := tx.QueryRowContext(ctx, "SELECT blobs FROM s3_parts WHERE upload_id = ? AND part_number = ?", id, p.Number).Scan(&old)
		switch {
		case err == sql.ErrNoRows:
			_, err = tx.ExecContext(ctx, "INSERT INTO s3_parts (upload_id, part_number, etag, size, mtime, blobs, checksum) VALUES (?, ?, ?, ?, ?, ?, ?)",
				id, p.Number, p.ETag, p.Size, p.MTime.UnixMilli(), blobs, p.Checksum)
			if err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			if _, err := tx.ExecContext(ctx, "UPDATE s3_parts SET etag = ?, size = ?, mtime = ?, blobs = ?, checksum = ? WHERE upload_id = ? AND part_number = ?",
				p.ETag, p.Size, p.MTime.UnixMilli(), blobs, p.Checksum, id, p.Number); err != nil {
				return err
			}
			ob, err := parseBlobs(fmt.Sprintf("upload %s part %d", id, p.Number), old)
			if err != nil {
				return err
			}
			if err := gcInsert(ctx, tx, appid, ob, gcDue); err != nil {
				return err
			}
		}
		return s.dropIntents(ctx, tx, intents)
	})
}

func (s *SQL) Parts(ctx context.Context, id string, after, limit int) ([]Part, error) {
	return s.parts(ctx, s.db, id, after, limit)
}

func (s *SQL) parts(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, id string, after, limit int) ([]Part, error) {
	return queryAll(ctx, q, "SELECT part_number, etag, size, mtime, blobs, checksum FROM s3_parts WHERE upload_id = ? AND part_number > ? ORDER BY part_number LIMIT ?",
		[]any{id, after, limit}, func(sc rowScanner) (Part, error) {
			var p Part
			var mt int64
			var blobs string
			if err := sc.Scan(&p.Number, &p.ETag, &p.Size, &mt, &blobs, &p.Checksum); err != nil {
				return p, err
			}
			p.MTime = millis(mt)
			var err error
			p.Blobs, err = parseBlobs(fmt.Sprintf("upload %s part %d", id, p.Number), blobs)
			return p, err
		})
}

// maxParts is one more than S3 allows, so that every part is read.
const maxParts = 10001

func (s *SQL) CompleteUpload(ctx context.Context, appid, bucket, key, id string, gcDue int64, cond PutCond, build func(*Upload, []Part) (*Object, error)) (*Object, error) {
	var o *Object
	err := s.fencedTx(ctx, touchedKey(bucket, key), func(tx *sql.Tx) error {
		if err := s.bucketHeld(ctx, tx, bucket, appid); err != nil {
			return err
		}
		u, err := s.upload(ctx, tx, id, bucket, key, s.forUpdate())
		if err != nil {
			return err
		}
		ps, err := s.parts(ctx, tx, id, 0, maxParts)
		if err != nil {
			return err
		}
		if o, err = build(u, ps); err != nil {
			return err
		}
		replaced, err := s.putObjectTx(ctx, tx, appid, o, cond)
		if err != nil {
			return err
		}
		if err := gcInsert(ctx, tx, appid, replaced, gcDue); err != nil {
			return err
		}
		return s.dropUploadTx(ctx, tx, appid, id, ps, o.Blobs, gcDue)
	})
	if err != nil {
		return nil, err
	}
	return o, nil
}

func (s *SQL) AbortUpload(ctx context.Context, appid, bucket, key, id string, gcDue int64) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.upload(ctx, tx, id, bucket, key, s.forUpdate()); err != nil {
			return err
		}
		return s.dropUploadTx(ctx, tx, appid, id, nil, nil, gcDue)
	})
}

// dropUploadTx deletes an upload and its parts in tx and queues the blobs
// of its parts that keep does not list. ps are the parts, read in tx; nil
// reads them.
func (s *SQL) dropUploadTx(ctx context.Context, tx *sql.Tx, appid, id string, ps []Part, keep []Blob, gcDue int64) error {
	if ps == nil {
		var err error
		if ps, err = s.parts(ctx, tx, id, 0, maxParts); err != nil {
			return err
		}
	}
	var all []Blob
	for _, p := range ps {
		all = append(all, p.Blobs...)
	}
	if err := gcInsert(ctx, tx, appid, gone(all, keep), gcDue); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM s3_parts WHERE upload_id = ?", id); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, "DELETE FROM s3_multipart WHERE upload_id = ?", id)
	return err
}
