package index

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/metadb/metadbtest"
)

// shortLease makes the lease's times short for a test.
func shortLease(t *testing.T) {
	term, renew, margin, want := leaseTerm, leaseRenew, leaseMargin, wantFor
	leaseTerm, leaseRenew, leaseMargin, wantFor = 400*time.Millisecond, 100*time.Millisecond, 100*time.Millisecond, 600*time.Millisecond
	t.Cleanup(func() { leaseTerm, leaseRenew, leaseMargin, wantFor = term, renew, margin, want })
}

// twoInstances returns a caching index (a gateway holding the lease) and
// a plain one (another gateway, or `tnv admin`) on one database.
func twoInstances(t *testing.T, mysql bool) (a, b *SQL) {
	t.Helper()
	dsn := "sqlite:" + t.TempDir() + "/meta.db"
	if mysql {
		dsn = metadbtest.NewTestMySQL(t)
	}
	open := func() *SQL {
		db, err := metadb.Open(dsn)
		if err != nil {
			t.Fatal(err)
		}
		if err := Migrate(ctx, db); err != nil {
			t.Fatal(err)
		}
		s := NewSQL(db)
		t.Cleanup(func() { s.Close(); db.Close() })
		return s
	}
	a, b = open(), open()
	a.StartCache(0)
	return a, b
}

// leaseAgain lets a take the lease again at once (as if the writer that
// wanted it stopped writing) and waits until it has.
func leaseAgain(t *testing.T, a *SQL) {
	t.Helper()
	if _, err := a.db.ExecContext(ctx, "UPDATE s3_index_lease SET wanted = 0 WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	waitLease(t, a, true)
}

func forBoth(t *testing.T, test func(t *testing.T, mysql bool)) {
	t.Run("sqlite", func(t *testing.T) { test(t, false) })
	t.Run("mariadb", func(t *testing.T) { test(t, true) })
}

// Every kind of write made through another instance is seen by the
// caching instance's next lookup, the write having waited out its lease.
func TestLookupCache_WritesThroughAnotherInstance(t *testing.T) {
	shortLease(t)
	forBoth(t, func(t *testing.T, mysql bool) {
		a, b := twoInstances(t, mysql)
		bk := mustBucket(t, a, "photos")
		if err := a.AddUser(ctx, "bob", "secret-bob-1234"); err != nil {
			t.Fatal(err)
		}
		if err := a.PutObject(ctx, bk.AppID, obj("photos", "k", "f1"), PutCond{}, nil, released); err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			name  string
			write func() error
			check func(b *Bucket, o *Object) bool
		}{
			{"replace", func() error {
				o := obj("photos", "k", "f2")
				o.ETag = "second"
				return b.PutObject(ctx, bk.AppID, o, PutCond{}, nil, released)
			}, func(_ *Bucket, o *Object) bool { return o != nil && o.ETag == "second" }},
			{"tags", func() error { return b.SetObjectTags(ctx, "photos", "k", []Tag{{"t", "1"}}) },
				func(_ *Bucket, o *Object) bool { return o != nil && len(o.Headers.Tags) == 1 }},
			{"acl", func() error { return b.SetObjectACL(ctx, "photos", "k", &ACL{Owner: "alice"}) },
				func(_ *Bucket, o *Object) bool { return o != nil && o.Headers.ACL != nil }},
			{"delete", func() error { _, err := b.DeleteObject(ctx, bk.AppID, "photos", "k", released); return err },
				func(_ *Bucket, o *Object) bool { return o == nil }},
			{"create", func() error { return b.PutObject(ctx, bk.AppID, obj("photos", "k", "f3"), PutCond{}, nil, released) },
				func(_ *Bucket, o *Object) bool { return o != nil && o.Blobs[0].FileID == "f3" }},
			{"encryption", func() error { return b.SetEncryption(ctx, "photos", "AES256") },
				func(bb *Bucket, _ *Object) bool { return bb.Encryption == "AES256" }},
			{"cors", func() error { return b.SetCORS(ctx, "photos", "<CORSConfiguration/>") },
				func(bb *Bucket, _ *Object) bool { return bb.CORS != "" }},
			{"public", func() error { return b.SetPublic(ctx, "photos", true) },
				func(bb *Bucket, _ *Object) bool { return bb.PublicRead }},
			{"owner", func() error { return b.SetBucketOwner(ctx, "photos", "bob") },
				func(bb *Bucket, _ *Object) bool { return bb.Owner == "bob" }},
			{"versioning", func() error { return b.SetVersioning(ctx, "photos", VersioningEnabled) },
				func(bb *Bucket, _ *Object) bool { return bb.Versioning == VersioningEnabled }},
			{"delete marker", func() error {
				_, err := b.PutDeleteMarker(ctx, bk.AppID, "photos", "k", VersioningEnabled, time.Now(), released)
				return err
			}, func(_ *Bucket, o *Object) bool { return o == nil }},
		}
		givenBack := 0
		for _, st := range steps {
			leaseAgain(t, a)
			for range 2 { // the second from the cache
				if _, _, err := a.BucketObject(ctx, "photos", "k"); err != nil {
					t.Fatal(err)
				}
				if _, err := a.Bucket(ctx, "photos"); err != nil {
					t.Fatal(err)
				}
			}
			hits := a.CacheStats().Hits
			if _, _, err := a.BucketObject(ctx, "photos", "k"); err != nil || a.CacheStats().Hits != hits+1 {
				t.Fatalf("%s: the lookup before the write was not a cache hit (%v)", st.name, err)
			}
			fenced := b.fenced.Load()
			if err := st.write(); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			if b.fenced.Load() != fenced+1 {
				t.Errorf("%s: the write did not wait out the lease (fenced %d times)", st.name, b.fenced.Load()-fenced)
			}
			var expires int64
			if err := a.db.QueryRowContext(ctx, "SELECT expires FROM s3_index_lease WHERE id = 1").Scan(&expires); err != nil {
				t.Fatal(err)
			}
			if expires == 0 { // given back, not run out
				givenBack++
			}
			bb, o, err := a.BucketObject(ctx, "photos", "k")
			if err != nil || !st.check(bb, o) {
				t.Fatalf("%s: the caching instance's lookup after the write: %+v %+v %v", st.name, bb, o, err)
			}
			if bb, err = a.Bucket(ctx, "photos"); err != nil || !st.check(bb, o) {
				t.Fatalf("%s: the caching instance's Bucket after the write: %+v %v", st.name, bb, err)
			}
		}
		// The holder gives a wanted lease back at its next renewal; when the
		// machine is slow it may run out instead, which is as safe.
		if givenBack == 0 {
			t.Errorf("the holder never gave the lease back to a writer (%d writes)", len(steps))
		}
	})
}

// A lookup that begins after a write was acknowledged — through either
// instance — finds it, while the lease moves between the instances.
func TestLookupCache_Linearizable(t *testing.T) {
	shortLease(t)
	forBoth(t, func(t *testing.T, mysql bool) {
		a, b := twoInstances(t, mysql)
		bk := mustBucket(t, a, "photos")
		waitLease(t, a, true)
		ctx, cancel := context.WithTimeout(ctx, 4*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		var acked [2]atomic.Int64 // key k0 written through b, k1 through a
		write := func(s *SQL, i int) {
			defer wg.Done()
			for n := int64(1); ctx.Err() == nil; n++ {
				o := obj("photos", "k"+strconv.Itoa(i), "f")
				o.ETag = strconv.FormatInt(n, 10)
				if err := s.PutObject(context.Background(), bk.AppID, o, PutCond{}, nil, released); err != nil {
					t.Error(err)
					return
				}
				acked[i].Store(n)
				pause := time.Duration(n%7) * time.Millisecond
				if n%20 == 0 && i == 0 {
					pause = wantFor + 2*leaseRenew // b's mark lapses: a takes the lease again
				}
				time.Sleep(pause)
			}
		}
		wg.Add(2)
		go write(b, 0)
		go write(a, 1)
		var reads, stale atomic.Int64
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					i := int(reads.Add(1) % 2)
					want := acked[i].Load()
					_, o, err := a.BucketObject(context.Background(), "photos", "k"+strconv.Itoa(i))
					if err != nil {
						t.Error(err)
						return
					}
					got := int64(0)
					if o != nil {
						got, _ = strconv.ParseInt(o.ETag, 10, 64)
					}
					if got < want {
						stale.Add(1)
						t.Errorf("k%d: read %d after %d was acknowledged", i, got, want)
						return
					}
				}
			}()
		}
		wg.Wait()
		st := a.CacheStats()
		t.Logf("%d reads, %d from the cache; writes through b: %d, %d of them waited out the lease; through a: %d",
			reads.Load(), st.Hits, acked[0].Load(), b.fenced.Load(), acked[1].Load())
		if st.Hits == 0 || b.fenced.Load() == 0 {
			t.Fatalf("the lease never moved: %d hits, %d fenced writes", st.Hits, b.fenced.Load())
		}
	})
}

// A holder whose renewals stall stops answering from its cache before its
// lease can have ended on the database, and takes it again afterwards.
func TestLookupCache_RenewalsStall(t *testing.T) {
	shortLease(t)
	forBoth(t, func(t *testing.T, mysql bool) {
		a, _ := twoInstances(t, mysql)
		mustBucket(t, a, "photos")
		waitLease(t, a, true)
		for range 2 { // cached
			if _, _, err := a.BucketObject(ctx, "photos", "k"); err != nil {
				t.Fatal(err)
			}
		}
		if a.CacheStats().Hits == 0 {
			t.Fatal("no lookup answered from the cache while the lease was held")
		}
		tx, err := a.db.BeginTx(ctx, nil) // holds the lease row (and, on SQLite, the write lock)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE s3_index_lease SET wanted = wanted WHERE id = 1"); err != nil {
			t.Fatal(err)
		}
		// Every renewal that succeeds from now on was sent before the lock:
		// one lease term later the cache is off, whatever the scheduler did.
		time.Sleep(leaseTerm)
		hits := a.CacheStats().Hits
		if st := a.CacheStats(); st.Held {
			t.Fatalf("the cache is on a lease term after the last renewal could have been sent (%+v)", st)
		}
		if _, _, err := a.BucketObject(ctx, "photos", "k"); err != nil || a.CacheStats().Hits != hits {
			t.Fatalf("a lookup without the lease was answered from the cache (%v)", err)
		}
		if err := tx.Rollback(); err != nil && err != sql.ErrTxDone {
			t.Fatal(err)
		}
		waitLease(t, a, true)
		if st := a.CacheStats(); st.LeaseErrors == 0 && !mysql {
			t.Logf("no renewal failed (%+v)", st)
		}
	})
}

func BenchmarkLookupCache(b *testing.B) {
	for _, cached := range []bool{false, true} {
		b.Run(fmt.Sprintf("cached=%v", cached), func(b *testing.B) {
			s := newSQL(b, true)
			if cached {
				s.StartCache(0)
				waitLease(b, s, true)
			}
			bk := mustBucket(b, s, "photos")
			for i := range 64 {
				if err := s.PutObject(ctx, bk.AppID, obj("photos", strconv.Itoa(i), "f"), PutCond{}, nil, released); err != nil {
					b.Fatal(err)
				}
			}
			b.SetParallelism(4)
			var n atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, _, err := s.BucketObject(ctx, "photos", strconv.Itoa(int(n.Add(1)%64))); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// Writes into a free lease leave no wanted mark: a caching instance that
// wrote before its first renewal (or while nobody held the lease) still
// takes it at its next renewal.
func TestLookupCache_WritesIntoAFreeLease(t *testing.T) {
	shortLease(t)
	forBoth(t, func(t *testing.T, mysql bool) {
		dsn := "sqlite:" + t.TempDir() + "/meta.db"
		if mysql {
			dsn = metadbtest.NewTestMySQL(t)
		}
		db, err := metadb.Open(dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := Migrate(ctx, db); err != nil {
			t.Fatal(err)
		}
		a := NewSQL(db)
		defer a.Close()
		bk := mustBucket(t, a, "photos")
		for i := range 5 {
			if err := a.PutObject(ctx, bk.AppID, obj("photos", strconv.Itoa(i), "f"), PutCond{}, nil, released); err != nil {
				t.Fatal(err)
			}
		}
		var wanted int64
		if err := db.QueryRowContext(ctx, "SELECT wanted FROM s3_index_lease WHERE id = 1").Scan(&wanted); err != nil || wanted != 0 {
			t.Fatalf("wanted %d after writes into a free lease (%v), want 0", wanted, err)
		}
		a.StartCache(0)
		start := time.Now()
		waitLease(t, a, true)
		if took := time.Since(start); took > 2*leaseRenew {
			t.Errorf("the lease taken %v after the cache started, want within one renewal", took)
		}
	})
}
