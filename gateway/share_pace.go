package gateway

import (
	"context"
	"io"
	"sync"
	"time"
)

// minShareRate is the smallest rate cap of a link, bytes per second.
const minShareRate = 1024

// pacerSlack is the credit an idle viewer builds up: a tenth of a second
// of its rate, so that a seek starts at once but no burst runs ahead.
const pacerSlack = 100 * time.Millisecond

// pacer spaces a viewer's bytes evenly at rate bytes per second across
// all its requests: each chunk moves the viewer's schedule on by its
// duration at the rate, and the sender waits for the schedule.
type pacer struct {
	mu   sync.Mutex
	rate float64
	next time.Time
}

func (p *pacer) wait(ctx context.Context, n int) error {
	p.mu.Lock()
	now := time.Now()
	if floor := now.Add(-pacerSlack); p.next.Before(floor) {
		p.next = floor
	}
	p.next = p.next.Add(time.Duration(float64(n) / p.rate * float64(time.Second)))
	d := p.next.Sub(now)
	p.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// chunk is the most a paced read hands on at once: 1/20 s of the rate,
// so the bytes leave in small, even steps.
func (p *pacer) chunk() int {
	return max(int(p.rate/20), 512)
}

// pacedBody is a GET body sent at a viewer's rate. It has no WriteTo, so
// the body goes through Read in paced chunks rather than by sendfile.
type pacedBody struct {
	body *sentBody
	p    *pacer
	ctx  context.Context
}

func (b *pacedBody) Read(buf []byte) (int, error) {
	if c := b.p.chunk(); len(buf) > c {
		buf = buf[:c]
	}
	n, err := b.body.Read(buf)
	if n > 0 {
		if werr := b.p.wait(b.ctx, n); werr != nil && err == nil {
			err = werr
		}
	}
	return n, err
}

func (b *pacedBody) Close() error { return b.body.Close() }

// paced is the body of a GET as it goes out: at the request's pace, if any.
func (r *request) paced(s *sentBody) io.Reader {
	if r.pace == nil {
		return s
	}
	return &pacedBody{body: s, p: r.pace, ctx: r.g.ctx}
}
