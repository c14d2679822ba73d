// Package index is the S3 layer's object index: users, buckets, objects,
// multipart uploads and the collector's queue of blobs to delete. It is the
// gateway's counterpart of BlobStore: the gateway keeps bytes in a
// BlobStore and everything it knows about them in an Index, and runs no
// SQL of its own.
//
// SQL (MySQL/MariaDB or SQLite through metadb) is the implementation the
// gateway runs on; Memory is one for fast tests. Both pass the same suite
// (index_test.go).
package index

import (
	"context"
	"errors"
	"time"
)

// Index is everything the gateway reads and writes besides blob bytes.
// Methods that change more than one row do it atomically. gcDue arguments
// are Unix seconds at which blobs released by the call become due for
// deletion.
type Index interface {
	// Secret returns an access key's secret; ok is false for no such key.
	Secret(ctx context.Context, accessKey string) (secret string, ok bool, err error)
	AddUser(ctx context.Context, accessKey, secret string) error
	// RemoveUser deletes an access key (ErrNotFound) and, with
	// reassignTo, hands its buckets to that user (ErrNotFound when it is
	// not one) in the same transaction; without, a user owning a bucket is
	// refused with ErrOwnsBuckets.
	RemoveUser(ctx context.Context, accessKey, reassignTo string) error
	Users(ctx context.Context) ([]User, error) // by access key
	// SetAdmin lets a user read the cluster's status and metrics, or no
	// longer (ErrNotFound for no such user); IsAdmin tells.
	SetAdmin(ctx context.Context, accessKey string, on bool) error
	IsAdmin(ctx context.Context, accessKey string) (bool, error)
	// SetBucketOwner hands a bucket to a user; ErrNotFound when either is
	// missing.
	SetBucketOwner(ctx context.Context, bucket, owner string) error

	Bucket(ctx context.Context, name string) (*Bucket, error) // ErrNotFound
	// Buckets lists every bucket (owner "") or an owner's, by name.
	Buckets(ctx context.Context, owner string) ([]Bucket, error)
	// CreateBucket creates a bucket with a fresh app ID; when the name is
	// taken it creates nothing and returns the existing bucket.
	CreateBucket(ctx context.Context, name, owner string) (existing *Bucket, err error)
	// DeleteBucket removes an empty bucket (else ErrBucketNotEmpty) and its
	// unfinished uploads, releasing their blobs; a bucket already gone, or
	// another under b's name, is ErrNoSuchBucket.
	//
	// It and the writes that add to a bucket (PutObject, CreateUpload,
	// PutPart, CompleteUpload, PutDeleteMarker, each given the app ID the
	// caller read the bucket with) are serialised on the bucket: a write
	// either commits before DeleteBucket looks for objects (which then finds
	// them) or fails with ErrNoSuchBucket, so no row outlives its bucket and
	// none lands in a bucket created again under the name.
	DeleteBucket(ctx context.Context, b *Bucket, gcDue int64) error
	SetCORS(ctx context.Context, bucket, doc string) error // doc "" removes it
	// SetEncryption sets a bucket's default server-side encryption
	// ("AES256", or "" for none); ErrNotFound for no such bucket.
	SetEncryption(ctx context.Context, bucket, alg string) error
	SetPublic(ctx context.Context, bucket string, on bool) error // ErrNotFound
	Usage(ctx context.Context, bucket string) (objects, bytes int64, err error)
	// BucketTags returns a bucket's tag set (nil: none); ErrNotFound for
	// no such bucket. SetBucketTags replaces it (nil removes it).
	BucketTags(ctx context.Context, bucket string) ([]Tag, error)
	SetBucketTags(ctx context.Context, bucket string, tags []Tag) error

	// BucketObject looks up a bucket and one of its objects at once (GET
	// and HEAD need both). The object is nil when the bucket has no such
	// key; a missing bucket is ErrNotFound.
	BucketObject(ctx context.Context, bucket, key string) (*Bucket, *Object, error)
	Object(ctx context.Context, bucket, key string) (*Object, error) // ErrNotFound
	// PutObject publishes o (whose blobs are durable) under cond, sets
	// o.Version, releases the blobs of the object it replaces that o does
	// not list, and drops the intent records that guarded o's blobs
	// (ErrIntentLost if one is gone or due).
	PutObject(ctx context.Context, appid string, o *Object, cond PutCond, intents []int64, gcDue int64) error
	// SetObjectTags replaces the tag set of an object (nil removes it)
	// without changing its bytes, ETag or MTime; it counts as a new
	// version for PutCond.IfVersion. ErrNotFound for no such object.
	SetObjectTags(ctx context.Context, bucket, key string, tags []Tag) error
	// DeleteObject removes a key and releases its blobs; found is false
	// (and err nil) for a missing key.
	DeleteObject(ctx context.Context, appid, bucket, key string, gcDue int64) (found bool, err error)
	// ScanKeys returns up to limit objects of bucket with keys after from
	// (inclusive when incl) and below upTo (no bound when ""), in byte
	// order.
	ScanKeys(ctx context.Context, bucket, from string, incl bool, upTo string, limit int) ([]ListRow, error)

	CreateUpload(ctx context.Context, appid string, u *Upload) error
	// Upload loads an upload of bucket/key; a missing one, or another
	// bucket's or key's, is ErrNoSuchUpload.
	Upload(ctx context.Context, id, bucket, key string) (*Upload, error)
	// Uploads lists up to limit uploads of bucket after (keyMarker,
	// idMarker), by key then ID.
	Uploads(ctx context.Context, bucket, keyMarker, idMarker string, limit int) ([]Upload, error)
	// PutPart records a part of an upload of bucket/key, replacing (and
	// releasing the blobs of) an earlier one of the same number, and drops
	// the part's intent records as PutObject does.
	PutPart(ctx context.Context, appid, bucket, key, id string, p *Part, intents []int64, gcDue int64) error
	// Parts lists up to limit parts numbered above after, by number.
	Parts(ctx context.Context, id string, after, limit int) ([]Part, error)
	// CompleteUpload turns an upload of bucket/key into an object: build
	// makes the object from the upload and its parts (its error aborts
	// the completion and is returned as it is), the object is put, and
	// the blobs of the object replaced and of parts the object does not
	// list are released with the upload.
	// cond is checked in the same transaction, after build: a refused
	// completion leaves the object as it was and the upload completable.
	CompleteUpload(ctx context.Context, appid, bucket, key, id string, gcDue int64, cond PutCond, build func(*Upload, []Part) (*Object, error)) (*Object, error)
	// AbortUpload drops an upload of bucket/key and releases its parts'
	// blobs.
	AbortUpload(ctx context.Context, appid, bucket, key, id string, gcDue int64) error

	// ReserveIntents writes intent records, due at due, for blobs about to
	// be written, all at once, and returns their IDs in order.
	ReserveIntents(ctx context.Context, appid string, names []BlobName, due int64) ([]int64, error)
	// DropIntents deletes intent records of names never written.
	DropIntents(ctx context.Context, ids []int64) error
	// ExpediteIntents makes the records of failed writes due now.
	ExpediteIntents(ctx context.Context, ids []int64) error
	// DueBlobs lists up to limit queued blobs due at now, earliest first.
	DueBlobs(ctx context.Context, now int64, limit int) ([]GCRow, error)
	// Collected removes a queued blob that was deleted.
	Collected(ctx context.Context, id int64) error
	// Postpone makes a queued blob whose deletion failed due again at due
	// and counts the try.
	Postpone(ctx context.Context, id int64, due int64) error

	// Share links (share.go).
	Shares
	// Lifecycle configurations and their passes' leases (lifecycle.go).
	Lifecycles

	// Bucket policies and ACLs (access.go).
	AccessControl
	// Versions and object lock (versions.go).
	Versions

	// Close releases what the index holds (prepared statements); not the
	// database.
	Close() error
}

// Errors callers branch on.
var (
	ErrNotFound       = errors.New("not found")
	ErrBucketNotEmpty = errors.New("bucket not empty")
	// ErrExists: PutCond.IfNoneMatchStar and the key exists.
	ErrExists = errors.New("object exists")
	// ErrPrecondition: PutCond.IfMatch and the object has another ETag.
	ErrPrecondition = errors.New("the object's ETag does not match")
	// ErrConflict: another write changed the object first.
	ErrConflict     = errors.New("conflicting write")
	ErrNoSuchUpload = errors.New("no such upload")
	// ErrNoSuchBucket: a write into a bucket that was deleted (or deleted
	// and created again under its name) after the caller read it.
	ErrNoSuchBucket = errors.New("no such bucket")
	// ErrOwnsBuckets: RemoveUser of a user who owns buckets, without
	// reassignTo.
	ErrOwnsBuckets = errors.New("the user owns buckets")
	// ErrIntentLost: a blob's intent record was gone or due when its
	// object was published, so the collector may be deleting the blob.
	ErrIntentLost = errors.New("the upload outlived its intent record and its data is being collected")
)

// User is an access key.
type User struct {
	AccessKey string
	Secret    string
	Created   time.Time
	Admin     bool // may read the cluster's status and metrics
}

// Bucket is a bucket and its settings.
type Bucket struct {
	Name       string
	AppID      string
	Owner      string
	Created    time.Time
	PublicRead bool
	CORS       string // the CORSConfiguration XML as stored, or ""
	// Encryption is the default server-side encryption of new objects:
	// "AES256" (SSE-S3) or "" (none).
	Encryption string
	Versioning Versioning
	ObjectLock *LockConfig // nil: object lock not enabled
}

// Blob is one TNV file holding a run of an object's bytes.
type Blob struct {
	UserID string `json:"u"`
	FileID string `json:"f"`
	Size   int64  `json:"s"`
	Part   int    `json:"p,omitempty"` // multipart part number
	// Sum is, on the first blob of a part of a completed upload made with
	// a checksum algorithm, that part's checksum (base64): what
	// GetObjectAttributes lists and a composite checksum is made of.
	Sum string `json:"c,omitempty"`
}

// BlobName names a blob to be written.
type BlobName struct{ UserID, FileID string }

// Headers are what S3 stores with an object and returns on GET.
type Headers struct {
	ContentType        string            `json:"ct,omitempty"`
	ContentDisposition string            `json:"cd,omitempty"`
	ContentEncoding    string            `json:"ce,omitempty"`
	ContentLanguage    string            `json:"cl,omitempty"`
	CacheControl       string            `json:"cc,omitempty"`
	Expires            string            `json:"ex,omitempty"`
	Meta               map[string]string `json:"m,omitempty"` // lower-case names without x-amz-meta-
	// Tags is the object's tag set in the order it was given: stored with
	// the headers so that it is written, replaced and deleted with the
	// object (and an upload) in the same row.
	Tags []Tag `json:"tg,omitempty"`
	// SSE is how the object (or an upload's parts) is encrypted; nil:
	// stored as sent.
	SSE *SSE `json:"se,omitempty"`
	// ACL is the object's ACL (nil: the bucket owner has full control);
	// like the tags it goes with the object's row.
	ACL *ACL `json:"acl,omitempty"`
	// Checksum is the object's additional checksum (checksum.go); on an
	// upload, the algorithm and type it was created with, without a value.
	Checksum *Checksum `json:"ck,omitempty"`
	// Lock is the object lock state of the version (versions.go).
	Lock Lock `json:"lk,omitzero"`
}

// SSE is what the index keeps of an encrypted object: its data key only
// sealed, and for SSE-C a salted HMAC of the customer's key, never the key
// (gateway/sse).
type SSE struct {
	Kind   string `json:"k"`           // SSEKindS3 or SSEKindC
	Sealed []byte `json:"s"`           // the data key, sealed
	Master string `json:"m,omitempty"` // SSE-S3: ID of the master key that sealed it
	Salt   []byte `json:"a,omitempty"` // SSE-C
	KeyID  []byte `json:"i,omitempty"` // SSE-C: salted HMAC of the customer key
}

// The kinds of server-side encryption.
const (
	SSEKindS3 = "S3" // SSE-S3: the gateway's master key
	SSEKindC  = "C"  // SSE-C: the customer's key, sent with each request
)

// Tag is one object or bucket tag.
type Tag struct {
	Key   string `json:"k"`
	Value string `json:"v"`
}

// Object is an object of the index.
type Object struct {
	Bucket  string
	Key     string
	Size    int64
	ETag    string // without quotes
	Headers Headers
	MTime   time.Time // millisecond precision
	Blobs   []Blob
	Parts   int
	Version int64 // 1 when created, +1 at each replacement
	// VersionID is the S3 version ID (NullVersion for objects written
	// unversioned or suspended); DeleteMarker and NoncurrentSince are
	// those of versions loaded by ObjectVersion (versions.go).
	VersionID       string
	DeleteMarker    bool
	NoncurrentSince time.Time
}

// PutCond are the preconditions of publishing an object.
type PutCond struct {
	IfNoneMatchStar bool  // fail with ErrExists if the key exists
	IfVersion       int64 // > 0: the object must still be this version, else ErrConflict
	// IfMatch, when set, is the ETag (without quotes) the object must
	// have: ErrNotFound when there is none, ErrPrecondition when it has
	// another.
	IfMatch string
	// Versioning is the bucket's state: Enabled keeps the current object
	// as a noncurrent version and gives o a new version ID; Suspended
	// replaces the key's null version (and keeps a non-null current one);
	// Unversioned replaces the current object.
	Versioning Versioning
}

// check applies the conditions to the current object (nil: none).
func (c PutCond) check(cur *Object) error {
	if cur == nil {
		if c.IfMatch != "" {
			return ErrNotFound
		}
		if c.IfVersion > 0 {
			return ErrConflict
		}
		return nil
	}
	switch {
	case c.IfNoneMatchStar:
		return ErrExists
	case c.IfMatch != "" && c.IfMatch != cur.ETag:
		return ErrPrecondition
	case c.IfVersion > 0 && c.IfVersion != cur.Version:
		return ErrConflict
	}
	return nil
}

// ListRow is what listings need of an object.
type ListRow struct {
	Key   string
	Size  int64
	ETag  string
	MTime time.Time
}

// Upload is an unfinished multipart upload.
type Upload struct {
	ID        string
	Bucket    string
	Key       string
	Initiated time.Time
	Owner     string
	Headers   Headers
}

// Part is a part of an upload.
type Part struct {
	Number int
	ETag   string
	Size   int64
	MTime  time.Time
	Blobs  []Blob
	// Checksum is the part's checksum (base64) in its upload's algorithm,
	// "" when the upload has none.
	Checksum string
}

// GCRow is a blob queued for deletion.
type GCRow struct {
	ID                    int64
	AppID, UserID, FileID string
	Tries                 int
}

// gone returns the blobs of old that cur does not list (a copy onto itself
// keeps its blobs).
func gone(old, cur []Blob) []Blob {
	keep := make(map[string]bool, len(cur))
	for _, b := range cur {
		keep[b.FileID] = true
	}
	var out []Blob
	for _, b := range old {
		if !keep[b.FileID] {
			out = append(out, b)
		}
	}
	return out
}
