package gateway

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/internal/clocktest"
)

// gcRowsNotHeld lists the s3_gc rows other than the intents the pool holds
// in reserve.
func (e *env) gcRowsNotHeld() []int64 {
	e.t.Helper()
	held := e.g.intents.held()
	rows, err := e.db.QueryContext(ctx(), "SELECT id FROM s3_gc")
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			e.t.Fatal(err)
		}
		if !held[id] {
			out = append(out, id)
		}
	}
	return out
}

func gcCount(t *testing.T, e *env) int {
	t.Helper()
	var n int
	if err := e.db.QueryRowContext(ctx(), "SELECT COUNT(*) FROM s3_gc").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Intent records are written ahead in batches (4, then 8, ... up to 64 per
// bucket), each PUT takes one and its publication drops it; Close deletes
// the ones never used.
func TestIntents_ReservedAheadDroppedAtClose(t *testing.T) {
	for _, my := range []bool{false, true} {
		t.Run(map[bool]string{false: "sqlite", true: "mysql"}[my], func(t *testing.T) {
			e := newEnv(t, envOpt{mysql: my})
			e.mkBucket("bkt")
			for i := range 10 {
				e.put("bkt", "k"+string(rune('a'+i)), randBytes(100))
			}
			// 4 + 8 reserved, 10 used.
			if held := e.g.intents.held(); len(held) != 2 {
				t.Fatalf("%d reservations held, want 2", len(held))
			}
			if n := gcCount(t, e); n != 2 {
				t.Fatalf("%d rows in s3_gc, want the 2 held", n)
			}
			if left := e.gcRowsNotHeld(); len(left) != 0 {
				t.Fatalf("published PUTs left intent rows %v", left)
			}
			e.g.Close()
			if n := gcCount(t, e); n != 0 {
				t.Fatalf("%d rows in s3_gc after Close, want 0", n)
			}
		})
	}
}

// A gateway that stops without Close (a crash) leaves its reservations as
// records the collector works off when they are due: names never written
// cost a DELETE that finds nothing, published blobs are not touched, and a
// reservation past half its TTL is not handed out.
func TestIntents_UnusedReservationsCollectedWhenDue(t *testing.T) {
	store := newMemStore()
	clock := clocktest.New(time.Time{})
	e := newEnv(t, envOpt{store: store, intentTTL: 4 * time.Second, clock: clock})
	e.mkBucket("bkt")
	body := randBytes(300)
	e.put("bkt", "one", body)
	if len(e.g.intents.held()) != 3 {
		t.Fatalf("held %d, want 3", len(e.g.intents.held()))
	}
	// Past half the TTL the held three are not used: the next PUT
	// reserves a fresh batch of 8.
	clock.Advance(2100 * time.Millisecond)
	e.put("bkt", "two", body)
	if held := len(e.g.intents.held()); held != 7+2 && held != 7 {
		t.Fatalf("held %d after a PUT past half the TTL, want the new batch's 7 (and at most the 2 stale left)", held)
	}
	clock.Advance(4 * time.Second) // every reservation falls due
	deadline := time.Now().Add(15 * time.Second)
	for gcCount(t, e) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("s3_gc still has %d rows after every reservation fell due", gcCount(t, e))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if store.count() != 2 {
		t.Fatalf("store holds %d blobs, want the 2 published", store.count())
	}
	for _, k := range []string{"one", "two"} {
		if !bytes.Equal(e.get("bkt", k), body) {
			t.Fatalf("%s differs after the collector ran", k)
		}
	}
}

// slowStore holds each Put at its end until release is closed.
type slowStore struct {
	*memStore
	started chan struct{}
	release chan struct{}
}

func (s *slowStore) Put(ctx context.Context, appid, userid, fileid string, r io.Reader, size int64) error {
	b, err := io.ReadAll(io.LimitReader(r, size))
	if err != nil {
		return err
	}
	s.started <- struct{}{}
	<-s.release
	return s.memStore.Put(ctx, appid, userid, fileid, bytes.NewReader(b), int64(len(b)))
}

// A write that outlives its intent record (the record fell due, so the
// collector may already be deleting the blob) is not published: the PUT
// fails and the blob goes.
func TestIntents_PublishAfterDueRefused(t *testing.T) {
	for _, my := range []bool{false, true} {
		t.Run(map[bool]string{false: "sqlite", true: "mysql"}[my], func(t *testing.T) {
			store := &slowStore{memStore: newMemStore(), started: make(chan struct{}, 1), release: make(chan struct{})}
			e := newEnv(t, envOpt{store: store, mysql: my})
			e.mkBucket("bkt")
			done := make(chan int, 1)
			go func() {
				resp, _ := e.signed("PUT", "/bkt/late", nil, randBytes(100))
				done <- resp.StatusCode
			}()
			<-store.started
			if _, err := e.db.ExecContext(ctx(), "UPDATE s3_gc SET due = 0"); err != nil {
				t.Fatal(err)
			}
			close(store.release)
			if code := <-done; code != 500 {
				t.Fatalf("PUT answered %d, want 500", code)
			}
			resp, _ := e.signed("HEAD", "/bkt/late", nil, nil)
			if resp.StatusCode != 404 {
				t.Fatalf("HEAD %d, want 404: nothing published", resp.StatusCode)
			}
			waitFor(t, func() bool { return store.count() == 0 })
		})
	}
}

// The pool holds at most maxHeld reservations across buckets: past it, the
// least recently written bucket's go, rows and all.
func TestIntents_HeldBoundedAcrossBuckets(t *testing.T) {
	e := newEnv(t, envOpt{})
	p := e.g.intents
	p.maxHeld = 10
	for _, app := range []string{"appa", "appb", "appc"} {
		if _, err := p.take(ctx(), app); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.take(ctx(), "appb"); err != nil { // b written again: a is the oldest
		t.Fatal(err)
	}
	if n := len(p.held()); n != 8 {
		t.Fatalf("held %d, want 3+2+3", n)
	}
	if _, err := p.take(ctx(), "appd"); err != nil { // 11 held: a's 3 go
		t.Fatal(err)
	}
	if n := len(p.held()); n != 8 || p.byApp["appa"] != nil {
		t.Fatalf("held %d (a's list %v), want 8 without a's", n, p.byApp["appa"])
	}
	// Rows: the 5 taken (never published here) and the 8 held.
	if n := gcCount(t, e); n != 13 {
		t.Fatalf("%d rows in s3_gc, want 13", n)
	}
}
