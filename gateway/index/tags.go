package index

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
)

// Tag sets: an object's in its headers (Headers.Tags), a bucket's in
// s3_buckets.tags as JSON.

func tagsJSON(tags []Tag) any {
	if len(tags) == 0 {
		return nil // NULL: no tag set
	}
	b, _ := json.Marshal(tags)
	return string(b)
}

func (s *SQL) BucketTags(ctx context.Context, bucket string) ([]Tag, error) {
	var doc sql.NullString
	err := s.db.QueryRowContext(ctx, "SELECT tags FROM s3_buckets WHERE name = ?", bucket).Scan(&doc)
	if err == sql.ErrNoRows {
		return nil, ErrNotFound
	}
	if err != nil || !doc.Valid {
		return nil, err
	}
	var tags []Tag
	if err := json.Unmarshal([]byte(doc.String), &tags); err != nil {
		return nil, fmt.Errorf("bucket %s: tags: %w", bucket, err)
	}
	return tags, nil
}

func (s *SQL) SetBucketTags(ctx context.Context, bucket string, tags []Tag) error {
	n, err := affected(s.db.ExecContext(ctx, "UPDATE s3_buckets SET tags = ? WHERE name = ?", tagsJSON(tags), bucket))
	if err != nil {
		return err
	}
	if n == 0 { // no such bucket, or (MySQL counts changed rows) no change
		if _, err := s.Bucket(ctx, bucket); err != nil {
			return fmt.Errorf("bucket %s: %w", bucket, err)
		}
	}
	return nil
}

func (s *SQL) SetObjectTags(ctx context.Context, bucket, key string, tags []Tag) error {
	return s.updateHeaders(ctx, bucket, key, func(h *Headers) { h.Tags = tags })
}

// updateHeaders changes the stored headers of an object (its tags, its
// ACL) without touching its bytes; the change counts as a new version for
// PutCond.IfVersion. ErrNotFound for no such object.
func (s *SQL) updateHeaders(ctx context.Context, bucket, key string, change func(*Headers)) error {
	return s.fencedTx(ctx, touchedKey(bucket, key), func(tx *sql.Tx) error {
		var hdr string
		var version int64
		err := tx.QueryRowContext(ctx, "SELECT headers, version FROM s3_objects WHERE bucket = ? AND okey = ?"+s.forUpdate(), bucket, []byte(key)).Scan(&hdr, &version)
		if err == sql.ErrNoRows {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		var h Headers
		if err := parseHeaders(fmt.Sprintf("object %s/%q", bucket, key), hdr, &h); err != nil {
			return err
		}
		change(&h)
		_, err = tx.ExecContext(ctx, "UPDATE s3_objects SET headers = ?, version = ? WHERE bucket = ? AND okey = ?", headersJSON(h), version+1, bucket, []byte(key))
		return err
	})
}

func (m *Memory) BucketTags(_ context.Context, bucket string) ([]Tag, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.buckets[bucket]; !ok {
		return nil, ErrNotFound
	}
	return slices.Clone(m.bucketTags[bucket]), nil
}

func (m *Memory) SetBucketTags(_ context.Context, bucket string, tags []Tag) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.buckets[bucket]; !ok {
		return fmt.Errorf("bucket %s: %w", bucket, ErrNotFound)
	}
	if m.bucketTags == nil {
		m.bucketTags = map[string][]Tag{}
	}
	if len(tags) == 0 {
		delete(m.bucketTags, bucket)
		return nil
	}
	m.bucketTags[bucket] = slices.Clone(tags)
	return nil
}

func (m *Memory) SetObjectTags(_ context.Context, bucket, key string, tags []Tag) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objects[bucket][key]
	if !ok {
		return ErrNotFound
	}
	if len(tags) == 0 {
		tags = nil // as the SQL index reads it back (omitempty)
	}
	o.Headers.Tags = slices.Clone(tags)
	o.Version++
	return nil
}

func (t *bounded) BucketTags(ctx context.Context, bucket string) ([]Tag, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.BucketTags(ctx, bucket)
}

func (t *bounded) SetBucketTags(ctx context.Context, bucket string, tags []Tag) error {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.SetBucketTags(ctx, bucket, tags)
}

func (t *bounded) SetObjectTags(ctx context.Context, bucket, key string, tags []Tag) error {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.SetObjectTags(ctx, bucket, key, tags)
}
