package storagenode

import (
	"context"
	"time"
)

// The node's background loops (purge, health probes, catch-up, tracker
// beats) run on a ticker and some can be woken early; these two helpers
// are that pattern, once.

// wait blocks until the next tick or a wake-up on wake (nil: none) and
// reports true, or reports false when ctx ends first.
func wait(ctx context.Context, tick <-chan time.Time, wake <-chan struct{}) bool {
	select {
	case <-ctx.Done():
		return false
	case <-tick:
	case <-wake:
	}
	return true
}

// nudge wakes the loop that waits on wake (a channel with a buffer of
// one) without blocking: a wake-up already pending covers this one.
func nudge(wake chan<- struct{}) {
	select {
	case wake <- struct{}{}:
	default:
	}
}
