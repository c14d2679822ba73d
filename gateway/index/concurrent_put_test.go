package index

import (
	"fmt"
	"sync"
	"testing"
)

// TestPutObject_ConcurrentNewKeysNeverDeadlock puts 32 new, neighbouring
// keys at once, several rounds, and overwrites some of them concurrently
// too: every PUT succeeds. On MariaDB a locking read of a key that does not
// exist yet takes a gap lock, and concurrent inserts into the same gap then
// deadlock (error 1213) more often than the retries absorb: PUTs of new
// keys at c=32 answered 500 (seen by the bench).
func TestPutObject_ConcurrentNewKeysNeverDeadlock(t *testing.T) {
	forEach(t, func(t *testing.T, idx Index) {
		b := mustBucket(t, idx, "bkt")
		const writers, rounds = 32, 4
		var wg sync.WaitGroup
		errs := make(chan error, writers*rounds*2)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := range rounds {
					key := fmt.Sprintf("k/%03d/%02d", r, w)
					// as the gateway does: an intent record per blob, dropped by the put
					ids, err := idx.ReserveIntents(ctx, b.AppID, []BlobName{{UserID: "owner-1", FileID: fmt.Sprintf("f-%d-%d", r, w)}}, 1<<40)
					if err != nil {
						errs <- err
						continue
					}
					if err := idx.PutObject(ctx, b.AppID, obj("bkt", key, fmt.Sprintf("f-%d-%d", r, w)), PutCond{}, ids, released); err != nil {
						errs <- fmt.Errorf("new key %s: %w", key, err)
					}
					// and one shared key that every writer overwrites
					if err := idx.PutObject(ctx, b.AppID, obj("bkt", "shared", fmt.Sprintf("s-%d-%d", r, w)), PutCond{}, nil, released); err != nil {
						errs <- fmt.Errorf("shared key: %w", err)
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		n := 0
		for err := range errs {
			if n < 5 {
				t.Error(err)
			}
			n++
		}
		if n > 0 {
			t.Fatalf("%d of %d PUTs failed", n, writers*rounds*2)
		}
		rows, err := idx.ScanKeys(ctx, "bkt", "", true, "", 10000)
		if err != nil || len(rows) != writers*rounds+1 {
			t.Fatalf("%d keys listed (%v), want %d", len(rows), err, writers*rounds+1)
		}
		// every replaced version of the shared key was released, none twice
		if q := queued(t, idx); len(q) != writers*rounds-1 {
			t.Fatalf("%d blobs queued for collection, want %d", len(q), writers*rounds-1)
		}
	})
}
