package status

import (
	"context"
	"sync"
	"time"
)

// Cached returns groups with its answers kept for ttl (1-2 s is plenty):
// the status page, /_tnv/metrics and the health check then cost the
// tracker one GROUPS query per ttl however often they are asked, and
// callers arriving while a query is out wait for that one. A failure is
// kept as well (a tracker that is down is not asked by every request),
// except one that only the caller's context caused.
func Cached(groups func(ctx context.Context) (string, error), ttl time.Duration) func(ctx context.Context) (string, error) {
	return newGroupsCache(groups, ttl, time.Now).get
}

func newGroupsCache(groups func(ctx context.Context) (string, error), ttl time.Duration, now func() time.Time) *groupsCache {
	return &groupsCache{groups: groups, ttl: ttl, now: now}
}

type groupsCache struct {
	groups func(ctx context.Context) (string, error)
	ttl    time.Duration
	now    func() time.Time // time.Now; a test's clock in tests

	mu       sync.Mutex
	text     string
	err      error
	at       time.Time     // when text/err were fetched; zero = never
	inflight chan struct{} // closed when the query out ends
	waiting  int           // callers waiting for it (tests watch it)
}

func (c *groupsCache) get(ctx context.Context) (string, error) {
	for {
		c.mu.Lock()
		if !c.at.IsZero() && c.now().Sub(c.at) < c.ttl {
			text, err := c.text, c.err
			c.mu.Unlock()
			return text, err
		}
		if wait := c.inflight; wait != nil {
			c.waiting++
			c.mu.Unlock()
			var err error
			select {
			case <-wait:
			case <-ctx.Done():
				err = ctx.Err()
			}
			c.mu.Lock()
			c.waiting--
			c.mu.Unlock()
			if err != nil {
				return "", err
			}
			continue
		}
		done := make(chan struct{})
		c.inflight = done
		c.mu.Unlock()

		text, err := c.groups(ctx)
		c.mu.Lock()
		if err == nil || ctx.Err() == nil {
			c.text, c.err, c.at = text, err, c.now()
		}
		c.inflight = nil
		close(done)
		c.mu.Unlock()
		return text, err
	}
}
