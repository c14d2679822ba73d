package index

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultLookupCache is how many lookups (a bucket with one of its keys,
// or a bucket alone) the SQL index keeps by default when its cache is on.
const DefaultLookupCache = 1 << 15

// lookupCache holds what BucketObject and Bucket found, while this index
// instance holds the index lease (lease.go): no other instance writes
// those rows then, and this one drops what each of its writes touched
// once the write has ended. A lookup that began before such a drop does
// not store what it found: each fill carries the generation it began
// under. A nil *lookupCache holds nothing.
//
// A write to an object drops that object's lookup; a write to a bucket's
// settings drops everything. The object lookups of one bucket share one
// copy of its row (interned): about 0.56 KiB per lookup of a 4 KiB object
// without metadata (measured), so 18 MiB when the default 32 768 are kept.
type lookupCache struct {
	mu       sync.Mutex
	gen      uint64
	until    time.Time // the lease's end by this process's clock; zero: none
	objects  map[bucketKey]bucketObject
	buckets  map[string]*Bucket // Bucket's answers
	interned map[string]*Bucket // the bucket rows object lookups share
	n, max   int
	hits     atomic.Int64
	misses   atomic.Int64
	leaseErr atomic.Int64 // renewals that failed
}

func newLookupCache(max int) *lookupCache {
	c := &lookupCache{max: max}
	c.clearLocked()
	return c
}

// begin is the generation a lookup runs under; its fill passes it back.
func (c *lookupCache) begin() uint64 {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// validLocked: the lease is held by this process's clock.
func (c *lookupCache) validLocked() bool {
	return !c.until.IsZero() && time.Now().Before(c.until)
}

// held: the lease is held now, by this process's clock.
func (c *lookupCache) held() bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.validLocked()
}

// object returns a copy of a cached BucketObject answer.
func (c *lookupCache) object(bucket, key string) (bucketObject, bool) {
	if c == nil {
		return bucketObject{}, false
	}
	c.mu.Lock()
	r, ok := c.objects[bucketKey{bucket, key}]
	ok = ok && c.validLocked()
	c.mu.Unlock()
	if !ok {
		c.misses.Add(1)
		return bucketObject{}, false
	}
	c.hits.Add(1)
	return r.clone(), true
}

func (r bucketObject) clone() bucketObject {
	c := bucketObject{b: copyBucket(r.b)}
	if r.o != nil {
		c.o = copyObject(r.o)
	}
	return c
}

func copyBucket(b *Bucket) *Bucket {
	c := *b
	if b.ObjectLock != nil {
		l := *b.ObjectLock
		c.ObjectLock = &l
	}
	return &c
}

// bucket returns a copy of a cached Bucket answer.
func (c *lookupCache) bucket(name string) (*Bucket, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	b, ok := c.buckets[name]
	ok = ok && c.validLocked()
	c.mu.Unlock()
	if !ok {
		c.misses.Add(1)
		return nil, false
	}
	c.hits.Add(1)
	return copyBucket(b), true
}

// fillObject stores a BucketObject answer found under generation gen.
func (c *lookupCache) fillObject(gen uint64, bucket, key string, r bucketObject) {
	if c == nil || r.b == nil {
		return
	}
	r = r.clone()
	k := bucketKey{bucket, key}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen || !c.validLocked() {
		return
	}
	if b := c.interned[bucket]; b != nil && sameBucket(b, r.b) {
		r.b = b
	} else {
		c.interned[bucket] = r.b
	}
	if _, ok := c.objects[k]; !ok {
		c.makeRoomLocked()
		c.n++
	}
	c.objects[k] = r
}

// sameBucket: a and b are the same row.
func sameBucket(a, b *Bucket) bool {
	x, y := *a, *b
	x.ObjectLock, y.ObjectLock = nil, nil
	if (a.ObjectLock == nil) != (b.ObjectLock == nil) || (a.ObjectLock != nil && *a.ObjectLock != *b.ObjectLock) {
		return false
	}
	return x == y
}

// fillBucket stores a Bucket answer found under generation gen.
func (c *lookupCache) fillBucket(gen uint64, b *Bucket) {
	if c == nil {
		return
	}
	b = copyBucket(b)
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen || !c.validLocked() {
		return
	}
	if _, ok := c.buckets[b.Name]; !ok {
		c.makeRoomLocked()
		c.n++
	}
	c.buckets[b.Name] = b
}

// makeRoomLocked drops an arbitrary key's lookups (Go's map order) or
// bucket when the cache is full: the lookups that repeat are the hot
// ones, and a miss costs one query, as without the cache.
func (c *lookupCache) makeRoomLocked() {
	for c.n >= c.max && c.n > 0 {
		for k := range c.objects {
			c.n--
			delete(c.objects, k)
			break
		}
		if c.n < c.max {
			return
		}
		for k := range c.buckets {
			c.n--
			delete(c.buckets, k)
			break
		}
	}
}

// drop forgets what a write touched.
func (c *lookupCache) drop(t touched) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if t.all {
		c.clearLocked()
		return
	}
	if _, ok := c.objects[t.k]; ok {
		c.n--
		delete(c.objects, t.k)
	}
}

func (c *lookupCache) clearLocked() {
	c.objects = map[bucketKey]bucketObject{}
	c.buckets = map[string]*Bucket{}
	c.interned = map[string]*Bucket{}
	c.n = 0
}

// renewed records a renewal sent at sent: held, and continuous when no
// other instance can have written since the last one (else the cache
// starts empty).
func (c *lookupCache) renewed(sent time.Time, held, continuous bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !held {
		return // what it holds lasts until c.until
	}
	if !continuous {
		c.gen++
		c.clearLocked()
	}
	c.until = sent.Add(leaseTerm - leaseMargin)
}

// lapse empties the cache once its lease has ended (a renewal refused or
// failed): memory back, and nothing kept across a gap.
func (c *lookupCache) lapse() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.until.IsZero() && !time.Now().Before(c.until) {
		c.offLocked()
	}
}

// off empties the cache and stops its use until the lease is taken again.
func (c *lookupCache) off() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offLocked()
}

func (c *lookupCache) offLocked() {
	c.gen++
	c.clearLocked()
	c.until = time.Time{}
}

// CacheStats are the lookup cache's counts since the index was made.
type CacheStats struct {
	Hits, Misses int64
	Entries      int
	Held         bool  // the lease is held now, by this process's clock
	LeaseErrors  int64 // renewals that failed
}

// CacheStats reports the lookup cache's counts (all zero when it is off).
func (s *SQL) CacheStats() CacheStats {
	c := s.cache
	if c == nil {
		return CacheStats{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Entries: c.n, Held: c.validLocked(), LeaseErrors: c.leaseErr.Load()}
}

// StartCache turns the lookup cache on, for up to entries lookups
// (<= 0: DefaultLookupCache), and keeps the index lease while the index is
// open. Only one instance of an index database caches at a time; the
// others' writes wait out its lease (lease.go). Call it once, before
// serving.
func (s *SQL) StartCache(entries int) {
	if entries <= 0 {
		entries = DefaultLookupCache
	}
	s.cache = newLookupCache(entries)
	s.later.Add(1)
	go s.keepLease()
}

// keepLease renews the lease every leaseRenew until Close, then releases
// it.
func (s *SQL) keepLease() {
	defer s.later.Done()
	t := time.NewTicker(leaseRenew)
	defer t.Stop()
	for {
		sent := time.Now()
		ctx, cancel := context.WithTimeout(s.bg, leaseRenew)
		held, continuous, yield, err := s.renew(ctx)
		cancel()
		if err != nil {
			s.cache.leaseErr.Add(1)
		}
		if yield { // a writer wants it: the cache off, then the lease back
			s.cache.off()
			ctx, cancel := context.WithTimeout(s.bg, leaseRenew)
			s.releaseLease(ctx)
			cancel()
		}
		s.cache.renewed(sent, held, continuous)
		if !held {
			s.cache.lapse()
		}
		select {
		case <-s.bg.Done():
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			s.releaseLease(ctx)
			cancel()
			return
		case <-t.C:
		}
	}
}
