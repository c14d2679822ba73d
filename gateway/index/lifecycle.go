package index

import (
	"context"
	"time"
)

// Lifecycles are buckets' lifecycle configurations and the state of the
// background pass that applies them (gateway/lifecycle_pass.go). At most
// one gateway runs a bucket's pass at a time: it holds the bucket's lease,
// taken with a conditional UPDATE, and every action it takes checks, in
// its own transaction, that the lease is still its (LeaseRef).
type Lifecycles interface {
	// LifecycleConfig returns a bucket's configuration document ("" for
	// none); ErrNotFound for no such bucket.
	LifecycleConfig(ctx context.Context, bucket string) (string, error)
	// SetLifecycleConfig stores a bucket's configuration, replacing the
	// one before, frees its lease and restarts its pass from the start;
	// doc "" removes it. ErrNotFound for no such bucket.
	SetLifecycleConfig(ctx context.Context, bucket, doc string) error
	// LifecycleStates lists the buckets with a configuration, by name,
	// with their passes' state (Doc left empty).
	LifecycleStates(ctx context.Context) ([]LifecycleState, error)
	// TakeLifecycleLease takes a bucket's lease for owner until until
	// (Unix seconds) if it is free at now: no owner, or an expired lease.
	// It returns the state as taken (its Epoch identifies this taking),
	// or taken false (and a nil state) when another holds it or the
	// bucket has no configuration.
	TakeLifecycleLease(ctx context.Context, bucket, owner string, now, until int64) (st *LifecycleState, taken bool, err error)
	// SaveLifecycleProgress records where the pass is and extends the
	// lease to until, if l still holds it at now (held false otherwise:
	// the pass stops). until 0 ends the pass: the lease is freed.
	SaveLifecycleProgress(ctx context.Context, l LeaseRef, p LifecycleProgress, now, until int64) (held bool, err error)
	// ExpiryScan lists up to limit objects of bucket with keys after
	// after, in byte order, with what the rules read (tags included).
	ExpiryScan(ctx context.Context, bucket, after string, limit int) ([]ExpiryRow, error)
	// ExpireObject deletes an object as DeleteObject does (its blobs
	// queued for collection at gcDue) if it is still at version and l
	// still holds the bucket's lease at now. done is false, and nothing
	// changed, when the object is gone or was changed since it was read;
	// ErrLeaseLost when the lease is not l's.
	ExpireObject(ctx context.Context, l LeaseRef, appid, key string, version, now, gcDue int64) (done bool, err error)
	// ExpireUpload aborts an upload as AbortUpload does if l still holds
	// the bucket's lease at now; done false when the upload is gone.
	ExpireUpload(ctx context.Context, l LeaseRef, appid, key, id string, now, gcDue int64) (done bool, err error)

	// In a versioned bucket (Enabled or Suspended), the pass acts on the
	// versions ListVersions lists, each call checking, in its own
	// transaction, that l still holds the lease at at (ErrLeaseLost) and
	// that the version is still as listed (else done false, nothing
	// changed).

	// ExpireCurrentVersion expires the current object cur (as listed:
	// key, version ID and MTime) as DeleteObject without a version ID does
	// in a bucket whose versioning is v: a delete marker becomes the
	// latest version (PutDeleteMarker), the object noncurrent, or in a
	// Suspended bucket the null version released. A locked null version
	// that the marker would release is refused with ErrLocked.
	ExpireCurrentVersion(ctx context.Context, l LeaseRef, appid string, cur Version, v Versioning, at time.Time, gcDue int64) (done bool, err error)
	// ExpireVersion deletes for good, as DeleteVersion without bypass
	// does, a noncurrent version (ver.IsLatest false: still noncurrent) or
	// a latest delete marker that is its key's only version (ver.IsLatest:
	// still latest and alone, an expired object delete marker). A version
	// under retention at at, or a legal hold, is refused with ErrLocked.
	ExpireVersion(ctx context.Context, l LeaseRef, appid string, ver Version, at time.Time, gcDue int64) (done bool, err error)
}

// ErrLeaseLost: a lifecycle pass acted on a bucket whose lease it no
// longer holds.
var ErrLeaseLost = errLeaseLost{}

type errLeaseLost struct{}

func (errLeaseLost) Error() string { return "the lifecycle lease was lost" }

// LeaseRef names one taking of a bucket's lease.
type LeaseRef struct {
	Bucket string
	Epoch  int64
}

// Phases of a lifecycle pass.
const (
	PhaseIdle    = 0 // no pass in progress
	PhaseObjects = 1 // expiring objects, after NextKey
	PhaseUploads = 2 // aborting uploads, after (NextKey, NextUpload)
)

// LifecycleProgress is where a bucket's pass is.
type LifecycleProgress struct {
	Phase      int
	NextKey    string // continue after this key
	NextUpload string // and, in PhaseUploads, after this upload ID of NextKey
	Started    int64  // when the pass in progress (or the last) started, Unix seconds
	Done       int64  // when the last pass finished
}

// LifecycleState is a bucket's configuration and its pass's state.
type LifecycleState struct {
	Bucket  string
	Doc     string
	Updated int64 // when the configuration was set
	Owner   string
	Until   int64 // the lease's expiry
	Epoch   int64
	LifecycleProgress
}

// ExpiryRow is what the lifecycle rules read of an object.
type ExpiryRow struct {
	Key     string
	Size    int64
	MTime   int64 // Unix milliseconds
	Version int64
	Tags    []Tag
}
