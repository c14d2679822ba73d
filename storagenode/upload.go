package storagenode

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"

	"github.com/tnv-s3/tnv/proto"
)

// Extension command numbers (proto/ext.go).
const (
	CmdReplicate       = proto.CmdStorageReplicate
	CmdReplicateDelete = proto.CmdStorageReplicateDelete
	CmdFetch           = proto.CmdStorageFetch
	CmdScrub           = proto.CmdStorageScrub
	CmdNodeStat        = proto.CmdStorageStat
)

// handleUpload serves UPLOAD (70) and, with replica set, REPLICATE (74).
//
// A refusal that can be decided from the head (bad names, ENOSPC, EROFS, no
// ID server) is answered at once and the connection closed: the client may
// still be sending the body, and reads the early reply (backend/tnv does).
// The bytes go to a temp file in the chosen store, CRC32C computed on the
// way, and for an UPLOAD at the same time to every other ACTIVE member of
// the group (REPLICATE). Then: fsync, link into the 512-ary path, fsync the
// directory where the file system needs it. A REPLICATE inserts its row as
// pending and is answered; the row becomes readable when the log has the
// put. An UPLOAD waits for the members' answers and commits: one
// transaction appends "put" to the group log and inserts the row readable.
// Only then is the client answered (docs/replication.md). A file ID in use
// is refused (EEXIST) by those commits, after the body.
func (s *Server) handleUpload(c *conn, h proto.Header, replica bool) (bool, error) {
	headLen := proto.UploadHeadLen
	if replica {
		headLen = proto.ReplicaHeadLen
	}
	head := make([]byte, headLen)
	if _, err := io.ReadFull(c, head); err != nil {
		return false, nil
	}
	var ref proto.FileRef
	var size int64
	origin := s.node
	if replica {
		rh, err := proto.DecodeReplicaHead(head, h.BodyLen)
		if err != nil {
			return false, decodeErr(err)
		}
		ref, size, origin = rh.FileRef, rh.Size, rh.Origin
	} else {
		uh, err := proto.DecodeUploadHead(head, h.BodyLen)
		if err != nil {
			return false, decodeErr(err)
		}
		ref, size = uh.FileRef, uh.Size
	}
	if err := checkRef(ref); err != nil {
		return false, err
	}
	if !s.claim(ref) {
		return false, proto.Errorf(proto.EEXIST, "file %s/%s/%s is being uploaded", ref.AppID, ref.UserID, ref.FileID)
	}
	// Released before the answer goes out (a client may reuse the ID at
	// once) and before the temp file goes.
	claimed := true
	unclaim := func() {
		if claimed {
			claimed = false
			s.unclaim(ref)
		}
	}
	defer unclaim()
	ctx := s.ctx
	ph := s.phases(replica) // phases.go
	log := s.log.With("appid", ref.AppID, "userid", ref.UserID, "fileid", ref.FileID, "size", size)

	// No database read ahead of the body: a file ID that is taken is
	// refused (EEXIST) by the commit that would record it, the coordinator's
	// by the group's live row in its log transaction, a mirror's by its row
	// (putRow). Clients take fresh IDs, so that read cost every upload a
	// statement on each member to refuse only the rare reuse a little sooner.
	st, release, err := s.pickStore(size)
	if err != nil {
		return false, err
	}
	defer release()
	id, err := s.ids.get(ctx, st.idKey())
	if err != nil {
		return false, proto.Errorf(proto.EIO, "no file ID: %v", err)
	}
	ph.mark("id")

	tmp, err := st.createTemp()
	if err != nil {
		s.writeFailed(st, err)
		return false, refusal(err)
	}
	defer func() { unclaim(); tmp.abort() }()
	var fan *fanout
	if !replica {
		fan = s.startFanout(ctx, ref, size)
		defer fan.close()
	}

	// Stream the body.
	bp := s.getBuf()
	defer s.putBuf(bp)
	buf := *bp
	var werr error
	for left := size; left > 0; {
		n := int64(len(buf))
		if left < n {
			n = left
		}
		m, err := io.ReadFull(c, buf[:n])
		if err != nil {
			log.Info("storage: upload cut short", "got", size-left+int64(m), "err", err)
			return false, nil // nothing to answer: the stream is gone; temp removed
		}
		if werr == nil {
			_, werr = tmp.Write(buf[:m])
		}
		if fan != nil {
			fan.write(buf[:m])
		}
		left -= int64(m)
	}
	if werr != nil {
		s.writeFailed(st, werr)
		return true, proto.Errorf(proto.EIO, "writing the file: %v", werr)
	}
	crc := tmp.crc
	if replica {
		var tr [proto.ReplicaTrailerLen]byte
		if _, err := io.ReadFull(c, tr[:]); err != nil {
			return false, nil
		}
		if want := binary.BigEndian.Uint32(tr[:]); want != crc {
			return true, proto.Errorf(proto.EBADMSG, "CRC32C %08x, sender says %08x", crc, want)
		}
	}
	var pre *earlySeq
	if fan != nil {
		fan.finish(crc)
		// The put's log number, reserved while the copies become durable
		// (earlySeq); given up if the upload fails before its append.
		pre = s.reserveEarly(ctx)
		defer func() { pre.abandon(s) }()
	}
	ph.mark("receive")

	// Durable here.
	rel, ctime, err := s.commitTemp(ctx, tmp, st, id)
	if err != nil {
		s.writeFailed(st, err)
		return true, err
	}
	ph.mark("fsync")
	abs, _ := st.abs(rel)
	dctx, cancel := s.dbctx()
	defer cancel()
	if h.Cmd == proto.CmdStorageReplicateLinked {
		// No row here: the coordinator inserts it with the put's log entry
		// (proto.CmdStorageReplicateLinked). Until then the copy is in
		// limbo, which removes it if that row never comes.
		body, err := (&proto.ReplicaPlace{VCtime: ctime, Node: s.node, Store: st.key, Path: rel}).Encode()
		if err != nil {
			os.Remove(abs)
			return true, err
		}
		if !s.limbo.add(ref, limboCopy{st: st, rel: rel, size: size, crc: crc, at: s.cfg.Now()}) {
			log.Warn("storage: too many copies awaiting their commit; this one is not tracked", "path", abs)
		}
		ph.mark("row")
		log.Debug("storage: replica stored for its coordinator's row", "origin", origin)
		ph.done()
		unclaim()
		return true, c.reply(body)
	}
	if replica {
		row, old, err := s.putRow(dctx, ref, st, rel, size, crc, statusPending, ctime)
		if err != nil {
			os.Remove(abs)
			if errors.Is(err, errExists) {
				// A retried replica of a copy this member has readable: the
				// same bytes are a success, others a different file.
				if old.size == size && old.crc == crc {
					unclaim()
					return true, c.reply(nil)
				}
				return true, proto.Errorf(proto.EEXIST, "a different file %s/%s/%s exists", ref.AppID, ref.UserID, ref.FileID)
			}
			return true, err
		}
		ph.mark("row")
		s.pending.add(ref, row)
		if old != nil {
			s.removeBytes(old)
		}
		log.Debug("storage: replica stored", "origin", origin)
		ph.done()
		unclaim()
		return true, c.reply(nil)
	}

	// The coordinator's row is inserted readable by the transaction that
	// appends the put, not pending before it: one commit less per upload.
	// A crash between the link above and that commit leaves the bytes
	// without a row (never served; see docs/replication.md). So are the
	// rows of the members that took REPLICATE_LINKED (fan.places).
	acked := fan.wait()
	ph.mark("mirror")
	p := &stagedPut{ref: ref, abs: abs, acked: acked, ph: ph, log: log,
		e:  &logEntry{op: opPut, ref: ref, size: size, crc: crc, origin: s.node, created: s.nowUnix()},
		mv: &rowMove{put: &rowPut{st: st, rel: rel, vctime: ctime, members: fan.places}}}
	// p holds the claim and the reserved number from here: commitPut
	// uses or gives them up.
	p.pre, pre = pre, nil
	claimed = false
	if h.Cmd == proto.CmdStorageUploadStaged {
		// The commit waits for the client in this process (staged.go).
		return true, c.reply(proto.EncodeStagedToken(s.stage(p)))
	}
	if err := s.commitPut(p, nil); err != nil {
		return true, err
	}
	return true, c.reply(nil)
}

// crcWriter computes the CRC32C of what is written to it.
type crcWriter struct {
	crc uint32
	n   int64
}

func (w *crcWriter) Write(p []byte) (int, error) {
	w.crc = crcUpdate(w.crc, p)
	w.n += int64(len(p))
	return len(p), nil
}

// commitTemp makes the temp file durable at the path of a file ID,
// taking a new ID if that path is somehow taken (a store reused with a
// fresh database).
func (s *Server) commitTemp(ctx context.Context, tmp *tempFile, st *store, id int64) (string, int64, error) {
	for range 3 {
		rel, err := relPath(id)
		if err != nil {
			return "", 0, err
		}
		ctime, err := tmp.commit(rel)
		if err == nil {
			return rel, ctime, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return "", 0, err
		}
		s.log.Warn("storage: path of a new file ID already taken; taking another ID", "store", st.dir, "path", rel)
		if id, err = s.ids.get(ctx, st.idKey()); err != nil {
			return "", 0, proto.Errorf(proto.EIO, "no file ID: %v", err)
		}
	}
	return "", 0, errors.New("file paths taken")
}

// pickStore chooses, among the stores that take writes, the one with the
// most room for size bytes and reserves them until release. It refuses
// at once (EROFS, ENOSPC) when none can hold them, before any byte of the
// body is read.
func (s *Server) pickStore(size int64) (*store, func(), error) {
	var best *store
	var bestFree int64 = -1
	for _, st := range s.stores {
		if !st.writable() {
			continue
		}
		_, avail, err := st.space()
		if err != nil {
			s.log.Warn("storage: store unusable", "store", st.dir, "err", err)
			continue
		}
		st.mu.Lock()
		free := avail - s.cfg.Reserve - st.reserved
		st.mu.Unlock()
		if free > bestFree {
			best, bestFree = st, free
		}
	}
	if best == nil {
		return nil, nil, s.unwritable()
	}
	// Room for the bytes plus some file system overhead.
	need := size + size/64 + 64<<10
	if need > bestFree {
		return nil, nil, proto.Errorf(proto.ENOSPC, "%d bytes do not fit: %d free", size, max(bestFree, 0))
	}
	best.mu.Lock()
	best.reserved += need
	best.mu.Unlock()
	return best, func() {
		best.mu.Lock()
		best.reserved -= need
		best.mu.Unlock()
	}, nil
}

// space sums the stores' capacity, counting each file system once.
func (s *Server) space() (total, free int64) {
	seen := map[[2]int64]bool{}
	for _, st := range s.stores {
		t, a, err := st.space()
		if err != nil {
			continue
		}
		id := fsID(st.dir, t)
		st.mu.Lock()
		a -= s.cfg.Reserve + st.reserved
		st.mu.Unlock()
		if seen[id] {
			continue
		}
		seen[id] = true
		total += t
		free += max(a, 0)
	}
	return total, free
}

// removeBytes deletes the file of a row that is gone or was replaced.
func (s *Server) removeBytes(r *fileRow) {
	st := s.byKey[r.store]
	if st == nil {
		s.log.Warn("storage: row names an unknown store", "store", r.store, "path", r.path)
		return
	}
	p, err := st.abs(r.path)
	if err != nil {
		s.log.Warn("storage: row has a bad path", "path", r.path)
		return
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("storage: removing a file", "path", p, "err", err)
	}
}

// claim marks a file as being received here (UPLOAD or REPLICATE); a second
// one at the same time is refused, so that two copies never contend for
// the node's one row of the file.
func (s *Server) claim(ref proto.FileRef) bool {
	s.inflightMu.Lock()
	defer s.inflightMu.Unlock()
	if s.inflight[ref] {
		return false
	}
	s.inflight[ref] = true
	return true
}

func (s *Server) unclaim(ref proto.FileRef) {
	s.inflightMu.Lock()
	delete(s.inflight, ref)
	s.inflightMu.Unlock()
}
