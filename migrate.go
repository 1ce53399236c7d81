package engram

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/engram-go/engram/internal/codec"
	"github.com/engram-go/engram/tier"
	bolt "go.etcd.io/bbolt"
)

// Migration moves memories between tiers in bounded cycles: promotions first (memories a
// recall or Get asked back), then demotions while the hot tier is above its high
// watermark (lowest activation first, down to the low watermark), then warm memories idle
// past WarmIdle go cold. Each batch is one transaction that rewrites only the tier entries
// (nine bytes a memory); the in-memory indexes follow after the commit, in commit order
// with every other write of the space. A crash between the two loses nothing: at Open the
// tier entries decide, so every memory is in exactly one tier.

// MigrationStats reports one migration cycle.
type MigrationStats struct {
	Promoted, Demoted, Cooled int
	// Expired counts the expired memories the cycle removed (expiry.go).
	Expired int
	Elapsed time.Duration
}

// Migrate runs one migration cycle on the space now (the store also runs them in the
// background: WithMigrateInterval): it removes expired memories, then, on a space with
// tiering, moves memories between the tiers.
func (sp *Space) Migrate(ctx context.Context) (MigrationStats, error) {
	const op = OpMigrate
	done, err := sp.enter(op)
	if err != nil {
		return MigrationStats{}, err
	}
	defer done()
	if sp.store.opts.readOnly {
		return MigrationStats{}, nil
	}
	sp.migrateMu.Lock() // one cycle at a time per space
	defer sp.migrateMu.Unlock()
	start := time.Now()
	var st MigrationStats
	st.Expired, err = sp.expire(ctx)
	if err != nil {
		return st, err
	}
	if sp.tiering == nil {
		st.Elapsed = time.Since(start)
		return st, nil
	}
	t := sp.tiering
	p := t.policy
	budget := p.MaxPerCycle

	// 1. Promotions.
	t.mu.Lock()
	var want []uint64
	asked := make(map[uint64]int64)
	for seq, at := range t.promote {
		if len(want) == budget {
			break
		}
		want = append(want, seq)
		asked[seq] = at
		delete(t.promote, seq)
	}
	t.mu.Unlock()
	for off := 0; off < len(want); off += p.BatchSize {
		var n int
		err := ctx.Err()
		if err == nil {
			n, err = sp.move(ctx, op, want[off:min(off+p.BatchSize, len(want))], tier.Of(tier.Warm, tier.Cold), tier.Hot, asked)
		}
		st.Promoted += n
		if err != nil {
			t.requeue(want[off:], asked) // a failed batch left no trace: ask again next cycle
			if ctx.Err() != nil {
				break
			}
			return st, err
		}
	}
	budget -= st.Promoted

	// 2. Demotions, lowest activation first, down to the low watermark.
	if hot := int(sp.counts.Get(tier.Hot)); hot > p.High() && budget > 0 {
		victims := t.coldest(min(hot-p.Low(), budget), time.Now(), asked)
		for off := 0; off < len(victims) && ctx.Err() == nil; off += p.BatchSize {
			n, err := sp.move(ctx, op, victims[off:min(off+p.BatchSize, len(victims))], tier.Of(tier.Hot), tier.Warm, nil)
			st.Demoted += n
			if err != nil {
				return st, err
			}
		}
		budget -= st.Demoted
	}

	// 3. Warm memories idle past WarmIdle go cold.
	if w := sp.warmIndex(); p.WarmIdle > 0 && w != nil && budget > 0 {
		idle := w.StampedBefore(stampOf(time.Now().Add(-p.WarmIdle).UnixNano()), budget)
		for off := 0; off < len(idle) && ctx.Err() == nil; off += p.BatchSize {
			n, err := sp.move(ctx, op, idle[off:min(off+p.BatchSize, len(idle))], tier.Of(tier.Warm), tier.Cold, nil)
			st.Cooled += n
			if err != nil {
				return st, err
			}
		}
	}
	if st.Promoted+st.Demoted+st.Cooled > 0 {
		sp.store.releaseFilePages(false) // the moves read their records
	}
	st.Elapsed = time.Since(start)
	t.mu.Lock()
	t.promoted += uint64(st.Promoted)
	t.demoted += uint64(st.Demoted)
	t.cooled += uint64(st.Cooled)
	t.lastCycle = st.Elapsed
	t.cycles += st.Elapsed
	t.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return st, ctxErr(op, sp.name, err)
	}
	return st, nil
}

// move commits one batch of memories (by seq) from the tiers in from into tier to, then
// updates the indexes. It returns how many moved: a memory forgotten, replaced, or moved
// out of from meanwhile (by another migration step or ArchiveWhere, since the batch was
// chosen outside the transaction) is skipped. asked holds, for promotions, when each
// memory was recalled: the access record of that recall may not be written yet, and a
// promoted memory must enter hot as just used.
//
// A demotion reads its memories' vectors first and links them into the warm index,
// hidden, while its commit runs (linkWarmAhead): the linking is the costly part of a
// demotion, and it then overlaps the commit and the space's other writes instead of
// holding up their turns. The turn publishes the nodes of the memories that moved and
// drops the others.
func (sp *Space) move(ctx context.Context, op Op, seqs []uint64, from tier.Set, to tier.Tier, asked map[uint64]int64) (int, error) {
	_, idx, _ := sp.state()
	if idx == nil {
		return 0, nil
	}
	var pre map[uint64]moved // vectors read ahead, for a demotion
	var linked []uint64      // of those, the ones linked into the warm index, hidden
	if to == tier.Warm && sp.warmIndex() != nil {
		var err error
		if pre, err = sp.readMoves(seqs, nil); err != nil {
			return 0, storageErr(op, sp.name, err)
		}
		vecs, stamps := make([][]float32, len(seqs)), make([]uint32, len(seqs))
		for i, s := range seqs {
			if m, ok := pre[s]; ok {
				vecs[i], stamps[i] = m.vec, sp.warmStampOf(s, m.last)
			}
		}
		linked = sp.linkWarmAhead(seqs, vecs, stamps)
	}
	var ms []moved
	req := &writeReq{ctx: ctx}
	req.write = func(tx *bolt.Tx) error {
		ms = ms[:0]
		b, err := sp.buckets(tx)
		if err != nil {
			return err
		}
		for _, seq := range seqs {
			key := codec.SeqKey(seq)
			rec := b.recs.Get(key)
			if rec == nil {
				continue // forgotten or replaced since it was chosen
			}
			cur := b.tierOf(key, rec)
			if cur == to || !from.Has(cur) {
				continue
			}
			m, ok := pre[seq]
			if !ok && (to == tier.Hot || to == tier.Warm) {
				if m, ok = sp.readMove(seq, rec, asked); !ok {
					continue // a damaged record stays where it is; Check reports it
				}
			}
			m.seq, m.from = seq, cur
			if err := b.setTier(key, rec, to); err != nil {
				return err
			}
			ms = append(ms, m)
		}
		return nil
	}
	apply := func() {
		var c tierChange
		hidden := make(map[uint64]bool, len(linked))
		for _, s := range linked {
			hidden[s] = true
		}
		for _, m := range ms {
			c.leave(m.seq, m.from)
			switch to {
			case tier.Hot:
				c.enterHot(m.seq, m.vec, hotStat{last: m.last, count: m.count, conf: m.conf})
			case tier.Warm:
				if hidden[m.seq] {
					c.publishWarm(m.seq)
					delete(hidden, m.seq)
				} else {
					c.enterWarm(m.seq, m.vec, sp.warmStampOf(m.seq, m.last))
				}
			case tier.Cold:
				c.enterCold(m.seq)
			}
		}
		for s := range hidden { // linked ahead, but did not move
			c.warmUnlink = append(c.warmUnlink, s)
		}
		if op == OpArchive {
			c.archived = len(ms)
		}
		sp.applyChange(&c)
	}
	if err := sp.commitAndApply(req, apply); err != nil {
		if w := sp.warmIndex(); w != nil && len(linked) > 0 {
			w.Delete(linked...) // nothing moved: take the hidden nodes out again
		}
		return 0, writeErr(ctx, op, sp.name, err)
	}
	return len(ms), nil
}

// moved is a memory a migration batch moves: where from, and what the index it enters
// needs.
type moved struct {
	seq   uint64
	from  tier.Tier
	vec   []float32 // full precision, for promotions and demotions
	last  int64     // for the warm stamp and hot statistics
	count uint32
	conf  float32
}

// readMove reads what a move of the memory at seq (record rec) into hot or warm needs,
// reporting false when the record does not parse.
func (sp *Space) readMove(seq uint64, rec []byte, asked map[uint64]int64) (moved, bool) {
	view, err := codec.Parse(rec)
	if err != nil {
		return moved{}, false
	}
	m := moved{vec: make([]float32, view.Dim)}
	view.Embedding(m.vec)
	a := sp.access.get(seq) // recalls not flushed yet count too
	m.conf, m.last, m.count = view.Confidence, max(view.Created, a.last), a.count
	if at, ok := asked[seq]; ok && at > m.last {
		m.last, m.count = at, m.count+1 // the recall that asked for it
	}
	return m, true
}

// readMoves reads, in a read transaction, what moves of seqs into hot or warm need; seqs
// without a readable record of the space's dimension are left out.
func (sp *Space) readMoves(seqs []uint64, asked map[uint64]int64) (map[uint64]moved, error) {
	dim := sp.Dim()
	out := make(map[uint64]moved, len(seqs))
	err := sp.store.view(func(tx *bolt.Tx) error {
		b, err := sp.buckets(tx)
		if err != nil {
			return err
		}
		for _, seq := range seqs {
			if rec := b.recs.Get(codec.SeqKey(seq)); rec != nil {
				if m, ok := sp.readMove(seq, rec, asked); ok && len(m.vec) == dim {
					out[seq] = m
				}
			}
		}
		return nil
	})
	return out, err
}

// ArchiveWhere moves every existing memory for which match returns true into the cold tier,
// in batches of size (default 1000), one transaction each — "archive everything older than
// a date". It returns how many moved.
func (sp *Space) ArchiveWhere(ctx context.Context, size int, match func(Memory) bool) (int, error) {
	const op = OpArchive
	if size <= 0 {
		size = 1000
	}
	moved := 0
	pick := func(m seqMemory) (uint64, bool) { return m.seq, m.Tier != tier.Cold && match(m.Memory) }
	err := chunked(sp.scanSeqs(ctx), size, pick, func(batch []uint64) error {
		done, err := sp.enter(op) // DropSpace and Close wait for the batch
		if err != nil {
			return err
		}
		defer done()
		sp.migrateMu.Lock() // between migration cycles, not inside one
		defer sp.migrateMu.Unlock()
		n, err := sp.move(ctx, op, batch, tier.Of(tier.Hot, tier.Warm), tier.Cold, nil)
		moved += n
		return err
	})
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Op == OpScan {
			c := *e
			c.Op = op // the scan is this operation's
			err = &c
		}
		return moved, err
	}
	sp.store.releaseFilePages(true) // the scan read every record
	return moved, nil
}

// wakeMigrator asks the background migrator for a cycle now.
func (s *Store) wakeMigrator() {
	if s.migrateWake != nil {
		select {
		case s.migrateWake <- struct{}{}:
		default:
		}
	}
}

// migrateLoop runs migration cycles on every tiered space, every interval and on demand,
// until Close.
func (s *Store) migrateLoop(every time.Duration) {
	defer close(s.migrateDone)
	ctx := s.migrateCtx // Close cancels it: a cycle stops after its current batch
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.migrateWake:
		}
		spaces := slices.DeleteFunc(s.spaceList(), func(sp *Space) bool { return sp.tiering == nil && !sp.expiry.any() })
		// Warm recalls re-rank from records, so pages accumulate between cycles too.
		s.releaseFilePages(false)
		for _, sp := range spaces {
			for ctx.Err() == nil {
				st, err := sp.Migrate(ctx)
				if err != nil {
					if ctx.Err() == nil && CodeOf(err) != CodeClosed && CodeOf(err) != CodeSpaceNotFound {
						s.log.Warn("migration cycle failed", "space", sp.name, "err", err)
					}
					break
				}
				// A full cycle means more is waiting: go again at once. (Expiry takes every
				// expired memory in one cycle.)
				if sp.tiering == nil || st.Promoted+st.Demoted+st.Cooled < sp.tiering.policy.MaxPerCycle {
					break
				}
			}
		}
	}
}
