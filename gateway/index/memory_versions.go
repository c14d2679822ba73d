package index

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// Memory's versions: m.versions[bucket][key] are a key's noncurrent
// versions and delete markers, oldest first (SQL's s3_versions by id).

func (m *Memory) keyVersions(bucket, key string) []*Object {
	return m.versions[bucket][key]
}

func (m *Memory) setKeyVersions(bucket, key string, vs []*Object) {
	if m.versions == nil {
		m.versions = map[string]map[string][]*Object{}
	}
	if m.versions[bucket] == nil {
		m.versions[bucket] = map[string][]*Object{}
	}
	if len(vs) == 0 {
		delete(m.versions[bucket], key)
		return
	}
	m.versions[bucket][key] = vs
}

func (m *Memory) nowMillis() time.Time {
	if m.Clock != nil {
		return m.Clock().UTC().Truncate(time.Millisecond)
	}
	return time.Now().UTC().Truncate(time.Millisecond)
}

func (m *Memory) SetVersioning(_ context.Context, bucket string, v Versioning) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.buckets[bucket]
	if !ok {
		return fmt.Errorf("bucket %s: %w", bucket, ErrNotFound)
	}
	b.Versioning = v
	return nil
}

func (m *Memory) SetObjectLock(_ context.Context, bucket string, cfg *LockConfig) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.buckets[bucket]
	if !ok {
		return fmt.Errorf("bucket %s: %w", bucket, ErrNotFound)
	}
	b.ObjectLock = nil
	if cfg != nil {
		c := *cfg
		b.ObjectLock = &c
	}
	return nil
}

// supersede is SQL's supersedeTx: it makes room for a new latest version
// of bucket/key and returns the blobs released.
func (m *Memory) supersede(bucket, key string, v Versioning, now time.Time) []Blob {
	var release []Blob
	vs := m.keyVersions(bucket, key)
	if cur, ok := m.objects[bucket][key]; ok {
		if v == VersioningSuspended && cur.VersionID == NullVersion {
			release = cur.Blobs
		} else {
			c := copyObject(cur)
			c.NoncurrentSince = now
			vs = append(vs, c)
		}
		delete(m.objects[bucket], key)
	} else if len(vs) > 0 && vs[len(vs)-1].NoncurrentSince.IsZero() {
		vs[len(vs)-1].NoncurrentSince = now
	}
	if v == VersioningSuspended {
		for i, o := range vs {
			if o.VersionID == NullVersion {
				release = append(release, o.Blobs...)
				vs = append(vs[:i:i], vs[i+1:]...)
				break
			}
		}
	}
	m.setKeyVersions(bucket, key, vs)
	return release
}

// putVersion is putObject in a versioned bucket.
func (m *Memory) putVersion(o *Object, cond PutCond) ([]Blob, error) {
	cur := m.objects[o.Bucket][o.Key]
	if err := cond.check(cur); err != nil {
		return nil, err
	}
	o.Version, o.VersionID = 1, NullVersion
	if cur != nil {
		o.Version = cur.Version + 1
	}
	release := m.supersede(o.Bucket, o.Key, cond.Versioning, m.nowMillis())
	if cond.Versioning == VersioningEnabled {
		o.VersionID = newVersionID(m.Clock)
	}
	c := copyObject(o)
	c.MTime = c.MTime.Truncate(time.Millisecond)
	if c.Blobs == nil {
		c.Blobs = []Blob{}
	}
	m.objects[o.Bucket][o.Key] = c
	return gone(release, o.Blobs), nil
}

func (m *Memory) PutDeleteMarker(_ context.Context, appid, bucket, key string, v Versioning, mtime time.Time, gcDue int64) (*Object, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.held(bucket, appid); err != nil {
		return nil, err
	}
	return m.putDeleteMarker(appid, bucket, key, v, mtime, gcDue), nil
}

// putDeleteMarker is PutDeleteMarker with m.mu held.
func (m *Memory) putDeleteMarker(appid, bucket, key string, v Versioning, mtime time.Time, gcDue int64) *Object {
	if m.objects[bucket] == nil {
		m.objects[bucket] = map[string]*Object{}
	}
	mk := &Object{Bucket: bucket, Key: key, DeleteMarker: true, MTime: mtime.UTC().Truncate(time.Millisecond), Version: 1, VersionID: NullVersion, Blobs: []Blob{}}
	if cur, ok := m.objects[bucket][key]; ok {
		mk.Version = cur.Version + 1
	}
	release := m.supersede(bucket, key, v, m.nowMillis())
	if v == VersioningEnabled {
		mk.VersionID = newVersionID(m.Clock)
	}
	m.setKeyVersions(bucket, key, append(m.keyVersions(bucket, key), copyObject(mk)))
	m.queue(appid, release, gcDue)
	return mk
}

func (m *Memory) DeleteVersion(_ context.Context, appid, bucket, key, versionID string, bypass bool, gcDue int64) (*Object, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.nowMillis()
	cur, hasCur := m.objects[bucket][key]
	if hasCur && cur.VersionID == versionID {
		if cur.Headers.Lock.Locked(now, bypass) {
			return nil, ErrLocked
		}
		delete(m.objects[bucket], key)
		m.queue(appid, cur.Blobs, gcDue)
		m.promote(bucket, key, cur.Version+1)
		return copyObject(cur), nil
	}
	vs := m.keyVersions(bucket, key)
	for i, v := range vs {
		if v.VersionID != versionID {
			continue
		}
		if v.Headers.Lock.Locked(now, bypass) {
			return nil, ErrLocked
		}
		m.setKeyVersions(bucket, key, append(vs[:i:i], vs[i+1:]...))
		m.queue(appid, v.Blobs, gcDue)
		if !hasCur && v.NoncurrentSince.IsZero() {
			m.promote(bucket, key, v.Version+1)
		}
		return copyObject(v), nil
	}
	return nil, ErrNotFound
}

// promote is SQL's promoteTx.
func (m *Memory) promote(bucket, key string, version int64) {
	vs := m.keyVersions(bucket, key)
	if len(vs) == 0 {
		return
	}
	v := vs[len(vs)-1]
	if v.DeleteMarker {
		v.NoncurrentSince = time.Time{}
		return
	}
	m.setKeyVersions(bucket, key, vs[:len(vs)-1])
	v.NoncurrentSince = time.Time{}
	v.Version = max(version, v.Version+1)
	m.objects[bucket][key] = v
}

func (m *Memory) ObjectVersion(_ context.Context, bucket, key, versionID string) (*Object, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if o, ok := m.objects[bucket][key]; ok && o.VersionID == versionID {
		return copyObject(o), nil
	}
	for _, v := range m.keyVersions(bucket, key) {
		if v.VersionID == versionID {
			return copyObject(v), nil
		}
	}
	return nil, ErrNotFound
}

func (m *Memory) UpdateVersion(_ context.Context, bucket, key, versionID string, fn func(*Object) error) (*Object, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var target *Object
	if o, ok := m.objects[bucket][key]; ok && (versionID == "" || o.VersionID == versionID) {
		target = o
	} else if versionID != "" {
		for _, v := range m.keyVersions(bucket, key) {
			if v.VersionID == versionID {
				target = v
			}
		}
	}
	if target == nil {
		return nil, ErrNotFound
	}
	c := copyObject(target)
	if err := fn(c); err != nil {
		return nil, err
	}
	target.Headers = copyObject(c).Headers
	if target == m.objects[bucket][key] {
		target.Version++
		c.Version = target.Version
	}
	return c, nil
}

func (m *Memory) ListVersions(_ context.Context, bucket, key string, incl bool, afterVersion, upTo string, limit int) ([]Version, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	all := func(k string) []Version { // a key's versions, newest first
		var out []Version
		if o, ok := m.objects[bucket][k]; ok {
			out = append(out, o.version(true))
		}
		vs := m.keyVersions(bucket, k)
		for i := len(vs) - 1; i >= 0; i-- {
			out = append(out, vs[i].version(vs[i].NoncurrentSince.IsZero()))
		}
		return out
	}
	var out []Version
	if afterVersion != "" {
		vs := all(key)
		for i, v := range vs {
			if v.VersionID == afterVersion {
				out = append(out, vs[i+1:]...)
				break
			}
		}
		incl = false
	}
	keys := map[string]bool{}
	for k := range m.objects[bucket] {
		keys[k] = true
	}
	for k := range m.versions[bucket] {
		keys[k] = true
	}
	var sorted []string
	for k := range keys {
		if k < key || (k == key && !incl) || (upTo != "" && k >= upTo) {
			continue
		}
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		if len(out) >= limit {
			break
		}
		out = append(out, all(k)...)
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (m *Memory) ExpiredDeleteMarkers(_ context.Context, bucket, afterKey string, limit int) ([]Version, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Version
	for k, vs := range m.versions[bucket] {
		if k > afterKey && len(vs) == 1 && vs[0].DeleteMarker && vs[0].NoncurrentSince.IsZero() {
			out = append(out, vs[0].version(true))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
