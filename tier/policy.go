package tier

import (
	"fmt"
	"math"
	"time"
)

// Placement policy: which memories stay hot when the hot tier is full, when warm memories
// go cold, and what recall does to them.
//
// Activation ranks memories for the hot tier. It grows with confidence and with use, and
// fades with time since the memory was last touched (written or recalled):
//
//	activation = confidence × (1 + log2(1 + accesses)) × 2^(−idle / ActivationHalfLife)
//
// A memory recalled often and recently outranks a fresher memory nobody recalls; a
// low-confidence memory ages out first. When the hot tier passes its high watermark the
// lowest-activation hot memories are demoted to warm until it is back at its low watermark.
type Policy struct {
	// HotCapacity is the number of memories the hot tier holds (0 = unlimited: tiering off).
	HotCapacity int
	// HighWatermark and LowWatermark, as fractions of HotCapacity (defaults 1.0 and 0.9):
	// demotion starts above the high one and stops at the low one.
	HighWatermark, LowWatermark float64
	// ActivationHalfLife is how long an untouched memory takes to lose half its activation
	// (default 7 days).
	ActivationHalfLife time.Duration
	// WarmIdle sends warm memories untouched for this long to cold (0 = never). Durations
	// are kept in whole seconds, rounded up.
	WarmIdle time.Duration
	// Promote says which reads bring warm and cold memories back to hot at the next
	// migration cycle (zero value: PromoteOnRecall).
	Promote Promotion
	// MaxPerCycle bounds the memories one migration cycle moves (default 20,000), in
	// transactions of BatchSize (default 1000).
	MaxPerCycle, BatchSize int
	// Backpressure applies to writes when the hot tier is overloaded (see State): Block waits
	// for migration to make room until ctx ends, FailFast refuses with BACKPRESSURE.
	Backpressure Mode
}

// Promotion is a set of the reads that promote a warm or cold memory to hot.
type Promotion uint8

// Promotion triggers. PromoteNever is needed because the zero value means the default.
const (
	PromoteOnRecall Promotion = 1 << iota // a recall returned it
	PromoteOnGet                          // Get read it
	PromoteNever    Promotion = 1 << 7    // neither: placement follows activation only
)

// OnRecall and OnGet report whether those reads promote.
func (p Promotion) OnRecall() bool { return p&PromoteNever == 0 && p&PromoteOnRecall != 0 }
func (p Promotion) OnGet() bool    { return p&PromoteNever == 0 && p&PromoteOnGet != 0 }

// Mode is what a write does when what it waits for is full: the hot tier (Policy's
// Backpressure) or a stream's queue (engram.StreamOptions.Mode).
type Mode uint8

// Backpressure modes.
const (
	// Block waits for room until the write's ctx ends.
	Block Mode = iota
	// FailFast refuses at once with the retryable BACKPRESSURE code and a retry hint.
	FailFast
)

func (m Mode) String() string {
	switch m {
	case Block:
		return "block"
	case FailFast:
		return "fail-fast"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// Pressure grades how full something bounded is — the hot tier (Policy.State), a space's
// queues (engram.QueueStats) — from Normal to Overloaded; a worse grade is a larger value,
// so the worse of two is their max. It marshals as its name ("normal", ...).
type Pressure uint8

// Pressure grades.
const (
	Normal     Pressure = iota // well within bounds
	Warning                    // filling: past the high watermark, or half full
	Critical                   // nearly full
	Overloaded                 // full: writes wait or are refused (Mode)
	numPressures
)

var pressureNames = [numPressures]string{"normal", "warning", "critical", "overloaded"}

func (p Pressure) String() string {
	if p < numPressures {
		return pressureNames[p]
	}
	return fmt.Sprintf("pressure(%d)", uint8(p))
}

// MarshalText renders the grade's name, so JSON and expvar show "normal", not 0.
func (p Pressure) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText parses a grade's name.
func (p *Pressure) UnmarshalText(b []byte) error {
	for i, n := range pressureNames {
		if string(b) == n {
			*p = Pressure(i)
			return nil
		}
	}
	return fmt.Errorf("tier: unknown pressure %q", b)
}

// WithDefaults fills unset fields.
func (p Policy) WithDefaults() Policy {
	if p.HighWatermark <= 0 {
		p.HighWatermark = 1.0
	}
	if p.LowWatermark <= 0 || p.LowWatermark >= p.HighWatermark {
		p.LowWatermark = 0.9 * p.HighWatermark
	}
	if p.ActivationHalfLife <= 0 {
		p.ActivationHalfLife = 7 * 24 * time.Hour
	}
	if p.Promote == 0 {
		p.Promote = PromoteOnRecall
	}
	if p.MaxPerCycle <= 0 {
		p.MaxPerCycle = 20_000
	}
	if p.BatchSize <= 0 {
		p.BatchSize = 1000
	}
	return p
}

// Activation computes the activation of a memory (see Policy).
func (p Policy) Activation(confidence float32, accesses uint32, idle time.Duration) float64 {
	idle = max(idle, 0)
	return float64(confidence) * (1 + math.Log2(1+float64(accesses))) *
		math.Exp2(-idle.Seconds()/p.ActivationHalfLife.Seconds())
}

// High and Low are the watermarks in memories.
// The small epsilon absorbs the float32 round trip of persisted watermarks (0.9 → 0.8999…).
func (p Policy) High() int { return int(math.Ceil(p.HighWatermark*float64(p.HotCapacity) - 1e-4)) }
func (p Policy) Low() int  { return int(math.Floor(p.LowWatermark*float64(p.HotCapacity) + 1e-4)) }

// State grades hot-tier pressure from the number of hot memories, with base = the larger
// of the capacity and the high watermark:
//
//	normal      below the high watermark
//	warning     at or above the high watermark (migration is demoting)
//	critical    at or above base × 1.05
//	overloaded  at or above base × 1.10: writes wait or are refused (Backpressure)
//
// The thresholds are exact (no integer division), so small capacities keep their margins,
// and overloaded always lies above the high watermark, where migration makes room.
func (p Policy) State(hot int) Pressure {
	switch {
	case p.HotCapacity <= 0:
		return Normal
	case p.Overloaded(hot):
		return Overloaded
	case int64(hot)*20 >= int64(p.base())*21:
		return Critical
	case hot >= p.High():
		return Warning
	}
	return Normal
}

func (p Policy) base() int { return max(p.HotCapacity, p.High()) }

// Overloaded reports whether writes must apply backpressure.
func (p Policy) Overloaded(hot int) bool {
	return p.HotCapacity > 0 && int64(hot)*10 >= int64(p.base())*11
}

// DecayKind selects a confidence decay function.
type DecayKind uint8

// Decay functions.
const (
	NoDecay DecayKind = iota
	// Exponential: c(t) = c × 2^(−t / HalfLife).
	Exponential
	// PowerLaw: c(t) = c × (1 + t / Scale)^(−Exponent), the slower, heavy-tailed forgetting
	// curve of human memory.
	PowerLaw
)

// Decay is opt-in, lazy confidence decay: at recall time a memory's confidence is
// multiplied by a function of the time t since it was last accessed (or created), and
// clamped to Floor. Nothing is rewritten: the stored confidence changes only through
// explicit updates. An optional recency boost multiplies the score of memories accessed
// recently by 1 + RecencyBoost × 2^(−t / HalfLife).
type Decay struct {
	Kind     DecayKind
	HalfLife time.Duration // Exponential (default 30 days); also the boost's half-life
	Scale    time.Duration // PowerLaw time scale (default 1 day)
	Exponent float64       // PowerLaw exponent (default 0.5)
	Floor    float32       // lowest decayed confidence (default 0.05)
	// RecencyBoost, when > 0, favours recently accessed memories in scores.
	RecencyBoost float32
}

// WithDefaults fills unset fields of an enabled decay.
func (d Decay) WithDefaults() Decay {
	if d.HalfLife <= 0 {
		d.HalfLife = 30 * 24 * time.Hour
	}
	if d.Scale <= 0 {
		d.Scale = 24 * time.Hour
	}
	if d.Exponent <= 0 {
		d.Exponent = 0.5
	}
	if d.Floor <= 0 {
		d.Floor = 0.05
	}
	return d
}

// Apply returns the decayed confidence of c after t without access.
func (d Decay) Apply(c float32, t time.Duration) float32 {
	t = max(t, 0)
	if d.Kind != NoDecay {
		d = d.WithDefaults() // unset fields mean the defaults, here too
	}
	var f float64
	switch d.Kind {
	case Exponential:
		f = math.Exp2(-t.Seconds() / d.HalfLife.Seconds())
	case PowerLaw:
		f = math.Pow(1+t.Seconds()/d.Scale.Seconds(), -d.Exponent)
	default:
		return c
	}
	return max(float32(float64(c)*f), min(d.Floor, c))
}

// Boost returns the score multiplier for a memory last accessed t ago.
func (d Decay) Boost(t time.Duration) float32 {
	if d.RecencyBoost <= 0 {
		return 1
	}
	d = d.WithDefaults()
	return 1 + d.RecencyBoost*float32(math.Exp2(-max(t, 0).Seconds()/d.HalfLife.Seconds()))
}
