package metadb

import (
	"context"
	"database/sql"
	"fmt"
)

// Migrate brings component's tables to the last of steps. Step i (from 1) is
// applied once; the applied version is kept per component in tnv_schema, so
// re-running is a no-op and components sharing a database never collide.
// Concurrent starters serialise on a lock (GET_LOCK on MySQL, an immediate
// transaction on SQLite).
func (db *DB) Migrate(ctx context.Context, component string, steps []string) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("metadb: migrate %s: %w", component, err)
	}
	defer conn.Close()
	if db.Dialect == MySQL {
		var got sql.NullInt64
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK('tnv_migrate', 60)").Scan(&got); err != nil || got.Int64 != 1 {
			return fmt.Errorf("metadb: migrate %s: lock: %v", component, err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK('tnv_migrate')")
	} else {
		if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
			return fmt.Errorf("metadb: migrate %s: lock: %w", component, err)
		}
		committed := false
		defer func() {
			if !committed {
				conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
			}
		}()
		if err := db.migrate(ctx, conn, component, steps); err != nil {
			return err
		}
		if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
			return fmt.Errorf("metadb: migrate %s: commit: %w", component, err)
		}
		committed = true
		return nil
	}
	return db.migrate(ctx, conn, component, steps)
}

func (db *DB) migrate(ctx context.Context, conn *sql.Conn, component string, steps []string) error {
	if _, err := conn.ExecContext(ctx, db.Q(`CREATE TABLE IF NOT EXISTS tnv_schema (
		component VARCHAR(64) NOT NULL PRIMARY KEY,
		version INT NOT NULL,
		update_time BIGINT NOT NULL) {{TABLE}}`)); err != nil {
		return fmt.Errorf("metadb: migrate %s: %w", component, err)
	}
	var have int
	err := conn.QueryRowContext(ctx, "SELECT version FROM tnv_schema WHERE component = ?", component).Scan(&have)
	if err != nil && err != sql.ErrNoRows {
		return fmt.Errorf("metadb: migrate %s: %w", component, err)
	}
	if have > len(steps) {
		return fmt.Errorf("metadb: %s schema is at version %d, newer than this binary (%d)", component, have, len(steps))
	}
	for i := have; i < len(steps); i++ {
		if _, err := conn.ExecContext(ctx, db.Q(steps[i])); err != nil {
			return fmt.Errorf("metadb: migrate %s to version %d: %w", component, i+1, err)
		}
		// MySQL commits DDL at once; the version row follows each step so
		// that a crash between steps resumes at the right one.
		if _, err := conn.ExecContext(ctx,
			db.Upsert("tnv_schema", []string{"component"}, []string{"component", "version", "update_time"}), component, i+1, Now()); err != nil {
			return fmt.Errorf("metadb: migrate %s: record version: %w", component, err)
		}
	}
	return nil
}
