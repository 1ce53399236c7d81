package engram

import (
	"context"
	"fmt"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// Checkpoints are small named values an application keeps beside a space's memories:
// how far an import got, when a space was last synced elsewhere. They live in the
// space's file (bucket <space>/checkpoints), so they are as durable as the memories, go
// into backups with them, and go away when the space is dropped.

// maxCheckpointName bounds a checkpoint's name, in bytes.
const maxCheckpointName = 256

// Checkpoint returns the value stored under name by SetCheckpoint, or nil when there is
// none. The result is the caller's to keep.
func (sp *Space) Checkpoint(ctx context.Context, name string) ([]byte, error) {
	const op = OpCheckpoint
	done, err := sp.enter(op)
	if err != nil {
		return nil, err
	}
	defer done()
	if err := checkCheckpointName(name); err != nil {
		return nil, newErr(CodeInvalidOption, op, sp.name, err.Error(), nil)
	}
	if err := ctx.Err(); err != nil {
		return nil, ctxErr(op, sp.name, err)
	}
	var val []byte
	err = sp.store.view(func(tx *bolt.Tx) error {
		if _, err := sp.buckets(tx); err != nil {
			return err
		}
		if b := tx.Bucket(sp.names.checkpoints); b != nil {
			if v := b.Get([]byte(name)); v != nil {
				val = append([]byte{}, v...)
			}
		}
		return nil
	})
	if err != nil {
		return nil, storageErr(op, sp.name, err)
	}
	return val, nil
}

// SetCheckpoint stores value under name, replacing what was there (a nil value deletes
// it), and returns once it is durable: it shares group commit with the space's writes,
// so a checkpoint written after a batch's BatchRemember returned is never on disk without
// that batch. Values are at most Limits.MaxContentBytes.
func (sp *Space) SetCheckpoint(ctx context.Context, name string, value []byte) error {
	const op = OpCheckpoint
	done, err := sp.enter(op)
	if err != nil {
		return err
	}
	defer done()
	if err := checkCheckpointName(name); err != nil {
		return newErr(CodeInvalidOption, op, sp.name, err.Error(), nil)
	}
	if len(value) > sp.store.limit.MaxContentBytes {
		return newErr(CodeContentTooLarge, op, sp.name, fmt.Sprintf("checkpoint of %d bytes exceeds the limit %d", len(value), sp.store.limit.MaxContentBytes), nil)
	}
	if sp.store.opts.readOnly {
		return newErr(CodeReadOnly, op, sp.name, "", nil)
	}
	req := &writeReq{ctx: ctx, write: func(tx *bolt.Tx) error {
		if _, err := sp.buckets(tx); err != nil {
			return err
		}
		if value == nil {
			if b := tx.Bucket(sp.names.checkpoints); b != nil {
				return b.Delete([]byte(name))
			}
			return nil
		}
		b, err := tx.CreateBucketIfNotExists(sp.names.checkpoints) // stores older than checkpoints
		if err != nil {
			return err
		}
		return b.Put([]byte(name), value)
	}}
	// No turn: a checkpoint changes nothing in memory, so it needs no apply step.
	if err := sp.store.commit.submit(req); err != nil {
		return writeErr(ctx, op, sp.name, err)
	}
	return nil
}

func checkCheckpointName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty checkpoint name")
	case len(name) > maxCheckpointName:
		return fmt.Errorf("checkpoint name of %d bytes exceeds %d", len(name), maxCheckpointName)
	case !utf8.ValidString(name):
		return fmt.Errorf("checkpoint name is not valid UTF-8")
	}
	return nil
}
