package gateway

import (
	"context"
	"errors"
	"fmt"

	"github.com/tnv-s3/tnv/gateway/index"
	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/s3err"
)

// The gateway's records live in an index.Index; these are its types under
// the names the handlers use.
type (
	// Bucket is a bucket of the index.
	Bucket = index.Bucket
	// User is an access key of the gateway's user table.
	User    = index.User
	object  = index.Object
	blob    = index.Blob
	headers = index.Headers
	upload  = index.Upload
	part    = index.Part
	putCond = index.PutCond
	listRow = index.ListRow
)

var errNotFound = index.ErrNotFound

// indexErrors are the index's refusals that a client is told as they are.
var indexErrors = []struct {
	err  error
	code s3err.Code
}{
	{index.ErrBucketNotEmpty, s3err.BucketNotEmpty},
	{index.ErrExists, s3err.PreconditionFailed},
	{index.ErrPrecondition, s3err.PreconditionFailed},
	{index.ErrConflict, s3err.ConditionalRequestConflict},
	{index.ErrNoSuchUpload, s3err.NoSuchUpload},
	{index.ErrNoSuchBucket, s3err.NoSuchBucket},
}

// fromIndex is the S3 error of an index refusal, or nil.
func fromIndex(err error) *s3Error {
	for _, ie := range indexErrors {
		if errors.Is(err, ie.err) {
			e := errCode(ie.code)
			e.cause = err
			return e
		}
	}
	if errors.Is(err, index.ErrIntentLost) {
		e := errMsg(s3err.InternalError, "The upload outlived its intent record and its data is being collected; send it again.")
		e.cause = err
		return e
	}
	return nil
}

// Component is the name of the gateway's migrations in tnv_schema.
const Component = index.Component

// Migrate creates or upgrades the gateway's tables.
func Migrate(ctx context.Context, db *metadb.DB) error { return index.Migrate(ctx, db) }

// The functions below serve `tnv admin` on the gateway's tables.

// AddUser stores an access key and its secret (at least MinSecretLen
// characters); an existing key is an error.
func AddUser(ctx context.Context, db *metadb.DB, accessKey, secret string) error {
	if len(secret) < MinSecretLen {
		return fmt.Errorf("access key (1..128 bytes) and secret (%d..256 bytes) are required", MinSecretLen)
	}
	return index.NewSQL(db).AddUser(ctx, accessKey, secret)
}

// ListUsers returns the users, by access key.
func ListUsers(ctx context.Context, db *metadb.DB) ([]User, error) {
	return index.NewSQL(db).Users(ctx)
}

// ListBuckets returns every bucket (owner "") or an owner's, by name.
func ListBuckets(ctx context.Context, db *metadb.DB, owner string) ([]Bucket, error) {
	return index.NewSQL(db).Buckets(ctx, owner)
}

// BucketUsage returns how many objects a bucket holds and their total size.
func BucketUsage(ctx context.Context, db *metadb.DB, name string) (objects, bytes int64, err error) {
	return index.NewSQL(db).Usage(ctx, name)
}
