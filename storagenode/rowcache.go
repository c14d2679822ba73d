package storagenode

import (
	"sync"
	"sync/atomic"

	"github.com/tnv-s3/tnv/proto"
)

// DefaultRowCache is how many rows a node keeps for live reads by
// default: 380–550 bytes of heap each (measured with refs of 20–40 bytes),
// so 6–9 MiB when full. When full, an arbitrary row makes room (Go's map
// order): the reads that repeat are the hot ones, and a miss costs one
// query, as without the cache.
const DefaultRowCache = 1 << 14

// rowCache holds this node's rows of files it served lately, as the
// readable check found them (readable here, the group's live copy). It
// answers the live reads (DOWNLOAD_LIVE, LOCAL_OPEN_LIVE), whose caller
// vouches that the file is live, so that only this node's row is needed,
// and this node's rows are written by this process alone: every write that
// takes a readable row out of that state (deleted, replaced, found
// corrupt, its verification stamp moved) drops it here once it has
// committed.
//
// A fill races with such a write: a read that found the row readable
// before the write committed must not store it after the write dropped it.
// So each fill carries the generation it read under, taken before its
// query, and is stored only if no drop came in between.
type rowCache struct {
	mu   sync.Mutex
	gen  uint64
	rows map[proto.FileRef]fileRow
	refs map[rowID]proto.FileRef
	max  int

	// hits and misses count the live reads get answered and did not.
	hits, misses atomic.Int64
}

// rowID is a row's key in its shard's table.
type rowID struct {
	shard int
	id    int64
}

func newRowCache(max int) *rowCache {
	return &rowCache{rows: make(map[proto.FileRef]fileRow), refs: make(map[rowID]proto.FileRef), max: max}
}

// A nil *rowCache holds nothing.

// get returns a copy of ref's row, or nil (a live read's lookup: counted).
func (c *rowCache) get(ref proto.FileRef) *fileRow {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	r, ok := c.rows[ref]
	c.mu.Unlock()
	if !ok {
		c.misses.Add(1)
		return nil
	}
	c.hits.Add(1)
	return &r
}

// stats returns the live reads answered from the cache and not, and the
// rows it holds.
func (c *rowCache) stats() (hits, misses int64, rows int) {
	if c == nil {
		return 0, 0, 0
	}
	return c.hits.Load(), c.misses.Load(), c.len()
}

// begin is the generation a read runs under; its fill passes it back.
func (c *rowCache) begin() uint64 {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// fill stores a copy of r, found readable by a query that began under gen,
// unless a drop came since.
func (c *rowCache) fill(gen uint64, ref proto.FileRef, r *fileRow) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if old, ok := c.rows[ref]; ok {
		delete(c.refs, rowID{old.shard, old.id})
	} else if len(c.rows) >= c.max {
		for k, v := range c.rows {
			delete(c.rows, k)
			delete(c.refs, rowID{v.shard, v.id})
			break
		}
	}
	c.rows[ref] = *r
	c.refs[rowID{r.shard, r.id}] = ref
}

// drop forgets the row r (a write has changed it) and turns away the fills
// of reads begun before.
func (c *rowCache) drop(r *fileRow) {
	if c == nil || r == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	k := rowID{r.shard, r.id}
	if ref, ok := c.refs[k]; ok {
		delete(c.refs, k)
		delete(c.rows, ref)
	}
}

// len is the number of rows held.
func (c *rowCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.rows)
}
