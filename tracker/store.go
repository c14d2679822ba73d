package tracker

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"sync"

	"github.com/tnv-s3/tnv/metadb"
)

// Component is the migration component name of the tracker's tables.
const Component = "tracker"

// t_groups_info is the set of valid group names (shared by every tracker on
// the database); t_router maps each (appid, userid) to its group, once and
// for good.
var migrations = []string{
	`CREATE TABLE IF NOT EXISTS t_groups_info (
		id {{AUTOID}},
		group_name VARCHAR(16) NOT NULL UNIQUE,
		create_time BIGINT NOT NULL,
		update_time BIGINT NOT NULL) {{TABLE}}`,
	`CREATE TABLE IF NOT EXISTS t_router (
		id {{AUTOID}},
		appid VARCHAR(16) NOT NULL,
		userid VARCHAR(256) NOT NULL,
		group_name VARCHAR(16) NOT NULL,
		create_time BIGINT NOT NULL,
		update_time BIGINT NOT NULL,
		UNIQUE (appid, userid)) {{TABLE}}`,
}

// Migrate creates or upgrades the tracker's tables.
func Migrate(ctx context.Context, db *metadb.DB) error {
	return db.Migrate(ctx, Component, migrations)
}

// groups caches t_groups_info. Names are only ever added, so a cached name
// stays valid; a name not in the cache is looked up in the database, since
// another tracker may have registered it.
type groups struct {
	db *metadb.DB
	mu sync.RWMutex
	m  map[string]bool
}

func (g *groups) has(name string) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.m[name]
}

func (g *groups) add(name string) {
	g.mu.Lock()
	g.m[name] = true
	g.mu.Unlock()
}

func (g *groups) names() []string {
	g.mu.RLock()
	out := make([]string, 0, len(g.m))
	for n := range g.m {
		out = append(out, n)
	}
	g.mu.RUnlock()
	sort.Strings(out)
	return out
}

// refresh reloads every registered name.
func (g *groups) refresh(ctx context.Context) error {
	rows, err := g.db.QueryContext(ctx, "SELECT group_name FROM t_groups_info")
	if err != nil {
		return fmt.Errorf("tracker: load groups: %w", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return fmt.Errorf("tracker: load groups: %w", err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("tracker: load groups: %w", err)
	}
	g.mu.Lock()
	for _, n := range names {
		g.m[n] = true
	}
	g.mu.Unlock()
	return nil
}

// registered reports whether name is in t_groups_info, asking the database
// when the cache does not know it.
func (g *groups) registered(ctx context.Context, name string) (bool, error) {
	if g.has(name) {
		return true, nil
	}
	var one int
	err := g.db.QueryRowContext(ctx, "SELECT 1 FROM t_groups_info WHERE group_name = ?", name).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("tracker: look up group %s: %w", name, err)
	}
	g.add(name)
	return true, nil
}

// register adds name to t_groups_info unless it is there; it reports whether
// this call added it.
func (g *groups) register(ctx context.Context, name string) (bool, error) {
	if g.has(name) {
		return false, nil
	}
	now := metadb.Now()
	res, err := g.db.ExecContext(ctx, g.db.Q(
		"{{INSERT_IGNORE}} INTO t_groups_info (group_name, create_time, update_time) VALUES (?, ?, ?)"), name, now, now)
	if err != nil {
		return false, fmt.Errorf("tracker: register group %s: %w", name, err)
	}
	n, _ := res.RowsAffected()
	g.add(name)
	return n > 0, nil
}

// RegisterGroup adds a group name to t_groups_info (for operators and tests
// of a tracker that admits registered groups only).
func RegisterGroup(ctx context.Context, db *metadb.DB, name string) error {
	g := &groups{db: db, m: map[string]bool{}}
	_, err := g.register(ctx, name)
	return err
}

type userKey struct{ appid, userid string }

// router is t_router with a bounded cache. A user's group never changes once
// written, so cached entries need no invalidation.
type router struct {
	db  *metadb.DB
	max int
	mu  sync.RWMutex
	m   map[userKey]string
}

func (r *router) cached(k userKey) (string, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	g, ok := r.m[k]
	return g, ok
}

func (r *router) remember(k userKey, group string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.m) >= r.max {
		// Dropping entries costs a SELECT each later, nothing more.
		n := 0
		for key := range r.m {
			delete(r.m, key)
			if n++; n >= r.max/4+1 {
				break
			}
		}
	}
	r.m[k] = group
}

// lookup returns the user's group from the database, "" if none.
func (r *router) lookup(ctx context.Context, k userKey) (string, error) {
	var g string
	err := r.db.QueryRowContext(ctx, "SELECT group_name FROM t_router WHERE appid = ? AND userid = ?", k.appid, k.userid).Scan(&g)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("tracker: router lookup: %w", err)
	}
	return g, nil
}

// assign writes group for the user unless a row exists, and returns the row
// that is there afterwards: when trackers race, the first insert wins and
// every one of them answers with it.
func (r *router) assign(ctx context.Context, k userKey, group string) (string, error) {
	now := metadb.Now()
	if _, err := r.db.ExecContext(ctx, r.db.Q(
		"{{INSERT_IGNORE}} INTO t_router (appid, userid, group_name, create_time, update_time) VALUES (?, ?, ?, ?, ?)"),
		k.appid, k.userid, group, now, now); err != nil {
		return "", fmt.Errorf("tracker: router insert: %w", err)
	}
	g, err := r.lookup(ctx, k)
	if err == nil && g == "" {
		err = errors.New("tracker: router row missing after insert")
	}
	return g, err
}

// chooseGroup picks a new user's group: among groups with a readable node
// that takes uploads (else, among groups with a readable node), the one
// with the most free space (unknown counts as 0); ties are broken by a hash
// of the user so that users spread over equal groups.
func chooseGroup(caps map[string]*groupCap, k userKey) string {
	if g := chooseAmong(caps, k, func(g *groupCap) bool { return g.writable > 0 }); g != "" {
		return g
	}
	// No group takes uploads now: place the user anyway (reads work, and
	// the group's nodes take uploads again when their disks do).
	return chooseAmong(caps, k, func(g *groupCap) bool { return g.readable > 0 })
}

func chooseAmong(caps map[string]*groupCap, k userKey, ok func(*groupCap) bool) string {
	var best []string
	var bestFree int64 = -1
	for name, g := range caps {
		if !ok(g) {
			continue
		}
		switch {
		case g.free > bestFree:
			best, bestFree = []string{name}, g.free
		case g.free == bestFree:
			best = append(best, name)
		}
	}
	if len(best) == 0 {
		return ""
	}
	sort.Strings(best)
	h := fnv.New32a()
	h.Write([]byte(k.appid))
	h.Write([]byte{0})
	h.Write([]byte(k.userid))
	return best[h.Sum32()%uint32(len(best))]
}
