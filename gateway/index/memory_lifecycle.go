package index

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"
)

func (m *Memory) LifecycleConfig(_ context.Context, bucket string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.buckets[bucket]; !ok {
		return "", ErrNotFound
	}
	if st, ok := m.lc[bucket]; ok {
		return st.Doc, nil
	}
	return "", nil
}

func (m *Memory) SetLifecycleConfig(_ context.Context, bucket, doc string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.buckets[bucket]; !ok {
		return fmt.Errorf("bucket %s: %w", bucket, ErrNotFound)
	}
	if doc == "" {
		delete(m.lc, bucket)
		return nil
	}
	if m.lc == nil {
		m.lc = map[string]*LifecycleState{}
	}
	st, ok := m.lc[bucket]
	if !ok {
		st = &LifecycleState{Bucket: bucket}
		m.lc[bucket] = st
	} else {
		st.Epoch++
	}
	st.Doc, st.Updated, st.Owner, st.Until = doc, unixNow(m.Clock), "", 0
	st.LifecycleProgress = LifecycleProgress{Done: st.Done}
	return nil
}

func (m *Memory) LifecycleStates(context.Context) ([]LifecycleState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []LifecycleState
	for _, st := range m.lc {
		c := *st
		c.Doc = ""
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Bucket < out[j].Bucket })
	return out, nil
}

func (m *Memory) TakeLifecycleLease(_ context.Context, bucket, owner string, now, until int64) (*LifecycleState, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.lc[bucket]
	if !ok || (st.Owner != "" && st.Until > now) {
		return nil, false, nil
	}
	st.Owner, st.Until = owner, until
	st.Epoch++
	c := *st
	return &c, true, nil
}

// holdsLease is SQL's, with m.mu held.
func (m *Memory) holdsLease(l LeaseRef, now int64) error {
	st, ok := m.lc[l.Bucket]
	if !ok || st.Epoch != l.Epoch || st.Until <= now {
		return ErrLeaseLost
	}
	return nil
}

func (m *Memory) SaveLifecycleProgress(_ context.Context, l LeaseRef, p LifecycleProgress, now, until int64) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.holdsLease(l, now) != nil {
		return false, nil
	}
	st := m.lc[l.Bucket]
	st.LifecycleProgress, st.Until = p, until
	if until == 0 {
		st.Owner = ""
	}
	return true, nil
}

func (m *Memory) ExpiryScan(_ context.Context, bucket, after string, limit int) ([]ExpiryRow, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []ExpiryRow
	for k, o := range m.objects[bucket] {
		if k > after {
			out = append(out, ExpiryRow{Key: k, Size: o.Size, MTime: o.MTime.UnixMilli(), Version: o.Version, Tags: slices.Clone(o.Headers.Tags)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (m *Memory) ExpireObject(_ context.Context, l LeaseRef, appid, key string, version, now, gcDue int64) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.holdsLease(l, now); err != nil {
		return false, err
	}
	o, ok := m.objects[l.Bucket][key]
	if !ok || o.Version != version {
		return false, nil
	}
	delete(m.objects[l.Bucket], key)
	m.queue(appid, o.Blobs, gcDue)
	return true, nil
}

func (m *Memory) ExpireUpload(_ context.Context, l LeaseRef, appid, key, id string, now, gcDue int64) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.holdsLease(l, now); err != nil {
		return false, err
	}
	if _, err := m.upload(id, l.Bucket, key); err != nil {
		return false, nil
	}
	m.dropUpload(appid, id, nil, gcDue)
	return true, nil
}

func (m *Memory) ExpireCurrentVersion(_ context.Context, l LeaseRef, appid string, ver Version, v Versioning, at time.Time, gcDue int64) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.holdsLease(l, at.Unix()); err != nil {
		return false, err
	}
	cur, ok := m.objects[l.Bucket][ver.Key]
	if !ok || cur.VersionID != ver.VersionID || !cur.MTime.Equal(ver.MTime) {
		return false, nil
	}
	if v == VersioningSuspended && cur.VersionID == NullVersion && cur.Headers.Lock.Locked(at, false) {
		return false, ErrLocked
	}
	m.putDeleteMarker(appid, l.Bucket, ver.Key, v, at, gcDue)
	return true, nil
}

func (m *Memory) ExpireVersion(_ context.Context, l LeaseRef, appid string, ver Version, at time.Time, gcDue int64) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.holdsLease(l, at.Unix()); err != nil {
		return false, err
	}
	vs := m.keyVersions(l.Bucket, ver.Key)
	for i, o := range vs {
		if o.VersionID != ver.VersionID {
			continue
		}
		if ver.IsLatest && (!o.DeleteMarker || !o.NoncurrentSince.IsZero() || len(vs) != 1) ||
			!ver.IsLatest && o.NoncurrentSince.IsZero() {
			return false, nil // no longer as listed
		}
		if o.Headers.Lock.Locked(at, false) {
			return false, ErrLocked
		}
		m.setKeyVersions(l.Bucket, ver.Key, append(vs[:i:i], vs[i+1:]...))
		m.queue(appid, o.Blobs, gcDue)
		return true, nil
	}
	return false, nil
}
