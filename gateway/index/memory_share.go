package index

import (
	"context"
	"fmt"
	"sort"
	"time"
)

type memShares struct {
	links   map[string]*Share
	viewers map[string]map[string]bool // hash → addresses
}

// shares returns the share maps, made on first use; m.mu is held.
func (m *Memory) shares() *memShares {
	if m.sh.links == nil {
		m.sh.links, m.sh.viewers = map[string]*Share{}, map[string]map[string]bool{}
	}
	return &m.sh
}

func (m *Memory) CreateShare(_ context.Context, s *Share) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	sh := m.shares()
	if _, ok := sh.links[s.Hash]; ok {
		return fmt.Errorf("share: %w", ErrExists)
	}
	c := *s
	c.Viewers, c.Created, c.Expires = 0, c.Created.Truncate(time.Second).UTC(), c.Expires.Truncate(time.Second).UTC()
	sh.links[s.Hash] = &c
	return nil
}

func (m *Memory) Share(_ context.Context, hash string) (*Share, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sh := m.shares()
	s, ok := sh.links[hash]
	if !ok {
		return nil, fmt.Errorf("share: %w", ErrNotFound)
	}
	c := *s
	c.Viewers = len(sh.viewers[hash])
	return &c, nil
}

func (m *Memory) ShareList(_ context.Context) ([]Share, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sh := m.shares()
	var out []Share
	for h, s := range sh.links {
		c := *s
		c.Viewers = len(sh.viewers[h])
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.After(out[j].Created)
		}
		return out[i].Hash < out[j].Hash
	})
	return out, nil
}

func (m *Memory) RevokeShare(_ context.Context, hash string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.shares().links[hash]
	if !ok {
		return fmt.Errorf("share: %w", ErrNotFound)
	}
	s.Revoked = true
	return nil
}

func (m *Memory) AdmitViewer(_ context.Context, hash, addr string, _ time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sh := m.shares()
	s, ok := sh.links[hash]
	if !ok {
		return false, fmt.Errorf("share: %w", ErrNotFound)
	}
	v := sh.viewers[hash]
	if v[addr] {
		return true, nil
	}
	if s.MaxViewers > 0 && len(v) >= s.MaxViewers {
		return false, nil
	}
	if v == nil {
		v = map[string]bool{}
		sh.viewers[hash] = v
	}
	v[addr] = true
	return true, nil
}
