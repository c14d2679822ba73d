package index

import (
	"context"
	"time"
)

// Shares are the records of share links (gateway/share*.go): a token
// grants anonymous reads of one bucket's keys under a prefix until it
// expires or is revoked. Only the token's SHA-256 is stored.
type Shares interface {
	// CreateShare stores a new link; ErrExists when its hash is taken.
	CreateShare(ctx context.Context, s *Share) error
	// Share loads a link by hash with its viewer count (ErrNotFound).
	Share(ctx context.Context, hash string) (*Share, error)
	// ShareList lists every link (revoked and expired included), newest
	// first.
	ShareList(ctx context.Context) ([]Share, error)
	// RevokeShare marks a link revoked (ErrNotFound for no such link).
	RevokeShare(ctx context.Context, hash string) error
	// AdmitViewer records addr as a viewer of a link. A known viewer is
	// admitted again; a new one only while the link has fewer than
	// MaxViewers (0: no limit) viewers. Atomic across gateways sharing the
	// database. ErrNotFound for no such link.
	AdmitViewer(ctx context.Context, hash, addr string, now time.Time) (admitted bool, err error)
}

// Share is a share link's record.
type Share struct {
	Hash       string // hex SHA-256 of the token
	Bucket     string
	AppID      string // the bucket's app ID: a bucket made again later under the name is another
	Prefix     string
	Owner      string // the access key that made it
	Created    time.Time
	Expires    time.Time // second precision
	MaxViewers int       // distinct client addresses; 0: no limit
	Rate       int64     // bytes per second per viewer; 0: no cap
	Revoked    bool
	Viewers    int // distinct client addresses admitted so far (read only)
}
