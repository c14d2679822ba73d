package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tnv-s3/tnv/gateway/index"
	"github.com/tnv-s3/tnv/metadb"
)

// MinSecretLen is the shortest secret key accepted where one is created or
// given (AddUser, the root key on the command line): AWS's own are 40
// characters; 16 random ones are out of reach of guessing.
const MinSecretLen = 16

// RemoveUserOptions say what becomes of the buckets of a user removed.
// Without either, RemoveUser refuses while the user owns a bucket: a bucket
// whose owner cannot sign in is reachable by the root key only, which is
// seldom what the one removing the user meant.
type RemoveUserOptions struct {
	ReassignTo    string // hand the buckets to this user
	DeleteBuckets bool   // delete the buckets; empty ones only
}

// OwnsBucketsError is RemoveUser's refusal: the user owns buckets.
type OwnsBucketsError struct {
	User    string
	Buckets []string
}

func (e *OwnsBucketsError) Error() string {
	return fmt.Sprintf("user %s owns %s: --reassign-to KEY hands them to another user, --delete-buckets deletes them (empty ones only)",
		e.User, bucketList(e.Buckets))
}

// NotEmptyError is RemoveUser's refusal to delete buckets that hold
// objects: those are the users' data, deleted by S3 requests, not by an
// administrator's side effect.
type NotEmptyError struct {
	Buckets []string
}

func (e *NotEmptyError) Error() string {
	return fmt.Sprintf("%s not empty: --delete-buckets deletes empty buckets only; empty them first (aws s3 rm --recursive) or use --reassign-to KEY; nothing was changed",
		bucketList(e.Buckets))
}

func bucketList(bs []string) string {
	if len(bs) == 1 {
		return "bucket " + bs[0]
	}
	return fmt.Sprintf("%d buckets (%s)", len(bs), strings.Join(bs, ", "))
}

// RemoveUser deletes an access key and, as opt says, hands its buckets to
// another user or deletes them. It returns the names of the buckets moved
// or deleted.
func RemoveUser(ctx context.Context, db *metadb.DB, accessKey string, opt RemoveUserOptions) ([]string, error) {
	if opt.ReassignTo != "" && opt.DeleteBuckets {
		return nil, errors.New("--reassign-to and --delete-buckets: give one of them")
	}
	if opt.ReassignTo == accessKey {
		return nil, fmt.Errorf("cannot reassign the buckets of %s to itself", accessKey)
	}
	idx := index.NewSQL(db)
	defer idx.Close()
	if err := userExists(ctx, idx, accessKey); err != nil {
		return nil, err
	}
	owned, err := idx.Buckets(ctx, accessKey)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, b := range owned {
		names = append(names, b.Name)
	}
	switch {
	case len(owned) == 0:
	case opt.ReassignTo != "":
		if err := userExists(ctx, idx, opt.ReassignTo); err != nil {
			return nil, err
		}
	case opt.DeleteBuckets:
		var full []string
		for _, b := range owned {
			n, _, err := idx.Usage(ctx, b.Name)
			if err != nil {
				return nil, err
			}
			if n > 0 {
				full = append(full, b.Name)
			}
		}
		if len(full) > 0 {
			return nil, &NotEmptyError{Buckets: full}
		}
		for i := range owned {
			// Its unfinished uploads' blobs go to the gateways' collector.
			if err := idx.DeleteBucket(ctx, &owned[i], metadb.Now()); err != nil {
				return names[:i], fmt.Errorf("delete bucket %s (an object arrived?): %w; user %s kept", owned[i].Name, err, accessKey)
			}
		}
	default:
		return nil, &OwnsBucketsError{User: accessKey, Buckets: names}
	}
	// One transaction: the user goes and its buckets (those it created
	// meanwhile too) change hands together.
	err = idx.RemoveUser(ctx, accessKey, opt.ReassignTo)
	if errors.Is(err, index.ErrOwnsBuckets) {
		return nil, fmt.Errorf("user %s created a bucket meanwhile: run the command again", accessKey)
	}
	if err != nil {
		return nil, err
	}
	return names, nil
}

// SetBucketOwner hands a bucket to another user.
func SetBucketOwner(ctx context.Context, db *metadb.DB, bucket, accessKey string) error {
	idx := index.NewSQL(db)
	defer idx.Close()
	if err := userExists(ctx, idx, accessKey); err != nil {
		return err
	}
	return idx.SetBucketOwner(ctx, bucket, accessKey)
}

func userExists(ctx context.Context, idx index.Index, accessKey string) error {
	_, ok, err := idx.Secret(ctx, accessKey)
	if err == nil && !ok {
		return fmt.Errorf("user %s: %w (tnv admin user list shows the users)", accessKey, errNotFound)
	}
	return err
}

// SetUserAdmin lets a user read the cluster's status page and metrics on
// the S3 port (/_tnv/status, /_tnv/metrics), or no longer. It gives no
// access to other users' buckets.
func SetUserAdmin(ctx context.Context, db *metadb.DB, accessKey string, on bool) error {
	idx := index.NewSQL(db)
	defer idx.Close()
	return idx.SetAdmin(ctx, accessKey, on)
}

// Admins returns the access keys of the admin users.
func Admins(ctx context.Context, db *metadb.DB) (map[string]bool, error) {
	users, err := index.NewSQL(db).Users(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, u := range users {
		if u.Admin {
			out[u.AccessKey] = true
		}
	}
	return out, nil
}
