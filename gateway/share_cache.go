package gateway

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/tnv-s3/tnv/gateway/index"
)

// shareCacheTTL is how long a gateway trusts what it read of a link: a
// revocation made through any gateway sharing the database is seen within
// it, and a player's segments cost no database round trip in between.
const shareCacheTTL = 900 * time.Millisecond

// maxShareCache bounds each map of shareState; past it, stale entries go
// (and, if that is not enough, all: they are only a cache).
const maxShareCache = 100_000

// shareState is a gateway's cache of links and of the viewers it admitted.
type shareState struct {
	mu      sync.Mutex
	links   map[string]shareEntry
	viewers map[string]*viewer // hash + " " + address
}

type shareEntry struct {
	s  *index.Share // nil: no such link
	at time.Time
}

// viewer is a client address admitted to a link: it stays admitted for the
// link's life (seeks and later segments included), and its requests share
// one pacer, so that rate caps the viewer, not each request.
type viewer struct {
	pace    *pacer // nil: no rate cap
	expires time.Time
}

// lookup returns the link of hash (nil for none), from the cache when it
// was read less than shareCacheTTL ago.
func (st *shareState) lookup(ctx context.Context, idx index.Index, hash string) (*index.Share, error) {
	st.mu.Lock()
	e, ok := st.links[hash]
	st.mu.Unlock()
	if ok && time.Since(e.at) < shareCacheTTL {
		return e.s, nil
	}
	s, err := idx.Share(ctx, hash)
	if errors.Is(err, errNotFound) {
		s, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.links == nil {
		st.links = map[string]shareEntry{}
	}
	if len(st.links) >= maxShareCache {
		for h, e := range st.links {
			if time.Since(e.at) >= shareCacheTTL {
				delete(st.links, h)
			}
		}
		if len(st.links) >= maxShareCache {
			clear(st.links)
		}
	}
	st.links[hash] = shareEntry{s: s, at: time.Now()}
	return s, nil
}

// admit returns the viewer of addr on link s, asking the index (which
// counts distinct addresses across gateways) the first time; nil when the
// link has all the viewers it allows.
func (st *shareState) admit(ctx context.Context, idx index.Index, s *index.Share, addr string, now time.Time) (*viewer, error) {
	k := s.Hash + " " + addr
	st.mu.Lock()
	v, ok := st.viewers[k]
	st.mu.Unlock()
	if ok {
		return v, nil
	}
	in, err := idx.AdmitViewer(ctx, s.Hash, addr, now)
	if err != nil || !in {
		return nil, err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if v, ok := st.viewers[k]; ok { // admitted meanwhile by another request
		return v, nil
	}
	if st.viewers == nil {
		st.viewers = map[string]*viewer{}
	}
	if len(st.viewers) >= maxShareCache {
		for k, v := range st.viewers {
			if !now.Before(v.expires) {
				delete(st.viewers, k)
			}
		}
		if len(st.viewers) >= maxShareCache {
			clear(st.viewers) // they are admitted again by the index
		}
	}
	v = &viewer{expires: s.Expires}
	if s.Rate > 0 {
		v.pace = &pacer{rate: float64(s.Rate)}
	}
	st.viewers[k] = v
	return v, nil
}

// forget drops a link from the cache (this gateway revoked it).
func (st *shareState) forget(hash string) {
	st.mu.Lock()
	delete(st.links, hash)
	st.mu.Unlock()
}

// clientAddr is the address a viewer is counted by: the connection's
// peer, or, when the peer is one of Config.TrustedProxies, the rightmost
// address of X-Forwarded-For that is not a trusted proxy (addresses left
// of it were written by the client and prove nothing).
func (g *Gateway) clientAddr(c *fiber.Ctx) string {
	ip, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	ip = ip.Unmap()
	if !g.trustedProxy(ip) {
		return ip.String()
	}
	var hops []string
	for _, h := range c.Request().Header.PeekAll("X-Forwarded-For") {
		hops = append(hops, strings.Split(string(h), ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a malformed hop: the last good one stands
		}
		ip = a.Unmap()
		if !g.trustedProxy(ip) {
			break
		}
	}
	return ip.String()
}

func (g *Gateway) trustedProxy(ip netip.Addr) bool {
	for _, p := range g.cfg.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
