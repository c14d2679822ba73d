package metadb

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A fake store whose reads take a while: each query records the keys it
// read and the version of the data it saw when it started.
type batchStore struct {
	mu      sync.Mutex
	version atomic.Int64
	queries [][]int
	delay   time.Duration
}

func (s *batchStore) one(ctx context.Context, k int) (int64, error) {
	v, _, err := s.many(ctx, []int{k})
	if err != nil {
		return 0, err
	}
	return v[0], nil
}

func (s *batchStore) many(ctx context.Context, ks []int) ([]int64, []error, error) {
	seen := s.version.Load()
	s.mu.Lock()
	s.queries = append(s.queries, append([]int(nil), ks...))
	s.mu.Unlock()
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	vs := make([]int64, len(ks))
	errs := make([]error, len(ks))
	for i, k := range ks {
		if k < 0 {
			errs[i] = fmt.Errorf("no key %d", k)
		}
		vs[i] = seen*1000 + int64(k)
	}
	return vs, errs, nil
}

func newBatch(s *batchStore) *ReadBatch[int, int64] {
	return &ReadBatch[int, int64]{One: s.one, Many: s.many, Max: 4, Parallel: 2}
}

// One reader at a time: every read a query of its own (One), nothing
// waits for company.
func TestReadBatch_AloneRunsAtOnce(t *testing.T) {
	s := &batchStore{}
	b := newBatch(s)
	for k := range 5 {
		if v, err := b.Do(context.Background(), k); err != nil || v != int64(k) {
			t.Fatalf("Do(%d) = %d, %v", k, v, err)
		}
	}
	if len(s.queries) != 5 {
		t.Fatalf("%d queries for 5 reads one after another: %v", len(s.queries), s.queries)
	}
}

// Reads that arrive while Parallel queries are in flight share the next
// queries, at most Max keys each, and each gets its own key's answer.
func TestReadBatch_QueuedReadsShareQueries(t *testing.T) {
	s := &batchStore{delay: 20 * time.Millisecond}
	b := newBatch(s)
	var wg sync.WaitGroup
	const readers = 22
	errc := make(chan error, readers)
	for k := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v, err := b.Do(context.Background(), k); err != nil || v != int64(k) {
				errc <- fmt.Errorf("Do(%d) = %d, %v", k, v, err)
			}
		}()
		if k < 2 {
			time.Sleep(2 * time.Millisecond) // the first two hold both slots
		}
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	// 2 alone, then 20 queued: at least 5 queries of at most 4.
	if len(s.queries) > 2+readers/4+2 || len(s.queries) < 2+5 {
		t.Fatalf("%d queries for %d concurrent reads: %v", len(s.queries), readers, s.queries)
	}
	for _, q := range s.queries {
		if len(q) > 4 {
			t.Fatalf("a query of %d keys, Max 4: %v", len(q), s.queries)
		}
	}
	for deadline := time.Now().Add(time.Second); ; time.Sleep(time.Millisecond) { // the last query's slot is given up after its readers are answered
		b.mu.Lock()
		running, pending := b.running, len(b.pending)
		b.mu.Unlock()
		if running == 0 && pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the reads: %d running, %d pending", running, pending)
		}
	}
}

// A read never takes its answer from a query that started before it was
// asked: one queued behind a write sees the write.
func TestReadBatch_ReadSeesWhatCommittedBeforeIt(t *testing.T) {
	s := &batchStore{delay: 30 * time.Millisecond}
	b := newBatch(s)
	var wg sync.WaitGroup
	for k := range 6 { // both slots busy, reads queued, all at version 0
		wg.Add(1)
		go func() { defer wg.Done(); b.Do(context.Background(), k) }()
	}
	time.Sleep(5 * time.Millisecond)
	s.version.Store(1) // a write commits; reads asked from now on must see it
	v, err := b.Do(context.Background(), 7)
	wg.Wait()
	if err != nil || v != 1007 {
		t.Fatalf("read asked after the write = %d, %v; want 1007 (version 1)", v, err)
	}
}

// Errors: a key's error goes to its reader only; a failed query to each
// of its readers; a reader that gives up returns at once and does not
// fail the others.
func TestReadBatch_Errors(t *testing.T) {
	s := &batchStore{delay: 20 * time.Millisecond}
	b := newBatch(s)
	block := func() *sync.WaitGroup { // hold both slots
		var wg sync.WaitGroup
		for k := range 2 {
			wg.Add(1)
			go func() { defer wg.Done(); b.Do(context.Background(), 100+k) }()
		}
		time.Sleep(3 * time.Millisecond)
		return &wg
	}
	wg := block()
	res := make([]error, 3)
	var rw sync.WaitGroup
	for i, k := range []int{1, -1, 2} {
		rw.Add(1)
		go func() { defer rw.Done(); _, res[i] = b.Do(context.Background(), k) }()
	}
	rw.Wait()
	wg.Wait()
	if res[0] != nil || res[1] == nil || res[2] != nil {
		t.Fatalf("errors %v; want only key -1's", res)
	}

	s.delay = 400 * time.Millisecond
	wg = block()
	ctx, cancel := context.WithCancel(context.Background())
	gone := make(chan error, 1)
	go func() { _, err := b.Do(ctx, 3); gone <- err }()
	var other error
	rw.Add(1)
	go func() { defer rw.Done(); _, other = b.Do(context.Background(), 4) }()
	time.Sleep(3 * time.Millisecond)
	cancel()
	select {
	case err := <-gone:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled reader: %v", err)
		}
	case <-time.After(200 * time.Millisecond):
		t.Fatal("a cancelled reader waited for the query")
	}
	rw.Wait()
	wg.Wait()
	if other != nil {
		t.Fatalf("the cancelled reader's neighbour: %v", other)
	}
	s.delay = 20 * time.Millisecond

	// A query that fails fails each of its readers.
	lost := errors.New("connection lost")
	b.Many = func(ctx context.Context, ks []int) ([]int64, []error, error) {
		s.many(ctx, ks)
		return nil, nil, lost
	}
	wg = block()
	res = make([]error, 3)
	for i := range res {
		rw.Add(1)
		go func() { defer rw.Done(); _, res[i] = b.Do(context.Background(), 10+i) }()
	}
	rw.Wait()
	wg.Wait()
	for i, err := range res {
		if !errors.Is(err, lost) {
			t.Fatalf("reader %d of a failed query: %v", i, err)
		}
	}
}

// A read that panics gives its query slot back (the caller recovers);
// one that panics in a shared query fails that query's readers, not the
// process. Either way later reads go on.
func TestReadBatch_PanicFreesTheSlot(t *testing.T) {
	s := &batchStore{delay: 20 * time.Millisecond}
	b := newBatch(s)
	b.One = func(ctx context.Context, k int) (int64, error) {
		if k == 13 {
			panic("bad row")
		}
		return s.one(ctx, k)
	}
	for range 3 { // more than Parallel: a leaked slot would block the rest
		func() {
			defer func() { recover() }()
			b.Do(context.Background(), 13)
		}()
	}
	if v, err := b.Do(context.Background(), 1); err != nil || v != 1 {
		t.Fatalf("after panics: %d, %v", v, err)
	}
	b.Many = func(ctx context.Context, ks []int) ([]int64, []error, error) { panic("bad rows") }
	var wg sync.WaitGroup
	for k := range 2 { // hold both slots
		wg.Add(1)
		go func() { defer wg.Done(); b.Do(context.Background(), 100+k) }()
	}
	time.Sleep(3 * time.Millisecond)
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); _, errs[i] = b.Do(context.Background(), i) }()
	}
	wg.Wait()
	for i, err := range errs {
		if err == nil {
			t.Fatalf("reader %d of a panicking query: no error", i)
		}
	}
}

// A batch is padded to one of the sizes prepared, the smallest that
// holds it; the derived table has one numbered row per question.
func TestBatchShapes(t *testing.T) {
	if got := BatchSizes(16); fmt.Sprint(got) != "[2 4 8 16]" {
		t.Fatalf("BatchSizes(16) = %v", got)
	}
	if got := BatchSizes(10); fmt.Sprint(got) != "[2 4 8 16]" {
		t.Fatalf("BatchSizes(10) = %v", got)
	}
	for n, want := range map[int]int{1: 2, 2: 2, 3: 4, 8: 8, 9: 16, 16: 16} {
		if got := Padded(n); got != want {
			t.Fatalf("Padded(%d) = %d, want %d", n, got, want)
		}
	}
	want := "(SELECT 0 AS i, ? AS n, CAST(? AS BINARY) AS k UNION ALL SELECT 1, ?, CAST(? AS BINARY) UNION ALL SELECT 2, ?, CAST(? AS BINARY))"
	if got := Questions(3, "? AS n", "CAST(? AS BINARY) AS k"); got != want {
		t.Fatalf("Questions = %s\nwant        %s", got, want)
	}
}
