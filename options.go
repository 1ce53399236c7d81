package engram

import (
	"fmt"
	"log/slog"
	"math"
	"os"
	"time"

	"github.com/engram-go/engram/internal/codec"
	"github.com/engram-go/engram/internal/ids"
	"github.com/engram-go/engram/tier"
)

// Limits bound what one call may carry. Each is enforced with its own error code; the
// defaults are DefaultLimits.
type Limits struct {
	MaxIDBytes       int // INVALID_ID beyond it
	MaxContentBytes  int // CONTENT_TOO_LARGE beyond it
	MaxMetadataBytes int // METADATA_TOO_LARGE: sum of metadata keys, values and tags
	MaxMetadataItems int // METADATA_TOO_LARGE: metadata entries plus tags
	MaxDimension     int // INVALID_EMBEDDING beyond it (and INVALID_OPTION for WithDimension)
	MaxBatch         int // BATCH_TOO_LARGE beyond it (remember, recall and forget batches)
	MaxK             int // INVALID_QUERY beyond it
	MaxSpaces        int // TOO_MANY_SPACES beyond it
}

// DefaultLimits are the limits a store opens with.
var DefaultLimits = Limits{
	MaxIDBytes:       256,
	MaxContentBytes:  1 << 20, // 1 MiB
	MaxMetadataBytes: 64 << 10,
	MaxMetadataItems: 256,
	MaxDimension:     16384,
	MaxBatch:         100_000,
	MaxK:             10_000,
	MaxSpaces:        4096,
}

func (l Limits) validate() error {
	for _, f := range []struct { // in declaration order: the first bad one is reported
		name string
		v    int
	}{
		{"MaxIDBytes", l.MaxIDBytes}, {"MaxContentBytes", l.MaxContentBytes},
		{"MaxMetadataBytes", l.MaxMetadataBytes}, {"MaxMetadataItems", l.MaxMetadataItems},
		{"MaxDimension", l.MaxDimension}, {"MaxBatch", l.MaxBatch}, {"MaxK", l.MaxK}, {"MaxSpaces", l.MaxSpaces},
	} {
		if f.v <= 0 {
			return fmt.Errorf("limit %s must be positive, got %d", f.name, f.v)
		}
	}
	if l.MaxIDBytes < ids.Len {
		return fmt.Errorf("limit MaxIDBytes %d is below the %d bytes of a generated ID", l.MaxIDBytes, ids.Len)
	}
	if l.MaxDimension > maxDimensionCap {
		return fmt.Errorf("limit MaxDimension %d exceeds %d", l.MaxDimension, maxDimensionCap)
	}
	return nil
}

// maxDimensionCap is the largest dimension the record format is allowed to hold.
const maxDimensionCap = 1 << 20

// Option configures Open.
type Option func(*options) error

type options struct {
	migrateEvery time.Duration
	noSync       bool
	readOnly     bool
	logger       *slog.Logger
	lockTimeout  time.Duration
	accessFlush  time.Duration
	limits       Limits
	fileMode     os.FileMode
	initialMmap  int
	// wrapCommit, when set, wraps the store's commit environment (commit.go). No option
	// sets it: the package's tests do, to inject commit failures.
	wrapCommit func(commitEnv) commitEnv
	// postingsPay, when set, replaces the recall planner's choice (plan.go); overfetch,
	// when positive, the graph plan's margin; filterInSearch makes the graph plan apply the
	// filter inside the search. No option sets them: the package's tests and benchmarks do,
	// to run and measure each plan.
	postingsPay    func(est, n, ef int) bool
	overfetch      float64
	filterInSearch bool
}

func defaultOptions() options {
	return options{
		logger:       slog.New(slog.DiscardHandler),
		lockTimeout:  time.Second,
		accessFlush:  time.Second,
		migrateEvery: time.Second,
		limits:       DefaultLimits,
		fileMode:     0o600,
	}
}

// WithNoSync turns off the fsync on every commit, for bulk loads that can be restarted:
// writes return as soon as they are in the OS page cache, and a crash (of the machine, not
// just the process) may lose or corrupt recent commits. Call Store.Sync to make everything
// written so far durable. The default is one fsync per commit.
func WithNoSync() Option {
	return func(o *options) error { o.noSync = true; return nil }
}

// WithReadOnly opens the store for reading: writes fail with READ_ONLY, no space can be
// created, and several processes may hold the file open read-only at once (but not while a
// writer holds it). Recall access counts are kept in memory only.
func WithReadOnly() Option {
	return func(o *options) error { o.readOnly = true; return nil }
}

// WithLogger sends the store's operational logs (open, load, flush failures, drop) to l.
// The default discards them.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return fmt.Errorf("nil logger")
		}
		o.logger = l
		return nil
	}
}

// WithLockTimeout bounds how long Open waits for the file lock another process (or another
// Open in this process) holds before failing with LOCKED. The default is one second; 0
// means try once.
func WithLockTimeout(d time.Duration) Option {
	return durationOption("lock timeout", d, func(o *options) *time.Duration { return &o.lockTimeout })
}

// WithAccessFlushInterval sets how often the LastAccess / AccessCount updates that recalls
// accumulate in memory are written to disk (default one second). 0 disables the background
// flush: updates are then written only by Sync and Close. Access statistics are
// best-effort: a crash loses at most the updates of the last interval.
func WithAccessFlushInterval(d time.Duration) Option {
	return durationOption("access flush interval", d, func(o *options) *time.Duration { return &o.accessFlush })
}

// WithMigrateInterval sets how often the background migrator moves memories between the
// tiers of spaces with tiering (default one second; it also runs at once when a space's hot
// tier passes its high watermark). 0 turns it off: then only Space.Migrate moves memories.
func WithMigrateInterval(d time.Duration) Option {
	return durationOption("migrate interval", d, func(o *options) *time.Duration { return &o.migrateEvery })
}

// durationOption sets the duration field picks out of the options, refusing negative
// values.
func durationOption(name string, d time.Duration, field func(*options) *time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("negative %s %v", name, d)
		}
		*field(o) = d
		return nil
	}
}

// WithLimits replaces DefaultLimits. Every field must be positive.
func WithLimits(l Limits) Option {
	return func(o *options) error {
		if err := l.validate(); err != nil {
			return err
		}
		o.limits = l
		return nil
	}
}

// WithFileMode sets the permissions of a newly created store file (default 0600).
func WithFileMode(m os.FileMode) Option {
	return func(o *options) error { o.fileMode = m; return nil }
}

// WithInitialMmapSize pre-sizes bbolt's memory map (bytes), which saves remaps while a
// large import grows the file.
func WithInitialMmapSize(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("negative mmap size %d", n)
		}
		o.initialMmap = n
		return nil
	}
}

// SpaceOption configures a space when it is created. Options given for a space that
// already exists must agree with its stored configuration.
type SpaceOption func(*spaceOptions) error

type spaceOptions struct {
	dim          int
	dimSet       bool
	weight       float32
	weightSet    bool
	index        IndexKind
	indexSet     bool
	hnsw         [3]int // M, efConstruction, efSearch
	hnswSet      bool
	threshold    int
	thresholdSet bool
	tiering      *tier.Policy
	decay        *tier.Decay

	ttl           time.Duration // expiry.go
	ttlSet        bool
	ttlRefresh    bool
	ttlRefreshSet bool

	embedder      Embedder // attached in this process (embedder.go)
	embedChunk    int
	embedParallel int
	queryCache    int
	queryCacheSet bool
}

// IndexKind chooses a space's vector index.
type IndexKind uint8

// Index choices. IndexAuto, the default, searches exactly while a space holds fewer than
// its HNSW threshold of hot memories (DefaultHNSWThreshold) and switches to the HNSW graph
// from there on: below the threshold the exact scan is as fast and has perfect recall.
const (
	IndexAuto IndexKind = IndexKind(codec.IndexAuto)
	IndexFlat IndexKind = IndexKind(codec.IndexFlat)
	IndexHNSW IndexKind = IndexKind(codec.IndexHNSW)
)

func (k IndexKind) String() string {
	switch k {
	case IndexAuto:
		return "auto"
	case IndexFlat:
		return "flat"
	case IndexHNSW:
		return "hnsw"
	}
	return fmt.Sprintf("index(%d)", uint8(k))
}

// HNSW defaults, chosen by measurement on 100,000 GloVe-derived 100-d vectors (see the
// README): M 16 and efConstruction 200 build about 10,000 vectors/s on 2 cores; efSearch 128
// gives recall@10 ≈ 0.96 at about 6,000 queries/s on one core.
const (
	DefaultHNSWM              = 16
	DefaultHNSWEfConstruction = 200
	DefaultHNSWEfSearch       = 128
	// DefaultHNSWThreshold is where the exact scan of 100-d vectors and the graph at
	// efSearch 128 answer equally fast (about 14,000 queries/s at 10,000 vectors); past it
	// the graph pulls ahead (2× at 20,000, 10× at 100,000).
	DefaultHNSWThreshold = 10_000
)

// WithIndex sets the space's index choice (default IndexAuto).
func WithIndex(k IndexKind) SpaceOption {
	return func(o *spaceOptions) error {
		if k > IndexHNSW {
			return fmt.Errorf("unknown index kind %d", k)
		}
		o.index, o.indexSet = k, true
		return nil
	}
}

// WithHNSW sets the graph's parameters: m neighbours per node (2m on the bottom layer),
// the construction breadth, and the default query breadth (Query.Breadth overrides it) —
// in a tiered space, of the hot and the warm graph alike.
func WithHNSW(m, efConstruction, efSearch int) SpaceOption {
	return func(o *spaceOptions) error {
		if m < 2 || m > 256 || efConstruction < 1 || efConstruction > 4096 || efSearch < 1 || efSearch > 4096 {
			return fmt.Errorf("HNSW parameters M=%d efConstruction=%d efSearch=%d out of range (M 2..256, ef 1..4096)", m, efConstruction, efSearch)
		}
		o.hnsw, o.hnswSet = [3]int{m, efConstruction, efSearch}, true
		return nil
	}
}

// WithHNSWThreshold sets how many hot memories make an IndexAuto space switch from the
// exact scan to the graph (default DefaultHNSWThreshold).
func WithHNSWThreshold(n int) SpaceOption {
	return func(o *spaceOptions) error {
		if n < 1 {
			return fmt.Errorf("HNSW threshold must be positive, got %d", n)
		}
		o.threshold, o.thresholdSet = n, true
		return nil
	}
}

// WithDimension fixes the embedding dimension up front; otherwise the first stored memory
// fixes it. Opening an existing space with a different dimension fails with
// DIMENSION_MISMATCH.
func WithDimension(d int) SpaceOption {
	return func(o *spaceOptions) error {
		if d <= 0 {
			return fmt.Errorf("dimension must be positive, got %d", d)
		}
		o.dim, o.dimSet = d, true
		return nil
	}
}

// WithConfidenceWeight sets how much a memory's confidence weighs in its recall score, w in
// [0,1] (default DefaultConfidenceWeight): Score = Similarity × (1 − w + w × Confidence).
// 0 ranks by similarity alone.
func WithConfidenceWeight(w float32) SpaceOption {
	return func(o *spaceOptions) error {
		if !(w >= 0 && w <= 1) {
			return fmt.Errorf("confidence weight must be in [0,1], got %v", w)
		}
		o.weight, o.weightSet = w, true
		return nil
	}
}

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
