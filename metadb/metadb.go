// Package metadb opens the metadata database named by a TNV DSN and runs
// each component's versioned migrations. One schema serves MySQL (MariaDB)
// in production and SQLite as the embedded default; the few places where
// their SQL differs are tokens that Q rewrites.
package metadb

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Dialect is the SQL flavour behind a DB.
type Dialect int

const (
	MySQL Dialect = iota + 1
	SQLite
)

func (d Dialect) String() string {
	if d == MySQL {
		return "mysql"
	}
	return "sqlite"
}

// DB is a database handle that knows its dialect.
type DB struct {
	*sql.DB
	Dialect Dialect
	// Returning: the server takes INSERT … RETURNING (SQLite; MariaDB from
	// 10.5, not MySQL), so that one statement inserts many rows and
	// hands back their generated IDs.
	Returning bool
	r         *strings.Replacer

	lazySource string // SQLite: the source of Unsynced's pool
	lazyOnce   sync.Once
	lazy       *DB
	lazyErr    error

	groupOnce sync.Once // GroupTx's committer, made at first use
	group     *grouper
}

// Open connects to a DSN of the form mysql://user:pass@host:port/db[?params]
// or sqlite:PATH. SQLite runs in WAL mode with a busy timeout and immediate
// transactions so that several processes can share one file, and syncs the
// log at every commit.
func Open(dsn string) (*DB, error) {
	driver, source, dialect, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	sdb, err := sql.Open(driver, source)
	if err != nil {
		return nil, fmt.Errorf("metadb: open %s: %w", dialect, err)
	}
	if dialect == MySQL {
		// As many idle as open: a connection given back in a burst and
		// closed costs the server a new thread, a handshake and the
		// re-preparing of every statement on the next one (seen under
		// load: a new connection every few requests). Idle ones go after
		// a minute instead.
		sdb.SetMaxOpenConns(32)
		sdb.SetMaxIdleConns(32)
		sdb.SetConnMaxIdleTime(time.Minute)
		sdb.SetConnMaxLifetime(5 * time.Minute)
	} else {
		// One writer at a time (the write gate, sqlitegate.go); the others
		// wait for it holding a connection, so readers need room beside them.
		sdb.SetMaxOpenConns(16)
		sdb.SetMaxIdleConns(16)
	}
	db := &DB{DB: sdb, Dialect: dialect, r: replacer(dialect)}
	if dialect == SQLite {
		db.lazySource = sqliteSource(sqlitePath(dsn), "NORMAL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := ping(ctx, sdb, dialect); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("metadb: connect %s: %w", redact(dsn), err)
	}
	db.Returning = dialect == SQLite
	if dialect == MySQL {
		var v string
		if err := sdb.QueryRowContext(ctx, "SELECT VERSION()").Scan(&v); err == nil {
			db.Returning = mariaDBReturning(v)
		}
	}
	return db, nil
}

// mariaDBReturning tells from a server's VERSION() whether it is MariaDB
// 10.5 or later, the first with INSERT … RETURNING.
func mariaDBReturning(version string) bool {
	if !strings.Contains(strings.ToLower(version), "mariadb") {
		return false
	}
	// Servers may prefix 5.5.5- for clients that expect MySQL 5.
	version = strings.TrimPrefix(version, "5.5.5-")
	var major, minor int
	if _, err := fmt.Sscanf(version, "%d.%d", &major, &minor); err != nil {
		return false
	}
	return major > 10 || major == 10 && minor >= 5
}

// Unsynced is a handle on the same database whose commits are not forced to
// the disk one by one: a crash of the process keeps them, a power loss may
// not. It is for records whose loss costs no acknowledged data (a storage
// node's row of a file not yet in the group log: lost, the file's bytes
// are left behind, nothing more). On SQLite it is a second pool on the
// file with synchronous NORMAL; the WAL is one append-only log, so such a
// commit is on the disk as soon as any later commit through db is. On
// MySQL, where durability is the server's setting, it is db itself.
func (db *DB) Unsynced() (*DB, error) {
	if db.lazySource == "" {
		return db, nil
	}
	db.lazyOnce.Do(func() {
		sdb, err := sql.Open(gatedDriverName, db.lazySource)
		if err != nil {
			db.lazyErr = err
			return
		}
		sdb.SetMaxOpenConns(8)
		sdb.SetMaxIdleConns(8)
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := ping(ctx, sdb, SQLite); err != nil {
			sdb.Close()
			db.lazyErr = fmt.Errorf("metadb: second connection: %w", err)
			return
		}
		db.lazy = &DB{DB: sdb, Dialect: SQLite, Returning: true, r: db.r}
	})
	return db.lazy, db.lazyErr
}

// Close closes the database and the Unsynced handle if one was opened.
func (db *DB) Close() error {
	db.lazyOnce.Do(func() {}) // none opened from here on
	if db.lazy != nil {
		db.lazy.Close()
	}
	return db.DB.Close()
}

// ping makes the first connection. On SQLite it is tried again while the
// file is locked: a new connection switches the file to WAL, which needs a
// moment alone with it, and the busy timeout does not cover that switch
// (seen: four processes opening one new file at once, one got SQLITE_BUSY).
func ping(ctx context.Context, sdb *sql.DB, d Dialect) error {
	for delay := 5 * time.Millisecond; ; delay = min(2*delay, 200*time.Millisecond) {
		err := sdb.PingContext(ctx)
		if err == nil || d != SQLite || !IsBusy(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
	}
}

func parseDSN(dsn string) (driver, source string, d Dialect, err error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		path := sqlitePath(dsn)
		if path == "" {
			return "", "", 0, fmt.Errorf("metadb: sqlite DSN needs a path: %q", dsn)
		}
		return gatedDriverName, sqliteSource(path, "FULL"), SQLite, nil
	case strings.HasPrefix(dsn, "mysql://"):
		u, err := url.Parse(dsn)
		if err != nil {
			return "", "", 0, fmt.Errorf("metadb: bad mysql DSN %s: %w", redact(dsn), err)
		}
		cfg := mysql.NewConfig()
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
		q := u.Query()
		cfg.Net = "tcp"
		cfg.Addr = u.Host
		if u.Port() == "" {
			cfg.Addr = u.Host + ":3306"
		}
		// ?socket=PATH: the server's Unix socket instead of TCP (the host
		// is then ignored). On one machine a query costs both sides less
		// CPU than over loopback TCP (docs/operations.md).
		if sock := q.Get("socket"); sock != "" {
			cfg.Net, cfg.Addr = "unix", sock
		}
		cfg.DBName = strings.TrimPrefix(u.Path, "/")
		if cfg.DBName == "" {
			return "", "", 0, fmt.Errorf("metadb: mysql DSN needs a database name: %s", redact(dsn))
		}
		cfg.ParseTime = true
		// Arguments are escaped into the statement by the driver (the SQL
		// still uses placeholders): one round trip per query instead of a
		// prepare, an execute and a close. ?interpolateParams=false turns
		// it off.
		cfg.InterpolateParams = true
		if v, ok := q["interpolateParams"]; ok {
			if cfg.InterpolateParams, err = strconv.ParseBool(v[0]); err != nil {
				return "", "", 0, fmt.Errorf("metadb: mysql DSN %s: interpolateParams %q is not true or false", redact(dsn), v[0])
			}
		}
		cfg.Params = map[string]string{}
		for k, v := range q {
			if !paramName(k) {
				return "", "", 0, fmt.Errorf("metadb: mysql DSN %s: parameter %q is not a name", redact(dsn), k)
			}
			switch k {
			case "socket", "interpolateParams":
			case "clientFoundRows":
				// Rows affected count rows changed, never rows found: an
				// upsert that found its key and changed nothing says 0,
				// which is how an object's insert tells a new key from an
				// existing one (gateway/index insertObject).
			default:
				cfg.Params[k] = v[0]
			}
		}
		cfg.ClientFoundRows = false
		src := cfg.FormatDSN()
		// A value the driver would refuse (a timeout that is no duration,
		// say) is refused here, naming the DSN, not at the first query.
		if _, err := mysql.ParseDSN(src); err != nil {
			return "", "", 0, fmt.Errorf("metadb: mysql DSN %s: %v", redact(dsn), err)
		}
		return "mysql", src, MySQL, nil
	}
	return "", "", 0, fmt.Errorf("metadb: DSN must start with mysql:// or sqlite: (got %q)", redact(dsn))
}

// paramName reports whether a DSN parameter's key is a name (letters,
// digits, '_' and '.'), as the driver's options and the server's variables
// are: others would reach the driver's source unescaped.
func paramName(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range k {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// sqliteSource is the driver's source for a database file: WAL, a busy
// timeout, immediate transactions, and sync (FULL or NORMAL). FULL: a
// commit is on the disk when it returns. NORMAL (WAL's usual companion)
// syncs the log only at checkpoints, so a power loss could take back a row
// whose PUT was answered 200 while the file's bytes, fsynced, stay behind
// with no row: only Unsynced uses it.
func sqliteSource(path, sync string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(20000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous("+sync+")")
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// sqlitePath is the file of a sqlite:PATH (or sqlite://PATH) DSN.
func sqlitePath(dsn string) string {
	return strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "//")
}

// redact hides a password in a DSN for messages and logs.
func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			return u.String()
		}
	}
	return dsn
}

// Redact is redact for callers that print DSNs.
func Redact(dsn string) string { return redact(dsn) }

// Tokens that Q rewrites per dialect:
//
//	{{AUTOID}}         an auto-increment BIGINT primary key column type
//	{{TABLE}}          table options (MySQL: InnoDB, utf8mb4, binary collation)
//	{{INSERT_IGNORE}}  INSERT that skips rows violating a unique key
//	{{BLOB}}           a binary large object column type
func replacer(d Dialect) *strings.Replacer {
	if d == MySQL {
		return strings.NewReplacer(
			"{{AUTOID}}", "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY",
			"{{TABLE}}", "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
			"{{INSERT_IGNORE}}", "INSERT IGNORE",
			"{{BLOB}}", "LONGBLOB",
		)
	}
	return strings.NewReplacer(
		"{{AUTOID}}", "INTEGER PRIMARY KEY AUTOINCREMENT",
		"{{TABLE}}", "",
		"{{INSERT_IGNORE}}", "INSERT OR IGNORE",
		"{{BLOB}}", "BLOB",
	)
}

// Q rewrites the dialect tokens in a statement.
func (db *DB) Q(query string) string { return db.r.Replace(query) }

// Now is the time unit stored in *_time columns: Unix seconds.
func Now() int64 { return time.Now().Unix() }

// List is n copies of item separated by ", ": placeholders ("?, ?, ?"),
// or the rows of a multi-row VALUES ("(?, ?), (?, ?)").
func List(item string, n int) string {
	return strings.TrimSuffix(strings.Repeat(item+", ", n), ", ")
}

// Upsert returns an INSERT of cols into table that, on a conflict over the
// unique key keys, updates the columns that are not in keys.
func (db *DB) Upsert(table string, keys, cols []string) string {
	isKey := map[string]bool{}
	for _, k := range keys {
		isKey[k] = true
	}
	ph := List("?", len(cols))
	var sets []string
	for _, c := range cols {
		if isKey[c] {
			continue
		}
		if db.Dialect == MySQL {
			sets = append(sets, c+" = VALUES("+c+")")
		} else {
			sets = append(sets, c+" = excluded."+c)
		}
	}
	q := "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES (" + ph + ")"
	if db.Dialect == MySQL {
		return q + " ON DUPLICATE KEY UPDATE " + strings.Join(sets, ", ")
	}
	return q + " ON CONFLICT(" + strings.Join(keys, ", ") + ") DO UPDATE SET " + strings.Join(sets, ", ")
}
