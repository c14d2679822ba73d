package index

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Memory is an Index in process memory, for tests that need an index but
// not a database. One mutex makes every method atomic.
type Memory struct {
	// Clock is as SQL's: nil = the wall clock. Set before first use.
	Clock func() time.Time

	mu      sync.Mutex
	users   map[string]User
	buckets map[string]*Bucket
	objects map[string]map[string]*Object // bucket → key → object
	uploads map[string]*Upload
	parts   map[string]map[int]*Part // upload ID → number → part
	gc      map[int64]*memGC
	nextGC  int64
	nextApp int
	// bucketTags are the tag sets of buckets (the SQL index keeps them
	// apart from the bucket's row too: Bucket does not load them).
	bucketTags map[string][]Tag
	sh         memShares                  // share links, made on first use (memory_share.go)
	access     map[string]Access          // by app ID, made on first use (access.go)
	lc         map[string]*LifecycleState // lifecycle configurations, made on first use (memory_lifecycle.go)

	// versions are noncurrent versions and delete markers, made on first
	// use (memory_versions.go).
	versions map[string]map[string][]*Object // bucket → key → oldest first
}

type memGC struct {
	GCRow
	due int64
}

// NewMemory returns an empty index.
func NewMemory() *Memory {
	return &Memory{users: map[string]User{}, buckets: map[string]*Bucket{}, objects: map[string]map[string]*Object{},
		uploads: map[string]*Upload{}, parts: map[string]map[int]*Part{}, gc: map[int64]*memGC{}}
}

var _ Index = (*Memory)(nil)

func (m *Memory) Close() error { return nil }

// Copies go in and out, so that callers never share the index's values.

func copyObject(o *Object) *Object {
	c := *o
	c.Blobs = slices.Clone(o.Blobs)
	c.Headers.Meta = cloneMap(o.Headers.Meta)
	c.Headers.Tags = slices.Clone(o.Headers.Tags)
	c.Headers.Checksum = o.Headers.Checksum.clone()
	return &c
}

func copyPart(p *Part) Part {
	c := *p
	c.Blobs = slices.Clone(p.Blobs)
	return c
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// ---- users

func (m *Memory) Secret(_ context.Context, ak string) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.users[ak]
	return u.Secret, ok, nil
}

func (m *Memory) AddUser(_ context.Context, ak, secret string) error {
	if err := checkUser(ak, secret); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.users[ak]; ok {
		return fmt.Errorf("user %s exists", ak)
	}
	m.users[ak] = User{AccessKey: ak, Secret: secret, Created: time.Unix(unixNow(m.Clock), 0).UTC()}
	return nil
}

func (m *Memory) RemoveUser(_ context.Context, ak, reassignTo string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.users[ak]; !ok {
		return fmt.Errorf("user %s: %w", ak, ErrNotFound)
	}
	if reassignTo != "" {
		if _, ok := m.users[reassignTo]; !ok {
			return fmt.Errorf("user %s: %w", reassignTo, ErrNotFound)
		}
	}
	for _, b := range m.buckets {
		if b.Owner == ak && reassignTo == "" {
			return fmt.Errorf("user %s: %w", ak, ErrOwnsBuckets)
		}
	}
	for _, b := range m.buckets {
		if b.Owner == ak {
			b.Owner = reassignTo
		}
	}
	delete(m.users, ak)
	return nil
}

func (m *Memory) SetAdmin(_ context.Context, ak string, on bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.users[ak]
	if !ok {
		return fmt.Errorf("user %s: %w", ak, ErrNotFound)
	}
	u.Admin = on
	m.users[ak] = u
	return nil
}

func (m *Memory) IsAdmin(_ context.Context, ak string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.users[ak].Admin, nil
}

func (m *Memory) SetBucketOwner(_ context.Context, bucket, owner string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.users[owner]; !ok {
		return fmt.Errorf("user %s: %w", owner, ErrNotFound)
	}
	b, ok := m.buckets[bucket]
	if !ok {
		return fmt.Errorf("bucket %s: %w", bucket, ErrNotFound)
	}
	b.Owner = owner
	return nil
}

func (m *Memory) Users(context.Context) ([]User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []User
	for _, u := range m.users {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AccessKey < out[j].AccessKey })
	return out, nil
}

// ---- buckets

func (m *Memory) Bucket(_ context.Context, name string) (*Bucket, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.buckets[name]
	if !ok {
		return nil, ErrNotFound
	}
	c := *b
	return &c, nil
}

func (m *Memory) Buckets(_ context.Context, owner string) ([]Bucket, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Bucket
	for _, b := range m.buckets {
		if owner == "" || b.Owner == owner {
			out = append(out, *b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (m *Memory) CreateBucket(_ context.Context, name, owner string) (*Bucket, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if b, ok := m.buckets[name]; ok {
		c := *b
		return &c, nil
	}
	m.nextApp++
	m.buckets[name] = &Bucket{Name: name, AppID: fmt.Sprintf("m%014d", m.nextApp), Owner: owner, Created: time.Unix(unixNow(m.Clock), 0).UTC()}
	m.objects[name] = map[string]*Object{}
	return nil, nil
}

// held is SQL.bucketHeld, with m.mu held.
func (m *Memory) held(name, appid string) error {
	if b, ok := m.buckets[name]; !ok || b.AppID != appid {
		return ErrNoSuchBucket
	}
	return nil
}

func (m *Memory) DeleteBucket(_ context.Context, b *Bucket, gcDue int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.held(b.Name, b.AppID); err != nil {
		return err
	}
	if len(m.objects[b.Name]) > 0 || len(m.versions[b.Name]) > 0 {
		return ErrBucketNotEmpty
	}
	for id, u := range m.uploads {
		if u.Bucket == b.Name {
			m.dropUpload(b.AppID, id, nil, gcDue)
		}
	}
	delete(m.buckets, b.Name)
	delete(m.objects, b.Name)
	delete(m.versions, b.Name)
	delete(m.bucketTags, b.Name)
	delete(m.access, b.AppID)
	delete(m.lc, b.Name)
	return nil
}

func (m *Memory) SetEncryption(_ context.Context, bucket, alg string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.buckets[bucket]
	if !ok {
		return ErrNotFound
	}
	b.Encryption = alg
	delete(m.lc, b.Name)
	return nil
}

func (m *Memory) SetCORS(_ context.Context, bucket, doc string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if b, ok := m.buckets[bucket]; ok {
		b.CORS = doc
	}
	return nil
}

func (m *Memory) SetPublic(_ context.Context, bucket string, on bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.buckets[bucket]
	if !ok {
		return fmt.Errorf("bucket %s: %w", bucket, ErrNotFound)
	}
	b.PublicRead = on
	return nil
}

func (m *Memory) Usage(_ context.Context, bucket string) (objects, bytes int64, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range m.objects[bucket] {
		objects++
		bytes += o.Size
	}
	return objects, bytes, nil
}

// ---- objects

func (m *Memory) BucketObject(_ context.Context, bucket, key string) (*Bucket, *Object, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.buckets[bucket]
	if !ok {
		return nil, nil, ErrNotFound
	}
	bc := *b
	o, ok := m.objects[bucket][key]
	if !ok {
		return &bc, nil, nil
	}
	return &bc, copyObject(o), nil
}

func (m *Memory) Object(_ context.Context, bucket, key string) (*Object, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objects[bucket][key]
	if !ok {
		return nil, ErrNotFound
	}
	return copyObject(o), nil
}

func (m *Memory) PutObject(_ context.Context, appid string, o *Object, cond PutCond, intents []int64, gcDue int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.held(o.Bucket, appid); err != nil {
		return err
	}
	if err := m.checkIntents(intents); err != nil {
		return err
	}
	replaced, err := m.putObject(o, cond)
	if err != nil {
		return err
	}
	m.queue(appid, replaced, gcDue)
	m.dropIntents(intents)
	return nil
}

// putObject stores o under cond and returns the blobs it replaced.
func (m *Memory) putObject(o *Object, cond PutCond) ([]Blob, error) {
	objs := m.objects[o.Bucket]
	if objs == nil { // the SQL index has no foreign key either
		objs = map[string]*Object{}
		m.objects[o.Bucket] = objs
	}
	if cond.Versioning != Unversioned {
		return m.putVersion(o, cond) // memory_versions.go
	}
	old, exists := objs[o.Key]
	if err := cond.check(old); err != nil {
		return nil, err
	}
	o.Version, o.VersionID = 1, NullVersion
	var replaced []Blob
	if exists {
		o.Version = old.Version + 1
		replaced = gone(old.Blobs, o.Blobs)
	}
	c := copyObject(o)
	c.MTime = c.MTime.Truncate(time.Millisecond)
	if c.Blobs == nil {
		c.Blobs = []Blob{}
	}
	objs[o.Key] = c
	return replaced, nil
}

func (m *Memory) DeleteObject(_ context.Context, appid, bucket, key string, gcDue int64) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objects[bucket][key]
	if !ok {
		return false, nil
	}
	delete(m.objects[bucket], key)
	m.queue(appid, o.Blobs, gcDue)
	return true, nil
}

func (m *Memory) ScanKeys(_ context.Context, bucket, from string, incl bool, upTo string, limit int) ([]ListRow, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []ListRow
	for k, o := range m.objects[bucket] {
		if k < from || (k == from && !incl) || (upTo != "" && k >= upTo) {
			continue
		}
		out = append(out, ListRow{Key: k, Size: o.Size, ETag: o.ETag, MTime: o.MTime})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// ---- multipart

func (m *Memory) CreateUpload(_ context.Context, appid string, u *Upload) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.held(u.Bucket, appid); err != nil {
		return err
	}
	if _, ok := m.uploads[u.ID]; ok {
		return fmt.Errorf("upload %s exists", u.ID)
	}
	c := *u
	c.Headers.Meta = cloneMap(u.Headers.Meta)
	c.Headers.Tags = slices.Clone(u.Headers.Tags)
	c.Headers.Checksum = u.Headers.Checksum.clone()
	c.Initiated = c.Initiated.Truncate(time.Millisecond)
	m.uploads[u.ID] = &c
	m.parts[u.ID] = map[int]*Part{}
	return nil
}

func (m *Memory) Upload(_ context.Context, id, bucket, key string) (*Upload, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, err := m.upload(id, bucket, key)
	if err != nil {
		return nil, err
	}
	c := *u
	c.Headers.Meta = cloneMap(u.Headers.Meta)
	c.Headers.Tags = slices.Clone(u.Headers.Tags)
	c.Headers.Checksum = u.Headers.Checksum.clone()
	return &c, nil
}

func (m *Memory) upload(id, bucket, key string) (*Upload, error) {
	u, ok := m.uploads[id]
	if !ok || u.Bucket != bucket || u.Key != key {
		return nil, ErrNoSuchUpload
	}
	return u, nil
}

func (m *Memory) Uploads(_ context.Context, bucket, keyMarker, idMarker string, limit int) ([]Upload, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Upload
	for _, u := range m.uploads {
		if u.Bucket == bucket && (u.Key > keyMarker || (u.Key == keyMarker && u.ID > idMarker)) {
			out = append(out, Upload{ID: u.ID, Bucket: u.Bucket, Key: u.Key, Initiated: u.Initiated, Owner: u.Owner})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if c := strings.Compare(out[i].Key, out[j].Key); c != 0 {
			return c < 0
		}
		return out[i].ID < out[j].ID
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (m *Memory) PutPart(_ context.Context, appid, bucket, key, id string, p *Part, intents []int64, gcDue int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.held(bucket, appid); err != nil {
		return err
	}
	if _, err := m.upload(id, bucket, key); err != nil {
		return err
	}
	if err := m.checkIntents(intents); err != nil {
		return err
	}
	if old, ok := m.parts[id][p.Number]; ok {
		m.queue(appid, old.Blobs, gcDue)
	}
	c := copyPart(p)
	c.MTime = c.MTime.Truncate(time.Millisecond)
	if c.Blobs == nil {
		c.Blobs = []Blob{}
	}
	m.parts[id][p.Number] = &c
	m.dropIntents(intents)
	return nil
}

func (m *Memory) Parts(_ context.Context, id string, after, limit int) ([]Part, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.partList(id, after, limit), nil
}

func (m *Memory) partList(id string, after, limit int) []Part {
	var out []Part
	for n, p := range m.parts[id] {
		if n > after {
			out = append(out, copyPart(p))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

func (m *Memory) CompleteUpload(_ context.Context, appid, bucket, key, id string, gcDue int64, cond PutCond, build func(*Upload, []Part) (*Object, error)) (*Object, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.held(bucket, appid); err != nil {
		return nil, err
	}
	u, err := m.upload(id, bucket, key)
	if err != nil {
		return nil, err
	}
	uc := *u
	uc.Headers.Meta = cloneMap(u.Headers.Meta)
	uc.Headers.Tags = slices.Clone(u.Headers.Tags)
	o, err := build(&uc, m.partList(id, 0, maxParts))
	if err != nil {
		return nil, err
	}
	replaced, err := m.putObject(o, cond)
	if err != nil {
		return nil, err
	}
	m.queue(appid, replaced, gcDue)
	m.dropUpload(appid, id, o.Blobs, gcDue)
	return o, nil
}

func (m *Memory) AbortUpload(_ context.Context, appid, bucket, key, id string, gcDue int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.upload(id, bucket, key); err != nil {
		return err
	}
	m.dropUpload(appid, id, nil, gcDue)
	return nil
}

// dropUpload deletes an upload and queues its parts' blobs that keep does
// not list.
func (m *Memory) dropUpload(appid, id string, keep []Blob, gcDue int64) {
	var all []Blob
	for _, p := range m.partList(id, 0, maxParts) {
		all = append(all, p.Blobs...)
	}
	m.queue(appid, gone(all, keep), gcDue)
	delete(m.parts, id)
	delete(m.uploads, id)
}

// ---- the collector's queue

func (m *Memory) queue(appid string, blobs []Blob, due int64) {
	for _, b := range blobs {
		m.nextGC++
		m.gc[m.nextGC] = &memGC{GCRow: GCRow{ID: m.nextGC, AppID: appid, UserID: b.UserID, FileID: b.FileID}, due: due}
	}
}

// checkIntents fails as the SQL index does when an intent record is gone
// or due.
func (m *Memory) checkIntents(ids []int64) error {
	now := unixNow(m.Clock)
	for _, id := range ids {
		if r, ok := m.gc[id]; !ok || r.due <= now {
			return ErrIntentLost
		}
	}
	return nil
}

func (m *Memory) dropIntents(ids []int64) {
	for _, id := range ids {
		delete(m.gc, id)
	}
}

func (m *Memory) ReserveIntents(_ context.Context, appid string, names []BlobName, due int64) ([]int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := make([]int64, len(names))
	for i, n := range names {
		m.queue(appid, []Blob{{UserID: n.UserID, FileID: n.FileID}}, due)
		ids[i] = m.nextGC
	}
	return ids, nil
}

func (m *Memory) DropIntents(_ context.Context, ids []int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dropIntents(ids)
	return nil
}

func (m *Memory) ExpediteIntents(_ context.Context, ids []int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := unixNow(m.Clock)
	for _, id := range ids {
		if r, ok := m.gc[id]; ok {
			r.due = now
		}
	}
	return nil
}

func (m *Memory) DueBlobs(_ context.Context, now int64, limit int) ([]GCRow, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var due []*memGC
	for _, r := range m.gc {
		if r.due <= now {
			due = append(due, r)
		}
	}
	sort.Slice(due, func(i, j int) bool {
		if due[i].due != due[j].due {
			return due[i].due < due[j].due
		}
		return due[i].ID < due[j].ID
	})
	var out []GCRow
	for _, r := range due[:min(limit, len(due))] {
		out = append(out, r.GCRow)
	}
	return out, nil
}

func (m *Memory) Collected(_ context.Context, id int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.gc, id)
	return nil
}

func (m *Memory) Postpone(_ context.Context, id int64, due int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.gc[id]; ok {
		r.due = due
		r.Tries++
	}
	return nil
}
