package storagenode

import (
	"context"
	"io"
	"os"
	"time"
)

// Defaults of the background scrub.
const (
	DefaultScrubEvery       = 7 * 24 * time.Hour
	DefaultScrubRate  int64 = 16 << 20
)

// verifyAge is how old a copy's last verification may be for a read to
// trust it unread: the scrub period (7 days when the scrub is off).
func (s *Server) verifyAge() time.Duration {
	if s.cfg.ScrubEvery > 0 {
		return s.cfg.ScrubEvery
	}
	return DefaultScrubEvery
}

// scrubPasses is how many background passes run per scrub period. Each
// pass verifies the copies whose last verification is older than the
// period less two passes, so every copy is verified at least once per
// period (while a pass takes less than a pass interval: --scrub-rate must
// allow reading the node's bytes in period/8), and a copy just verified by
// a read or an upload is not read again.
const scrubPasses = 8

// scrubLoop runs the background scrub with repair: a pass every
// ScrubEvery/8 (at least a second), the first one a pass interval (at most
// a minute) after the start, so that a restart does not begin by reading
// the disks.
func (s *Server) scrubLoop(ctx context.Context) {
	every := max(s.cfg.ScrubEvery/scrubPasses, time.Second)
	maxAge := max(s.cfg.ScrubEvery-2*every, time.Millisecond)
	wait := min(every, time.Minute)
	s.log.Info("storage: background scrub on", "every", s.cfg.ScrubEvery, "pass_every", every, "rate_bytes_per_s", s.cfg.ScrubRate)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		start := time.Now()
		rep := &ScrubReport{}
		pace := newPacer(ctx, s.cfg.ScrubRate)
		err := s.scrubRows(ctx, rep, true, maxAge, pace, false)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.log.Warn("storage: background scrub", "err", err)
		} else if len(rep.Bad) > 0 {
			s.log.Warn("storage: background scrub found bad copies", "files", rep.Files, "read_bytes", pace.n, "bad", len(rep.Bad), "repaired", rep.Repaired)
		} else {
			s.log.Debug("storage: background scrub pass", "files", rep.Files, "read_bytes", pace.n, "took", time.Since(start))
		}
		wait = max(every-time.Since(start), 0)
	}
}

// pacer limits a scrub's reads to rate bytes/s on average since its start.
type pacer struct {
	ctx   context.Context
	rate  int64
	start time.Time
	n     int64 // bytes read
}

func newPacer(ctx context.Context, rate int64) *pacer {
	return &pacer{ctx: ctx, rate: rate, start: time.Now()}
}

// wait counts n bytes read and sleeps until the average is back under the
// rate.
func (p *pacer) wait(n int) {
	p.n += int64(n)
	due := p.start.Add(time.Duration(float64(p.n) / float64(p.rate) * float64(time.Second)))
	if d := time.Until(due); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-p.ctx.Done():
		case <-t.C:
		}
	}
}

// fileCRC reads the whole file and returns its CRC32C and length, at the
// pacer's rate and until its context ends; a nil pacer reads at once.
func (p *pacer) fileCRC(f *os.File, buf []byte) (uint32, int64, error) {
	var crc uint32
	var n int64
	for {
		m, err := f.ReadAt(buf, n)
		crc = crcUpdate(crc, buf[:m])
		n += int64(m)
		if p != nil {
			p.wait(m)
		}
		if err == io.EOF {
			return crc, n, nil
		}
		if err != nil {
			return crc, n, err
		}
		if p != nil && p.ctx.Err() != nil {
			return crc, n, p.ctx.Err()
		}
	}
}
