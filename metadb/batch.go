package metadb

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// ReadBatch gathers point reads that arrive while others are in flight
// into one query: the read side of group commit. A MariaDB round trip
// costs the server and the client far more than the rows it returns
// (gateway/index's BucketObject, 32 at a time: 89 µs of server CPU per
// lookup one query each, 25 µs each for 8 in one query), so concurrent
// GETs that each read one row spend most of the database's CPU on round
// trips.
//
// A read is never answered from an earlier one: it joins only a query that
// starts after it arrived, so it sees what committed before it was asked,
// as a query of its own would. A read that finds fewer than Parallel
// queries in flight runs alone at once, on the caller's goroutine, so a
// single client waits no longer than without batching.
type ReadBatch[K, V any] struct {
	// One reads one key (the caller's context).
	One func(ctx context.Context, k K) (V, error)
	// Many reads len(ks) > 1 keys in one query: a value per key, an error
	// per key (errs; nil when none can fail alone), or err when the whole
	// query failed.
	Many func(ctx context.Context, ks []K) (vs []V, errs []error, err error)
	// Max is the most keys in one query; Parallel the most queries in
	// flight at once.
	Max, Parallel int

	mu      sync.Mutex
	running int
	pending []*batchCall[K, V]
}

type batchCall[K, V any] struct {
	ctx  context.Context
	k    K
	v    V
	err  error
	done chan struct{}
}

// Do reads k.
func (b *ReadBatch[K, V]) Do(ctx context.Context, k K) (V, error) {
	b.mu.Lock()
	if b.running < b.Parallel && len(b.pending) == 0 {
		b.running++
		b.mu.Unlock()
		defer b.release() // even on a panic, which the caller's recovery handles
		return b.One(ctx, k)
	}
	c := &batchCall[K, V]{ctx: ctx, k: k, done: make(chan struct{})}
	b.pending = append(b.pending, c)
	if b.running < b.Parallel {
		b.running++
		go b.drain()
	}
	b.mu.Unlock()
	select {
	case <-c.done:
		return c.v, c.err
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	}
}

// release gives a query's slot up, or hands it to the reads that queued
// meanwhile.
func (b *ReadBatch[K, V]) release() {
	b.mu.Lock()
	if len(b.pending) == 0 {
		b.running--
		b.mu.Unlock()
		return
	}
	b.mu.Unlock()
	go b.drain()
}

// drain runs the queued reads, Max at a time, until none is left, on a
// slot already counted in running.
func (b *ReadBatch[K, V]) drain() {
	for {
		b.mu.Lock()
		n := min(len(b.pending), b.Max)
		if n == 0 {
			b.running--
			b.mu.Unlock()
			return
		}
		calls := make([]*batchCall[K, V], 0, n)
		for _, c := range b.pending[:n] {
			if c.ctx.Err() == nil { // its caller has gone
				calls = append(calls, c)
			}
		}
		b.pending = append(b.pending[:0:0], b.pending[n:]...)
		b.mu.Unlock()
		b.run(calls)
	}
}

// run reads calls' keys and answers them.
func (b *ReadBatch[K, V]) run(calls []*batchCall[K, V]) {
	defer func() {
		// On drain's goroutine no request's recovery is there: a panic
		// fails this query's reads instead of the process.
		if v := recover(); v != nil {
			for _, c := range calls {
				var zero V
				c.v, c.err = zero, fmt.Errorf("metadb: read batch: panic: %v", v)
			}
		}
		for _, c := range calls {
			close(c.done)
		}
	}()
	switch len(calls) {
	case 0:
		return
	case 1:
		c := calls[0]
		c.v, c.err = b.One(c.ctx, c.k)
		return
	}
	ctx, cancel := sharedContext(calls)
	defer cancel()
	ks := make([]K, len(calls))
	for i, c := range calls {
		ks[i] = c.k
	}
	vs, errs, err := b.Many(ctx, ks)
	for i, c := range calls {
		switch {
		case err != nil:
			c.err = err
		case errs != nil && errs[i] != nil:
			c.err = errs[i]
		default:
			c.v = vs[i]
		}
	}
}

// sharedContext is the context of a query run for several callers: one
// caller giving up does not fail the others' reads, and it ends at the
// latest of their deadlines.
func sharedContext[K, V any](calls []*batchCall[K, V]) (context.Context, context.CancelFunc) {
	var last time.Time
	for _, c := range calls {
		d, ok := c.ctx.Deadline()
		if !ok {
			return context.WithCancel(context.WithoutCancel(calls[0].ctx))
		}
		if d.After(last) {
			last = d
		}
	}
	return context.WithDeadline(context.WithoutCancel(calls[0].ctx), last)
}

// BatchSizes are the sizes a Many query of up to max keys is padded to
// (Padded): the powers of two from 2 to the first at or above max, so that
// a few prepared statements serve every batch.
func BatchSizes(max int) []int {
	sizes := []int{2}
	for n := 2; n < max; {
		n *= 2
		sizes = append(sizes, n)
	}
	return sizes
}

// Padded is the size a batch of n keys is padded to, one of BatchSizes:
// its caller repeats the last key to fill it.
func Padded(n int) int {
	p := 2
	for p < n {
		p *= 2
	}
	return p
}

// Questions is the derived table of a Many query with n questions: n rows
// of cols (each "EXPR AS NAME", EXPR holding the question's placeholders),
// and before them i, the question's number, which the answer's rows carry
// back (Numbered).
func Questions(n int, cols ...string) string {
	exprs := make([]string, len(cols))
	for i, c := range cols {
		exprs[i] = c[:strings.LastIndex(c, " AS ")]
	}
	var q strings.Builder
	q.WriteString("(SELECT 0 AS i, " + strings.Join(cols, ", "))
	for i := 1; i < n; i++ {
		fmt.Fprintf(&q, " UNION ALL SELECT %d, %s", i, strings.Join(exprs, ", "))
	}
	q.WriteString(")")
	return q.String()
}
