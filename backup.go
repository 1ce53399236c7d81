package engram

import (
	"context"
	"errors"
	"io"

	bolt "go.etcd.io/bbolt"
)

// Hot backup. A backup is the store file as of one committed transaction, copied page by
// page inside a bbolt read transaction (Tx.WriteTo): readers and writers go on meanwhile,
// the copy holds every write committed before the backup's transaction began and nothing
// of any later one (each write call is one transaction, so never half of a batch). Before
// copying, pending access statistics are flushed and the graph index of every space whose
// graph changed is snapshotted, so that the copy opens as fast as a cleanly closed store:
// its graphs load from their snapshots (reconciled with any records committed after them)
// instead of being rebuilt.

// Backup writes a consistent copy of the whole store to w while the store keeps serving
// reads and writes, and returns the number of bytes written. The copy is a complete store
// file: save it under any name and Open it (check it with Store.Check first, as `engram
// restore` does).
//
// The copy holds every write acknowledged before Backup was called, and of writes that
// commit while it runs either all or nothing. Before copying, Backup flushes pending
// access statistics and saves the graph index of every space whose graph changed (see
// Space.Snapshot); a read-only store is copied as it is on disk.
//
// ctx bounds the whole backup: when it ends, Backup stops between two writes to w and
// returns CANCELED or DEADLINE_EXCEEDED, and what was written so far is not a usable copy
// and must be discarded. A failing w gives STORAGE wrapping w's error. Close waits for a
// Backup in progress (cancel its ctx to end it sooner); after Close, Backup fails with
// CLOSED.
//
// Cost: the copy is the file's size (free pages included), written sequentially. While it
// runs the file cannot shrink and pages freed by concurrent writes are not reused, so the
// file may grow by what those writes touch; a write that must grow the file's memory map
// waits for the copy to end (bbolt remaps only between read transactions;
// WithInitialMmapSize avoids most remaps).
func (s *Store) Backup(ctx context.Context, w io.Writer) (int64, error) {
	const op = OpBackup
	if !s.gate.enter() {
		return 0, newErr(CodeClosed, op, "", "", nil)
	}
	defer s.gate.exit()
	if err := ctx.Err(); err != nil {
		return 0, ctxErr(op, "", err)
	}
	if !s.opts.readOnly {
		if err := s.flushAccess(); err != nil {
			return 0, withOp(err, op)
		}
		for _, sp := range s.spaceList() {
			err := sp.Snapshot(ctx)
			switch {
			case err == nil, CodeOf(err) == CodeSpaceNotFound: // dropped meanwhile: not in the copy
			case ctx.Err() != nil:
				return 0, ctxErr(op, sp.name, ctx.Err())
			default:
				return 0, withOp(err, op)
			}
		}
	}
	var n int64
	cw := &ctxWriter{ctx: ctx, w: w}
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(cw)
		return err
	})
	switch {
	case err == nil:
		return n, nil
	case cw.ctxErr != nil:
		return n, ctxErr(op, "", cw.ctxErr)
	case cw.err != nil:
		return n, newErr(CodeStorage, op, "", "writing the copy", cw.err)
	}
	return n, storageErr(op, "", err) // reading the store file
}

// ctxWriter passes writes to w until ctx ends, and remembers why it stopped: w's error or
// ctx's (bbolt's WriteTo reformats the errors it returns).
type ctxWriter struct {
	ctx    context.Context
	w      io.Writer
	ctxErr error
	err    error
}

func (c *ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		c.ctxErr = err
		return 0, err
	}
	n, err := c.w.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		c.err = err
	}
	return n, err
}

// withOp returns err with its operation set to op when it is an engram error: a step of
// a larger call reports the call.
func withOp(err error, op Op) error {
	var e *Error
	if !errors.As(err, &e) {
		return newErr(CodeStorage, op, "", "", err)
	}
	c := *e
	c.Op = op
	return &c
}
