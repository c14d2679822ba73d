package metadb

import (
	"errors"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// MySQL server error numbers the callers branch on.
const (
	mysqlDuplicate    = 1062 // ER_DUP_ENTRY
	mysqlLockWaitTime = 1205 // ER_LOCK_WAIT_TIMEOUT
	mysqlDeadlock     = 1213 // ER_LOCK_DEADLOCK
)

func mysqlNumber(err error) (uint16, bool) {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number, true
	}
	return 0, false
}

// IsBusy reports whether err is SQLite's "database is locked": another
// connection holds the file; the same statement may succeed later.
func IsBusy(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "SQLITE_BUSY") || strings.Contains(s, "database is locked")
}

// IsRetryable reports whether err means the database gave up on a
// transaction that may succeed if run again from the start: a MySQL
// deadlock (1213, the transaction was rolled back), a lock wait timeout
// (1205), or SQLite busy.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	if n, ok := mysqlNumber(err); ok {
		return n == mysqlDeadlock || n == mysqlLockWaitTime
	}
	return IsBusy(err)
}

// IsDuplicate reports whether err is a unique-key violation.
func IsDuplicate(err error) bool {
	if err == nil {
		return false
	}
	if n, ok := mysqlNumber(err); ok {
		return n == mysqlDuplicate
	}
	s := err.Error()
	return strings.Contains(s, "UNIQUE constraint failed") || strings.Contains(s, "PRIMARY KEY constraint failed") ||
		strings.Contains(s, "constraint failed: UNIQUE")
}
