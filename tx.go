package engram

import (
	"context"
	"runtime/debug"

	bolt "go.etcd.io/bbolt"
)

// updateTx runs fn in a bbolt write transaction and commits it, with bbolt's panics on a
// damaged file turned into CORRUPT (recoverCorrupt). It is the store's commitEnv.update:
// every write transaction of the store goes through s.commit.env.update, grouped or not,
// so a test can wrap it to inject commit failures. members is the number of grouped
// requests sharing the transaction (1 for the others).
func (s *Store) updateTx(members int, fn func(*bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer recoverCorrupt(&err)
	return s.db.Update(fn)
}

// update runs fn in a write transaction of its own, outside group commit (the writes that
// bypass it are listed on type committer). After fn it checks ctx one last time: a call
// canceled before its commit leaves no trace, one canceled after it stands. Internal
// writes that must not be abandoned pass context.Background().
func (s *Store) update(ctx context.Context, fn func(*bolt.Tx) error) error {
	return s.commit.env.update(1, func(tx *bolt.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return ctx.Err()
	})
}

// view runs fn in a read transaction, with bbolt's panics on a damaged file turned into
// CORRUPT.
func (s *Store) view(fn func(*bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer recoverCorrupt(&err)
	return s.db.View(fn)
}
