package index

import (
	"context"
	"time"
)

func (t *bounded) SetVersioning(ctx context.Context, bucket string, v Versioning) error {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.SetVersioning(ctx, bucket, v)
}

func (t *bounded) SetObjectLock(ctx context.Context, bucket string, cfg *LockConfig) error {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.SetObjectLock(ctx, bucket, cfg)
}

func (t *bounded) ObjectVersion(ctx context.Context, bucket, key, versionID string) (*Object, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.ObjectVersion(ctx, bucket, key, versionID)
}

func (t *bounded) PutDeleteMarker(ctx context.Context, appid, bucket, key string, v Versioning, mtime time.Time, gcDue int64) (*Object, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.PutDeleteMarker(ctx, appid, bucket, key, v, mtime, gcDue)
}

func (t *bounded) DeleteVersion(ctx context.Context, appid, bucket, key, versionID string, bypass bool, gcDue int64) (*Object, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.DeleteVersion(ctx, appid, bucket, key, versionID, bypass, gcDue)
}

func (t *bounded) UpdateVersion(ctx context.Context, bucket, key, versionID string, fn func(*Object) error) (*Object, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.UpdateVersion(ctx, bucket, key, versionID, fn)
}

func (t *bounded) ListVersions(ctx context.Context, bucket, key string, incl bool, afterVersion, upTo string, limit int) ([]Version, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.ListVersions(ctx, bucket, key, incl, afterVersion, upTo, limit)
}

func (t *bounded) ExpiredDeleteMarkers(ctx context.Context, bucket, afterKey string, limit int) ([]Version, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.ExpiredDeleteMarkers(ctx, bucket, afterKey, limit)
}
