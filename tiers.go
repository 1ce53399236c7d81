package engram

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/engram-go/engram/index"
	"github.com/engram-go/engram/tier"
)

// Tiers. A space with a hot capacity (WithTiering) keeps at most about that many memories
// in its in-memory graph (hot); the rest are warm — 8-bit codes in a graph of their own
// (a quarter of the float32 vectors: warm.go), searched with the hot graph by default and
// re-ranked at full precision from the records — or cold: on disk only, searched only
// when a query names the cold tier, always readable by Get. See tier.Policy for the
// placement rules and migrate.go for the moves.

// hotStat is what the demotion choice needs about a hot memory (24 bytes a memory).
type hotStat struct {
	last  int64 // last write or access, Unix nanoseconds
	count uint32
	conf  float32
}

// tierState is a space's tiering state, present when tiering is on.
type tierState struct {
	policy tier.Policy

	mu      sync.Mutex
	hot     map[uint64]hotStat // hot memories by seq
	promote map[uint64]int64   // warm / cold memories to bring back hot, with when they were asked for

	warm      *index.Graph8 // the warm tier's index (nil until the space has a dimension)
	warmSaved uint64        // its change counter at its last snapshot (guarded by mu)
	warmFrom  string        // how Open restored it: "snapshot", "records" or ""

	// room is closed and replaced whenever migration frees hot capacity, waking writers
	// that wait under Block backpressure.
	room chan struct{}

	// cut is the highest activation among the memories the last demotion cycle chose, as
	// of cutAt (guarded by mu; cutAt zero: no demotion yet). Activations of memories not
	// used meanwhile all fade at the same rate, so the cut, faded to now, still separates
	// what a cycle would demote from what it would keep (see directToWarm).
	cut   float64
	cutAt time.Time

	demoted, promoted, cooled, archived uint64 // moves since open (guarded by mu)
	lastCycle, cycles                   time.Duration
	waits                               uint64 // writes that waited for room (Block)
	waited                              time.Duration
	waiting                             atomic.Int64 // writes waiting for room now
}

func newTierState(p tier.Policy) *tierState {
	return &tierState{policy: p, hot: make(map[uint64]hotStat), promote: make(map[uint64]int64), room: make(chan struct{})}
}

// setConf updates the confidence of those of seqs that are hot (a memory moved or replaced
// meanwhile is left alone: it is read from its record when it next enters hot).
func (t *tierState) setConf(seqs []uint64, confs []float32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, seq := range seqs {
		if st, ok := t.hot[seq]; ok {
			st.conf = confs[i]
			t.hot[seq] = st
		}
	}
}

// lastUse is a hot memory's last write or recall as the tier state knows it (0 if not hot).
func (t *tierState) lastUse(seq uint64) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.hot[seq].last
}

// touch marks hot hits used, and queues warm and cold hits for promotion.
func (t *tierState) touch(hot []uint64, other []uint64, now int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range hot {
		if st, ok := t.hot[s]; ok {
			st.last, st.count = now, st.count+1
			t.hot[s] = st
		}
	}
	for _, s := range other {
		if len(t.promote) < maxPromoteQueue {
			t.promote[s] = now
		}
	}
}

// maxPromoteQueue bounds the promotion requests waiting for a cycle (a store whose
// migration never runs — read-only, or WithMigrateInterval(0) without Migrate calls —
// would otherwise collect one per recalled warm memory).
const maxPromoteQueue = 100_000

// requeue puts promotion requests back after a failed cycle, keeping newer requests.
func (t *tierState) requeue(seqs []uint64, asked map[uint64]int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range seqs {
		if _, ok := t.promote[s]; !ok && len(t.promote) < maxPromoteQueue {
			t.promote[s] = asked[s]
		}
	}
}

// coldest returns up to n hot memories with the lowest activation, leaving out those in
// keep (memories promoted in the same cycle: demoting them straight back would thrash).
func (t *tierState) coldest(n int, now time.Time, keep map[uint64]int64) []uint64 {
	t.mu.Lock()
	type scored struct {
		seq uint64
		a   float64
	}
	all := make([]scored, 0, len(t.hot))
	for seq, st := range t.hot {
		if _, ok := keep[seq]; ok {
			continue
		}
		all = append(all, scored{seq, t.policy.Activation(st.conf, st.count, now.Sub(time.Unix(0, st.last)))})
	}
	t.mu.Unlock()
	if n >= len(all) {
		n = len(all)
	} else {
		// Partial selection: only the n smallest need to be found, not a full sort.
		nthSmallest(all, n, func(a, b scored) bool { return a.a < b.a || (a.a == b.a && a.seq < b.seq) })
	}
	out := make([]uint64, n)
	cut := 0.0
	for i := range out {
		out[i] = all[i].seq
		cut = max(cut, all[i].a)
	}
	if n > 0 {
		t.mu.Lock()
		t.cut, t.cutAt = cut, now
		t.mu.Unlock()
	}
	return out
}

// directToWarm returns, for a write of n memories at now, a test of whether a memory
// (its confidence, recall count and last use) would be demoted by the next migration
// cycle as soon as it entered hot: the hot tier will pass its high watermark with the
// write, and the memory's activation is below the last cycle's cut, faded to now. Such
// memories are written to warm directly — a hot insert and a demotion saved. It returns
// nil when no memory qualifies (no demotion yet, or room in hot).
func (t *tierState) directToWarm(hot, n int, now time.Time) func(conf float32, count uint32, last int64) bool {
	p := t.policy
	if hot+n <= p.High() {
		return nil
	}
	t.mu.Lock()
	cut, at := t.cut, t.cutAt
	t.mu.Unlock()
	if at.IsZero() {
		return nil
	}
	cut *= p.Activation(1, 0, now.Sub(at)) // faded as every untouched memory has faded since
	return func(conf float32, count uint32, last int64) bool {
		return p.Activation(conf, count, now.Sub(time.Unix(0, last))) < cut
	}
}

// freed wakes writers waiting for hot capacity.
func (t *tierState) freed() {
	t.mu.Lock()
	close(t.room)
	t.room = make(chan struct{})
	t.mu.Unlock()
}

func (t *tierState) waitRoom() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.room
}

// nthSmallest reorders s so that its first n elements are its n smallest (quickselect).
func nthSmallest[T any](s []T, n int, less func(a, b T) bool) {
	lo, hi := 0, len(s)-1
	for lo < hi {
		p := s[(lo+hi)/2]
		i, j := lo, hi
		for i <= j {
			for less(s[i], p) {
				i++
			}
			for less(p, s[j]) {
				j--
			}
			if i <= j {
				s[i], s[j] = s[j], s[i]
				i++
				j--
			}
		}
		switch {
		case n-1 <= j:
			hi = j
		case n-1 >= i:
			lo = i
		default:
			return
		}
	}
}

// stampOf converts a Unix-nanosecond time to a warm-tier stamp (Unix seconds, clamped to
// uint32): the warm codes keep a memory's last use in four bytes.
func stampOf(ns int64) uint32 {
	return uint32(min(max(ns/int64(time.Second), 0), math.MaxUint32))
}

// TieringStats describes a space's tiers.
type TieringStats struct {
	HotCapacity int
	// State is the hot tier's pressure (tier.Policy.State).
	State Pressure
	// Moves since the space was opened.
	Promoted, Demoted, Cooled, Archived uint64
	// LastCycle is the duration of the last migration cycle, MigrationTime the total of
	// all cycles since open (moves per second of migration: moves / MigrationTime).
	LastCycle, MigrationTime time.Duration
	// BlockedWrites counts the writes that waited for hot capacity (Block backpressure) and
	// BlockedTime their total wait.
	BlockedWrites uint64
	BlockedTime   time.Duration
	// Waiting counts the writes waiting for hot capacity at this moment.
	Waiting int64
	// WarmBytes estimates the memory of the warm tier's index (codes and links), and
	// WarmIndexLen counts the memories it holds.
	WarmBytes    int64
	WarmIndexLen int
	// WarmLoadedFrom says how Open restored the warm index: "snapshot" (loaded, then
	// reconciled with the records), "records" (rebuilt) or "" (built in this session).
	WarmLoadedFrom string
}

func (t *tierState) stats(hot int) TieringStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return TieringStats{HotCapacity: t.policy.HotCapacity, State: t.policy.State(hot),
		Promoted: t.promoted, Demoted: t.demoted, Cooled: t.cooled, Archived: t.archived, LastCycle: t.lastCycle, MigrationTime: t.cycles,
		BlockedWrites: t.waits, BlockedTime: t.waited, Waiting: t.waiting.Load(), WarmLoadedFrom: t.warmFrom}
}

// warmIndex returns the warm tier's index (nil without tiering or dimension).
func (sp *Space) warmIndex() *index.Graph8 {
	if sp.tiering == nil {
		return nil
	}
	sp.mu.RLock()
	defer sp.mu.RUnlock()
	return sp.tiering.warm
}

// hotRoom applies hot-tier backpressure before a write: when the hot tier is overloaded
// (tier.Policy.State) the write waits for migration to make room (Block) or is refused with
// BACKPRESSURE and a retry hint (FailFast).
func (sp *Space) hotRoom(ctx context.Context, op Op) *Error {
	t := sp.tiering
	if t == nil {
		return nil
	}
	var since time.Time
	for {
		hot := int(sp.counts.Get(tier.Hot))
		if !t.policy.Overloaded(hot) {
			if !since.IsZero() {
				t.mu.Lock()
				t.waits++
				t.waited += time.Since(since)
				t.mu.Unlock()
			}
			return nil
		}
		if since.IsZero() {
			since = time.Now()
			t.waiting.Add(1)
			defer t.waiting.Add(-1)
		}
		sp.store.wakeMigrator()
		if t.policy.Backpressure == tier.FailFast {
			e := newErr(CodeBackpressure, op, sp.name, fmt.Sprintf("hot tier holds %d memories, capacity %d", hot, t.policy.HotCapacity), nil)
			t.mu.Lock()
			e.RetryAfter = max(t.lastCycle, 10*time.Millisecond)
			t.mu.Unlock()
			sp.metrics.rejected.Add(1)
			return e
		}
		select {
		case <-t.waitRoom():
		case <-time.After(100 * time.Millisecond): // re-check: migration may have run elsewhere
		case <-ctx.Done():
			return ctxErr(op, sp.name, ctx.Err())
		case <-sp.store.draining: // Close began: it drains calls in flight, batchers and streams,
			return nil // so commit over capacity (the migrator demotes after the next Open)
		case <-*sp.closing.Load():
			return newErr(CodeSpaceNotFound, op, sp.name, "the space was dropped while the write waited for hot-tier room", nil)
		}
	}
}
