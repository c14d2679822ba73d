package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"

	"github.com/tnv-s3/tnv/backend/tnv"
	"github.com/tnv-s3/tnv/gateway/index"
)

// A blob is written under an intent record (a row of s3_gc due after
// IntentTTL) so that a gateway that dies mid-upload leaks nothing; the
// publishing transaction drops it. Written one per blob, that record is a
// commit of its own ahead of every PUT — on MariaDB a log flush, the
// largest single cost of a small PUT after the storage nodes' own. The
// pool writes them ahead, many in one transaction, and hands them out.
//
// A reserved record is indistinguishable from one in use, which is the
// point: whatever happens to the gateway, every name it may have written
// is collected unless published. Names never written cost the collector
// one DELETE that finds nothing. Close drops the records still reserved.

const (
	intentBatchMin = 4  // first refill of a bucket: a one-off PUT wastes little
	intentBatchMax = 64 // later refills double up to this
	// intentMaxHeld bounds the reservations held across buckets (memory,
	// and rows the collector works off after a crash): past it, the least
	// recently written buckets' reservations are dropped.
	intentMaxHeld = 1024
)

// reservedIntent is a blob name whose intent record is durable.
type reservedIntent struct {
	id             int64
	userid, fileid string
	due            int64 // the record's due time
}

type intentPool struct {
	idx     index.Index
	log     *slog.Logger // nil: not logged
	ttl     int64        // seconds from reservation to due
	now     func() int64 // the gateway's clock, Unix seconds
	maxHeld int          // intentMaxHeld

	mu    sync.Mutex
	byApp map[string]*appIntents
	nheld int    // reservations in every free list
	clock uint64 // counts takes, for appIntents.used
}

type appIntents struct {
	free  []reservedIntent
	batch int    // size of the next refill
	used  uint64 // clock at the bucket's last take
}

func newIntentPool(idx index.Index, ttlSeconds int64, now func() int64) *intentPool {
	return &intentPool{idx: idx, ttl: max(ttlSeconds, 2), now: now, maxHeld: intentMaxHeld, byApp: map[string]*appIntents{}}
}

// take returns a name to write a blob of appid under. A reservation is
// handed out only while more than half its TTL is left, so a write has at
// least that long to publish; older ones are left to expire.
func (p *intentPool) take(ctx context.Context, appid string) (reservedIntent, error) {
	now := p.now()
	p.mu.Lock()
	p.clock++
	a := p.byApp[appid]
	if a == nil {
		a = &appIntents{batch: intentBatchMin}
		p.byApp[appid] = a
	}
	a.used = p.clock
	for len(a.free) > 0 {
		r := a.free[len(a.free)-1]
		a.free = a.free[:len(a.free)-1]
		p.nheld--
		if r.due-now > p.ttl/2 {
			p.mu.Unlock()
			return r, nil
		}
	}
	n := a.batch
	a.batch = min(2*a.batch, intentBatchMax)
	p.mu.Unlock()

	rs, err := p.reserve(ctx, appid, n, now+p.ttl)
	if err != nil {
		return reservedIntent{}, err
	}
	var evicted []reservedIntent
	p.mu.Lock()
	if cur := p.byApp[appid]; cur != nil {
		cur.free = append(cur.free, rs[1:]...)
		p.nheld += len(rs) - 1
		rs = rs[:1]
		evicted = p.evict(appid)
	}
	p.mu.Unlock()
	if len(rs) > 1 { // the bucket was dropped meanwhile
		evicted = append(evicted, rs[1:]...)
	}
	p.drop(context.WithoutCancel(ctx), evicted)
	return rs[0], nil
}

// evict takes the reservations of the least recently written buckets
// other than keep out of the pool while it holds more than maxHeld,
// and returns them to be dropped. Under p.mu.
func (p *intentPool) evict(keep string) []reservedIntent {
	var out []reservedIntent
	for p.nheld > p.maxHeld {
		var lru string
		var oldest *appIntents
		for app, a := range p.byApp {
			if app != keep && len(a.free) > 0 && (oldest == nil || a.used < oldest.used) {
				lru, oldest = app, a
			}
		}
		if oldest == nil {
			return out
		}
		out = append(out, oldest.free...)
		p.nheld -= len(oldest.free)
		delete(p.byApp, lru)
	}
	return out
}

// reserve writes n intent records for fresh names in one transaction.
// Names are spread over the bucket's blob users at random: which group a
// blob lands on depends on its user ID only.
func (p *intentPool) reserve(ctx context.Context, appid string, n int, due int64) ([]reservedIntent, error) {
	names := make([]index.BlobName, n)
	for i := range names {
		names[i] = index.BlobName{UserID: fmt.Sprintf("owner-%d", rand.IntN(userShards)), FileID: tnv.NewFileID()}
	}
	ids, err := p.idx.ReserveIntents(ctx, appid, names, due)
	if err != nil {
		return nil, err
	}
	rs := make([]reservedIntent, n)
	for i, nm := range names {
		rs[i] = reservedIntent{id: ids[i], userid: nm.UserID, fileid: nm.FileID, due: due}
	}
	return rs, nil
}

// forget drops the reservations of a bucket that is gone.
func (p *intentPool) forget(ctx context.Context, appid string) {
	p.mu.Lock()
	a := p.byApp[appid]
	delete(p.byApp, appid)
	if a != nil {
		p.nheld -= len(a.free)
	}
	p.mu.Unlock()
	if a != nil {
		p.drop(ctx, a.free)
	}
}

// close drops every reservation not handed out.
func (p *intentPool) close(ctx context.Context) {
	p.mu.Lock()
	var all []reservedIntent
	for _, a := range p.byApp {
		all = append(all, a.free...)
	}
	p.byApp = map[string]*appIntents{}
	p.nheld = 0
	p.mu.Unlock()
	p.drop(ctx, all)
}

// held lists the record IDs reserved and not handed out (for tests).
func (p *intentPool) held() map[int64]bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := map[int64]bool{}
	for _, a := range p.byApp {
		for _, r := range a.free {
			ids[r.id] = true
		}
	}
	return ids
}

// drop deletes records of names never written. Records that fail to go
// stay and are collected when due, which costs a DELETE that finds
// nothing each.
func (p *intentPool) drop(ctx context.Context, rs []reservedIntent) {
	if len(rs) == 0 {
		return
	}
	ids := make([]int64, len(rs))
	for i, r := range rs {
		ids[i] = r.id
	}
	if err := p.idx.DropIntents(ctx, ids); err != nil && p.log != nil {
		p.log.Warn("gateway: drop unused intent records (collected when due)", "n", len(ids), "err", err)
	}
}

// expediteIntents makes the intent records of a failed write due now, so
// that its blobs go without waiting out IntentTTL. Records left as they
// are go when due.
func (g *Gateway) expediteIntents(ctx context.Context, ids []int64) {
	if err := g.idx.ExpediteIntents(ctx, ids); err != nil {
		g.log.Warn("gateway: expedite intent records (collected when due)", "n", len(ids), "err", err)
	}
}
