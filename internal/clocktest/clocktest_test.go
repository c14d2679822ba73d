package clocktest

import (
	"sync"
	"testing"
	"time"
)

func TestClock_StandsStillUntilAdvanced(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := New(start)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("Now = %v, want %v", got, start)
	}
	time.Sleep(2 * time.Millisecond) // the wall clock moves; this one does not
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("Now moved by itself to %v", got)
	}
	if got := c.Advance(90 * time.Second); !got.Equal(start.Add(90 * time.Second)) {
		t.Fatalf("Advance returned %v", got)
	}
	if got := c.Now(); !got.Equal(start.Add(90 * time.Second)) {
		t.Fatalf("Now after Advance = %v", got)
	}
}

func TestClock_ZeroStartIsWallClock(t *testing.T) {
	before := time.Now()
	got := New(time.Time{}).Now()
	if got.Before(before) || got.After(time.Now()) {
		t.Fatalf("New(zero).Now() = %v, not the wall clock at the call", got)
	}
}

// Run under -race: readers and advancers at once.
func TestClock_ConcurrentUse(t *testing.T) {
	start := time.Unix(1000, 0)
	c := New(start)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range 100 {
				c.Advance(time.Second)
			}
		}()
		go func() {
			defer wg.Done()
			for range 100 {
				_ = c.Now()
			}
		}()
	}
	wg.Wait()
	if got := c.Now(); !got.Equal(start.Add(800 * time.Second)) {
		t.Fatalf("after 800 advances of 1s: %v", got)
	}
}
