package engram

import (
	"context"
	"fmt"
	"time"

	"github.com/engram-go/engram/internal/codec"
	bolt "go.etcd.io/bbolt"
)

// Forget removes the memories with the given IDs from disk and from the index, in one
// transaction, and returns how many existed. Unknown IDs are not an error.
func (sp *Space) Forget(ctx context.Context, ids ...string) (n int, err error) {
	const op = OpForget
	done, err := sp.enter(op)
	if err != nil {
		return 0, err
	}
	defer done()
	defer sp.measure(op, len(ids), time.Now(), &err)
	if len(ids) > sp.store.limit.MaxBatch {
		return 0, newErr(CodeBatchTooLarge, op, sp.name, fmt.Sprintf("%d ids exceed the limit %d", len(ids), sp.store.limit.MaxBatch), nil)
	}
	for i, id := range ids {
		if err := sp.store.checkID(id); err != nil {
			return 0, &Error{Code: CodeInvalidID, Op: op, Space: sp.name, Item: i, Msg: err.Error()}
		}
	}
	if sp.store.opts.readOnly {
		return 0, newErr(CodeReadOnly, op, sp.name, "", nil)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	var c tierChange
	req := &writeReq{ctx: ctx}
	req.write = func(tx *bolt.Tx) error {
		c = tierChange{} // the transaction may rerun
		n = 0
		b, err := sp.buckets(tx)
		if err != nil {
			return err
		}
		for _, id := range ids {
			key := b.keyOf(id)
			if key == nil {
				continue
			}
			seq, err := codec.KeySeq(key)
			if err != nil {
				return newErr(CodeCorrupt, op, sp.name, "id map of "+id, err)
			}
			rec := b.recs.Get(key)
			if rec == nil { // a dangling map entry: clean it; there is nothing to forget
				if err := b.ids.Delete([]byte(id)); err != nil {
					return err
				}
				continue
			}
			if got := codec.PeekID(rec); got != nil && string(got) != id {
				// The map is not checksummed: an entry that leads to another memory is
				// damage, and deleting that memory would be a second one.
				return newErr(CodeCorrupt, op, sp.name, fmt.Sprintf("the ID map leads %q to the record of %q", id, got), nil)
			}
			var view *codec.View
			if v, err := codec.Parse(rec); err == nil { // a damaged record has no postings
				view = &v
			}
			if err := sp.removeRecord(b, &c, seq, key, rec, id, view); err != nil {
				return err
			}
			n++
		}
		return nil
	}
	if err := sp.commitAndApply(req, func() { sp.applyChange(&c) }); err != nil {
		return 0, writeErr(ctx, op, sp.name, err)
	}
	return n, nil
}

// remove deletes the memory at key, with ID id, and everything kept about it.
func (b spaceTx) remove(key []byte, id string) error {
	if err := b.recs.Delete(key); err != nil {
		return err
	}
	if err := b.tiers.Delete(key); err != nil {
		return err
	}
	if err := b.ids.Delete([]byte(id)); err != nil {
		return err
	}
	return b.access.Delete([]byte(id))
}

// removeRecord deletes the record of seq (stored under key as rec, for the memory id; view
// is its parsed form, nil when it does not parse) inside a write transaction, and notes in c
// what leaves memory when the transaction is applied: its tier's index entry and its
// postings. Every way a memory goes — Forget, ForgetWhere, expiry — goes through here.
func (sp *Space) removeRecord(b spaceTx, c *tierChange, seq uint64, key, rec []byte, id string, view *codec.View) error {
	t := b.tierOf(key, rec)
	if view != nil {
		c.postDel = append(c.postDel, docOf(seq, view)) // copied: the page goes with the delete
	}
	if err := b.remove(key, id); err != nil {
		return err
	}
	// Inside the transaction, so no access flush (also a write transaction) is iterating
	// the tracker's maps meanwhile.
	sp.access.forget(seq)
	c.drop(seq, t)
	return nil
}
