package status

import (
	"context"
	"time"

	"github.com/tnv-s3/tnv/gateway/index"
)

// maxPageShares bounds the links the page lists.
const maxPageShares = 200

// activeShares lists the links neither revoked nor expired, for the page.
func activeShares(ctx context.Context, cfg Config, now time.Time) ([]index.Share, error) {
	if cfg.Shares == nil {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	all, err := cfg.Shares(ctx)
	if err != nil {
		return nil, err
	}
	var out []index.Share
	for _, s := range all {
		if !s.Revoked && now.Before(s.Expires) && len(out) < maxPageShares {
			out = append(out, s)
		}
	}
	return out, nil
}
