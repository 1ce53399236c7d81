package engram

import (
	"context"
	"time"

	"github.com/engram-go/engram/internal/codec"
	bolt "go.etcd.io/bbolt"
)

// ForgetWhere forgets every memory f matches — "delete everything of session 42", "drop
// what was created before March" — in batches of size memories (default 1000, at most
// Limits.MaxBatch), one transaction each, and returns how many it forgot. Expired memories
// are left to the migrator and not counted.
//
// f is any Filter; a Go predicate is passed as FilterFunc(func(m Memory) bool {...}), so
// one method takes both (Go has no union types: the Filter interface is the union). The
// filter runs inside the store's read transactions and so must not call the store. nil is
// refused with INVALID_QUERY rather than read as "everything": pass And() to forget every
// memory.
//
// A filter whose candidates the postings can list (an Eq, In or HasTag test, an And
// holding one, an Or of such; see Filter) reads only those memories' records; any other
// scans the space. Each batch's transaction checks its memories against the filter again
// before forgetting them, so a memory changed meanwhile is judged as it is when forgotten
// — except by a FilterFunc, which is not called inside a write transaction: what it
// decided during the scan stands. Memories written during the call may or may not be
// seen. A failure part-way leaves the batches before it applied; the count includes them.
func (sp *Space) ForgetWhere(ctx context.Context, size int, f Filter) (n int, err error) {
	const op = OpForget
	done, err := sp.enter(op)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	defer func() { sp.metrics.observe(op, n, time.Since(start), err, nil) }() // items: memories forgotten
	if f == nil {
		done()
		return 0, newErr(CodeInvalidQuery, op, sp.name, "ForgetWhere needs a filter (And() matches every memory)", nil)
	}
	where, err := compileFilter(f, nil, nil)
	if err != nil {
		done()
		return 0, newErr(CodeInvalidQuery, op, sp.name, "filter: "+err.Error(), nil)
	}
	if sp.store.opts.readOnly {
		done()
		return 0, newErr(CodeReadOnly, op, sp.name, "", nil)
	}
	if size <= 0 {
		size = 1000
	}
	size = min(size, sp.store.limit.MaxBatch)
	fw := &forgetWhere{sp: sp, ctx: ctx, where: where, size: size, hasFunc: where.hasFunc()}
	cands, listed := fw.candidates()
	done() // each batch enters on its own, so DropSpace and Close wait for one batch only
	if listed {
		err = fw.forgetListed(cands)
	} else {
		err = fw.scan()
	}
	if fw.read > 0 {
		sp.store.releaseFilePages(false) // the checks read records
	}
	n = fw.forgotten
	return n, err
}

// forgetWhere is one ForgetWhere call.
type forgetWhere struct {
	sp        *Space
	ctx       context.Context
	where     *fnode
	size      int
	hasFunc   bool
	forgotten int
	read      int // records read
}

// candidates lists the memories the postings say may match, when they can.
func (fw *forgetWhere) candidates() ([]uint64, bool) {
	p := &fw.sp.postings
	p.mu.RLock()
	defer p.mu.RUnlock()
	p.bind(fw.where)
	defer fw.where.unbind()
	if _, gen := fw.where.estimate(fw.sp.Len()); !gen {
		return nil, false
	}
	return fw.where.candidates(nil), true
}

// forgetListed checks and forgets the listed candidates, size per transaction.
func (fw *forgetWhere) forgetListed(cands []uint64) error {
	for off := 0; off < len(cands); off += fw.size {
		batch := cands[off:min(off+fw.size, len(cands))]
		if fw.hasFunc { // the FilterFunc decides in a read transaction (see ForgetWhere)
			var err error
			if batch, err = fw.pick(batch); err != nil {
				return err
			}
		}
		if err := fw.forget(batch); err != nil {
			return err
		}
	}
	return nil
}

// pick returns those of seqs whose records match, read in one read transaction.
func (fw *forgetWhere) pick(seqs []uint64) ([]uint64, error) {
	var out []uint64
	err := fw.viewTx(func(b spaceTx) error {
		now := time.Now().UnixNano()
		for _, seq := range seqs {
			key := codec.SeqKey(seq)
			if rec := b.recs.Get(key); rec != nil && fw.matches(b, key, rec, seq, now) {
				out = append(out, seq)
			}
		}
		return nil
	})
	return out, err
}

// scan reads the space's records in pages, each in its own read transaction, and forgets
// the matching ones size at a time.
func (fw *forgetWhere) scan() error {
	var after []byte
	var batch []uint64
	for more := true; more; {
		err := fw.viewTx(func(b spaceTx) error {
			c := b.recs.Cursor()
			k, v := c.First()
			if after != nil {
				if k, v = c.Seek(after); k != nil && string(k) == string(after) {
					k, v = c.Next()
				}
			}
			now := time.Now().UnixNano()
			for n := 0; k != nil && n < scanPage; k, v = c.Next() {
				n++
				after = append(after[:0], k...)
				seq, err := codec.KeySeq(k)
				if err == nil && fw.matches(b, k, v, seq, now) {
					batch = append(batch, seq)
				}
			}
			more = k != nil
			return nil
		})
		if err != nil {
			return err
		}
		if len(batch) >= fw.size || (!more && len(batch) > 0) {
			for len(batch) > 0 {
				n := min(fw.size, len(batch))
				if err := fw.forget(batch[:n]); err != nil {
					return err
				}
				batch = batch[n:]
			}
			batch = nil
		}
	}
	return nil
}

// viewTx runs fn in a read transaction of the space, inside an entered call.
func (fw *forgetWhere) viewTx(fn func(b spaceTx) error) error {
	const op = OpForget
	done, err := fw.sp.enter(op)
	if err != nil {
		return err
	}
	defer done()
	if err := fw.ctx.Err(); err != nil {
		return ctxErr(op, fw.sp.name, err)
	}
	err = fw.sp.store.view(func(tx *bolt.Tx) error {
		b, err := fw.sp.buckets(tx)
		if err != nil {
			return err
		}
		return fn(b)
	})
	if err != nil {
		return storageErr(op, fw.sp.name, err)
	}
	return nil
}

// matches reports whether the record rec at key (seq) is live and matches the filter. A
// damaged record matches nothing: Check reports it, and forgetting it is Forget's job.
func (fw *forgetWhere) matches(b spaceTx, key, rec []byte, seq uint64, now int64) bool {
	fw.read++
	v, err := codec.Parse(rec)
	if err != nil || fw.sp.expired(&v, seq, now) {
		return false
	}
	var mem memorySource
	if fw.hasFunc {
		mem = func(v *codec.View) Memory { return fw.sp.toMemory(b, key, v) }
	}
	return fw.where.match(&v, mem)
}

// forget forgets, in one transaction, those of seqs that still exist and — unless the
// filter holds a FilterFunc, which decided already — still match.
func (fw *forgetWhere) forget(seqs []uint64) error {
	const op = OpForget
	sp := fw.sp
	if len(seqs) == 0 {
		return nil
	}
	done, err := sp.enter(op)
	if err != nil {
		return err
	}
	defer done()
	var c tierChange
	n := 0
	req := &writeReq{ctx: fw.ctx}
	req.write = func(tx *bolt.Tx) error {
		c, n = tierChange{}, 0 // the transaction may rerun
		b, err := sp.buckets(tx)
		if err != nil {
			return err
		}
		now := time.Now().UnixNano()
		for _, seq := range seqs {
			key := codec.SeqKey(seq)
			rec := b.recs.Get(key)
			if rec == nil {
				continue // forgotten or replaced since it was chosen
			}
			view, err := codec.Parse(rec)
			if err != nil || sp.expired(&view, seq, now) || (!fw.hasFunc && !fw.where.match(&view, nil)) {
				continue
			}
			if err := sp.removeRecord(b, &c, seq, key, rec, view.ID(), &view); err != nil {
				return err
			}
			n++
		}
		return nil
	}
	if err := sp.commitAndApply(req, func() { sp.applyChange(&c) }); err != nil {
		return writeErr(fw.ctx, op, sp.name, err)
	}
	fw.forgotten += n
	return nil
}
