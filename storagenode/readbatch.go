package storagenode

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/proto"
)

// The most readable checks in one query and such queries in flight at
// once per shard (MySQL): as the gateway's lookups (gateway/index
// lookupBatch), measured with BenchmarkFileState/readable.
const (
	readableBatch   = 16
	readableQueries = 2
)

// readableManyQ is readable for n files at once (n > 1): the i-th triple
// of arguments after the group and node is the i-th file, a row's first
// column its i. A file this node has no row of has no row.
func readableManyQ(t string, n int) string {
	return `SELECT q.i, f.id, f.store, f.path, f.size, f.crc32c, f.status, f.vctime, f.created, f.deleted_time, l.size, l.crc32c FROM ` +
		metadb.Questions(n, "? AS a", "? AS u", "? AS fi") + ` q JOIN ` + t + ` f ON f.node = ? AND f.appid = q.a AND f.userid = q.u AND f.fileid = q.fi
		LEFT JOIN t_group_live l ON l.grp = ? AND l.appid = f.appid AND l.userid = f.userid AND l.fileid = f.fileid`
}

// prepareReadableMany prepares readableManyQ for each shard and size.
func prepareReadableMany(ctx context.Context, db *metadb.DB, s *stmts) error {
	for sh := 1; sh <= 3; sh++ {
		s.shard[sh].readableMany = map[int]*sql.Stmt{}
		for _, n := range metadb.BatchSizes(readableBatch) {
			st, err := db.PrepareContext(ctx, readableManyQ(fileTable(sh), n))
			if err != nil {
				return fmt.Errorf("prepare readable of %d: %w", n, err)
			}
			s.shard[sh].readableMany[n] = st
		}
	}
	return nil
}

// newReadableBatches gives each shard its batcher of readable checks (MySQL).
func (s *Server) newReadableBatches() {
	if s.db.Dialect != metadb.MySQL {
		return
	}
	for sh := 1; sh <= 3; sh++ {
		s.readables[sh] = &metadb.ReadBatch[proto.FileRef, *fileRow]{
			One: s.readableOne,
			Many: func(ctx context.Context, refs []proto.FileRef) ([]*fileRow, []error, error) {
				return s.readableMany(ctx, sh, refs)
			},
			Max:      readableBatch,
			Parallel: readableQueries,
		}
	}
}

// readableMany is readableOne for several files of shard sh in one query
// (no file fails alone: a row is servable or not).
func (s *Server) readableMany(ctx context.Context, sh int, refs []proto.FileRef) ([]*fileRow, []error, error) {
	n := metadb.Padded(len(refs))
	st := s.st.shard[sh].readableMany[n]
	if st == nil {
		return nil, nil, fmt.Errorf("storage: no readable query for %d files", n)
	}
	args := make([]any, 0, 3*n+2)
	for i := range n {
		r := refs[min(i, len(refs)-1)]
		args = append(args, r.AppID, r.UserID, r.FileID)
	}
	args = append(args, s.node, s.cfg.Group)
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	out := make([]*fileRow, len(refs))
	for rows.Next() {
		var liveSize, liveCRC sql.NullInt64
		row := &metadb.Numbered{Row: rows}
		r, err := scanFileRow(row, sh, &liveSize, &liveCRC)
		if err != nil {
			return nil, nil, err
		}
		i := row.N
		if i < 0 || i >= n {
			return nil, nil, fmt.Errorf("storage: readable row %d of %d", i, n)
		}
		if i < len(refs) {
			out[i] = servable(r, liveSize, liveCRC)
		}
	}
	return out, nil, rows.Err()
}
