package metadb

import "database/sql"

// Scanner is a *sql.Row or a *sql.Rows: what a function that reads one
// row takes, so that it serves QueryRow and a loop over Query alike.
type Scanner interface{ Scan(dest ...any) error }

// ScanAll reads every row with scan and closes rows. Rows are read whole
// before anything is done with them, so that the connection is back in the
// pool meanwhile (SQLite's writer pool has one).
func ScanAll[T any](rows *sql.Rows, scan func(Scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Numbered scans a row whose first column is a number (the position of
// the question it answers, in a query that answers several) into N and
// the rest into Scan's destinations. Err is the scan's own error, which a
// caller tells apart from its own verdict on the values.
type Numbered struct {
	Row Scanner
	N   int
	Err error
}

func (r *Numbered) Scan(dest ...any) error {
	r.Err = r.Row.Scan(append([]any{&r.N}, dest...)...)
	return r.Err
}
