// Package clocktest is a clock for tests: it stands still until told to
// move, so a test that needs time to pass (a presign to expire, a node to
// go offline, a record to fall due) advances it instead of sleeping.
// Servers take it through their Config.Now.
package clocktest

import (
	"sync"
	"time"
)

// Clock is a settable time source, safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// New returns a clock reading start; a zero start reads the wall clock
// at the call, so times it gives look ordinary to code that logs or stores them.
func New(start time.Time) *Clock {
	if start.IsZero() {
		start = time.Now()
	}
	return &Clock{now: start}
}

// Now reads the clock; pass the method value as a Config.Now.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d and returns the new reading.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}
