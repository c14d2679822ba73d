package e2e

import (
	"sort"
	"sync"
	"time"
)

// ledger is what the chaos load knows for certain: every write the gateway
// acknowledged (key, size, SHA-256) and every delete it acknowledged. A
// request that failed leaves its key uncertain: present with exactly the
// bytes sent, or absent — never anything else. Every key is written at most
// once, so an entry never changes meaning.
type ledger struct {
	mu        sync.Mutex
	live      map[string]ledgerEntry
	deleted   map[string]ledgerEntry
	uncertain map[string]ledgerEntry
}

type ledgerEntry struct {
	Key       string
	Size      int64
	Sum       [32]byte
	Multipart bool
	At        time.Time // when the gateway answered
}

func newLedger() *ledger {
	return &ledger{live: map[string]ledgerEntry{}, deleted: map[string]ledgerEntry{}, uncertain: map[string]ledgerEntry{}}
}

// wrote records an acknowledged write.
func (l *ledger) wrote(e ledgerEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.live[e.Key] = e
}

// failedWrite records a write whose outcome is unknown.
func (l *ledger) failedWrite(e ledgerEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.uncertain[e.Key] = e
}

// removed records an acknowledged delete of a live key.
func (l *ledger) removed(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.live[key]; ok {
		delete(l.live, key)
		l.deleted[key] = e
	}
}

// failedRemove moves a live key whose delete failed to the uncertain set.
func (l *ledger) failedRemove(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.live[key]; ok {
		delete(l.live, key)
		l.uncertain[key] = e
	}
}

// snapshot returns the three sets sorted by key.
func (l *ledger) snapshot() (live, deleted, uncertain []ledgerEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return sortedEntries(l.live), sortedEntries(l.deleted), sortedEntries(l.uncertain)
}

func sortedEntries(m map[string]ledgerEntry) []ledgerEntry {
	out := make([]ledgerEntry, 0, len(m))
	for _, e := range m {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}
