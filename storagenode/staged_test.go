package storagenode

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/proto"
)

// stageUpload sends UPLOAD_STAGED of data and returns the token.
func stageUpload(t *testing.T, addr string, r proto.FileRef, data []byte) uint64 {
	t.Helper()
	body, err := uploadCmd(addr, proto.CmdStorageUploadStaged, r, bytes.NewReader(data), int64(len(data)), proto.StagedTokenLen)
	if err != nil {
		t.Fatalf("UPLOAD_STAGED %s: %v", r.FileID, err)
	}
	tok, err := proto.DecodeStagedToken(body)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// probeTable makes the table the tests' clients write with a staged commit.
func probeTable(t *testing.T, db *metadb.DB) {
	t.Helper()
	if _, err := db.Exec("CREATE TABLE staged_probe (k VARCHAR(64) NOT NULL)"); err != nil {
		t.Fatal(err)
	}
}

func probeInsert(k string) func(tx *sql.Tx) error {
	return func(tx *sql.Tx) error {
		_, err := tx.Exec("INSERT INTO staged_probe (k) VALUES (?)", k)
		return err
	}
}

func probeRows(t *testing.T, db *metadb.DB, k string) int {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM staged_probe WHERE k = ?", k).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// unreadable checks that no member serves r and that the coordinator
// holds no row of it.
func unreadable(t *testing.T, r proto.FileRef, coord *testNode, ns ...*testNode) {
	t.Helper()
	if row := rowOf(t, coord, r); row != nil {
		t.Fatalf("%s: the coordinator has a row %+v", r.FileID, row)
	}
	for _, n := range ns {
		_, err := download(n.addr, r, 0, 0)
		wantErrno(t, err, proto.ENOENT, "download of "+r.FileID+" from "+n.addr)
	}
}

// TestStagedUpload_CommitsWithTheClient: an UPLOAD_STAGED's copies are
// durable on both members when the token comes back, but nothing of the
// upload is readable until the client commits it; the client's own
// statement commits in the same transaction, and after it every member's
// row is readable and the member's copy leaves its limbo.
func TestStagedUpload_CommitsWithTheClient(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *metadb.DB) {
		probeTable(t, db)
		e := newEnv(t, db)
		ns := e.startGroup(2, func(c *Config) { c.Staging = true })
		for i := range 4 {
			coord, member := ns[i%2], ns[1-i%2]
			r := ref(fmt.Sprintf("staged%d", i))
			data := randBytes(uint64(i), 4096+i)
			tok := stageUpload(t, coord.addr, r, data)
			for _, m := range ns { // both copies are there before the commit
				if got := len(dataFiles(t, m.store)); got != i+1 {
					t.Fatalf("member %s: %d files, want %d", m.addr, got, i+1)
				}
			}
			unreadable(t, r, coord, ns...)
			if limboLen(member) == 0 {
				t.Fatalf("the member's copy of %s is not in its limbo", r.FileID)
			}
			if err := coord.CommitStaged(tok, probeInsert(r.FileID)); err != nil {
				t.Fatalf("commit %s: %v", r.FileID, err)
			}
			if probeRows(t, db, r.FileID) != 1 {
				t.Fatalf("%s: the client's row is not committed", r.FileID)
			}
			for _, m := range ns {
				row := rowOf(t, m, r)
				if row == nil || row.status != statusOK || row.size != int64(len(data)) || row.crc != crcOf(data) {
					t.Fatalf("member %s: row %+v after the commit, want readable", m.addr, row)
				}
				if got, err := download(m.addr, r, 0, 0); err != nil || !bytes.Equal(got, data) {
					t.Fatalf("download from %s: %v", m.addr, err)
				}
			}
			if err := coord.CommitStaged(tok, nil); !errors.Is(err, errStagedGone) {
				t.Fatalf("a second commit of one token: %v", err)
			}
		}
		for _, m := range ns {
			if !eventually(10*time.Second, func() bool { return limboLen(m) == 0 }) {
				t.Fatalf("member %s: %d copies still in limbo", m.addr, limboLen(m))
			}
			if m.staged.len() != 0 {
				t.Fatalf("member %s: %d staged uploads left", m.addr, m.staged.len())
			}
		}
	})
}

// TestStagedUpload_ClientPartFails: when the client's statements fail, the
// upload is committed alone (as UPLOAD commits it) and the client gets its
// own error; when the upload's part fails (the file ID was uploaded
// meanwhile through the other member, other bytes), nothing commits — not
// the client's statements either — and the staged copy is removed.
func TestStagedUpload_ClientPartFails(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *metadb.DB) {
		probeTable(t, db)
		e := newEnv(t, db)
		ns := e.startGroup(2, func(c *Config) { c.Staging = true })

		r := ref("staged-client-fails")
		data := randBytes(7, 5000)
		tok := stageUpload(t, ns[0].addr, r, data)
		refused := errors.New("precondition failed")
		err := ns[0].CommitStaged(tok, func(tx *sql.Tx) error {
			if err := probeInsert(r.FileID)(tx); err != nil {
				return err
			}
			return refused
		})
		if !errors.Is(err, refused) {
			t.Fatalf("commit: %v, want the client's error", err)
		}
		if probeRows(t, db, r.FileID) != 0 {
			t.Fatal("the failed client part's row was committed")
		}
		for _, m := range ns {
			if got, err := download(m.addr, r, 0, 0); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("the upload committed alone: download from %s: %v", m.addr, err)
			}
		}

		r = ref("staged-conflict")
		tok = stageUpload(t, ns[0].addr, r, []byte("the staged bytes"))
		if err := upload(ns[1].addr, r, []byte("other bytes, committed first")); err != nil {
			t.Fatal(err)
		}
		err = ns[0].CommitStaged(tok, probeInsert(r.FileID))
		wantErrno(t, err, proto.EEXIST, "commit of a staged upload whose file ID was taken meanwhile")
		if probeRows(t, db, r.FileID) != 0 {
			t.Fatal("the client's row committed without the upload")
		}
		for _, m := range ns {
			if got, err := download(m.addr, r, 0, 0); err != nil || string(got) != "other bytes, committed first" {
				t.Fatalf("download from %s: %q %v", m.addr, got, err)
			}
		}
		if !eventually(5*time.Second, func() bool { return len(dataFiles(t, ns[0].store)) == 2 }) {
			t.Fatalf("coordinator's files: %v; want the first upload's and the other member's copy", dataFiles(t, ns[0].store))
		}
	})
}

// TestStagedUpload_AbandonedOrExpired: a staged upload its client gives
// up, one nobody commits within StagedTTL, and those held when the node
// closes leave no file and no row on the coordinator, and their tokens are
// no longer good; the file ID can be uploaded again.
func TestStagedUpload_AbandonedOrExpired(t *testing.T) {
	e := newEnv(t, sqliteDB(t))
	n := e.start("", "", func(c *Config) { c.Staging = true; c.StagedTTL = 300 * time.Millisecond })
	e.waitMembers(1)
	waitState(t, n, proto.SyncActive, 10*time.Second)

	abandoned, expired := ref("staged-abandoned"), ref("staged-expired")
	tok := stageUpload(t, n.addr, abandoned, []byte("abandoned"))
	n.AbandonStaged(tok)
	unreadable(t, abandoned, n, n)
	if err := n.CommitStaged(tok, nil); !errors.Is(err, errStagedGone) {
		t.Fatalf("commit after abandon: %v", err)
	}
	tok = stageUpload(t, n.addr, expired, []byte("expired"))
	if !eventually(5*time.Second, func() bool { return n.staged.len() == 0 }) {
		t.Fatal("the staged upload did not expire")
	}
	if err := n.CommitStaged(tok, nil); !errors.Is(err, errStagedGone) {
		t.Fatalf("commit after expiry: %v", err)
	}
	unreadable(t, expired, n, n)
	if files := dataFiles(t, n.store); len(files) != 0 {
		t.Fatalf("files left: %v", files)
	}
	// The claims are released: the same file IDs upload again.
	for _, r := range []proto.FileRef{abandoned, expired} {
		if err := upload(n.addr, r, []byte("again")); err != nil {
			t.Fatalf("upload of %s again: %v", r.FileID, err)
		}
	}

	held := ref("staged-held-at-close")
	stageUpload(t, n.addr, held, []byte("held"))
	n.stop()
	if n.staged.len() != 0 {
		t.Fatalf("%d staged uploads kept after Close", n.staged.len())
	}
	if files := dataFiles(t, n.store); len(files) != 2 {
		t.Fatalf("files after Close: %v, want the two uploaded again", files)
	}
}

// TestStagedUpload_RefusedUnlessStaging: a node not started for a client
// in its process answers UPLOAD_STAGED with ENOSYS from the head and keeps
// nothing.
func TestStagedUpload_RefusedUnlessStaging(t *testing.T) {
	e := newEnv(t, sqliteDB(t))
	n := e.start("", "", nil)
	e.waitMembers(1)
	r := ref("staged-refused")
	_, err := uploadCmd(n.addr, proto.CmdStorageUploadStaged, r, bytes.NewReader([]byte("x")), 1, proto.StagedTokenLen)
	wantErrno(t, err, proto.ENOSYS, "UPLOAD_STAGED to a node without Staging")
	if n.StagingDB() != nil {
		t.Fatal("StagingDB of a node without Staging")
	}
	unreadable(t, r, n, n)
	if files := dataFiles(t, n.store); len(files) != 0 {
		t.Fatalf("files left: %v", files)
	}
}
