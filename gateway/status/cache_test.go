package status

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/internal/clocktest"
)

// waitUntil polls cond for up to 10 s.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10 s")
		}
	}
}

// TestCached_ManyCallersOneQueryPerTTL asks 200 times at once and again
// within the TTL: the tracker is asked once; after the TTL, once more.
func TestCached_ManyCallersOneQueryPerTTL(t *testing.T) {
	var calls atomic.Int64
	release := make(chan struct{})
	clock := clocktest.New(time.Time{})
	c := newGroupsCache(func(ctx context.Context) (string, error) {
		calls.Add(1)
		<-release
		return "group g1 nodes=1", nil
	}, 200*time.Millisecond, clock.Now)
	groups := c.get
	var wg sync.WaitGroup
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if text, err := groups(context.Background()); err != nil || text != "group g1 nodes=1" {
				t.Errorf("got %q, %v", text, err)
			}
		}()
	}
	// They pile up behind the first query.
	waitUntil(t, func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.waiting == 199 })
	close(release)
	wg.Wait()
	groups(context.Background())
	if n := calls.Load(); n != 1 {
		t.Fatalf("200 callers within the TTL made %d queries, want 1", n)
	}
	clock.Advance(250 * time.Millisecond)
	groups(context.Background())
	if n := calls.Load(); n != 2 {
		t.Fatalf("a caller after the TTL made %d queries in all, want 2", n)
	}
}

// TestCached_FailureKeptButNotACallersCancel keeps a tracker's failure for
// the TTL, but not a failure the caller's own cancelled context caused.
func TestCached_FailureKeptButNotACallersCancel(t *testing.T) {
	var calls atomic.Int64
	down := errors.New("tracker down")
	groups := Cached(func(ctx context.Context) (string, error) {
		calls.Add(1)
		if err := ctx.Err(); err != nil {
			return "", err
		}
		return "", down
	}, time.Hour)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := groups(cancelled); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller got %v", err)
	}
	for range 3 {
		if _, err := groups(context.Background()); !errors.Is(err, down) {
			t.Fatalf("got %v, want the tracker's failure", err)
		}
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d queries, want 2 (the cancelled one is not kept)", n)
	}
}

// TestCached_WaiterLeavesWithItsContext: a caller waiting behind a slow
// query leaves when its context ends.
func TestCached_WaiterLeavesWithItsContext(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	started := make(chan struct{})
	groups := Cached(func(ctx context.Context) (string, error) { close(started); <-release; return "", nil }, time.Second)
	go groups(context.Background())
	<-started // the slow query is out
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := groups(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiter got %v, want its deadline", err)
	}
}
