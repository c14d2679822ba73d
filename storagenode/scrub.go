package storagenode

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"

	"strings"
	"time"

	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/proto"
)

// ScrubReport is what a scrub found.
type ScrubReport struct {
	Files, Bytes int64
	Bad          []ScrubProblem
	Repaired     int
}

// ScrubProblem is one bad copy.
type ScrubProblem struct {
	Ref      proto.FileRef
	Path     string // store directory / relative path
	Problem  string // "missing", "size ...", "CRC32C ..."
	Repaired bool
	Err      string // why it was not repaired
}

// String renders the report as text: a summary line, then one line per
// bad copy.
func (r *ScrubReport) String() string {
	var b strings.Builder
	failed := len(r.Bad) - r.Repaired
	fmt.Fprintf(&b, "files %d bytes %d bad %d repaired %d unrepaired %d\n", r.Files, r.Bytes, len(r.Bad), r.Repaired, failed)
	for _, p := range r.Bad {
		state := "found"
		if p.Repaired {
			state = "repaired"
		} else if p.Err != "" {
			state = "not repaired: " + p.Err
		}
		fmt.Fprintf(&b, "bad %s/%s/%s %s: %s; %s\n", p.Ref.AppID, p.Ref.UserID, p.Ref.FileID, p.Path, p.Problem, state)
	}
	return b.String()
}

// Scrub reads every readable copy this node holds and checks it against
// the size and CRC32C of its row; with repair, a bad or missing copy is
// replaced by a healthy member's (verified on the way). Good copies get
// their verification recorded (see openVerified).
func (s *Server) Scrub(ctx context.Context, repair bool) (*ScrubReport, error) {
	rep := &ScrubReport{}
	if err := s.scrubStart(ctx); err != nil {
		return rep, err
	}
	defer s.scrub.active.Store(false)
	return rep, s.scrubRows(ctx, rep, repair, 0, nil, true)
}

// scrubRows checks this node's readable copies: every one with maxAge <= 0,
// else those changed or not verified for maxAge (checkCopy); pace limits
// the read rate. progress counts them in NODESTAT's scrub line.
func (s *Server) scrubRows(ctx context.Context, rep *ScrubReport, repair bool, maxAge time.Duration, pace *pacer, progress bool) error {
	for sh := 1; sh <= 3; sh++ {
		var last int64
		for {
			rows, err := s.st.shard[sh].scan.QueryContext(ctx, s.node, last)
			if err != nil {
				return err
			}
			type item struct {
				row fileRow
				ref proto.FileRef
			}
			items, err := metadb.ScanAll(rows, func(rows metadb.Scanner) (item, error) {
				it := item{row: fileRow{shard: sh}}
				var crc int64
				err := rows.Scan(&it.row.id, &it.ref.AppID, &it.ref.UserID, &it.ref.FileID, &it.row.store, &it.row.path,
					&it.row.size, &crc, &it.row.status, &it.row.vctime, &it.row.created, &it.row.deleted)
				it.row.crc = uint32(crc)
				return it, err
			})
			if err != nil {
				return err
			}
			for _, it := range items {
				last = it.row.id
				if it.row.status != statusOK {
					continue
				}
				if err := ctx.Err(); err != nil {
					return err
				}
				rep.Files++
				rep.Bytes += it.row.size
				if progress {
					s.scrub.files.Add(1)
					s.scrub.bytes.Add(it.row.size)
				}
				row := it.row
				f, bad, err := s.checkCopy(&row, maxAge, pace)
				if f != nil {
					f.Close()
				}
				if err != nil {
					return err
				}
				if bad == "" {
					continue
				}
				p := ScrubProblem{Ref: it.ref, Path: s.storeDir(row.store) + "/" + row.path, Problem: bad}
				s.log.Error("storage: scrub found a bad copy", "fileid", it.ref.FileID, "path", p.Path, "problem", bad)
				if repair {
					if _, err := s.repair(ctx, it.ref, &it.row); err != nil {
						p.Err = err.Error()
					} else {
						p.Repaired = true
						rep.Repaired++
					}
				}
				rep.Bad = append(rep.Bad, p)
			}
			if len(items) < 200 {
				break
			}
		}
	}
	return nil
}

// scrubProgress is what NODESTAT reports of a scrub in progress, so that
// `tnv storage scrub` can show it.
type scrubProgress struct {
	active                 atomic.Bool
	files, bytes           atomic.Int64
	totalFiles, totalBytes atomic.Int64
}

// scrubStart counts what a scrub is about to read and resets the progress.
func (s *Server) scrubStart(ctx context.Context) error {
	var files, bytes int64
	for sh := 1; sh <= 3; sh++ {
		var n, b int64
		err := s.db.QueryRowContext(ctx, "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM "+fileTable(sh)+
			" WHERE node = ? AND status = ?", s.node, statusOK).Scan(&n, &b)
		if err != nil {
			return err
		}
		files, bytes = files+n, bytes+b
	}
	s.scrub.files.Store(0)
	s.scrub.bytes.Store(0)
	s.scrub.totalFiles.Store(files)
	s.scrub.totalBytes.Store(bytes)
	s.scrub.active.Store(true)
	return nil
}

func (s *Server) storeDir(key string) string {
	if st := s.byKey[key]; st != nil {
		return st.dir
	}
	return "?" + key
}

// handleScrub serves SCRUB (77): a scrub of this node, answered with its
// report.
func (s *Server) handleScrub(c *conn, h proto.Header) (bool, error) {
	b, err := c.readBody(h)
	if err != nil {
		return false, nil
	}
	rep, err := s.Scrub(s.ctx, b[0]&proto.ScrubRepair != 0)
	if err != nil {
		return true, err
	}
	text, err := proto.EncodeText(rep.String())
	if err != nil {
		return true, err
	}
	return true, c.reply(text)
}

// Stat is the node's state as NODESTAT (78) reports it.
type Stat struct {
	Node      string
	Group     string
	SyncState string
	SyncPct   int
	Lag       int64
	Cursor    int64
	Total     int64
	Free      int64
	Health    string // write health: OK, READONLY, FULL, SICK
	// UnderReplicated counts uploads acknowledged with fewer copies than
	// the group has members.
	UnderReplicated int64
	// A scrub in progress: files and bytes checked of those it found at
	// its start. Zero when none runs.
	ScrubFiles, ScrubTotalFiles, ScrubBytes, ScrubTotalBytes int64
	LocalSocket                                              string // Config.LocalSocket when served
	// GroupCommits and GroupCommitted: the database transactions this
	// process shared among several log appends or index rows
	// (metadb.GroupTx; SQLite only) and the appends they held.
	GroupCommits, GroupCommitted int64
	// RowCacheHits and RowCacheMisses: the live reads (DOWNLOAD_LIVE,
	// LOCAL_OPEN_LIVE) answered from the row cache and not; RowCacheRows
	// the rows it holds.
	RowCacheHits, RowCacheMisses int64
	RowCacheRows                 int
	// Limbo: copies received by REPLICATE_LINKED whose row has not been
	// seen yet (limbo.go).
	Limbo int
	// Features: protocol extensions this node takes that its peers ask
	// about before using them (featureReplicateLinked).
	Features []string
}

// featureReplicateLinked: the node takes REPLICATE_LINKED (83).
const featureReplicateLinked = "replicate-linked"

// statFeature reports whether a NODESTAT text lists feature.
func statFeature(text, feature string) bool {
	return slices.Contains(strings.Fields(proto.StatField(text, "features")), feature)
}

// Stat returns the node's state.
func (s *Server) Stat() Stat {
	st, pct, lag := s.sync.stateOf()
	s.sync.mu.Lock()
	cur := s.sync.cursor
	s.sync.mu.Unlock()
	total, free := s.space()
	stat := Stat{Node: s.node, Group: s.cfg.Group, SyncState: proto.SyncName(st), SyncPct: int(pct), Lag: lag, Cursor: cur, Total: total, Free: free,
		Health: proto.HealthName(s.Health()), UnderReplicated: s.UnderReplicated()}
	stat.GroupCommits, stat.GroupCommitted = s.db.GroupStats()
	stat.RowCacheHits, stat.RowCacheMisses, stat.RowCacheRows = s.rows.stats()
	stat.Limbo = s.limbo.len()
	if !s.cfg.noLinked {
		stat.Features = []string{featureReplicateLinked}
	}
	if s.uln != nil {
		stat.LocalSocket = s.cfg.LocalSocket
	}
	if s.scrub.active.Load() {
		stat.ScrubFiles, stat.ScrubTotalFiles = s.scrub.files.Load(), s.scrub.totalFiles.Load()
		stat.ScrubBytes, stat.ScrubTotalBytes = s.scrub.bytes.Load(), s.scrub.totalBytes.Load()
	}
	return stat
}

func (st Stat) String() string {
	text := fmt.Sprintf("node %s\ngroup %s\nsyncstate %s\nsyncpct %d\nlag %d\ncursor %d\ntotal %d\nfree %d\nscrub %d %d %d %d\n",
		st.Node, st.Group, st.SyncState, st.SyncPct, st.Lag, st.Cursor, st.Total, st.Free,
		st.ScrubFiles, st.ScrubTotalFiles, st.ScrubBytes, st.ScrubTotalBytes)
	if st.LocalSocket != "" {
		text += "localsocket " + st.LocalSocket + "\n"
	}
	text += fmt.Sprintf("health %s\nunderreplicated %d\ngroupcommit %d %d\nrowcache %d %d %d\n", st.Health, st.UnderReplicated,
		st.GroupCommits, st.GroupCommitted, st.RowCacheHits, st.RowCacheMisses, st.RowCacheRows)
	text += fmt.Sprintf("limbo %d\n", st.Limbo)
	if len(st.Features) > 0 {
		text += "features " + strings.Join(st.Features, " ") + "\n"
	}
	return text
}

func (s *Server) handleStat(c *conn, h proto.Header) (bool, error) {
	text, err := proto.EncodeText(s.Stat().String())
	if err != nil {
		return true, err
	}
	return true, c.reply(text)
}
