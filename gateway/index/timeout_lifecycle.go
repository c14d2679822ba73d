package index

import (
	"context"
	"time"
)

func (t *bounded) LifecycleConfig(ctx context.Context, bucket string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.LifecycleConfig(ctx, bucket)
}

func (t *bounded) SetLifecycleConfig(ctx context.Context, bucket, doc string) error {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.SetLifecycleConfig(ctx, bucket, doc)
}

func (t *bounded) LifecycleStates(ctx context.Context) ([]LifecycleState, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.LifecycleStates(ctx)
}

func (t *bounded) TakeLifecycleLease(ctx context.Context, bucket, owner string, now, until int64) (*LifecycleState, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.TakeLifecycleLease(ctx, bucket, owner, now, until)
}

func (t *bounded) SaveLifecycleProgress(ctx context.Context, l LeaseRef, p LifecycleProgress, now, until int64) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.SaveLifecycleProgress(ctx, l, p, now, until)
}

func (t *bounded) ExpiryScan(ctx context.Context, bucket, after string, limit int) ([]ExpiryRow, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.ExpiryScan(ctx, bucket, after, limit)
}

func (t *bounded) ExpireObject(ctx context.Context, l LeaseRef, appid, key string, version, now, gcDue int64) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.ExpireObject(ctx, l, appid, key, version, now, gcDue)
}

func (t *bounded) ExpireUpload(ctx context.Context, l LeaseRef, appid, key, id string, now, gcDue int64) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.ExpireUpload(ctx, l, appid, key, id, now, gcDue)
}

func (t *bounded) ExpireCurrentVersion(ctx context.Context, l LeaseRef, appid string, cur Version, v Versioning, at time.Time, gcDue int64) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.ExpireCurrentVersion(ctx, l, appid, cur, v, at, gcDue)
}

func (t *bounded) ExpireVersion(ctx context.Context, l LeaseRef, appid string, ver Version, at time.Time, gcDue int64) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.ExpireVersion(ctx, l, appid, ver, at, gcDue)
}
