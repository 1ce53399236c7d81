package engram

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/engram-go/engram/index"
	"github.com/engram-go/engram/internal/codec"
	"github.com/engram-go/engram/tier"
)

// Tiers. A space with a hot capacity (WithTiering) keeps at most about that many memories
// in its in-memory graph (hot); the rest are warm — 8-bit codes in memory (a quarter of the
// float32 vectors), scanned with an int8 dot product and re-ranked at full precision from
// the records — or cold: on disk only, searched only when a query names the cold tier,
// always readable by Get. See tier.Policy for the placement rules and migrate.go for the
// moves.

// WithTiering enables the hot / warm / cold tiers with the given policy (HotCapacity > 0).
func WithTiering(p tier.Policy) SpaceOption {
	return func(o *spaceOptions) error {
		if p.HotCapacity <= 0 {
			return fmt.Errorf("tiering needs a positive hot capacity, got %d", p.HotCapacity)
		}
		if p.Backpressure > tier.FailFast || p.HighWatermark < 0 || p.LowWatermark < 0 || p.HighWatermark > 10 ||
			p.HotCapacity > math.MaxInt32 || p.MaxPerCycle > math.MaxInt32 || p.BatchSize > math.MaxInt32 ||
			p.ActivationHalfLife < 0 || p.WarmIdle < 0 || p.WarmIdle > maxStoredDuration || p.ActivationHalfLife > maxStoredDuration {
			return fmt.Errorf("invalid tier policy %+v", p)
		}
		// Durations are stored in whole seconds: round up, so a short idle time stays "soon"
		// rather than becoming 0 (never).
		p.ActivationHalfLife, p.WarmIdle = ceilSecond(p.ActivationHalfLife), ceilSecond(p.WarmIdle)
		p = p.WithDefaults()
		o.tiering = &p
		return nil
	}
}

// WithDecay enables lazy confidence decay at recall time (see tier.Decay).
func WithDecay(d tier.Decay) SpaceOption {
	return func(o *spaceOptions) error {
		if d.Kind == tier.NoDecay || d.Kind > tier.PowerLaw || d.Floor < 0 || d.Floor > 1 || d.RecencyBoost < 0 ||
			d.HalfLife < 0 || d.Scale < 0 || d.HalfLife > maxStoredDuration || d.Scale > maxStoredDuration ||
			!(d.Exponent >= 0 && d.Exponent <= 100) {
			return fmt.Errorf("invalid decay %+v", d)
		}
		d.HalfLife, d.Scale = ceilSecond(d.HalfLife), ceilSecond(d.Scale)
		d = d.WithDefaults()
		o.decay = &d
		return nil
	}
}

// maxStoredDuration is the longest duration the space config holds (uint32 seconds).
const maxStoredDuration = math.MaxUint32 * time.Second

func ceilSecond(d time.Duration) time.Duration {
	return (d + time.Second - 1) / time.Second * time.Second
}

func tieringToConfig(p tier.Policy) codec.Tiering {
	return codec.Tiering{
		HotCapacity: p.HotCapacity, High: float32(p.HighWatermark), Low: float32(p.LowWatermark),
		HalfLifeSec: uint32(p.ActivationHalfLife / time.Second), WarmIdleSec: uint32(p.WarmIdle / time.Second),
		MaxPerCycle: p.MaxPerCycle, BatchSize: p.BatchSize,
		Promote: uint8(p.Promote), Backpressure: uint8(p.Backpressure),
	}
}

func policyOf(c codec.Config) tier.Policy {
	t := c.Tiering
	if t.HotCapacity <= 0 {
		return tier.Policy{}
	}
	return tier.Policy{
		HotCapacity: t.HotCapacity, HighWatermark: float64(t.High), LowWatermark: float64(t.Low),
		ActivationHalfLife: time.Duration(t.HalfLifeSec) * time.Second, WarmIdle: time.Duration(t.WarmIdleSec) * time.Second,
		MaxPerCycle: t.MaxPerCycle, BatchSize: t.BatchSize,
		Promote: tier.Promotion(t.Promote), Backpressure: tier.Mode(t.Backpressure),
	}.WithDefaults()
}

func decayToConfig(d tier.Decay) codec.Decay {
	return codec.Decay{Kind: uint8(d.Kind), HalfLifeSec: uint32(d.HalfLife / time.Second), ScaleSec: uint32(d.Scale / time.Second),
		Exponent: float32(d.Exponent), Floor: d.Floor, Boost: d.RecencyBoost}
}

func decayOf(c codec.Config) tier.Decay {
	d := c.Decay
	if d.Kind == 0 {
		return tier.Decay{}
	}
	return tier.Decay{Kind: tier.DecayKind(d.Kind), HalfLife: time.Duration(d.HalfLifeSec) * time.Second,
		Scale: time.Duration(d.ScaleSec) * time.Second, Exponent: float64(d.Exponent), Floor: d.Floor, RecencyBoost: d.Boost}.WithDefaults()
}

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

	warm *index.SQ8 // warm memories' codes (nil until the space has a dimension)

	// room is closed and replaced whenever migration frees hot capacity, waking writers
	// that wait under Block backpressure.
	room chan struct{}

	demoted, promoted, cooled, archived uint64 // moves since open (guarded by mu)
	lastCycle, cycles                   time.Duration
	waits                               uint64 // writes that waited for room (Block)
	waited                              time.Duration
}

func newTierState(p tier.Policy) *tierState {
	return &tierState{policy: p, hot: make(map[uint64]hotStat), promote: make(map[uint64]int64), room: make(chan struct{})}
}

// noteHot records hot memories (new, promoted or touched).
func (t *tierState) noteHot(seq uint64, st hotStat) {
	t.mu.Lock()
	t.hot[seq] = st
	t.mu.Unlock()
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

func (t *tierState) forget(seqs ...uint64) {
	t.mu.Lock()
	for _, s := range seqs {
		delete(t.hot, s)
		delete(t.promote, s)
	}
	t.mu.Unlock()
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
	for i := range out {
		out[i] = all[i].seq
	}
	return out
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

// idleSeconds converts a Unix-nanosecond time to the warm tier's stamps (seconds).
func stampOf(ns int64) uint32 {
	return uint32(min(max(ns/int64(time.Second), 0), math.MaxUint32))
}

// TieringStats describes a space's tiers.
type TieringStats struct {
	HotCapacity int
	// State is the hot tier's pressure (tier.Policy.State): normal, warning, critical or
	// overloaded.
	State string
	// Moves since the space was opened.
	Promoted, Demoted, Cooled, Archived uint64
	// LastCycle is the duration of the last migration cycle, MigrationTime the total of
	// all cycles since open (moves per second of migration: moves / MigrationTime).
	LastCycle, MigrationTime time.Duration
	// BlockedWrites counts the writes that waited for hot capacity (Block backpressure) and
	// BlockedTime their total wait.
	BlockedWrites uint64
	BlockedTime   time.Duration
	// WarmBytes estimates the memory of the warm tier's codes.
	WarmBytes int64
}

func (t *tierState) stats(hot int) TieringStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return TieringStats{HotCapacity: t.policy.HotCapacity, State: t.policy.State(hot),
		Promoted: t.promoted, Demoted: t.demoted, Cooled: t.cooled, Archived: t.archived, LastCycle: t.lastCycle, MigrationTime: t.cycles,
		BlockedWrites: t.waits, BlockedTime: t.waited}
}

// order ranks backpressure states for picking the worst.
func order(state string) int {
	switch state {
	case "warning":
		return 1
	case "critical":
		return 2
	case "overloaded":
		return 3
	}
	return 0
}
