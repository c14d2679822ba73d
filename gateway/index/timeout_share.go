package index

import (
	"context"
	"time"
)

func (t *bounded) CreateShare(ctx context.Context, s *Share) error {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.CreateShare(ctx, s)
}

func (t *bounded) Share(ctx context.Context, hash string) (*Share, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.Share(ctx, hash)
}

func (t *bounded) ShareList(ctx context.Context) ([]Share, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.ShareList(ctx)
}

func (t *bounded) RevokeShare(ctx context.Context, hash string) error {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.RevokeShare(ctx, hash)
}

func (t *bounded) AdmitViewer(ctx context.Context, hash, addr string, now time.Time) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.AdmitViewer(ctx, hash, addr, now)
}
