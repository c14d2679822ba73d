package index

import (
	"context"
	"database/sql"
)

// A Committer runs fn in a transaction of the index's database that also
// commits something of its own, and returns once that transaction has
// committed (fn's error, or the commit's, otherwise). tnv.Staged.Commit is
// one: a storage node's group log commit of a blob, run with the blob's
// index row (gateway/staged.go).
type Committer func(fn func(tx *sql.Tx) error) error

type committerKey struct{}

// WithCommitter makes PutObject under ctx write its row through c instead
// of a transaction of its own. Only the SQL index honours it, and c's
// transaction must be one of the index's database.
func WithCommitter(ctx context.Context, c Committer) context.Context {
	return context.WithValue(ctx, committerKey{}, c)
}

func committerOf(ctx context.Context) Committer {
	c, _ := ctx.Value(committerKey{}).(Committer)
	return c
}
