package idserver

import (
	"context"
	"errors"
	"fmt"

	"github.com/tnv-s3/tnv/metadb"
)

// Component is the migration component name of the ID server's tables.
const Component = "idserver"

// t_id_gen holds, per key, the highest ID reserved so far by any ID server.
// A server owns the block (id_value - step, id_value] that its reservation
// returned, so blocks never overlap whatever the number of servers and
// restarts; what a server does not hand out before it stops is skipped.
var migrations = []string{
	`CREATE TABLE IF NOT EXISTS t_id_gen (
		id_key VARCHAR(64) NOT NULL PRIMARY KEY,
		id_value BIGINT NOT NULL,
		create_time BIGINT NOT NULL,
		update_time BIGINT NOT NULL) {{TABLE}}`,
}

// Migrate creates or upgrades the ID server's tables.
func Migrate(ctx context.Context, db *metadb.DB) error {
	return db.Migrate(ctx, Component, migrations)
}

var errExhausted = errors.New("idserver: ID space of key exhausted")

// reserve moves the key's counter on by step in one atomic statement and
// returns the new value v: the caller owns (v-step, v]. now stamps the row.
//
// MySQL: the upsert stores the new value through LAST_INSERT_ID(expr), which
// the server reports back in the OK packet for this statement on this
// connection, so no second statement (and no lock held between two) is
// needed. SQLite: ON CONFLICT DO UPDATE … RETURNING, one statement in a
// write transaction of its own.
func reserve(ctx context.Context, db *metadb.DB, key string, step, now int64) (int64, error) {
	var v int64
	if db.Dialect == metadb.MySQL {
		res, err := db.ExecContext(ctx,
			`INSERT INTO t_id_gen (id_key, id_value, create_time, update_time) VALUES (?, LAST_INSERT_ID(?), ?, ?)
			 ON DUPLICATE KEY UPDATE id_value = LAST_INSERT_ID(id_value + ?), update_time = VALUES(update_time)`,
			key, step, now, now, step)
		if err != nil {
			return 0, fmt.Errorf("idserver: reserve %q: %w", key, err)
		}
		if v, err = res.LastInsertId(); err != nil {
			return 0, fmt.Errorf("idserver: reserve %q: %w", key, err)
		}
	} else {
		err := db.QueryRowContext(ctx,
			`INSERT INTO t_id_gen (id_key, id_value, create_time, update_time) VALUES (?, ?, ?, ?)
			 ON CONFLICT(id_key) DO UPDATE SET id_value = id_value + excluded.id_value, update_time = excluded.update_time
			 RETURNING id_value`,
			key, step, now, now).Scan(&v)
		if err != nil {
			return 0, fmt.Errorf("idserver: reserve %q: %w", key, err)
		}
	}
	if v < step {
		// The counter wrapped (or someone edited the row): refuse rather
		// than hand out an ID that may have been used.
		return 0, fmt.Errorf("%w: %q at %d", errExhausted, key, v)
	}
	return v, nil
}
