package e2e

import (
	"bytes"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/internal/proctest"
	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/metadb/metadbtest"
)

// Issue 13, "idle connections fail requests": the ID server closes
// connections idle longer than its --idle-timeout (here 1s). A node that
// pooled several of them and then idled past it used to send its next
// ID_GET on a dead one, retry once on another dead one and fail the upload
// with "no file ID … broken pipe"/EOF. Now every upload after the idle
// period succeeds at once and reaches every member. (A node now asks for
// IDs a block at a time, one request at a time per store, so it pools
// fewer of those connections; TestIDClient_AllPooledConnectionsStale in
// storagenode covers several dead ones.)
func TestUploadsAfterIDServerIdleTimeout(t *testing.T) {
	const idle = time.Second
	dsn := metadbtest.NewTestMySQL(t)
	c := proctest.StartCluster(t, proctest.Topology{DB: dsn, Members: 2, Beat: 500 * time.Millisecond,
		Offline: 5 * time.Second, Args: []string{"--log-level", "info"},
		IDArgs: []string{"--idle-timeout", idle.String()}})
	db, err := metadb.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ms := c.Groups[0]
	waitSynced(t, db, addrs(ms), 30*time.Second)

	files := map[string][]byte{}
	var mu sync.Mutex
	// Concurrent uploads to one node (and its mirror, which takes IDs
	// for its copies) leave ID server connections in their pools.
	round := func(name string, n int) {
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				fname := fmt.Sprintf("%s%02d", name, i)
				data := randData(uint64(len(name)*100+i), 4<<10+i*1000)
				if err := upload(ms[0].Addr, fref(fname), data); err != nil {
					t.Errorf("upload %s: %v", fname, err)
					return
				}
				mu.Lock()
				files[fname] = data
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	round("before", 8)
	if t.Failed() {
		t.FailNow()
	}
	// Idle past the ID server's timeout (waiting on a real process's
	// timer: there is no state to watch for).
	time.Sleep(idle + idle/2)
	// Concurrent, and more than the rest of the node's block of IDs (32,
	// of which "before" used 8): its next ID_GET_BLOCK goes out on the
	// connection pooled before the idle period, which the ID server has
	// closed.
	round("after", 40)
	for i := range 4 {
		round(fmt.Sprintf("seq%d-", i), 1)
	}
	if t.Failed() {
		t.FailNow()
	}
	waitSynced(t, db, addrs(ms), 30*time.Second)
	checkCopies(t, db, ms, files)
	for _, p := range ms {
		b, err := os.ReadFile(p.Log)
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"member skipped", "no file ID"} {
			if bytes.Contains(b, []byte(bad)) {
				t.Errorf("%s logged %q", p.Name, bad)
			}
		}
	}
}
