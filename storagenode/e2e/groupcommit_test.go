package e2e

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/internal/proctest"
	"github.com/tnv-s3/tnv/metadb"
)

// An acknowledged upload whose log append shared a transaction with
// others' (group commit, SQLite) is on both members after both are
// SIGKILLed right after the acknowledgements, and restarted: an answer is
// sent only after the shared commit. Rounds of 16 concurrent uploads
// through one coordinator go on until its NODESTAT shows shared
// transactions (at most 10 rounds), then both members die at once.
func TestGroupCommit_AckedUploadsSurviveKillOfBothMembers(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "meta.db")
	c := proctest.StartCluster(t, proctest.Topology{DB: dsn, Members: 2, Beat: 500 * time.Millisecond, Offline: 5 * time.Second})
	db, err := metadb.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ms := c.Groups[0]
	waitSynced(t, db, addrs(ms), 60*time.Second)

	acked := map[string][]byte{}
	var mu sync.Mutex
	var failed int
	batches := "0"
	for round := 0; round < 10 && batches == "0"; round++ {
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				name := fmt.Sprintf("r%02d-%02d", round, i)
				data := randData(uint64(round*100+i), 4096+i)
				err := upload(ms[0].Addr, fref(name), data)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failed++
					t.Logf("upload %s: %v", name, err)
					return
				}
				acked[name] = data
			}()
		}
		wg.Wait()
		st, err := nodeStat(ms[0].Addr)
		if err != nil {
			t.Fatal(err)
		}
		var grouped string
		if _, err := fmt.Sscan(st["groupcommit"], &batches, &grouped); err != nil {
			t.Fatalf("NODESTAT groupcommit %q: %v", st["groupcommit"], err)
		}
		t.Logf("after round %d: %d acknowledged, %d failed; shared transactions %s holding %s appends", round, len(acked), failed, batches, grouped)
	}
	if batches == "0" {
		t.Fatal("no upload's log append shared a transaction in 10 rounds of 16")
	}
	// Right after the last acknowledgements: both members at once.
	ms[0].Kill()
	ms[1].Kill()
	ms[0].Restart()
	ms[1].Restart()
	waitSynced(t, db, addrs(ms), 90*time.Second)
	if failed > 0 {
		t.Errorf("%d uploads failed on a healthy group", failed)
	}
	checkEverywhere(t, addrs(ms), acked)
	checkCopies(t, db, ms, acked)
}
