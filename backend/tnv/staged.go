package tnv

import (
	"database/sql"
	"errors"
	"sync/atomic"
)

// StagingNode is a storage node in this process that takes UPLOAD_STAGED
// (storagenode.Server started with Config.Staging): an upload's group log
// commit is left to the client, which runs it in one transaction with its
// own statements on the node's database (tnv up's gateway: the object's
// index row). docs/protocol.md, UPLOAD_STAGED.
type StagingNode interface {
	LocalNode
	// StagingDB is the database the node commits to when it stages
	// uploads, nil when it does not.
	StagingDB() *sql.DB
	CommitStaged(token uint64, with func(tx *sql.Tx) error) error
	AbandonStaged(token uint64)
}

// ErrStagedDone is Commit's answer for a Staged committed or abandoned
// already.
var ErrStagedDone = errors.New("tnv: staged upload committed or abandoned already")

// Staged is an upload whose group log commit waits for its client
// (UploadStaged): the file is readable once Commit succeeds, and removed
// after Abandon or when the node stops waiting.
type Staged struct {
	node  StagingNode
	token uint64
	done  atomic.Bool
}

// Commit commits the upload and with(tx) in one transaction of the node's
// database. If with fails, the upload is committed alone and with's error
// returned; if the upload's part fails, nothing is committed, the file is
// removed and that error returned.
func (s *Staged) Commit(with func(tx *sql.Tx) error) error {
	if !s.done.CompareAndSwap(false, true) {
		return ErrStagedDone
	}
	return s.node.CommitStaged(s.token, with)
}

// DB is the database whose transaction Commit runs with's statements in.
func (s *Staged) DB() *sql.DB { return s.node.StagingDB() }

// Abandon gives the upload up unless it was committed: the node removes
// the file. Safe to call more than once and after Commit.
func (s *Staged) Abandon() {
	if s != nil && s.done.CompareAndSwap(false, true) {
		s.node.AbandonStaged(s.token)
	}
}

// stagingNode is the node at addr when staging is wanted and the node is
// in this process and stages uploads; else nil.
func (c *Client) stagingNode(addr string, staging bool) StagingNode {
	if !staging || c.cfg.Local == nil {
		return nil
	}
	if n, ok := c.cfg.Local(addr).(StagingNode); ok && n.StagingDB() != nil {
		return n
	}
	return nil
}
