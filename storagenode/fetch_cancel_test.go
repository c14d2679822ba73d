package storagenode

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"
)

// TestFetchCopy_CancelledAsItEnds: a catch-up copy whose context ends at
// any moment — before, during, or just as the copy completes (a node
// closing) — fails or succeeds cleanly: the watcher that closes the peer
// connection when the context ends never touches the stream the copy has
// already handed back or pooled (it once read a connection field the
// deferred close had set to nil: a data race, then a nil dereference).
// Run under -race, as CI does.
func TestFetchCopy_CancelledAsItEnds(t *testing.T) {
	e := newEnv(t, sqliteDB(t))
	ns := e.startGroup(2, nil)
	r := ref("fetch-cancel")
	data := randBytes(11, 64<<10)
	if err := upload(ns[0].addr, r, data); err != nil {
		t.Fatal(err)
	}
	if !eventually(10*time.Second, func() bool { row := rowOf(t, ns[1], r); return row != nil && row.status == statusOK }) {
		t.Fatal("the member's copy never became readable")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	ok := 0
	for i := range 300 {
		cur := rowOf(t, ns[1], r)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(time.Duration(rng.IntN(3000))*time.Microsecond, cancel)
		if _, err := ns[1].fetchCopy(ctx, r, int64(len(data)), crcOf(data), cur, []string{ns[0].addr}); err == nil {
			ok++
		} else if ctx.Err() == nil {
			t.Fatalf("fetch %d failed with its context live: %v", i, err)
		}
		cancel()
	}
	got, err := download(ns[1].addr, r, 0, 0)
	if err != nil || len(got) != len(data) {
		t.Fatalf("the member's copy after the fetches: %d bytes, %v", len(got), err)
	}
	t.Logf("%d of 300 fetches completed before their context ended", ok)
}
