package storagenode

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/proto"
)

// Row states of t_file_XX.status.
const (
	statusOK      = 0 // readable
	statusDeleted = 1 // soft-deleted: unreadable, purged after the retention
	statusPending = 2 // durable here, not yet committed to the group log
)

// fileTable is t_file_01..03: the seed's sharding by user ID.
func fileTable(shard int) string { return fmt.Sprintf("t_file_%02d", shard) }

// shardOf is FNV-1a 32(userid) % 3 + 1.
func shardOf(userid string) int {
	h := fnv.New32a()
	h.Write([]byte(userid))
	return int(h.Sum32()%3) + 1
}

// fileKey is the log's compact index key of a file: FNV-1a 64 of
// appid NUL userid NUL fileid. Lookups compare the names too.
func fileKey(r proto.FileRef) int64 {
	h := fnv.New64a()
	h.Write([]byte(r.AppID))
	h.Write([]byte{0})
	h.Write([]byte(r.UserID))
	h.Write([]byte{0})
	h.Write([]byte(r.FileID))
	return int64(h.Sum64())
}

func fileTableDDL(shard int) []string {
	t := fileTable(shard)
	return []string{
		`CREATE TABLE IF NOT EXISTS ` + t + ` (
			id {{AUTOID}},
			node VARCHAR(150) NOT NULL,
			appid VARCHAR(16) NOT NULL,
			userid VARCHAR(255) NOT NULL,
			fileid VARCHAR(127) NOT NULL,
			store VARCHAR(32) NOT NULL,
			path VARCHAR(32) NOT NULL,
			size BIGINT NOT NULL,
			crc32c BIGINT NOT NULL,
			status INT NOT NULL DEFAULT 0,
			vctime BIGINT NOT NULL DEFAULT 0,
			created BIGINT NOT NULL,
			deleted_time BIGINT NOT NULL DEFAULT 0,
			UNIQUE (node, appid, userid, fileid)) {{TABLE}}`,
		`CREATE INDEX ix_` + t + `_status ON ` + t + ` (node, status, deleted_time)`,
	}
}

// migrations of component "storagenode".
func migrations() []string {
	var m []string
	for s := 1; s <= 3; s++ {
		m = append(m, fileTableDDL(s)...)
	}
	m = append(m,
		`CREATE TABLE IF NOT EXISTS t_group_log (
			seq {{AUTOID}},
			grp VARCHAR(16) NOT NULL,
			op VARCHAR(3) NOT NULL,
			fkey BIGINT NOT NULL,
			appid VARCHAR(16) NOT NULL,
			userid VARCHAR(255) NOT NULL,
			fileid VARCHAR(127) NOT NULL,
			size BIGINT NOT NULL,
			crc32c BIGINT NOT NULL,
			origin VARCHAR(150) NOT NULL,
			created BIGINT NOT NULL) {{TABLE}}`,
		`CREATE INDEX ix_t_group_log_file ON t_group_log (grp, fkey, seq)`,
		`CREATE INDEX ix_t_group_log_seq ON t_group_log (grp, seq)`,
		`CREATE TABLE IF NOT EXISTS t_sync_cursor (
			node VARCHAR(150) NOT NULL,
			grp VARCHAR(16) NOT NULL,
			applied_seq BIGINT NOT NULL,
			update_time BIGINT NOT NULL,
			PRIMARY KEY (node, grp)) {{TABLE}}`,
		// The group's live files: one row per file whose last log entry is
		// a put. Its primary key makes two racing uploads of one file ID
		// through two members commit at most once.
		`CREATE TABLE IF NOT EXISTS t_group_live (
			grp VARCHAR(16) NOT NULL,
			appid VARCHAR(16) NOT NULL,
			userid VARCHAR(255) NOT NULL,
			fileid VARCHAR(127) NOT NULL,
			size BIGINT NOT NULL,
			crc32c BIGINT NOT NULL,
			PRIMARY KEY (grp, appid, userid, fileid)) {{TABLE}}`,
	)
	// Per-group sequence numbers (docs/replication.md, "Per-group
	// numbers"): seq is one auto-increment shared by every group, so a
	// group's entries had holes that were other groups' entries, each
	// waited for. gseq counts per group, taken from t_group_seq. Existing
	// entries keep their numbers (gseq = seq), so the members' cursors stay
	// valid; each group's counter starts above its entries and its cursors,
	// and the holes below it (other groups' numbers) are final: compacted
	// marks the number up to which a hole is never filled.
	m = append(m,
		`ALTER TABLE t_group_log ADD COLUMN gseq BIGINT NOT NULL DEFAULT 0`,
		`UPDATE t_group_log SET gseq = seq`,
		`CREATE UNIQUE INDEX ix_t_group_log_gseq ON t_group_log (grp, gseq)`,
		`CREATE TABLE IF NOT EXISTS t_group_seq (
			grp VARCHAR(16) NOT NULL PRIMARY KEY,
			last_seq BIGINT NOT NULL,
			compacted BIGINT NOT NULL DEFAULT 0) {{TABLE}}`,
		`INSERT INTO t_group_seq (grp, last_seq, compacted) SELECT grp, MAX(s), MAX(s) FROM (
			SELECT grp, MAX(seq) AS s FROM t_group_log GROUP BY grp
			UNION ALL SELECT grp, MAX(applied_seq) AS s FROM t_sync_cursor GROUP BY grp) AS x GROUP BY grp`,
	)
	// Files held against deletion (HOLD, 80; hold.go): until_time Unix
	// seconds, or -1 until released.
	m = append(m,
		`CREATE TABLE IF NOT EXISTS t_group_hold (
			grp VARCHAR(16) NOT NULL,
			appid VARCHAR(16) NOT NULL,
			userid VARCHAR(255) NOT NULL,
			fileid VARCHAR(127) NOT NULL,
			until_time BIGINT NOT NULL,
			PRIMARY KEY (grp, appid, userid, fileid)) {{TABLE}}`,
	)
	return m
}

// Migrate creates or upgrades the storage node's tables.
func Migrate(ctx context.Context, db *metadb.DB) error {
	return db.Migrate(ctx, "storagenode", migrations())
}

// fileRow is a node's row of a file.
type fileRow struct {
	shard   int
	id      int64
	store   string
	path    string
	size    int64
	crc     uint32
	status  int
	vctime  int64
	created int64
	deleted int64
}

// logEntry is a row of t_group_log. seq orders the entries of one file:
// their appends are serialised by the file's t_group_live row, so seq (an
// auto-increment taken at insert) follows their commits, while gseq (taken
// before the transaction, docs/replication.md "Per-group numbers") need
// not. gseq is the group's own number, what cursors count.
type logEntry struct {
	seq     int64
	gseq    int64
	op      string // "put" or "del"
	ref     proto.FileRef
	size    int64
	crc     uint32
	origin  string
	created int64
}

const (
	opPut = "put"
	opDel = "del"
	opNop = "nop" // a log number given up (voidSeq)
)

type shardStmts struct {
	state, get, insert, replace, setStatus, setVctime, setCorrupt, del, scan, purgeable *sql.Stmt
	// flip makes a pending row readable if it still holds the given
	// contents (size and CRC32C): the syncer's commit of a mirror's copy.
	flip *sql.Stmt
	// readable: the node's row and the group's live entry of the file (two
	// key lookups, no sort, no union), the check of almost every read.
	readable *sql.Stmt
	// readableMany: readable for several files at once, by batch size
	// (MySQL; readbatch.go).
	readableMany map[int]*sql.Stmt
	// insert and replace on the database's Unsynced handle, for pending
	// rows: lost to a power loss, such a row leaves only the file's bytes
	// behind (the upload was not answered), and the group log's commit
	// that follows puts it on the disk anyway. The same as insert and
	// replace on MySQL.
	insertPending, replacePending *sql.Stmt
}

// stmts are the node's prepared statements.
type stmts struct {
	shard                   [4]shardStmts // 1..3
	logAppend, logLatest    *sql.Stmt
	logAfter, logMax        *sql.Stmt
	seqNext, seqSeed        *sql.Stmt
	seqVoid, seqFloor       *sql.Stmt
	seqCompacted            *sql.Stmt
	cursorGet, cursorSet    *sql.Stmt
	cursorMin, logCompactAt *sql.Stmt
	liveInsert, liveGet     *sql.Stmt
	liveDelete, logOldDels  *sql.Stmt
	holdGet                 *sql.Stmt // every DELETE's check (hold.go)
}

func prepare(ctx context.Context, db *metadb.DB) (*stmts, error) {
	s := &stmts{}
	lazy, err := db.Unsynced()
	if err != nil {
		return nil, err
	}
	on := func(db *metadb.DB, q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = db.PrepareContext(ctx, db.Q(q))
		if err != nil {
			err = fmt.Errorf("prepare %q: %w", q, err)
		}
		return st
	}
	p := func(q string) *sql.Stmt { return on(db, q) }
	cols := `id, store, path, size, crc32c, status, vctime, created, deleted_time`
	for i := 1; i <= 3; i++ {
		t := fileTable(i)
		s.shard[i] = shardStmts{
			// This node's row and the group log's last entry of a file, in
			// one round trip (every read and upload needs both). The
			// aliases keep the derived table's column names distinct, as
			// MySQL requires; the entry's gseq rides in vctime's column.
			state: p(`SELECT 0, ` + cols + `, '' FROM ` + t + ` WHERE node = ? AND appid = ? AND userid = ? AND fileid = ?
				UNION ALL SELECT * FROM (SELECT 1 AS k, seq, op, '' AS p, size, crc32c, 0 AS st, gseq AS vc, created, 0 AS dt, origin
				FROM t_group_log WHERE grp = ? AND fkey = ? AND appid = ? AND userid = ? AND fileid = ? ORDER BY seq DESC LIMIT 1) AS l`),
			get: p(`SELECT ` + cols + ` FROM ` + t + ` WHERE node = ? AND appid = ? AND userid = ? AND fileid = ?`),
			readable: p(`SELECT f.id, f.store, f.path, f.size, f.crc32c, f.status, f.vctime, f.created, f.deleted_time, l.size, l.crc32c
				FROM ` + t + ` f LEFT JOIN t_group_live l ON l.grp = ? AND l.appid = f.appid AND l.userid = f.userid AND l.fileid = f.fileid
				WHERE f.node = ? AND f.appid = ? AND f.userid = ? AND f.fileid = ?`),
			insert: p(insertQ(t)),
			// Replaces a deleted, pending or failed row by a new copy.
			replace:    p(replaceQ(t)),
			setStatus:  p(`UPDATE ` + t + ` SET status = ?, deleted_time = ? WHERE id = ? AND status = ?`),
			flip:       p(`UPDATE ` + t + ` SET status = ?, deleted_time = 0 WHERE id = ? AND status = ? AND size = ? AND crc32c = ?`),
			setVctime:  p(`UPDATE ` + t + ` SET vctime = ? WHERE id = ?`),
			setCorrupt: p(`UPDATE ` + t + ` SET vctime = -1 WHERE id = ?`),
			del:        p(`DELETE FROM ` + t + ` WHERE id = ? AND status = ?`),
			scan: p(`SELECT id, appid, userid, fileid, store, path, size, crc32c, status, vctime, created, deleted_time FROM ` + t +
				` WHERE node = ? AND id > ? ORDER BY id LIMIT 200`),
			purgeable: p(`SELECT id, appid, userid, fileid, store, path, status FROM ` + t +
				` WHERE node = ? AND ((status = 1 AND deleted_time < ?) OR (status = 2 AND created < ?)) LIMIT 200`),
		}
		h := &s.shard[i]
		h.insertPending, h.replacePending = h.insert, h.replace
		if lazy != db {
			h.insertPending, h.replacePending = on(lazy, insertQ(t)), on(lazy, replaceQ(t))
		}
	}
	s.logAppend = p(`INSERT INTO t_group_log (grp, gseq, op, fkey, appid, userid, fileid, size, crc32c, origin, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	// The group's next number (reserveSeq). MySQL hands the value back as
	// the insert ID: one statement, the row locked only inside it.
	if db.Dialect == metadb.MySQL {
		s.seqNext = p(`UPDATE t_group_seq SET last_seq = LAST_INSERT_ID(last_seq + 1) WHERE grp = ?`)
	} else {
		s.seqNext = p(`UPDATE t_group_seq SET last_seq = last_seq + 1 WHERE grp = ? RETURNING last_seq`)
	}
	// A new group's counter, above anything of the group already there.
	s.seqSeed = p(`{{INSERT_IGNORE}} INTO t_group_seq (grp, last_seq, compacted) SELECT ?, COALESCE(MAX(s), 0), COALESCE(MAX(s), 0) FROM (
		SELECT MAX(gseq) AS s FROM t_group_log WHERE grp = ?
		UNION ALL SELECT MAX(applied_seq) AS s FROM t_sync_cursor WHERE grp = ?) AS x`)
	// A number given up: by its writer when its append failed, by a member
	// that waited for it long enough. The unique (grp, gseq) makes this and
	// the writer's own insert exclusive: a writer that comes later fails
	// and appends again under a new number.
	s.seqVoid = p(`{{INSERT_IGNORE}} INTO t_group_log (grp, gseq, op, fkey, appid, userid, fileid, size, crc32c, origin, created)
		VALUES (?, ?, 'nop', 0, '', '', '', 0, 0, ?, ?)`)
	s.seqFloor = p(`SELECT compacted FROM t_group_seq WHERE grp = ?`)
	s.seqCompacted = p(`UPDATE t_group_seq SET compacted = ? WHERE grp = ? AND compacted < ?`)
	logCols := `seq, gseq, op, appid, userid, fileid, size, crc32c, origin, created`
	s.logLatest = p(`SELECT ` + logCols + ` FROM t_group_log WHERE grp = ? AND fkey = ? AND appid = ? AND userid = ? AND fileid = ?
		ORDER BY seq DESC LIMIT 1`)
	s.logAfter = p(`SELECT ` + logCols + ` FROM t_group_log WHERE grp = ? AND gseq > ? ORDER BY gseq LIMIT ` + fmt.Sprint(syncBatch))
	s.logMax = p(`SELECT COALESCE(MAX(gseq), 0) FROM t_group_log WHERE grp = ?`)
	s.cursorGet = p(`SELECT applied_seq FROM t_sync_cursor WHERE node = ? AND grp = ?`)
	s.cursorSet = p(db.Upsert("t_sync_cursor", []string{"node", "grp"}, []string{"node", "grp", "applied_seq", "update_time"}))
	s.cursorMin = p(`SELECT COALESCE(MIN(applied_seq), 0) FROM t_sync_cursor WHERE grp = ?`)
	s.logOldDels = p(`SELECT seq, appid, userid, fileid FROM t_group_log WHERE grp = ? AND op = 'del' AND created < ? AND gseq <= ?
		ORDER BY gseq LIMIT 200`)
	// Log compaction: the entries of a file whose last operation is a delete
	// older than the retention that every member has applied.
	s.logCompactAt = p(`DELETE FROM t_group_log WHERE grp = ? AND fkey = ? AND appid = ? AND userid = ? AND fileid = ? AND seq <= ?`)
	s.liveInsert = p(`INSERT INTO t_group_live (grp, appid, userid, fileid, size, crc32c) VALUES (?, ?, ?, ?, ?, ?)`)
	s.liveGet = p(`SELECT size, crc32c FROM t_group_live WHERE grp = ? AND appid = ? AND userid = ? AND fileid = ?`)
	s.liveDelete = p(`DELETE FROM t_group_live WHERE grp = ? AND appid = ? AND userid = ? AND fileid = ?`)
	s.holdGet = p(`SELECT until_time FROM t_group_hold WHERE grp = ? AND appid = ? AND userid = ? AND fileid = ?`)
	if err == nil && db.Dialect == metadb.MySQL {
		err = prepareReadableMany(ctx, db, s)
	}
	if err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func insertQ(t string) string {
	return `INSERT INTO ` + t + ` (node, appid, userid, fileid, store, path, size, crc32c, status, vctime, created, deleted_time)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`
}

func replaceQ(t string) string {
	return `UPDATE ` + t + ` SET store = ?, path = ?, size = ?, crc32c = ?, status = ?, vctime = ?, created = ?, deleted_time = 0
		WHERE id = ? AND status = ?`
}

func (s *stmts) close() {
	all := []*sql.Stmt{s.holdGet, s.seqNext, s.seqSeed, s.seqVoid, s.seqFloor, s.seqCompacted, s.logOldDels, s.liveInsert, s.liveGet, s.liveDelete, s.logAppend, s.logLatest, s.logAfter, s.logMax, s.cursorGet, s.cursorSet, s.cursorMin, s.logCompactAt}
	for i := 1; i <= 3; i++ {
		h := s.shard[i]
		all = append(all, h.state, h.get, h.readable, h.insert, h.replace, h.setStatus, h.flip, h.setVctime, h.setCorrupt, h.del, h.scan, h.purgeable)
		if h.insertPending != h.insert {
			all = append(all, h.insertPending, h.replacePending)
		}
		for _, st := range h.readableMany {
			all = append(all, st)
		}
	}
	for _, st := range all {
		if st != nil {
			st.Close()
		}
	}
}

// scanFileRow reads a row of shard sh's file table, selected as id, store,
// path, size, crc, status, vctime, created, deleted, then into extra.
func scanFileRow(sc metadb.Scanner, sh int, extra ...any) (*fileRow, error) {
	r := &fileRow{shard: sh}
	var crc int64
	if err := sc.Scan(append([]any{&r.id, &r.store, &r.path, &r.size, &crc, &r.status, &r.vctime, &r.created, &r.deleted}, extra...)...); err != nil {
		return nil, err
	}
	r.crc = uint32(crc)
	return r, nil
}

// scanLogEntry reads a group log entry selected as seq, gseq, op, appid,
// userid, fileid, size, crc, origin, created.
func scanLogEntry(sc metadb.Scanner) (*logEntry, error) {
	e := &logEntry{}
	var crc int64
	if err := sc.Scan(&e.seq, &e.gseq, &e.op, &e.ref.AppID, &e.ref.UserID, &e.ref.FileID, &e.size, &crc, &e.origin, &e.created); err != nil {
		return nil, err
	}
	e.crc = uint32(crc)
	return e, nil
}

// getRow returns this node's row of the file, or nil.
func (s *Server) getRow(ctx context.Context, ref proto.FileRef) (*fileRow, error) {
	sh := shardOf(ref.UserID)
	r, err := scanFileRow(s.st.shard[sh].get.QueryRowContext(ctx, s.node, ref.AppID, ref.UserID, ref.FileID), sh)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return r, err
}

// fileState returns this node's row of the file and the group log's last
// operation on it, each nil when there is none: getRow and latestOp in one
// round trip.
func (s *Server) fileState(ctx context.Context, ref proto.FileRef) (*fileRow, *logEntry, error) {
	sh := shardOf(ref.UserID)
	rows, err := s.st.shard[sh].state.QueryContext(ctx, s.node, ref.AppID, ref.UserID, ref.FileID,
		s.cfg.Group, fileKey(ref), ref.AppID, ref.UserID, ref.FileID)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var row *fileRow
	var latest *logEntry
	for rows.Next() {
		var kind int
		var id, size, crc, status, vctime, created, deleted int64
		var a, b, origin string
		if err := rows.Scan(&kind, &id, &a, &b, &size, &crc, &status, &vctime, &created, &deleted, &origin); err != nil {
			return nil, nil, err
		}
		if kind == 0 {
			row = &fileRow{shard: sh, id: id, store: a, path: b, size: size, crc: uint32(crc),
				status: int(status), vctime: vctime, created: created, deleted: deleted}
		} else {
			latest = &logEntry{seq: id, gseq: vctime, op: a, ref: ref, size: size, crc: uint32(crc), origin: origin, created: created}
		}
	}
	return row, latest, rows.Err()
}

// readableRow returns this node's row of the file when it can be served
// as it is: readable here (OK) and the group's live copy, the same size
// and CRC32C. t_group_live holds a file exactly while its last log entry
// is a put, written in that entry's transaction, so this is fileState's
// verdict for its common case at the cost of two key lookups. Any other
// case (no row, pending, deleted, another version) is nil: fileState
// decides it.
func (s *Server) readableRow(ctx context.Context, ref proto.FileRef) (*fileRow, error) {
	if b := s.readables[shardOf(ref.UserID)]; b != nil {
		return b.Do(ctx, ref)
	}
	return s.readableOne(ctx, ref)
}

// readableOne is readableRow in a query of its own.
func (s *Server) readableOne(ctx context.Context, ref proto.FileRef) (*fileRow, error) {
	sh := shardOf(ref.UserID)
	var liveSize, liveCRC sql.NullInt64
	r, err := scanFileRow(s.st.shard[sh].readable.QueryRowContext(ctx, s.cfg.Group, s.node, ref.AppID, ref.UserID, ref.FileID),
		sh, &liveSize, &liveCRC)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return servable(r, liveSize, liveCRC), nil
}

// servable is r when it can be served as it is: OK, and the same size and
// CRC32C as the group's live entry (liveSize and liveCRC, null when none).
func servable(r *fileRow, liveSize, liveCRC sql.NullInt64) *fileRow {
	if r.status != statusOK || !liveSize.Valid || liveSize.Int64 != r.size || uint32(liveCRC.Int64) != r.crc {
		return nil
	}
	return r
}

// latestOp returns the group log's last operation on the file, or nil.
func (s *Server) latestOp(ctx context.Context, ref proto.FileRef) (*logEntry, error) {
	e, err := scanLogEntry(s.st.logLatest.QueryRowContext(ctx, s.cfg.Group, fileKey(ref), ref.AppID, ref.UserID, ref.FileID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return e, err
}

// putRow records a received copy with the given status: a new row, or in
// place of a row that is deleted or pending (a reused file ID, a retried
// replica). It returns the row replaced, whose bytes the caller removes, and
// errExists when a readable row is there.
func (s *Server) putRow(ctx context.Context, ref proto.FileRef, st *store, rel string, size int64, crc uint32, status int, vctime int64) (*fileRow, *fileRow, error) {
	return s.putRowIn(ctx, nil, ref, st, rel, size, crc, status, vctime)
}

// putRowIn is putRow in tx (nil: each statement on its own).
func (s *Server) putRowIn(ctx context.Context, tx *sql.Tx, ref proto.FileRef, st *store, rel string, size int64, crc uint32, status int, vctime int64) (*fileRow, *fileRow, error) {
	sh := shardOf(ref.UserID)
	h := s.st.shard[sh]
	insert, replace, get := h.insert, h.replace, h.get
	if status == statusPending {
		insert, replace = h.insertPending, h.replacePending
	}
	if tx != nil {
		insert, replace, get = tx.StmtContext(ctx, insert), tx.StmtContext(ctx, replace), tx.StmtContext(ctx, get)
	}
	now := s.nowUnix()
	for range 3 {
		res, err := insert.ExecContext(ctx, s.node, ref.AppID, ref.UserID, ref.FileID, st.key, rel, size, int64(crc), status, vctime, now)
		if err == nil {
			id, _ := res.LastInsertId()
			return &fileRow{shard: sh, id: id, store: st.key, path: rel, size: size, crc: crc, status: status, vctime: vctime, created: now}, nil, nil
		}
		if !metadb.IsDuplicate(err) {
			return nil, nil, err
		}
		old, err := scanFileRow(get.QueryRowContext(ctx, s.node, ref.AppID, ref.UserID, ref.FileID), sh)
		if errors.Is(err, sql.ErrNoRows) {
			continue // purged meanwhile
		}
		if err != nil {
			return nil, nil, err
		}
		if old.status == statusOK {
			return nil, old, errExists
		}
		res, err = replace.ExecContext(ctx, st.key, rel, size, int64(crc), status, vctime, now, old.id, old.status)
		if err != nil {
			return nil, nil, err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return &fileRow{shard: sh, id: old.id, store: st.key, path: rel, size: size, crc: crc, status: status, vctime: vctime, created: now}, old, nil
		}
	}
	return nil, nil, errors.New("row changed under us three times")
}

var errExists = errors.New("file exists")

// memberRowIn inserts, in tx, the readable row of a member's copy that the
// member recorded no row for (REPLICATE_LINKED). Where the member has a row
// of the file already (a copy of an earlier try, pending or deleted) it is
// left alone: the member's syncer finds it not pointing at the new copy
// when the put arrives and applies the put as any other (flipping a pending
// copy of the same bytes, or copying the file from a peer), and the purge
// removes the copy received (limbo.go). The failed insert is only
// that statement's: the transaction goes on (SQLite and InnoDB alike).
func (s *Server) memberRowIn(ctx context.Context, tx *sql.Tx, ref proto.FileRef, p *proto.ReplicaPlace, e *logEntry) error {
	sh := shardOf(ref.UserID)
	_, err := tx.StmtContext(ctx, s.st.shard[sh].insert).ExecContext(ctx, p.Node, ref.AppID, ref.UserID, ref.FileID,
		p.Store, p.Path, e.size, int64(e.crc), statusOK, p.VCtime, s.nowUnix())
	if metadb.IsDuplicate(err) {
		s.log.Info("storage: a member has a row of the file already; it will copy the file from the group log", "member", p.Node, "fileid", ref.FileID)
		return nil
	}
	return err
}

// flipIn makes the pending row r readable in tx if it still holds size and
// crc; it reports whether it did.
func (s *Server) flipIn(ctx context.Context, tx *sql.Tx, r *fileRow, size int64, crc uint32) (bool, error) {
	res, err := tx.StmtContext(ctx, s.st.shard[r.shard].flip).ExecContext(ctx, statusOK, r.id, statusPending, size, int64(crc))
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// setStatus moves a row from one status to another; it reports whether the
// row was in the from status.
func (s *Server) setStatus(ctx context.Context, r *fileRow, from, to int, deleted int64) (bool, error) {
	return s.setStatusIn(ctx, nil, r, from, to, deleted)
}

// setStatusIn is setStatus in tx, or in a statement of its own when tx is
// nil.
func (s *Server) setStatusIn(ctx context.Context, tx *sql.Tx, r *fileRow, from, to int, deleted int64) (bool, error) {
	stmt := s.st.shard[r.shard].setStatus
	if tx != nil {
		stmt = tx.StmtContext(ctx, stmt)
	}
	res, err := stmt.ExecContext(ctx, to, deleted, r.id, from)
	if from == statusOK && tx == nil {
		s.rows.drop(r) // in a transaction: once it commits (appendLogOnce)
	}
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// rowMove is a change of this node's row made in the same transaction as a
// log append: a status change of row, or, with put set, the row of a new
// copy inserted readable (an upload's coordinator: its row and the put
// commit together, one commit instead of two). The inserted row and the
// row it replaced, if any, are left in row and replaced.
type rowMove struct {
	row      *fileRow
	from, to int
	deleted  int64
	must     bool // the row must be in the from status

	put      *rowPut
	replaced *fileRow
}

// rowPut is a copy whose row a log append inserts.
type rowPut struct {
	st     *store
	rel    string
	vctime int64
	// members: the copies of members that record no row of their own
	// (REPLICATE_LINKED); their rows are inserted readable beside this
	// node's.
	members []*proto.ReplicaPlace
}

// errLogConflict is appendLog's answer to a put of a file that the group
// has live with other contents (two uploads of one file ID raced).
var errLogConflict = errors.New("the group has another upload of this file")

// errSeqVoided: the number reserved for an append was given up by a member
// that waited for it too long; the append is tried again under a new one.
var errSeqVoided = errors.New("log number given up by a member")

// appendLog adds an operation to the group log, returning its gseq, and,
// in the same transaction, moves the node's own row: a put commits the
// pending row (readable exactly when the group has the operation), a del
// marks it deleted.
//
// A put is conditional on t_group_live, whose row it inserts in the same
// transaction: if the file is live already with the same contents, nothing
// is appended and the gseq is 0 (an upload retried after a lost answer);
// with other contents, errLogConflict. A del removes the live row.
func (s *Server) appendLog(ctx context.Context, e *logEntry, mv *rowMove) (int64, error) {
	return s.appendLogAt(ctx, e, mv, nil)
}

// appendLogAt is appendLog whose first try takes its number (MySQL) from
// pre, reserved by the caller ahead (earlySeq); nil: reserved here.
func (s *Server) appendLogAt(ctx context.Context, e *logEntry, mv *rowMove, pre *earlySeq) (int64, error) {
	return s.appendLogJoined(ctx, e, mv, pre, nil)
}

// joinedError is the error of a function that ran in an append's
// transaction (appendLogJoined's with).
type joinedError struct{ err error }

func (e *joinedError) Error() string { return e.err.Error() }
func (e *joinedError) Unwrap() error { return e.err }

// appendLogJoined is appendLogAt that also runs with (when not nil) in
// the append's transaction, after the node's statements: both commit or
// neither. An error of with comes back as a *joinedError.
func (s *Server) appendLogJoined(ctx context.Context, e *logEntry, mv *rowMove, pre *earlySeq, with func(*sql.Tx) error) (int64, error) {
	var seq int64
	retry := func(err error) bool { return metadb.IsRetryable(err) || errors.Is(err, errSeqVoided) }
	err := metadb.Retry(ctx, retry, func() (err error) {
		seq, err = s.appendLogOnce(ctx, e, mv, pre, with)
		pre = nil
		return err
	})
	return seq, err
}

// earlySeq is a group log number being reserved while an upload's copies
// are made durable (MySQL): the reservation is a commit of its own, and
// made at the same time as the members' row commits the database flushes
// its log once for them all (InnoDB group commit) instead of once more
// after them, on the upload's critical path.
type earlySeq struct {
	done chan struct{}
	seq  int64
	err  error
}

// reserveEarly starts reserving the group's next number, or returns nil
// where numbers are taken inside the append's transaction (SQLite).
func (s *Server) reserveEarly(ctx context.Context) *earlySeq {
	if s.db.Dialect != metadb.MySQL || s.lateSeq {
		return nil
	}
	r := &earlySeq{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.seq, r.err = s.reserveSeq(ctx, nil)
	}()
	return r
}

// abandon gives the number up once reserved (an upload that failed before
// its append).
func (r *earlySeq) abandon(s *Server) {
	if r == nil {
		return
	}
	go func() {
		<-r.done
		if r.err == nil {
			s.voidSeq(r.seq)
		}
	}()
}

// appendLogOnce runs one try of appendLog.
//
// The entry's gseq: on MySQL a number reserved before the transaction, in
// a statement of its own, so that no transaction holds the group's counter
// (a writer that stalls — frozen, cut off from the database — would stop
// every append of the group until the server drops it). A number reserved
// and then not used is given up (seqVoid). Such numbers are the only holes
// a reader can see above the compacted floor; the syncer waits for them
// (holeGrace) and then gives them up itself, which makes a writer that
// comes even later fail on the unique key and append again. On SQLite the
// number is taken inside the transaction, which holds the database's write
// lock anyway: no holes there.
func (s *Server) appendLogOnce(ctx context.Context, e *logEntry, mv *rowMove, pre *earlySeq, with func(*sql.Tx) error) (gseq int64, err error) {
	var reserved int64
	if s.db.Dialect == metadb.MySQL {
		if pre != nil {
			<-pre.done
			reserved, err = pre.seq, pre.err
		} else {
			reserved, err = s.reserveSeq(ctx, nil)
		}
		if err != nil {
			return 0, err
		}
		used := false
		defer func() {
			if !used {
				s.voidSeq(reserved) // after the rollback (deferred later, run first)
			}
		}()
		defer func() { used = err == nil && gseq == reserved }()
	}
	// The transaction may be shared with other appends of this process
	// (metadb.GroupTx: on SQLite one commit, one fsync, for all).
	err = s.db.GroupTx(ctx, func(tx *sql.Tx) (err error) {
		if gseq, err = s.logTx(ctx, tx, e, mv, reserved); err != nil || with == nil {
			return err
		}
		if err := with(tx); err != nil {
			return &joinedError{err}
		}
		return nil
	})
	if mv != nil && mv.put == nil && mv.from == statusOK {
		s.rows.drop(mv.row) // committed or not: the cache reads again
	}
	if err != nil {
		return 0, err
	}
	return gseq, nil
}

// logTx is appendLogOnce's transaction: the live row, the node's row, the
// entry. Its gseq is 0 when the put was there already (nothing appended).
func (s *Server) logTx(ctx context.Context, tx *sql.Tx, e *logEntry, mv *rowMove, reserved int64) (gseq int64, err error) {
	appendIt := true
	r := e.ref
	switch e.op {
	case opPut:
		_, err := tx.StmtContext(ctx, s.st.liveInsert).ExecContext(ctx, s.cfg.Group, r.AppID, r.UserID, r.FileID, e.size, int64(e.crc))
		if metadb.IsDuplicate(err) {
			var size, crc int64
			if err := tx.StmtContext(ctx, s.st.liveGet).QueryRowContext(ctx, s.cfg.Group, r.AppID, r.UserID, r.FileID).Scan(&size, &crc); err != nil {
				return 0, err
			}
			if size != e.size || uint32(crc) != e.crc {
				return 0, errLogConflict
			}
			appendIt = false
		} else if err != nil {
			return 0, err
		}
	case opDel:
		if _, err := tx.StmtContext(ctx, s.st.liveDelete).ExecContext(ctx, s.cfg.Group, r.AppID, r.UserID, r.FileID); err != nil {
			return 0, err
		}
	}
	if mv != nil && mv.put != nil {
		mv.row, mv.replaced, err = s.putRowIn(ctx, tx, r, mv.put.st, mv.put.rel, e.size, e.crc, statusOK, mv.put.vctime)
		if err != nil {
			return 0, err
		}
		for _, p := range mv.put.members {
			if err := s.memberRowIn(ctx, tx, r, p, e); err != nil {
				return 0, err
			}
		}
	} else if mv != nil {
		moved, err := s.setStatusIn(ctx, tx, mv.row, mv.from, mv.to, mv.deleted)
		if err != nil {
			return 0, err
		}
		if !moved && mv.must {
			return 0, errors.New("row changed before the log commit")
		}
	}
	for try := 1; appendIt; try++ {
		gseq = reserved
		if gseq == 0 {
			if gseq, err = s.reserveSeq(ctx, tx); err != nil {
				return 0, err
			}
		}
		_, err := tx.StmtContext(ctx, s.st.logAppend).ExecContext(ctx, s.cfg.Group, gseq, e.op, fileKey(e.ref),
			e.ref.AppID, e.ref.UserID, e.ref.FileID, e.size, int64(e.crc), e.origin, e.created)
		if metadb.IsDuplicate(err) {
			// Only (grp, gseq) can collide: a member gave the number up.
			// In a transaction (SQLite) the next number is taken at once;
			// a number reserved outside it, by the next try.
			if reserved != 0 || try == 3 {
				return 0, fmt.Errorf("%w: %d", errSeqVoided, gseq)
			}
			continue
		}
		if err != nil {
			return 0, err
		}
		break
	}
	if !appendIt {
		return 0, nil
	}
	return gseq, nil
}

// reserveSeq takes the group's next log number: in tx if given, else in a
// statement of its own. It makes the group's counter first if it has none.
func (s *Server) reserveSeq(ctx context.Context, tx *sql.Tx) (int64, error) {
	stmt := func(st *sql.Stmt) *sql.Stmt {
		if tx != nil {
			return tx.StmtContext(ctx, st)
		}
		return st
	}
	for range 2 {
		var n int64
		if s.db.Dialect == metadb.MySQL {
			res, err := stmt(s.st.seqNext).ExecContext(ctx, s.cfg.Group)
			if err != nil {
				return 0, fmt.Errorf("group log number: %w", err)
			}
			if k, _ := res.RowsAffected(); k == 1 {
				return res.LastInsertId()
			}
		} else {
			err := stmt(s.st.seqNext).QueryRowContext(ctx, s.cfg.Group).Scan(&n)
			if err == nil {
				return n, nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return 0, fmt.Errorf("group log number: %w", err)
			}
		}
		if _, err := stmt(s.st.seqSeed).ExecContext(ctx, s.cfg.Group, s.cfg.Group, s.cfg.Group); err != nil {
			return 0, fmt.Errorf("group log counter: %w", err)
		}
	}
	return 0, errors.New("group log counter missing")
}

// voidSeq gives up a log number: a no-op entry takes it unless its entry
// is there already. Best effort: a number left is given up by the members
// after holeGrace.
func (s *Server) voidSeq(gseq int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.st.seqVoid.ExecContext(ctx, s.cfg.Group, gseq, s.node, s.nowUnix()); err != nil {
		s.log.Warn("storage: giving up a group log number", "gseq", gseq, "err", err)
	}
}
