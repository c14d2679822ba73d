package storagenode

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/internal/clocktest"
	"github.com/tnv-s3/tnv/internal/connpool"
	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/proto"
)

func limboLen(n *testNode) int { return n.limbo.len() }

// TestLinkedReplica_RowsCommitWithThePut: a member that takes
// REPLICATE_LINKED records no row of its own; the coordinator's log
// transaction inserts it readable, so right after the upload is
// acknowledged every member's row is readable (with REPLICATE a mirror's
// is pending until its syncer flips it), and each member's limbo empties
// once its syncer has seen the put.
func TestLinkedReplica_RowsCommitWithThePut(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *metadb.DB) {
		e := newEnv(t, db)
		ns := e.startGroup(2, nil)
		for i := range 6 {
			r := ref(fmt.Sprintf("linked%d", i))
			data := randBytes(uint64(i), 4096+i)
			if err := upload(ns[i%2].addr, r, data); err != nil {
				t.Fatal(err)
			}
			for _, m := range ns {
				row := rowOf(t, m, r)
				if row == nil || row.status != statusOK || row.size != int64(len(data)) || row.crc != crcOf(data) {
					t.Fatalf("member %s: row %+v right after the upload, want readable", m.addr, row)
				}
				p, _ := m.byKey[row.store].abs(row.path)
				if b, err := os.ReadFile(p); err != nil || !bytes.Equal(b, data) {
					t.Fatalf("member %s: file %s: %v", m.addr, p, err)
				}
				got, err := download(m.addr, r, 0, 0)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("download from %s: %v", m.addr, err)
				}
			}
		}
		deadline := time.Now().Add(10 * time.Second)
		for _, m := range ns {
			for limboLen(m) != 0 {
				if time.Now().After(deadline) {
					t.Fatalf("member %s: %d copies still in limbo", m.addr, limboLen(m))
				}
				time.Sleep(20 * time.Millisecond)
			}
			if st := m.Stat(); !statFeature(st.String(), featureReplicateLinked) {
				t.Fatalf("NODESTAT of %s does not list %s:\n%s", m.addr, featureReplicateLinked, st)
			}
		}
		// No pending row was ever written: the only rows are readable ones.
		if pending := fileRows(t, db, "status = ?", statusPending); pending != 0 {
			t.Fatalf("%d pending rows", pending)
		}
	})
}

// TestLinkedReplica_OlderMember: a member of an earlier release (no
// "features replicate-linked" in its NODESTAT, cmd 83 unknown to it) is
// sent REPLICATE and keeps its pending-row protocol: its copies are
// readable once its syncer flips them, and a burst of uploads leaves no
// pending copy remembered.
func TestLinkedReplica_OlderMember(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *metadb.DB) {
		e := newEnv(t, db)
		newer := e.start("", "", nil)
		older := e.start("", "", func(c *Config) { c.noLinked = true })
		e.waitMembers(2)
		waitState(t, newer, proto.SyncActive, 10*time.Second)
		waitState(t, older, proto.SyncActive, 10*time.Second)
		if _, err := request(older.addr, proto.CmdStorageReplicateLinked, replicaBody(ref("direct"), []byte("x")), proto.ReplicaPlaceLen); err == nil {
			t.Fatal("the older member took REPLICATE_LINKED")
		} else {
			wantErrno(t, err, proto.ENOSYS, "REPLICATE_LINKED to an older member")
		}
		uploadBurst(t, "older", 500, 24, func(i int) *testNode {
			if i%2 == 1 {
				return older
			}
			return newer
		}, newer, older)
		// The older member held pending copies of the newer one's uploads
		// and flipped them from what it remembered; the newer one took the
		// older one's copies linked (it still asks NODESTAT of its peer).
		older.pending.mu.Lock()
		left := len(older.pending.m)
		older.pending.mu.Unlock()
		if left != 0 {
			t.Errorf("older member: %d pending copies remembered after the burst", left)
		}
		if limboLen(older) != 0 {
			t.Errorf("older member: %d copies in limbo", limboLen(older))
		}
		if v, ok := newer.linkedPeers.Load(older.addr); !ok || v.(linkedProbe).ok {
			t.Errorf("the newer member's record of the older one: %+v %v", v, ok)
		}
	})
}

// TestLinkedReplica_UncommittedCopyRemoved: a copy taken by
// REPLICATE_LINKED whose row never comes (its coordinator's commit failed,
// or it died) is not readable, and the purge removes its bytes once
// PendingTTL has passed, each copy where a file ID came twice; a copy
// whose row was committed is kept.
func TestLinkedReplica_UncommittedCopyRemoved(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *metadb.DB) {
		e := newEnv(t, db)
		clock := clocktest.New(time.Time{})
		b := e.start("", "", func(c *Config) { c.PendingTTL = time.Second; c.PurgeInterval = time.Hour; c.Now = clock.Now })
		orphan, kept := ref("linked-orphan"), ref("linked-kept")
		var places []*proto.ReplicaPlace
		// orphan twice: a client that sends a file ID again after a try
		// whose commit failed; both copies wait for a row.
		for i, r := range []proto.FileRef{orphan, orphan, kept} {
			data := []byte(fmt.Sprintf("data of %s, try %d", r.FileID, i))
			if r == kept {
				data = []byte("data of " + r.FileID)
			}
			reply, err := request(b.addr, proto.CmdStorageReplicateLinked, replicaBody(r, data), proto.ReplicaPlaceLen)
			if err != nil {
				t.Fatal(err)
			}
			p, err := proto.DecodeReplicaPlace(reply)
			if err != nil {
				t.Fatal(err)
			}
			if p.Node != b.addr || b.byKey[p.Store] == nil {
				t.Fatalf("place %+v: not this node's", p)
			}
			if rowOf(t, b, r) != nil {
				t.Fatalf("%s: a row of the member's own", r.FileID)
			}
			_, err = download(b.addr, r, 0, 0)
			wantErrno(t, err, proto.ENOENT, "download of a copy without a row")
			places = append(places, p)
		}
		if got := len(dataFiles(t, b.store)); got != 3 || limboLen(b) != 3 {
			t.Fatalf("%d files, %d in limbo; want 3 and 3", got, limboLen(b))
		}
		// The coordinator's transaction for kept, as logTx runs it.
		data := []byte("data of " + kept.FileID)
		err := db.GroupTx(context.Background(), func(tx *sql.Tx) error {
			return b.memberRowIn(context.Background(), tx, kept, places[2], &logEntry{size: int64(len(data)), crc: crcOf(data)})
		})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := download(b.addr, kept, 0, 0); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("download of the committed copy: %q %v", got, err)
		}
		clock.Advance(2100 * time.Millisecond)
		if k, err := b.Purge(context.Background()); err != nil || k != 2 {
			t.Fatalf("purge: %d %v, want the 2 copies of %s", k, err, orphan.FileID)
		}
		files := dataFiles(t, b.store)
		if len(files) != 1 {
			t.Fatalf("files after the purge: %v", files)
		}
		if limboLen(b) != 0 {
			t.Fatalf("%d copies left in limbo", limboLen(b))
		}
		if got, err := download(b.addr, kept, 0, 0); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("download of the committed copy after the purge: %q %v", got, err)
		}
	})
}

// TestLinkedReplica_PlaceMustNameTheMember: a member whose REPLICATE_LINKED
// answer names another node than the one asked (a member that lies, or a
// misrouted connection) is a failed replica: its place is not taken for a
// row, and it is not counted among the copies; a truthful answer is.
func TestLinkedReplica_PlaceMustNameTheMember(t *testing.T) {
	e := newEnv(t, sqliteDB(t))
	n := e.start("", "", nil)
	pool := connpool.New(connpool.Config{Dial: func(ctx context.Context, addr string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}})
	defer pool.Close()
	for _, c := range []struct {
		name  string
		lies  bool
		acked int
	}{{"truthful", false, 1}, {"lying", true, 0}} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		go func() {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			defer nc.Close()
			h, err := proto.ReadHeader(nc)
			if err != nil || h.Cmd != proto.CmdStorageReplicateLinked {
				return
			}
			io.CopyN(io.Discard, nc, h.BodyLen)
			node := addr
			if c.lies {
				node = "127.0.0.1:1"
			}
			body, _ := (&proto.ReplicaPlace{VCtime: 1, Node: node, Store: "0123456789abcdef0123456789abcdef", Path: "00/01/x"}).Encode()
			proto.WriteFrame(nc, proto.CmdStorageReply, proto.StatusOK, body)
			io.Copy(io.Discard, nc) // until the coordinator closes or pools it
		}()
		nc, err := pool.Dial(context.Background(), addr)
		if err != nil {
			t.Fatal(err)
		}
		body := replicaBody(ref("place-"+c.name), []byte("x"))
		frame := make([]byte, proto.HeaderLen)
		proto.Header{BodyLen: int64(len(body)), Cmd: proto.CmdStorageReplicateLinked}.Encode(frame)
		if _, err := nc.Write(append(frame, body...)); err != nil {
			t.Fatal(err)
		}
		f := &fanout{s: n.Server, size: 1, reps: []*replica{{addr: addr, cmd: proto.CmdStorageReplicateLinked, nc: nc}}}
		acked := f.wait()
		f.close()
		if len(acked) != c.acked || len(f.places) != c.acked {
			t.Errorf("%s member: acked %v, places %d; want %d", c.name, acked, len(f.places), c.acked)
		}
		if c.lies && !n.peers.suspected(addr) {
			t.Errorf("the lying member is not left out of fan-outs")
		}
		ln.Close()
	}
}
