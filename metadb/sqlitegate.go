package metadb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
)

// The write gate. SQLite lets one connection write at a time; another
// that wants to is refused (SQLITE_BUSY) and its busy handler sleeps and
// tries again, 1, 2, 5, 10, 15, 20, 25 … ms apart. Under concurrent small
// PUTs in `tnv up` (the storage nodes' rows, the ID server's blocks, the
// gateway's intents and the group commits all write one file) goroutines
// slept there for tens of milliseconds while the lock had long been free:
// the phase timers showed 7 ms for an ID at c = 32, goroutine dumps the
// busy handler. So the connections this process opens on a file queue for
// it here, in Go, first come first served, and a writer starts the moment
// the one before it ends. Another process on the same file (an admin
// command beside `tnv up`) still meets SQLite's lock and its busy timeout.
//
// What takes the gate, for as long as SQLite's write lock would be held:
// a transaction (immediate: it takes the write lock at BEGIN) from BEGIN to
// COMMIT or ROLLBACK, and outside a transaction each statement that is not
// a SELECT, until its rows are closed (RETURNING). Reads outside a
// transaction do not: WAL readers never wait for the writer.
//
// A caller waiting for the gate gives up when its context ends or after
// the busy timeout (a writer that waits for itself — a statement on the
// pool inside its own transaction — fails as SQLite would have failed it).

const gatedDriverName = "tnv-sqlite"

func init() { sql.Register(gatedDriverName, gatedDriver{}) }

// gateWait bounds a wait for the gate: the busy_timeout of sqliteSource.
const gateWait = 20 * time.Second

// errGateBusy is what a writer gets when the gate stayed shut for
// gateWait; IsBusy recognises it as SQLite's own busy error.
var errGateBusy = errors.New("database is locked (SQLITE_BUSY: waited for this process's writer)")

type gate chan struct{}

var (
	gatesMu sync.Mutex
	gates   = map[string]gate{}
)

// gateOf is the gate of the database file a driver source names: every
// pool of this process on that file (Open's and Unsynced's) shares it.
func gateOf(source string) gate {
	path, _, _ := strings.Cut(strings.TrimPrefix(source, "file:"), "?")
	gatesMu.Lock()
	defer gatesMu.Unlock()
	g := gates[path]
	if g == nil {
		g = make(gate, 1)
		gates[path] = g
	}
	return g
}

func (g gate) enter(ctx context.Context) error {
	select {
	case g <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(gateWait)
	defer t.Stop()
	select {
	case g <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return errGateBusy
	}
}

func (g gate) leave() { <-g }

type gatedDriver struct{}

func (gatedDriver) Open(name string) (driver.Conn, error) {
	c, err := (&sqlite.Driver{}).Open(name)
	if err != nil {
		return nil, err
	}
	ic, ok := c.(innerConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("metadb: the sqlite driver's connection (%T) lacks an interface the write gate needs", c)
	}
	return &gatedConn{inner: ic, gate: gateOf(name)}, nil
}

// innerConn is what modernc.org/sqlite's connection offers database/sql.
type innerConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

type gatedConn struct {
	inner innerConn
	gate  gate
	held  bool // this connection holds the gate (a transaction is open)
}

// release lets go of the gate this connection holds, if it does.
func (c *gatedConn) release() {
	if c.held {
		c.held = false
		c.gate.leave()
	}
}

// writes says whether a statement outside a transaction takes the gate.
func writes(query string) bool {
	q := strings.TrimLeft(query, " \t\r\n(")
	return !hasPrefixFold(q, "SELECT")
}

// txControl classifies BEGIN, COMMIT/END and ROLLBACK run as statements
// (Migrate's BEGIN IMMEDIATE on one connection).
func txControl(query string) (begin, end bool) {
	q := strings.TrimLeft(query, " \t\r\n")
	switch {
	case hasPrefixFold(q, "BEGIN"):
		return true, false
	case hasPrefixFold(q, "COMMIT"), hasPrefixFold(q, "END"):
		return false, true
	case hasPrefixFold(q, "ROLLBACK") && !strings.Contains(strings.ToUpper(q), " TO "):
		return false, true
	}
	return false, false
}

func hasPrefixFold(s, p string) bool {
	return len(s) >= len(p) && strings.EqualFold(s[:len(p)], p)
}

func (c *gatedConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *gatedConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	s, err := c.inner.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	is, ok := s.(innerStmt)
	if !ok {
		s.Close()
		return nil, fmt.Errorf("metadb: the sqlite driver's statement (%T) lacks an interface the write gate needs", s)
	}
	return &gatedStmt{inner: is, c: c, write: writes(query)}, nil
}

func (c *gatedConn) Close() error {
	c.release()
	return c.inner.Close()
}

func (c *gatedConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *gatedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if err := c.gate.enter(ctx); err != nil {
		return nil, err
	}
	tx, err := c.inner.BeginTx(ctx, opts)
	if err != nil {
		c.gate.leave()
		return nil, err
	}
	c.held = true
	return &gatedTx{inner: tx, c: c}, nil
}

// around runs one statement outside a transaction under the gate when it
// writes, and keeps track of BEGIN/COMMIT run as statements.
func (c *gatedConn) around(ctx context.Context, query string, run func() error) error {
	if c.held {
		err := run()
		if _, end := txControl(query); end && err == nil {
			c.release()
		}
		return err
	}
	if !writes(query) {
		return run()
	}
	if err := c.gate.enter(ctx); err != nil {
		return err
	}
	err := run()
	if begin, _ := txControl(query); begin && err == nil {
		c.held = true // until its COMMIT or ROLLBACK
		return nil
	}
	c.gate.leave()
	return err
}

func (c *gatedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (r driver.Result, err error) {
	err = c.around(ctx, query, func() (err error) {
		r, err = c.inner.ExecContext(ctx, query, args)
		return err
	})
	return r, err
}

func (c *gatedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	run := func() (driver.Rows, error) { return c.inner.QueryContext(ctx, query, args) }
	if c.held || !writes(query) {
		return run()
	}
	return c.gate.query(ctx, run)
}

func (c *gatedConn) Ping(ctx context.Context) error         { return c.inner.Ping(ctx) }
func (c *gatedConn) ResetSession(ctx context.Context) error { return c.inner.ResetSession(ctx) }
func (c *gatedConn) IsValid() bool                          { return c.inner.IsValid() }

type gatedTx struct {
	inner driver.Tx
	c     *gatedConn
}

func (t *gatedTx) Commit() error   { return t.end(t.inner.Commit()) }
func (t *gatedTx) Rollback() error { return t.end(t.inner.Rollback()) }

func (t *gatedTx) end(err error) error {
	t.c.release()
	return err
}

type gatedStmt struct {
	inner innerStmt
	c     *gatedConn
	write bool
}

type innerStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

func (s *gatedStmt) Close() error  { return s.inner.Close() }
func (s *gatedStmt) NumInput() int { return s.inner.NumInput() }

func (s *gatedStmt) Exec(args []driver.Value) (driver.Result, error) {
	return nil, errors.New("metadb: Stmt.Exec without a context")
}

func (s *gatedStmt) Query(args []driver.Value) (driver.Rows, error) {
	return nil, errors.New("metadb: Stmt.Query without a context")
}

func (s *gatedStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	if s.c.held || !s.write {
		return s.inner.ExecContext(ctx, args)
	}
	if err := s.c.gate.enter(ctx); err != nil {
		return nil, err
	}
	defer s.c.gate.leave()
	return s.inner.ExecContext(ctx, args)
}

func (s *gatedStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	run := func() (driver.Rows, error) { return s.inner.QueryContext(ctx, args) }
	if s.c.held || !s.write {
		return run()
	}
	return s.c.gate.query(ctx, run)
}

// query runs a writing query under the gate, which its rows hold until
// they are closed.
func (g gate) query(ctx context.Context, run func() (driver.Rows, error)) (driver.Rows, error) {
	if err := g.enter(ctx); err != nil {
		return nil, err
	}
	rows, err := run()
	if err != nil {
		g.leave()
		return nil, err
	}
	return &gatedRows{Rows: rows, gate: g}, nil
}

// gatedRows holds the gate until the rows of a writing query (RETURNING)
// are closed: SQLite keeps the write lock until the statement is reset.
type gatedRows struct {
	driver.Rows
	gate gate
	once sync.Once
}

func (r *gatedRows) Close() error {
	err := r.Rows.Close()
	r.once.Do(r.gate.leave)
	return err
}
