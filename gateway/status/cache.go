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
	c := &groupsCache{groups: groups, ttl: ttl}
	return c.get
}

type groupsCache struct {
	groups func(ctx context.Context) (string, error)
	ttl    time.Duration

	mu       sync.Mutex
	text     string
	err      error
	at       time.Time     // when text/err were fetched; zero = never
	inflight chan struct{} // closed when the query out ends
}

func (c *groupsCache) get(ctx context.Context) (string, error) {
	for {
		c.mu.Lock()
		if !c.at.IsZero() && time.Since(c.at) < c.ttl {
			text, err := c.text, c.err
			c.mu.Unlock()
			return text, err
		}
		if wait := c.inflight; wait != nil {
			c.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
		done := make(chan struct{})
		c.inflight = done
		c.mu.Unlock()

		text, err := c.groups(ctx)
		c.mu.Lock()
		if err == nil || ctx.Err() == nil {
			c.text, c.err, c.at = text, err, time.Now()
		}
		c.inflight = nil
		close(done)
		c.mu.Unlock()
		return text, err
	}
}
