package status

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Health is the answer of /_tnv/health: ok only when the tracker answers,
// every group has a readable member and the database answers in time.
// Reasons are this package's own words: error texts are logged, not sent.
type Health struct {
	OK       bool                   `json:"ok"`
	Tracker  Check                  `json:"tracker"`
	Database *Check                 `json:"database,omitempty"`
	Groups   map[string]GroupHealth `json:"groups"`
}

// Check is one dependency's verdict.
type Check struct {
	OK     bool   `json:"ok"`
	Reason string `json:"reason,omitempty"`
}

// GroupHealth is one group's verdict.
type GroupHealth struct {
	OK       bool   `json:"ok"`
	Members  int    `json:"members"`
	Readable int    `json:"readable"`
	Reason   string `json:"reason,omitempty"`
}

// checkHealth asks the tracker and the database side by side, each within
// cfg.Timeout.
func checkHealth(ctx context.Context, cfg Config, groups func(context.Context) ([]Group, error)) Health {
	h := Health{OK: true, Tracker: Check{OK: true}, Groups: map[string]GroupHealth{}}
	var wg sync.WaitGroup
	if cfg.Database != nil {
		h.Database = &Check{OK: true}
		wg.Add(1)
		go func() {
			defer wg.Done()
			dctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
			defer cancel()
			if err := cfg.Database(dctx); err != nil {
				cfg.Logger.Warn("health: database probe failed", "err", err)
				h.Database.OK = false
				h.Database.Reason = "database error"
				if errors.Is(err, context.DeadlineExceeded) {
					h.Database.Reason = fmt.Sprintf("database did not answer within %s", cfg.Timeout)
				}
			}
		}()
	}
	gs, err := groups(ctx)
	wg.Wait()
	if err != nil {
		cfg.Logger.Warn("health: tracker unreachable", "err", err)
		h.Tracker = Check{Reason: "no tracker answered"}
	}
	for _, g := range gs {
		gh := GroupHealth{OK: g.Read > 0, Members: g.NodeCount, Readable: g.Read}
		if !gh.OK {
			gh.Reason = "no readable member"
		}
		h.Groups[g.Name] = gh
		h.OK = h.OK && gh.OK
	}
	if err == nil && len(gs) == 0 {
		h.Tracker = Check{Reason: "the tracker knows no group"}
	}
	h.OK = h.OK && h.Tracker.OK && (h.Database == nil || h.Database.OK)
	return h
}
