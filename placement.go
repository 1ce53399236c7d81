package engram

import (
	"slices"

	"github.com/engram-go/engram/index"
	"github.com/engram-go/engram/internal/codec"
	"github.com/engram-go/engram/tier"
)

// tierChange is the in-memory side of one committed write: which memories left which tier
// (forgotten, replaced, moved) and which entered one. Every write that changes where
// memories are — remember, forget, migration, archive, and Open's load — describes its
// effect as a tierChange and hands it to Space.applyChange, the one place that keeps the
// tier counts, the hot index, the warm codes and the hot tier's statistics in step.
type tierChange struct {
	out  [3][]uint64 // seqs that left each tier
	gone []uint64    // of those, the memories that left the space (forgotten or replaced)

	hot     []uint64  // seqs entering hot
	hotStat []hotStat // their activation statistics, for the demotion choice
	addKeys []uint64  // of those, the ones to insert into the hot index, with their vectors
	addVecs []float32
	publish []uint64 // hidden graph nodes to make returnable (linked while their commit ran)

	warm        []uint64 // seqs entering warm
	warmKeys    []uint64 // of those, the ones to insert into the warm index, with their vectors
	warmVecs    []float32
	warmStamps  []uint32 // and last-use stamps
	warmPublish []uint64 // hidden warm nodes to make returnable (linked while their commit ran)
	warmUnlink  []uint64 // hidden warm nodes whose move did not happen, to take out again

	cold     int // memories entering cold
	archived int // memories archived by this write (TieringStats.Archived)

	// The filter postings and the expiry schedule follow the memories that enter and
	// leave the space (a move between tiers changes neither).
	postAdd  []postingDoc
	postDel  []postingDoc
	expiring []expiryEntry
}

// leave records that seq moved out of t (it still exists, in another tier).
func (c *tierChange) leave(seq uint64, t tier.Tier) {
	if t.Valid() {
		c.out[t] = append(c.out[t], seq)
	}
}

// drop records that seq, in t, left the space (forgotten, or replaced by a new record).
func (c *tierChange) drop(seq uint64, t tier.Tier) {
	c.leave(seq, t)
	c.gone = append(c.gone, seq)
}

// enterHot records seq entering hot; vec is nil when the hot index already holds it (a
// graph restored from a snapshot, or hidden nodes to publish).
func (c *tierChange) enterHot(seq uint64, vec []float32, st hotStat) {
	c.hot = append(c.hot, seq)
	c.hotStat = append(c.hotStat, st)
	if vec != nil {
		c.addKeys = append(c.addKeys, seq)
		c.addVecs = append(c.addVecs, vec...)
	}
}

// enterWarm records seq entering warm with its full-precision vector and last use; vec
// is nil when the warm index already holds it (loaded from a snapshot, or linked hidden
// while the commit ran: see publishWarm), or there is no warm index.
func (c *tierChange) enterWarm(seq uint64, vec []float32, stamp uint32) {
	c.warm = append(c.warm, seq)
	if vec != nil {
		c.warmKeys = append(c.warmKeys, seq)
		c.warmVecs = append(c.warmVecs, vec...)
		c.warmStamps = append(c.warmStamps, stamp)
	}
}

// publishWarm records seq entering warm through a hidden node of the warm index.
func (c *tierChange) publishWarm(seq uint64) {
	c.warm = append(c.warm, seq)
	c.warmPublish = append(c.warmPublish, seq)
}

func (c *tierChange) enterCold(uint64) { c.cold++ }

func (c *tierChange) empty() bool {
	return len(c.out[0])+len(c.out[1])+len(c.out[2])+len(c.hot)+len(c.warm)+c.cold+len(c.warmUnlink)+len(c.postAdd)+len(c.postDel) == 0
}

// applyChange updates the space's in-memory state for a committed change. Writers call it
// in their turn (Space.commitAndApply), so changes apply in commit order; Open calls it
// while loading, before the space is shared.
func (sp *Space) applyChange(c *tierChange) {
	if c.empty() {
		return
	}
	// Postings first on the way in and on the way out: a recall that finds a memory's
	// vector but not yet (or no longer) its postings merely misses it, as it would a
	// memory its transaction cannot see.
	sp.postings.apply(c.postDel, c.postAdd)
	sp.expiry.add(c.expiring)
	for t := range c.out {
		sp.counts.Add(tier.Tier(t), -int64(len(c.out[t])))
	}
	sp.counts.Add(tier.Hot, int64(len(c.hot)))
	sp.counts.Add(tier.Warm, int64(len(c.warm)))
	sp.counts.Add(tier.Cold, int64(c.cold))

	// Arrivals before departures: a memory moving between hot and warm is in both indexes
	// for a moment rather than in neither, so a recall running beside the move finds it
	// (and keeps it once).
	_, idx, _ := sp.state()
	w := sp.warmIndex()
	if idx != nil {
		if g, ok := idx.(*index.HNSW); ok && len(c.publish) > 0 {
			g.Publish(c.publish...)
		}
		if len(c.addKeys) > 0 {
			if err := idx.Add(c.addKeys, c.addVecs); err != nil {
				// Validation makes this unreachable; if it happens the records are durable
				// and a reopen rebuilds the index from them.
				sp.store.log.Error("index insert failed after commit", "space", sp.name, "err", err)
			}
		}
	}
	if w != nil {
		if len(c.warmPublish) > 0 {
			w.Publish(c.warmPublish...)
		}
		if len(c.warmKeys) > 0 {
			if err := w.AddStamped(c.warmKeys, c.warmVecs, c.warmStamps); err != nil {
				sp.store.log.Error("warm insert failed after commit", "space", sp.name, "err", err)
			}
		}
	}
	if idx != nil && len(c.out[tier.Hot]) > 0 {
		idx.Delete(c.out[tier.Hot]...)
	}
	if w != nil {
		if gone := slices.Concat(c.out[tier.Warm], c.warmUnlink); len(gone) > 0 {
			w.Delete(gone...)
		}
	}
	if t := sp.tiering; t != nil {
		t.apply(c)
		if len(c.out[tier.Hot]) > 0 {
			t.freed() // writers waiting for hot room (Block backpressure) may go on
		}
		if t.policy.High() <= int(sp.counts.Get(tier.Hot)) {
			sp.store.wakeMigrator()
		}
	}
	// A space on the exact index that outgrew it switches to the graph now, whatever
	// brought the memories in (a batch, or a promotion).
	if flat, ok := idx.(*index.Flat); ok && len(c.addKeys) > 0 {
		if cfg := sp.config(); cfg.Index == codec.IndexAuto && useHNSW(cfg, flat.Len()) {
			sp.promoteToHNSW(flat, cfg)
		}
	}
}

// apply updates the hot tier's statistics and the promotion queue for a change.
func (t *tierState) apply(c *tierChange) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range c.out[tier.Hot] {
		delete(t.hot, s)
	}
	for _, s := range c.gone {
		delete(t.hot, s)
		delete(t.promote, s)
	}
	for i, s := range c.hot {
		t.hot[s] = c.hotStat[i]
	}
	t.archived += uint64(c.archived)
}
