package index

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"slices"
	"sync"
	"time"
)

// Bucket versioning and object lock (S3's semantics).
//
// The current version of a key is its row in s3_objects (Memory: objects),
// as before versioning: listings, GETs and HEADs of the current object
// read one row. Every other version, and every delete marker, is a row of
// s3_versions (Memory: versions), in the order they were made. The
// invariant: a key's current object, when it has one, is newer than all of
// its rows in s3_versions; when it has none, its newest s3_versions row,
// if any, is a delete marker and the latest version (NoncurrentSince zero).

// Versioning is a bucket's versioning state. A bucket never goes back to
// Unversioned.
type Versioning int

const (
	Unversioned Versioning = iota
	VersioningEnabled
	VersioningSuspended
)

// NullVersion is the version ID of objects written while a bucket was
// unversioned or suspended.
const NullVersion = "null"

// Lock modes of object lock retention.
const (
	Governance = "GOVERNANCE"
	Compliance = "COMPLIANCE"
)

// LockConfig is a bucket's object lock configuration; nil when object
// lock is not enabled. Mode is "" when there is no default retention.
type LockConfig struct {
	Mode  string `json:"mode,omitempty"`
	Days  int    `json:"days,omitempty"`
	Years int    `json:"years,omitempty"`
}

// Lock is the object lock state of a version, kept with its headers.
type Lock struct {
	Mode      string    `json:"m,omitempty"` // "" (no retention), Governance, Compliance
	Until     time.Time `json:"u,omitzero"`  // retain until, millisecond precision
	LegalHold bool      `json:"h,omitempty"`
}

// Locked reports whether a version under l may not be deleted (or
// overwritten in place) at now: a legal hold, or retention not yet over —
// governance retention unless bypass.
func (l Lock) Locked(now time.Time, bypass bool) bool {
	if l.LegalHold {
		return true
	}
	if l.Mode == "" || !now.Before(l.Until) {
		return false
	}
	return l.Mode == Compliance || !bypass
}

// ErrLocked: the version is under retention or a legal hold.
var ErrLocked = errors.New("the object version is locked")

// Version is an entry of a bucket's version listing.
type Version struct {
	Key          string
	VersionID    string
	DeleteMarker bool
	IsLatest     bool
	Size         int64
	ETag         string
	MTime        time.Time
	// NoncurrentSince is when the version stopped being the latest (zero
	// for the latest): lifecycle's NoncurrentDays count from it.
	NoncurrentSince time.Time
	Lock            Lock
	Tags            []Tag // for lifecycle's tag filters
}

// Versions is the part of the Index about bucket versioning and object
// lock (versions.go, sql_versions.go, memory_versions.go).
type Versions interface {
	// SetVersioning sets a bucket's versioning state; ErrNotFound for no
	// such bucket.
	SetVersioning(ctx context.Context, bucket string, v Versioning) error
	// SetObjectLock stores a bucket's object lock configuration (nil:
	// none); ErrNotFound for no such bucket.
	SetObjectLock(ctx context.Context, bucket string, cfg *LockConfig) error
	// ObjectVersion loads one version of a key, current or not, or a
	// delete marker (Object.DeleteMarker); ErrNotFound when the key has no
	// such version.
	ObjectVersion(ctx context.Context, bucket, key, versionID string) (*Object, error)
	// PutDeleteMarker makes a delete marker the latest version of a key in
	// a versioned bucket (v is Enabled or Suspended) and returns it. In an
	// Enabled bucket the current object becomes noncurrent and nothing is
	// released; in a Suspended one the marker is the null version and the
	// key's earlier null version is released.
	PutDeleteMarker(ctx context.Context, appid, bucket, key string, v Versioning, mtime time.Time, gcDue int64) (*Object, error)
	// DeleteVersion deletes one version (or delete marker) of a key and
	// releases its blobs; when it was the latest, the next newest becomes
	// the latest. A version Lock.Locked at the index's clock (bypass for
	// governance) is refused with ErrLocked; a missing one is ErrNotFound.
	DeleteVersion(ctx context.Context, appid, bucket, key, versionID string, bypassGovernance bool, gcDue int64) (*Object, error)
	// UpdateVersion changes the headers (tags, lock) of one version in a
	// transaction: fn gets the version (a delete marker too, which it
	// should refuse) and changes its Headers; its error aborts the update
	// and is returned as it is.
	// versionID "" is the current object. ErrNotFound for no such version.
	UpdateVersion(ctx context.Context, bucket, key, versionID string, fn func(*Object) error) (*Object, error)
	// ListVersions returns up to limit versions and delete markers of a
	// bucket, by key then newest first: with afterVersion "", of keys
	// after key (from key when incl); else the versions of key older than
	// afterVersion, then keys after key. upTo ("" = no bound) is an
	// exclusive upper bound on keys.
	ListVersions(ctx context.Context, bucket, key string, incl bool, afterVersion, upTo string, limit int) ([]Version, error)
	// ExpiredDeleteMarkers lists up to limit delete markers of keys after
	// afterKey that are the only version left of their key.
	ExpiredDeleteMarkers(ctx context.Context, bucket, afterKey string, limit int) ([]Version, error)
}

// versionIDs are 16 bytes, base32hex without padding (26 characters,
// URL-safe): 8 bytes of the Unix time in microseconds, then 8 random
// bytes. IDs of one process increase with time.
var vidEnc = base32.HexEncoding.WithPadding(base32.NoPadding)

var vidMu sync.Mutex
var vidLast int64

func newVersionID(clock func() time.Time) string {
	now := time.Now()
	if clock != nil {
		now = clock()
	}
	us := now.UnixMicro()
	vidMu.Lock()
	if us <= vidLast {
		us = vidLast + 1
	}
	vidLast = us
	vidMu.Unlock()
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(us))
	rand.Read(b[8:])
	return vidEnc.EncodeToString(b[:])
}

// version is the listing entry of an object.
func (o *Object) version(latest bool) Version {
	return Version{Key: o.Key, VersionID: o.VersionID, DeleteMarker: o.DeleteMarker, IsLatest: latest,
		Size: o.Size, ETag: o.ETag, MTime: o.MTime, NoncurrentSince: o.NoncurrentSince, Lock: o.Headers.Lock,
		Tags: slices.Clone(o.Headers.Tags)}
}
