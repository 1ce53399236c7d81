package engram

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"iter"
	"time"

	"github.com/engram-go/engram/internal/codec"
	"github.com/engram-go/engram/tier"
	bolt "go.etcd.io/bbolt"
)

// Get returns the memory with the given ID, or NOT_FOUND (also for an expired memory). Get
// does not count as an access.
func (sp *Space) Get(ctx context.Context, id string) (m Memory, err error) {
	const op = OpGet
	done, err := sp.enter(op)
	if err != nil {
		return Memory{}, err
	}
	defer done()
	defer sp.measure(OpGet, 1, time.Now(), &err)
	if err := sp.store.checkID(id); err != nil {
		return Memory{}, &Error{Code: CodeInvalidID, Op: op, Space: sp.name, Item: -1, Msg: err.Error()}
	}
	if err := ctx.Err(); err != nil {
		return Memory{}, ctxErr(op, sp.name, err)
	}
	err = sp.store.view(func(tx *bolt.Tx) error {
		b, err := sp.buckets(tx)
		if err != nil {
			return err
		}
		seq := b.keyOf(id)
		if seq == nil {
			return &Error{Code: CodeNotFound, Op: op, Space: sp.name, ID: id, Item: -1}
		}
		m, err = sp.readMemory(b, seq, id)
		if err == nil && !m.ExpiresAt.IsZero() && !m.ExpiresAt.After(time.Now()) {
			return &Error{Code: CodeNotFound, Op: op, Space: sp.name, ID: id, Item: -1, Msg: "the memory has expired"}
		}
		if err == nil && m.Tier != tier.Hot && sp.tiering != nil && sp.tiering.policy.Promote.OnGet() {
			s, _ := codec.KeySeq(seq)
			sp.tiering.touch(nil, []uint64{s}, time.Now().UnixNano())
			sp.store.wakeMigrator()
		}
		return err
	})
	if err != nil {
		return Memory{}, storageErr(op, sp.name, err)
	}
	return m, nil
}

// buckets returns the space's buckets in tx, or SPACE_NOT_FOUND if it was dropped. In a
// space an audit found damaged (audit.go), lookups by ID go through the map rebuilt from
// the records, and a write transaction is refused with CORRUPT until Store.Repair.
func (sp *Space) buckets(tx *bolt.Tx) (spaceTx, error) {
	b, ok := openSpaceTx(tx, &sp.names)
	if !ok {
		return b, newErr(CodeSpaceNotFound, opNone, sp.name, "space was dropped", nil)
	}
	if d := sp.damage.Load(); d != nil {
		b.fix = d.ids
		if tx.Writable() {
			return b, d.err(sp.name)
		}
	}
	return b, nil
}

// readMemory decodes the record at seq (a key from the ids bucket) with its access
// statistics. The result owns all its memory.
func (sp *Space) readMemory(b spaceTx, seqKey []byte, id string) (Memory, error) {
	v := b.recs.Get(seqKey)
	if v == nil {
		return Memory{}, newErr(CodeCorrupt, opNone, sp.name, fmt.Sprintf("id %q points at a missing record", id), nil)
	}
	view, err := codec.Parse(v)
	if err != nil {
		return Memory{}, newErr(CodeCorrupt, opNone, sp.name, "record of "+id, err)
	}
	if view.ID() != id {
		// The ID map is not checksummed; the record is. A map entry that leads to another
		// memory means damage, not an answer.
		return Memory{}, newErr(CodeCorrupt, opNone, sp.name, fmt.Sprintf("id %q maps to the record of %q", id, view.ID()), nil)
	}
	return sp.toMemory(b, seqKey, &view), nil
}

// toMemory converts a parsed record at key into a Memory that owns its memory, with its
// current tier (one lookup of the tiers bucket) and its recall statistics.
func (sp *Space) toMemory(b spaceTx, key []byte, view *codec.View) Memory {
	seq, _ := codec.KeySeq(key)
	t := tier.Tier(view.Tier)
	if v := b.tiers.Get(key); len(v) == 1 {
		t = tier.Tier(v[0]) // moved since it was written
	}
	acc := sp.access.get(seq)
	m := memoryOf(view, t, acc, nil, nil)
	m.ExpiresAt = expiryTime(sp.expiresAt(view.Expires, acc.last))
	return m
}

// noEmbedding, passed to memoryOf, leaves the memory's Embedding nil.
var noEmbedding = []float32{}

// memoryOf decodes a parsed record into a Memory that owns its memory (nothing points
// into bbolt's map), with tier t and statistics acc. vec, when non-nil, receives the
// embedding (length view.Dim) and becomes Memory.Embedding, so that a recall's hits share
// one allocation; nil allocates one, and noEmbedding leaves Embedding nil. conf, when
// non-nil, is where the confidence is kept (Memory.Confidence points at it).
func memoryOf(view *codec.View, t tier.Tier, acc accessStat, vec []float32, conf *float32) Memory {
	if conf == nil {
		conf = new(float32)
	}
	*conf = view.Confidence
	m := Memory{
		Confidence:  conf,
		CreatedAt:   time.Unix(0, view.Created).UTC(),
		Metadata:    view.Meta(),
		Tags:        view.Tags(),
		Tier:        t,
		AccessCount: acc.count,
	}
	m.ID, m.Content = view.IDContent()
	if vec == nil {
		vec = make([]float32, view.Dim)
	}
	if len(vec) > 0 { // not noEmbedding
		view.Embedding(vec)
		m.Embedding = vec
	}
	if acc.last != 0 {
		m.LastAccess = time.Unix(0, acc.last).UTC()
	}
	return m
}

// All iterates over the space's memories in the order they were last written, leaving out
// expired ones. It reads
// in pages, each in its own short read transaction, so the loop body may call any store
// method (including writes); memories written or forgotten during the iteration may or may
// not be seen. An error (closed store, dropped space, canceled ctx, corrupt record) is
// yielded once and ends the iteration.
func (sp *Space) All(ctx context.Context) iter.Seq2[Memory, error] {
	return func(yield func(Memory, error) bool) {
		for m, err := range sp.scanSeqs(ctx) {
			if !yield(m.Memory, err) || err != nil {
				return
			}
		}
	}
}

// seqMemory is a memory with its record's sequence number.
type seqMemory struct {
	Memory
	seq uint64
}

// scanSeqs is All with each memory's sequence number (for migration by predicate).
func (sp *Space) scanSeqs(ctx context.Context) iter.Seq2[seqMemory, error] {
	return func(yield func(seqMemory, error) bool) {
		const op = OpScan
		var after []byte // last seq key seen
		page := make([]seqMemory, 0, scanPage)
		for more := true; more; {
			page = page[:0]
			err := func() error {
				done, err := sp.enter(op)
				if err != nil {
					return err
				}
				defer done()
				if err := ctx.Err(); err != nil {
					return ctxErr(op, sp.name, err)
				}
				return sp.store.view(func(tx *bolt.Tx) error {
					b, err := sp.buckets(tx)
					if err != nil {
						return err
					}
					c := b.recs.Cursor()
					k, v := c.First()
					if after != nil {
						k, v = c.Seek(after)
						// Keys only grow: past a damaged separator, Seek may land early;
						// never list a record twice (or loop).
						for k != nil && bytes.Compare(k, after) <= 0 {
							k, v = c.Next()
						}
					}
					now := time.Now().UnixNano()
					for ; k != nil && len(page) < scanPage; k, v = c.Next() {
						after = append(after[:0], k...)
						seq, _ := codec.KeySeq(k)
						if b.fix != nil && b.fix.dups[seq] {
							continue // an older record of an ID stored twice (audit.go): not listed
						}
						view, err := codec.Parse(v)
						if err != nil {
							return newErr(CodeCorrupt, op, sp.name, fmt.Sprintf("record %x", k), err)
						}
						if sp.expired(&view, seq, now) {
							continue
						}
						page = append(page, seqMemory{sp.toMemory(b, k, &view), seq})
					}
					more = k != nil
					return nil
				})
			}()
			if err != nil {
				yield(seqMemory{}, storageErr(op, sp.name, err))
				return
			}
			sp.store.releaseFilePages(false) // a full scan would map the whole file (residency.go)
			for _, m := range page {
				if !yield(m, nil) {
					return
				}
			}
		}
	}
}

// scanPage is how many records All reads per read transaction.
const scanPage = 256

// seqKey encodes seq into a stack buffer for lookups.
func seqKey(buf *[8]byte, seq uint64) []byte {
	binary.BigEndian.PutUint64(buf[:], seq)
	return buf[:]
}

// chunked feeds flush the memories of scan that pick selects, size at a time (one
// transaction each, in the callers). It stops at the first error of the scan or of flush
// and returns it.
func chunked[T any](scan iter.Seq2[seqMemory, error], size int, pick func(seqMemory) (T, bool), flush func([]T) error) error {
	batch := make([]T, 0, size)
	for m, err := range scan {
		if err != nil {
			return err
		}
		if v, ok := pick(m); ok {
			batch = append(batch, v)
			if len(batch) == size {
				if err := flush(batch); err != nil {
					return err
				}
				batch = batch[:0]
			}
		}
	}
	if len(batch) > 0 {
		return flush(batch)
	}
	return nil
}
