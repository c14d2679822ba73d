package lifecycle

import (
	"strings"
	"time"
)

// Object is what the rules read of one object version. The zero values of
// the versioning fields describe the current version of a bucket that was
// never versioned, the only kind of object an unversioned bucket has.
type Object struct {
	Key     string
	Size    int64
	Tags    []Tag
	ModTime time.Time // when this version was created

	// Noncurrent: a version that is no longer its key's current one.
	Noncurrent bool
	// NoncurrentSince is when its successor was created (Noncurrent only).
	NoncurrentSince time.Time
	// NewerNoncurrent counts the key's noncurrent versions newer than this
	// one, delete markers among them (Noncurrent only).
	NewerNoncurrent int
	// DeleteMarker: the version is a delete marker (no tags, size 0).
	DeleteMarker bool
	// Alone: a current delete marker with no noncurrent version beneath
	// it, an "expired object delete marker".
	Alone bool
}

// Action is what is due for an object version.
type Action int

const (
	// None: nothing is due (yet).
	None Action = iota
	// Expire: the current version is deleted as a DeleteObject without a
	// version ID deletes it: gone in an unversioned bucket, beneath a new
	// delete marker in a versioned one.
	Expire
	// DeleteVersion: a noncurrent version (or delete marker) is deleted
	// for good.
	DeleteVersion
	// RemoveMarker: a current delete marker alone on its key is deleted.
	RemoveMarker
)

func (a Action) String() string {
	switch a {
	case Expire:
		return "expire"
	case DeleteVersion:
		return "delete-version"
	case RemoveMarker:
		return "remove-marker"
	}
	return "none"
}

// Decision is the action due for an object and the rule that set it.
type Decision struct {
	Action Action
	Rule   string    // the rule's ID
	Due    time.Time // when it fell (or falls) due
}

// Evaluate returns the action due at now for o under rules: of the enabled
// rules whose filter o matches, the one due first ("if two expiration
// policies overlap, the shorter expiration policy is honored"). A decision
// not due yet comes back with Action None and its Due time, when there is
// one.
func Evaluate(rules []Rule, o Object, now time.Time) Decision {
	var best Decision
	consider := func(action Action, r *Rule, due time.Time) {
		if best.Rule == "" || due.Before(best.Due) {
			best = Decision{Action: action, Rule: r.ID, Due: due}
		}
	}
	for i := range rules {
		r := &rules[i]
		if !r.Enabled {
			continue
		}
		switch {
		case o.Noncurrent:
			if r.NoncurrentDays <= 0 || !r.Filter.matches(o) {
				continue
			}
			if r.NewerNoncurrent > 0 && o.NewerNoncurrent < r.NewerNoncurrent {
				continue // one of the newest kept
			}
			consider(DeleteVersion, r, after(o.NoncurrentSince, r.NoncurrentDays))
		case o.DeleteMarker:
			if !o.Alone || !r.Filter.matches(o) {
				continue
			}
			switch {
			case r.ExpireMarker:
				consider(RemoveMarker, r, o.ModTime)
			case r.ExpireDays > 0:
				// "When you specify the Days tag, Amazon S3 automatically
				// performs ExpiredObjectDeleteMarker cleanup when the
				// delete markers are old enough."
				consider(RemoveMarker, r, after(o.ModTime, r.ExpireDays))
			}
		default:
			if !r.Filter.matches(o) {
				continue
			}
			switch {
			case r.ExpireDays > 0:
				consider(Expire, r, after(o.ModTime, r.ExpireDays))
			case !r.ExpireDate.IsZero():
				consider(Expire, r, r.ExpireDate)
			}
		}
	}
	if best.Rule != "" && best.Due.After(now) {
		best.Action = None
	}
	return best
}

// AbortDue returns whether an incomplete multipart upload of key,
// initiated at initiated, is due to be aborted at now, and under which
// rule. Rules with an abort filter by prefix only (Parse refuses tags and
// sizes beside it).
func AbortDue(rules []Rule, key string, initiated, now time.Time) (bool, string) {
	var rule string
	var due time.Time
	for i := range rules {
		r := &rules[i]
		if !r.Enabled || r.AbortDays <= 0 || !strings.HasPrefix(key, r.Filter.Prefix) {
			continue
		}
		if d := after(initiated, r.AbortDays); rule == "" || d.Before(due) {
			rule, due = r.ID, d
		}
	}
	return rule != "" && !due.After(now), rule
}

// after is days after t, rounded up to midnight UTC: "Amazon S3 calculates
// the time by adding the number of days specified in the rule to the
// object creation time and rounding up the resulting time to the next day
// at midnight UTC." A time at midnight is its own ceiling.
func after(t time.Time, days int) time.Time {
	t = t.UTC().AddDate(0, 0, days)
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	if day.Equal(t) {
		return day
	}
	return day.AddDate(0, 0, 1)
}

// matches tells whether o is one of the filter's objects. A delete marker
// has no tags and size 0.
func (f *Filter) matches(o Object) bool {
	if !strings.HasPrefix(o.Key, f.Prefix) {
		return false
	}
	size, tags := o.Size, o.Tags
	if o.DeleteMarker {
		size, tags = 0, nil
	}
	if f.SizeGreater >= 0 && size <= f.SizeGreater {
		return false
	}
	if f.SizeLess >= 0 && size >= f.SizeLess {
		return false
	}
	for _, want := range f.Tags {
		found := false
		for _, t := range tags {
			if t.Key == want.Key {
				found = t.Value == want.Value
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// NeedsTags tells whether any enabled rule filters by tag, so that the
// pass loads tags only when they matter.
func NeedsTags(rules []Rule) bool {
	for _, r := range rules {
		if r.Enabled && r.Filter.usesTags {
			return true
		}
	}
	return false
}

// AbortsUploads tells whether any enabled rule aborts uploads.
func AbortsUploads(rules []Rule) bool {
	for _, r := range rules {
		if r.Enabled && r.AbortDays > 0 {
			return true
		}
	}
	return false
}

// ExpiresCurrent tells whether any enabled rule expires current versions.
func ExpiresCurrent(rules []Rule) bool {
	for _, r := range rules {
		if r.Enabled && (r.ExpireDays > 0 || !r.ExpireDate.IsZero()) {
			return true
		}
	}
	return false
}

// ExpiresVersions tells whether any enabled rule acts on a versioned
// bucket's objects: Expiration (current versions, expired delete
// markers) or NoncurrentVersionExpiration.
func ExpiresVersions(rules []Rule) bool {
	for _, r := range rules {
		if r.Enabled && (r.ExpireDays > 0 || !r.ExpireDate.IsZero() || r.ExpireMarker || r.NoncurrentDays > 0) {
			return true
		}
	}
	return false
}
