package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/tnv-s3/tnv/gateway/index"
	"github.com/tnv-s3/tnv/metadb"
)

// Share is a share link's record (tnv admin share, the status page).
type Share = index.Share

// ShareOptions are the fields of a link made by an operator
// (tnv admin share create), as the POST /_tnv/share body has them.
type ShareOptions struct {
	Bucket, Prefix string
	ExpiresIn      time.Duration
	MaxViewers     int
	Rate           int64
	Owner          string // recorded as the link's maker
}

// CreateShare makes a link in db and returns its token (shown once: only
// its hash is stored) and record.
func CreateShare(ctx context.Context, db *metadb.DB, o ShareOptions, now time.Time) (string, *Share, error) {
	secs := int64(o.ExpiresIn / time.Second)
	switch {
	case !validBucketName(o.Bucket):
		return "", nil, fmt.Errorf("%q is not a bucket name", o.Bucket)
	case len(o.Prefix) > 1024 || !utf8.ValidString(o.Prefix):
		return "", nil, errors.New("the prefix must be UTF-8 of at most 1024 bytes")
	case secs < 1 || secs > maxShareExpires:
		return "", nil, fmt.Errorf("the link must expire in 1 s to %d s", maxShareExpires)
	case o.MaxViewers < 0 || o.MaxViewers > maxShareViewers:
		return "", nil, fmt.Errorf("max viewers must be 0 (no limit) to %d", maxShareViewers)
	case o.Rate < 0 || (o.Rate > 0 && o.Rate < minShareRate):
		return "", nil, fmt.Errorf("the rate must be 0 (no cap) or at least %d bytes/s", minShareRate)
	}
	idx := index.NewSQL(db)
	defer idx.Close()
	b, err := idx.Bucket(ctx, o.Bucket)
	if err != nil {
		return "", nil, fmt.Errorf("bucket %s: %w", o.Bucket, err)
	}
	now = now.UTC().Truncate(time.Second)
	token, hash := newShareToken()
	s := &Share{Hash: hash, Bucket: o.Bucket, AppID: b.AppID, Prefix: o.Prefix, Owner: o.Owner, Created: now,
		Expires: now.Add(time.Duration(secs) * time.Second), MaxViewers: o.MaxViewers, Rate: o.Rate}
	if err := idx.CreateShare(ctx, s); err != nil {
		return "", nil, err
	}
	return token, s, nil
}

// ListShares lists every link, newest first.
func ListShares(ctx context.Context, db *metadb.DB) ([]Share, error) {
	idx := index.NewSQL(db)
	defer idx.Close()
	return idx.ShareList(ctx)
}

// RevokeShare revokes a link named by its token or by its hash (as
// ListShares shows it). Gateways stop serving it within shareCacheTTL.
func RevokeShare(ctx context.Context, db *metadb.DB, tokenOrHash string) error {
	hash := tokenOrHash
	if h, err := parseShareToken(tokenOrHash); err == nil {
		hash = h
	}
	idx := index.NewSQL(db)
	defer idx.Close()
	if err := idx.RevokeShare(ctx, hash); err != nil {
		return fmt.Errorf("share link: %w", err)
	}
	return nil
}

// ShareURL is the link of a token on endpoint ("http://host:port").
func ShareURL(endpoint, token string) string {
	return endpoint + sharePrefix + "/" + token + "/"
}
