package storagenode

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/internal/clocktest"
	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/proto"
)

func TestRelPath(t *testing.T) {
	for _, c := range []struct {
		id   int64
		want string
	}{
		{0, "000/000/000/000"},
		{1, "000/000/000/001"},
		{511, "000/000/000/1FF"},
		{512, "000/000/001/000"},
		{512*512*512*3 + 512*2 + 5, "003/000/002/005"},
		{maxFileID - 1, "1FF/1FF/1FF/1FF"},
	} {
		got, err := relPath(c.id)
		if err != nil || got != c.want {
			t.Errorf("relPath(%d) = %q, %v; want %q", c.id, got, err, c.want)
		}
		if !validRel(got) {
			t.Errorf("validRel(%q) false", got)
		}
	}
	for _, id := range []int64{-1, maxFileID} {
		if _, err := relPath(id); err == nil {
			t.Errorf("relPath(%d) accepted", id)
		}
	}
	for _, bad := range []string{"../000/000/000", "000/000/000/00", "000/000/000/0000", "/00/000/000/000", "000\\000/000/000", "00g/000/000/000"} {
		if validRel(bad) {
			t.Errorf("validRel(%q) true", bad)
		}
	}
}

func TestStoreKey(t *testing.T) {
	dir := t.TempDir()
	s1, err := openStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, tmpDir, "leftover"), []byte("x"), 0o644)
	s2, err := openStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s1.key != s2.key || len(s1.key) != 32 {
		t.Fatalf("keys %q %q", s1.key, s2.key)
	}
	if !proto.ValidIDKey(s1.idKey()) {
		t.Fatalf("ID key %q not valid", s1.idKey())
	}
	if es := tmpEntries(t, dir); len(es) != 0 {
		t.Fatalf("temp dir not emptied at open: %v", es)
	}
	s3, _ := openStore(t.TempDir())
	if s3.key == s1.key {
		t.Fatal("two stores with one key")
	}
	os.WriteFile(filepath.Join(dir, storeKeyFile), []byte("junk"), 0o644)
	if _, err := openStore(dir); err == nil {
		t.Fatal("malformed key accepted")
	}
}

func TestRoundTrip(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *metadb.DB) {
		e := newEnv(t, db)
		n := e.start("", "", nil)
		sizes := []int{0, 1, 512<<10 - 1, 512<<10 + 1, 3<<20 + 17}
		for i, size := range sizes {
			r := ref("f" + string(rune('a'+i)))
			data := randBytes(uint64(i), size)
			if err := upload(n.addr, r, data); err != nil {
				t.Fatalf("upload %d bytes: %v", size, err)
			}
			got, err := download(n.addr, r, 0, 0)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("download %d bytes: %v (got %d bytes)", size, err, len(got))
			}
			fs, err := filesize(n.addr, r)
			if err != nil || fs != int64(size) {
				t.Fatalf("filesize = %d, %v; want %d", fs, err, size)
			}
			sz := int64(size)
			ranges := [][2]int64{{sz, 0}}
			if size > 0 {
				ranges = append(ranges, [2]int64{0, 1}, [2]int64{sz - 1, 1}, [2]int64{sz - 1, 0}, [2]int64{sz / 3, sz / 3})
			}
			for _, rg := range ranges {
				if rg[0] == sz/3 && rg[1] == 0 {
					continue
				}
				got, err := download(n.addr, r, rg[0], rg[1])
				end := sz
				if rg[1] > 0 {
					end = rg[0] + rg[1]
				}
				if err != nil || !bytes.Equal(got, data[rg[0]:end]) {
					t.Fatalf("size %d range %v: %v", size, rg, err)
				}
			}
			_, err = download(n.addr, r, sz+1, 0)
			wantErrno(t, err, proto.ERANGE, "offset beyond the end")
			_, err = download(n.addr, r, 0, sz+1)
			wantErrno(t, err, proto.ERANGE, "size beyond the end")
			_, err = download(n.addr, r, sz, 1)
			wantErrno(t, err, proto.ERANGE, "one byte at the end")

			row := rowOf(t, n, r)
			if row == nil || row.status != statusOK || row.size != sz || row.crc != crcOf(data) || !validRel(row.path) {
				t.Fatalf("row %+v", row)
			}
		}
		if files := dataFiles(t, n.store); len(files) != len(sizes) {
			t.Fatalf("files on disk %v", files)
		}
		if es := tmpEntries(t, n.store); len(es) != 0 {
			t.Fatalf("temp files left: %v", es)
		}
		if _, err := os.Stat(filepath.Join(n.store, storeKeyFile)); err != nil {
			t.Fatal(err)
		}
		_, err := filesize(n.addr, ref("nope"))
		wantErrno(t, err, proto.ENOENT, "filesize of a missing file")
		_, err = download(n.addr, ref("nope"), 0, 0)
		wantErrno(t, err, proto.ENOENT, "download of a missing file")
	})
}

// Many requests on one connection, as pooled clients send them.
func TestOneConnectionManyRequests(t *testing.T) {
	e := newEnv(t, sqliteDB(t))
	n := e.start("", "", nil)
	nc := dial(t, n.addr)
	defer nc.Close()
	for i := range 20 {
		r := ref("c" + string(rune('a'+i)))
		data := randBytes(uint64(i), 1000*i)
		head, _ := (&proto.UploadHead{FileRef: r, Size: int64(len(data))}).Encode()
		frame := append(proto.Header{BodyLen: proto.UploadHeadLen + int64(len(data)), Cmd: proto.CmdStorageUpload}.Bytes(), head...)
		nc.Write(append(frame, data...))
		if _, _, err := proto.ReadReply(nc, proto.CmdStorageReply, 0); err != nil {
			t.Fatal(err)
		}
		body, _ := (&proto.Download{FileRef: r}).Encode()
		proto.WriteFrame(nc, proto.CmdStorageDownload, 0, body)
		_, got, err := proto.ReadReply(nc, proto.CmdStorageReply, 1<<20)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatal(err)
		}
		// An error reply whose body was read keeps the connection.
		mr := ref("missing")
		body, _ = mr.Encode()
		proto.WriteFrame(nc, proto.CmdStorageFilesize, 0, body)
		if _, _, err := proto.ReadReply(nc, proto.CmdStorageReply, 8); errno(err) != proto.ENOENT {
			t.Fatal(err)
		}
	}
}

func TestExists(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *metadb.DB) {
		e := newEnv(t, db)
		n := e.start("", "", nil)
		r := ref("dup")
		if err := upload(n.addr, r, []byte("first")); err != nil {
			t.Fatal(err)
		}
		// A big second upload: refused up front, before the body is through.
		err := uploadFrom(n.addr, r, io.LimitReader(zeros{}, 256<<20), 256<<20)
		wantErrno(t, err, proto.EEXIST, "second upload")
		got, err := download(n.addr, r, 0, 0)
		if err != nil || string(got) != "first" {
			t.Fatalf("after EEXIST: %q %v", got, err)
		}
		if files := dataFiles(t, n.store); len(files) != 1 {
			t.Fatalf("files %v", files)
		}
		// Same file ID under another user or app is another file.
		r2 := r
		r2.UserID = "other"
		if err := upload(n.addr, r2, []byte("second")); err != nil {
			t.Fatal(err)
		}
	})
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestNoSpace(t *testing.T) {
	dir := t.TempDir()
	st, _ := openStore(dir)
	_, avail, err := st.space()
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, sqliteDB(t))
	n := e.start(dir, "", func(c *Config) { c.Reserve = avail - 64<<20 })
	err = uploadFrom(n.addr, ref("big"), zeros{}, 1<<30)
	wantErrno(t, err, proto.ENOSPC, "upload beyond free space")
	if err := upload(n.addr, ref("small"), []byte("fits")); err != nil {
		t.Fatal(err)
	}
	if rowOf(t, n, ref("big")) != nil || len(dataFiles(t, dir)) != 1 || len(tmpEntries(t, dir)) != 0 {
		t.Fatal("something of the refused upload is left")
	}
	// The node reports the file system's free space less the reserve. The
	// disk is shared with other tests that write and delete meanwhile, so
	// compare with the space measured now, not at the start.
	_, free := n.space()
	_, availNow, err := st.space()
	if err != nil {
		t.Fatal(err)
	}
	if want := availNow - (avail - 64<<20); free <= 0 || free < want-16<<20 || free > want+16<<20 {
		t.Fatalf("free %d, want about %d (available %d less the reserve %d)", free, want, availNow, avail-64<<20)
	}
}

func TestInvalidNames(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *metadb.DB) {
		e := newEnv(t, db)
		n := e.start("", "", nil)
		for _, r := range []proto.FileRef{
			{AppID: "", UserID: "u", FileID: "f"},
			{AppID: "a-b", UserID: "u", FileID: "f"},
			{AppID: "a", UserID: "u/../x", FileID: "f"},
			{AppID: "a", UserID: "u", FileID: "../../etc/passwd"},
			{AppID: "a", UserID: "u", FileID: ""},
			{AppID: "a", UserID: "u", FileID: "f g"},
		} {
			wantErrno(t, upload(n.addr, r, []byte("x")), proto.EINVAL, "upload "+r.FileID)
			_, err := download(n.addr, r, 0, 0)
			wantErrno(t, err, proto.EINVAL, "download")
			_, err = filesize(n.addr, r)
			wantErrno(t, err, proto.EINVAL, "filesize")
			wantErrno(t, del(n.addr, r), proto.EINVAL, "delete")
		}
		// A field without its NUL (over-long): built by hand.
		body := bytes.Repeat([]byte("a"), proto.FileRefLen)
		_, err := request(n.addr, proto.CmdStorageFilesize, body, 8)
		wantErrno(t, err, proto.ENAMETOOLONG, "appid without NUL")
		head := make([]byte, proto.UploadHeadLen)
		copy(head, "app1")
		copy(head[16:], "u")
		copy(head[16+256:], bytes.Repeat([]byte("f"), 128))
		binary.BigEndian.PutUint64(head[400:], 1)
		_, err = request(n.addr, proto.CmdStorageUpload, append(head, 'x'), 0)
		wantErrno(t, err, proto.ENAMETOOLONG, "fileid without NUL")
		// Size field disagreeing with bodylen.
		binary.BigEndian.PutUint64(head[400:], 5)
		copy(head[16+256:], "f\x00")
		_, err = request(n.addr, proto.CmdStorageUpload, append(head, 'x'), 0)
		wantErrno(t, err, proto.EINVAL, "size disagrees with bodylen")
		if len(dataFiles(t, n.store)) != 0 || len(tmpEntries(t, n.store)) != 0 {
			t.Fatal("files left")
		}
		if cnt := fileRows(t, db, ""); cnt != 0 {
			t.Fatalf("%d rows", cnt)
		}
	})
}

func TestTruncatedUpload(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *metadb.DB) {
		e := newEnv(t, db)
		n := e.start("", "", nil)
		r := ref("cut")
		nc := dial(t, n.addr)
		head, _ := (&proto.UploadHead{FileRef: r, Size: 10 << 20}).Encode()
		nc.Write(append(proto.Header{BodyLen: proto.UploadHeadLen + 10<<20, Cmd: proto.CmdStorageUpload}.Bytes(), head...))
		nc.Write(randBytes(1, 3<<20))
		if !eventually(5*time.Second, func() bool { return len(tmpEntries(t, n.store)) == 1 }) {
			t.Fatalf("temp file while receiving: %v", tmpEntries(t, n.store))
		}
		nc.Close()
		deadline := time.Now().Add(5 * time.Second)
		for len(tmpEntries(t, n.store)) != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("temp file left: %v", tmpEntries(t, n.store))
			}
			time.Sleep(10 * time.Millisecond)
		}
		if rowOf(t, n, r) != nil || len(dataFiles(t, n.store)) != 0 {
			t.Fatal("row or file of a truncated upload")
		}
		_, err := filesize(n.addr, r)
		wantErrno(t, err, proto.ENOENT, "filesize of a truncated upload")
		// The same ID can be uploaded now.
		if err := upload(n.addr, r, []byte("whole")); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDeleteAndPurge(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *metadb.DB) {
		e := newEnv(t, db)
		clock := clocktest.New(time.Time{})
		n := e.start("", "", func(c *Config) { c.Retention = 2 * time.Second; c.PurgeInterval = time.Hour; c.Now = clock.Now })
		r := ref("gone")
		data := randBytes(3, 100000)
		if err := upload(n.addr, r, data); err != nil {
			t.Fatal(err)
		}
		if err := del(n.addr, r); err != nil {
			t.Fatal(err)
		}
		_, err := filesize(n.addr, r)
		wantErrno(t, err, proto.ENOENT, "filesize after delete")
		_, err = download(n.addr, r, 0, 0)
		wantErrno(t, err, proto.ENOENT, "download after delete")
		wantErrno(t, del(n.addr, r), proto.ENOENT, "second delete")
		row := rowOf(t, n, r)
		if row == nil || row.status != statusDeleted || row.deleted == 0 {
			t.Fatalf("row after delete: %+v", row)
		}
		if len(dataFiles(t, n.store)) != 1 {
			t.Fatal("bytes removed before the retention")
		}
		if k, err := n.Purge(context.Background()); err != nil || k != 0 {
			t.Fatalf("early purge: %d %v", k, err)
		}
		// Reusing the ID of a deleted file replaces it.
		r2 := ref("reused")
		upload(n.addr, r2, []byte("v1"))
		del(n.addr, r2)
		if err := upload(n.addr, r2, []byte("v2")); err != nil {
			t.Fatal(err)
		}
		if got, err := download(n.addr, r2, 0, 0); err != nil || string(got) != "v2" {
			t.Fatalf("reused: %q %v", got, err)
		}
		clock.Advance(3100 * time.Millisecond)
		k, err := n.Purge(context.Background())
		if err != nil || k != 1 {
			t.Fatalf("purge: %d %v", k, err)
		}
		if rowOf(t, n, r) != nil {
			t.Fatal("row not purged")
		}
		if files := dataFiles(t, n.store); len(files) != 1 {
			t.Fatalf("files after purge: %v", files)
		}
	})
}

func TestPurgeLoop(t *testing.T) {
	e := newEnv(t, sqliteDB(t))
	n := e.start("", "", func(c *Config) { c.Retention = time.Second; c.PurgeInterval = 200 * time.Millisecond })
	upload(n.addr, ref("p"), []byte("x"))
	del(n.addr, ref("p"))
	deadline := time.Now().Add(10 * time.Second)
	for len(dataFiles(t, n.store)) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("not purged")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Malformed frames get an error reply or a closed connection; the node
// keeps serving.
func TestBadFrames(t *testing.T) {
	e := newEnv(t, sqliteDB(t))
	n := e.start("", "", nil)
	upload(n.addr, ref("ok"), []byte("fine"))
	alive := func() {
		t.Helper()
		if got, err := download(n.addr, ref("ok"), 0, 0); err != nil || string(got) != "fine" {
			t.Fatalf("node not serving: %v", err)
		}
	}
	send := func(raw []byte) ([]byte, error) {
		nc := dial(t, n.addr)
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		nc.Write(raw)
		_, b, err := proto.ReadReply(nc, proto.CmdStorageReply, 1<<20)
		return b, err
	}
	hdr := func(bodylen int64, cmd, status uint8) []byte {
		return proto.Header{BodyLen: bodylen, Cmd: cmd, Status: status}.Bytes()
	}
	_, err := send(hdr(1<<62, proto.CmdStorageUpload, 0))
	wantErrno(t, err, proto.EMSGSIZE, "bodylen 2^62")
	_, err = send(hdr(1<<62, proto.CmdStorageDownload, 0))
	wantErrno(t, err, proto.EMSGSIZE, "download bodylen 2^62")
	neg := hdr(0, proto.CmdStorageFilesize, 0)
	binary.BigEndian.PutUint64(neg, 1<<63)
	_, err = send(neg)
	wantErrno(t, err, proto.EMSGSIZE, "negative bodylen")
	_, err = send(hdr(0, 99, 0))
	wantErrno(t, err, proto.ENOSYS, "unknown command")
	_, err = send(hdr(399, proto.CmdStorageFilesize, 0))
	wantErrno(t, err, proto.EMSGSIZE, "short FILESIZE")
	_, err = send(hdr(0, proto.CmdTrackerGroups, 0))
	wantErrno(t, err, proto.ENOSYS, "tracker command")
	_, err = send(hdr(400, proto.CmdStorageFilesize, 0x7))
	wantErrno(t, err, proto.EPROTO, "status set")
	_, err = send(hdr(proto.UploadHeadLen-1, proto.CmdStorageUpload, 0))
	wantErrno(t, err, proto.EMSGSIZE, "upload shorter than its head")
	// Peer commands with bad bodies.
	_, err = send(hdr(5, CmdReplicate, 0))
	wantErrno(t, err, proto.EMSGSIZE, "short REPLICATE")
	_, err = send(hdr(2, CmdScrub, 0))
	wantErrno(t, err, proto.EMSGSIZE, "long SCRUB")
	// A header and half a body, then the connection closes.
	nc := dial(t, n.addr)
	nc.Write(hdr(400, proto.CmdStorageDelete, 0))
	nc.Write(make([]byte, 100))
	nc.Close()
	alive()

	// Random frames: valid commands with random bodies and lengths.
	rng := rand.New(rand.NewPCG(1, 2))
	cmds := []uint8{70, 71, 72, 73, 74, 75, 76, 77, 78, 10, 40, 0, 255}
	for i := 0; i < 300; i++ {
		cmd := cmds[rng.IntN(len(cmds))]
		min, max, err := proto.RequestBodyLimits(cmd)
		bl := int64(rng.IntN(600))
		if err == nil && rng.IntN(2) == 0 {
			bl = min + rng.Int64N(min64(max-min, 600)+1)
		}
		body := make([]byte, bl)
		for j := range body {
			if rng.IntN(3) == 0 {
				body[j] = byte(rng.IntN(256))
			} else if rng.IntN(2) == 0 {
				body[j] = 'a'
			}
		}
		raw := append(hdr(bl, cmd, 0), body...)
		if cmd == CmdScrub {
			continue // a scrub is fine but slow; covered elsewhere
		}
		nc := dial(t, n.addr)
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		nc.Write(raw)
		nc.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, nc)
		nc.Close()
	}
	alive()
	// Connections cut mid-body clean up as their handlers end.
	if !eventually(500*time.Millisecond, func() bool { return len(tmpEntries(t, n.store)) == 0 }) {
		t.Fatalf("temp files left: %v", tmpEntries(t, n.store))
	}
	for _, f := range dataFiles(t, n.store) {
		_ = f
	}
}

func min64(a, b int64) int64 {
	if a < b {
		return a
	}
	return b
}

func TestTrackerJoinBeat(t *testing.T) {
	e := newEnv(t, sqliteDB(t))
	n := e.start("", "", nil)
	deadline := time.Now().Add(5 * time.Second)
	for {
		fn, ok := e.tracker.node(n.addr)
		if ok && fn.beat.Extended && fn.beat.SyncState == proto.SyncActive {
			if fn.beat.Port == 0 || fn.beat.Total <= 0 || fn.beat.Free <= 0 || fn.beat.Host != "127.0.0.1" || fn.beat.Group != "g1" {
				t.Fatalf("beat %+v", fn.beat)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no beat from %s: %+v", n.addr, fn)
		}
		time.Sleep(20 * time.Millisecond)
	}
	joins := e.tracker.joins.Load()
	e.tracker.restart()
	deadline = time.Now().Add(10 * time.Second)
	for {
		fn, ok := e.tracker.node(n.addr)
		if ok && fn.beat.Extended && e.tracker.joins.Load() > joins {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no JOIN after the tracker restarted")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Close lets an upload in flight finish; a new connection is refused.
// The upload is seen in progress at the node before Close starts, Close
// is seen under way (listener closed, not returned) while the upload still
// lacks most of its body, and the upload completes after that.
func TestGracefulClose(t *testing.T) {
	e := newEnv(t, sqliteDB(t))
	n := e.start("", "", nil)
	r := ref("inflight")
	data := randBytes(9, 8<<20)
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	// The reader is closed once the upload ends, so that a write to an
	// upload the node refused fails instead of waiting forever.
	go func() { err := uploadFrom(n.addr, r, pr, int64(len(data))); pr.Close(); errc <- err }()
	if _, err := pw.Write(data[:1<<20]); err != nil {
		t.Fatalf("upload ended before its first MiB was sent: %v", <-errc)
	}
	if !eventually(5*time.Second, func() bool { return len(tmpEntries(t, n.store)) == 1 }) {
		t.Fatalf("upload not in progress at the node: temp files %v", tmpEntries(t, n.store))
	}
	closed := make(chan struct{})
	go func() { n.stop(); close(closed) }()
	refused := func() bool {
		nc, err := net.DialTimeout("tcp", n.addr, time.Second)
		if err == nil {
			nc.Close()
		}
		return n.Server.closing.Load() && err != nil
	}
	if !eventually(5*time.Second, refused) {
		t.Fatal("Close did not start: the node still accepts")
	}
	select {
	case <-closed:
		t.Fatal("Close returned while an upload was in flight")
	case err := <-errc:
		t.Fatalf("upload ended with 7 MiB of its body unsent: %v", err)
	default:
	}
	pw.Write(data[1<<20:])
	pw.Close()
	if err := <-errc; err != nil {
		t.Fatalf("upload in flight during Close: %v", err)
	}
	<-closed
	var status int
	if err := e.db.QueryRow("SELECT status FROM "+fileTable(shardOf(r.UserID))+" WHERE fileid = ?", r.FileID).Scan(&status); err != nil || status != statusOK {
		t.Fatalf("row: %v %d", err, status)
	}
	if _, err := net.DialTimeout("tcp", n.addr, time.Second); err == nil {
		t.Fatal("still accepting after Close")
	}
	// Cut: an upload that does not finish within ShutdownTimeout leaves nothing.
	n2 := e.start("", "", func(c *Config) { c.ShutdownTimeout = 300 * time.Millisecond })
	pr2, pw2 := io.Pipe()
	go func() { err := uploadFrom(n2.addr, ref("cut"), pr2, 1<<20); pr2.Close(); errc <- err }()
	if _, err := pw2.Write(make([]byte, 1000)); err != nil {
		t.Fatalf("cut upload ended before its first bytes were sent: %v", <-errc)
	}
	if !eventually(5*time.Second, func() bool { return len(tmpEntries(t, n2.store)) == 1 }) {
		t.Fatalf("cut upload not in progress at the node: temp files %v", tmpEntries(t, n2.store))
	}
	n2.stop()
	pw2.CloseWithError(io.ErrUnexpectedEOF)
	<-errc
	var cnt int
	e.db.QueryRow("SELECT COUNT(*) FROM " + fileTable(shardOf(r.UserID)) + " WHERE fileid = 'cut'").Scan(&cnt)
	if cnt != 0 || len(dataFiles(t, n2.store)) != 0 || len(tmpEntries(t, n2.store)) != 0 {
		t.Fatal("cut upload left something")
	}
}

func TestMultipleStores(t *testing.T) {
	e := newEnv(t, sqliteDB(t))
	d1, d2 := t.TempDir(), t.TempDir()
	n := e.start(d1, "", func(c *Config) { c.Stores = []string{d1, d2} })
	for i := range 10 {
		if err := upload(n.addr, ref("m"+string(rune('a'+i))), []byte(strings.Repeat("x", i))); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(dataFiles(t, d1)) + len(dataFiles(t, d2)); got != 10 {
		t.Fatalf("%d files", got)
	}
	for i := range 10 {
		got, err := download(n.addr, ref("m"+string(rune('a'+i))), 0, 0)
		if err != nil || len(got) != i {
			t.Fatal(err)
		}
	}
	if _, err := New(Config{Group: "g1", Stores: []string{d1, d1}, DB: e.db}); err == nil {
		t.Fatal("one store twice accepted")
	}
}

// fileState answers in one round trip what getRow and latestOp answer in
// two, for a file with no row and no log, a row and a put, a row and a put
// then a delete, and a row another node of the group holds.
func TestFileState_AgreesWithRowAndLatestOp(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *metadb.DB) {
		e := newEnv(t, db)
		n := e.start("", "", nil)
		ctx := context.Background()
		check := func(what string, r proto.FileRef) {
			t.Helper()
			row, latest, err := n.fileState(ctx, r)
			if err != nil {
				t.Fatalf("%s: fileState: %v", what, err)
			}
			wantRow, err := n.getRow(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			wantLatest, err := n.latestOp(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(row, wantRow) {
				t.Errorf("%s: row %+v, want %+v", what, row, wantRow)
			}
			if !reflect.DeepEqual(latest, wantLatest) {
				t.Errorf("%s: latest %+v, want %+v", what, latest, wantLatest)
			}
		}
		check("nothing", ref("none"))
		a := ref("state-a")
		if err := upload(n.addr, a, []byte("hello")); err != nil {
			t.Fatal(err)
		}
		check("uploaded", a)
		if row, latest, _ := n.fileState(ctx, a); row == nil || latest == nil || latest.op != opPut || row.crc != crcOf([]byte("hello")) {
			t.Fatalf("uploaded: row %+v latest %+v", row, latest)
		}
		b := ref("state-b")
		if err := upload(n.addr, b, []byte("bye")); err != nil {
			t.Fatal(err)
		}
		if err := del(n.addr, b); err != nil {
			t.Fatal(err)
		}
		check("deleted", b)
		if _, latest, _ := n.fileState(ctx, b); latest == nil || latest.op != opDel {
			t.Fatalf("deleted: latest %+v", latest)
		}
		// Another node's row of the same file is not this node's.
		if _, err := db.ExecContext(ctx, db.Q(`UPDATE `+fileTable(shardOf(a.UserID))+` SET node = ? WHERE fileid = ?`), "elsewhere:1", a.FileID); err != nil {
			t.Fatal(err)
		}
		check("another node's row", a)
		if row, _, _ := n.fileState(ctx, a); row != nil {
			t.Fatalf("another node's row returned: %+v", row)
		}
	})
}
