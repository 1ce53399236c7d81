package engram

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/engram-go/engram/index"
	"github.com/engram-go/engram/internal/codec"
	"github.com/engram-go/engram/tier"
)

// Space is a named, isolated collection of memories with one embedding dimension. Get one
// from Store.Space. All methods are safe for concurrent use.
type Space struct {
	store *Store
	name  string
	names bucketNames
	gate  gate // closed by DropSpace

	dropping atomic.Bool                   // a DropSpace is under way
	closing  atomic.Pointer[chan struct{}] // closed when the drop begins (see Store.closing)

	mu  sync.RWMutex // guards cfg.Dim and idx, which are set once when the dimension is fixed
	cfg codec.Config
	idx index.Index // nil while the space has no dimension

	// turn orders the index updates of committed writes by commit order (commit.go).
	turn turnstile

	migrateMu sync.Mutex // one migration cycle at a time

	counts  tier.Counts
	tiering *tierState // nil unless tiering is on
	decay   tier.Decay
	access  accessTracker

	postings   postingIndex // filter postings (postings.go)
	expiry     expiryIndex  // expiring memories, for their removal (expiry.go)
	ttl        int64        // default time-to-live in nanoseconds (0: none), from the config
	ttlRefresh bool         // recalls extend expiries (WithTTLRefresh)
	plans      planCounters // recalls by plan (plan.go)

	metrics spaceMetrics

	recallers sync.Pool // *recaller: per-recall scratch (recall.go)

	embedder atomic.Pointer[embedding] // attached by WithEmbedder; nil if none (embedder.go)

	// nextSeq is the last record sequence number handed out; BatchRemember reserves ranges
	// of it before committing (the records bucket's own sequence follows in each commit).
	nextSeq atomic.Uint64

	feedMu sync.Mutex
	feeds  map[closer]struct{} // open batchers and streams, drained by Store.Close

	snapChanges uint64 // the graph's change counter when it was last snapshotted (guarded by mu)
	loadedFrom  string // how Open restored the index: "snapshot", "records" or "" (new)
	damaged     int    // records that failed their checksum at Open

	damage atomic.Pointer[spaceDamage] // set when an audit found the space damaged (audit.go)
}

func newSpace(s *Store, name string, cfg codec.Config) *Space {
	sp := &Space{store: s, name: name, names: namesOf(name), cfg: cfg, decay: decayOf(cfg)}
	sp.closing.Store(new(make(chan struct{})))
	if p := policyOf(cfg); p.HotCapacity > 0 {
		sp.tiering = newTierState(p)
		if cfg.Dim > 0 {
			sp.tiering.warm = newWarmIndex(cfg.Dim)
		}
	}
	sp.metrics.since = time.Now()
	sp.access.init(s.opts.readOnly)
	sp.postings.init()
	sp.ttl, sp.ttlRefresh = cfg.Ext.TTL, cfg.Ext.TTLRefresh
	if cfg.Dim > 0 {
		sp.idx = emptyIndex(cfg, 0)
	}
	return sp
}

// checkOptions verifies that options given for an existing space match its config.
func (sp *Space) checkOptions(so spaceOptions) error {
	sp.mu.RLock()
	defer sp.mu.RUnlock()
	if so.dimSet && sp.cfg.Dim != 0 && so.dim != sp.cfg.Dim {
		return newErr(CodeDimensionMismatch, OpSpace, sp.name, fmt.Sprintf("space has dimension %d, option asks for %d", sp.cfg.Dim, so.dim), nil)
	}
	mismatch := func(what string, have, want any) error {
		return newErr(CodeInvalidOption, OpSpace, sp.name, fmt.Sprintf("space has %s %v, option asks for %v", what, have, want), nil)
	}
	c := sp.cfg
	switch {
	case so.weightSet && so.weight != c.ConfidenceWeight:
		return mismatch("confidence weight", c.ConfidenceWeight, so.weight)
	case so.indexSet && uint8(so.index) != c.Index:
		return mismatch("index", IndexKind(c.Index), so.index)
	case so.hnswSet && so.hnsw != [3]int{c.M, c.EfConstruction, c.EfSearch}:
		return mismatch("HNSW parameters", [3]int{c.M, c.EfConstruction, c.EfSearch}, so.hnsw)
	case so.thresholdSet && so.threshold != c.HNSWThreshold:
		return mismatch("HNSW threshold", c.HNSWThreshold, so.threshold)
	case so.tiering != nil && tieringToConfig(*so.tiering) != c.Tiering:
		return mismatch("tier policy", policyOf(c), *so.tiering)
	case so.decay != nil && decayToConfig(*so.decay) != c.Decay:
		return mismatch("decay", decayOf(c), *so.decay)
	case so.ttlSet && int64(so.ttl) != c.Ext.TTL:
		return mismatch("TTL", time.Duration(c.Ext.TTL), so.ttl)
	case so.ttlRefreshSet && !c.Ext.TTLRefresh:
		return mismatch("TTL refresh", c.Ext.TTLRefresh, so.ttlRefresh)
	}
	return checkEmbedder(sp.name, c, so)
}

// checkEmbedder verifies that the embedder of so fits the space of cfg: its dimension,
// and the name the space recorded.
func checkEmbedder(space string, c codec.Config, so spaceOptions) error {
	if so.embedder == nil {
		return nil
	}
	if d := embedderDim(so.embedder); d > 0 && c.Dim != 0 && d != c.Dim {
		return newErr(CodeDimensionMismatch, OpSpace, space, fmt.Sprintf("the embedder makes vectors of %d dimensions, the space has %d", d, c.Dim), nil)
	}
	name := ""
	if info, ok := so.embedder.(EmbedderInfo); ok {
		name = info.Name()
	}
	if name != "" && c.Ext.EmbedderName != "" && name != c.Ext.EmbedderName {
		return newErr(CodeInvalidOption, OpSpace, space, fmt.Sprintf("the space's vectors were made by embedder %q, not %q", c.Ext.EmbedderName, name), nil)
	}
	if len(name) > codec.MaxEmbedderName {
		return newErr(CodeInvalidOption, OpSpace, space, fmt.Sprintf("embedder name of %d bytes exceeds %d", len(name), codec.MaxEmbedderName), nil)
	}
	return nil
}

// release drops the in-memory state of a dropped space.
func (sp *Space) release() {
	sp.mu.Lock()
	sp.idx = nil
	if t := sp.tiering; t != nil {
		t.warm = nil // the warm codes and the hot statistics go with the index
		t.mu.Lock()
		clear(t.hot)
		clear(t.promote)
		t.mu.Unlock()
	}
	sp.mu.Unlock()
	sp.access.reset()
	sp.postings.reset()
	sp.expiry.reset()
}

// enter admits a call on the space: the store must be open and the space not dropped. The
// returned function ends the call.
func (sp *Space) enter(op Op) (func(), error) {
	if !sp.store.gate.enter() {
		return nil, newErr(CodeClosed, op, sp.name, "", nil)
	}
	if !sp.gate.enter() {
		sp.store.gate.exit()
		return nil, newErr(CodeSpaceNotFound, op, sp.name, "space was dropped", nil)
	}
	return func() { sp.gate.exit(); sp.store.gate.exit() }, nil
}

// state returns the dimension, index and confidence weight under the read lock.
func (sp *Space) state() (int, index.Index, float32) {
	sp.mu.RLock()
	defer sp.mu.RUnlock()
	return sp.cfg.Dim, sp.idx, sp.cfg.ConfidenceWeight
}

// config returns a copy of the space's configuration.
func (sp *Space) config() codec.Config {
	sp.mu.RLock()
	defer sp.mu.RUnlock()
	return sp.cfg
}

// Name returns the space's name.
func (sp *Space) Name() string { return sp.name }

// Dim returns the space's embedding dimension, 0 until the first memory fixes it.
func (sp *Space) Dim() int {
	d, _, _ := sp.state()
	return d
}

// Len returns the number of memories in the space, across all tiers. Expired memories
// count until the migrator removes them.
func (sp *Space) Len() int {
	c := sp.counts.Snapshot()
	return int(c[0] + c[1] + c[2])
}

// SpaceStats describes a space at one moment.
type SpaceStats struct {
	Name             string
	Dim              int
	Metric           string
	Index            string
	ConfidenceWeight float32
	Created          time.Time
	Len              int
	// Tiers counts memories per tier, indexed by Tier.
	Tiers [3]int64
	// IndexLen is the number of vectors in the in-memory index (the hot tier).
	IndexLen int
	// IndexBytes estimates the index's heap footprint.
	IndexBytes int64
	// PendingAccess counts memories whose recall statistics await the next flush.
	PendingAccess int
	// IndexLoadedFrom says how Open restored the index: "snapshot" (graph loaded, then
	// reconciled with the records), "records" (rebuilt) or "" (built in this session).
	IndexLoadedFrom string
	// DamagedRecords counts records Open found damaged (checksum, format) and left out;
	// Store.Check lists them.
	DamagedRecords int
	// Tiering describes the hot / warm / cold placement (zero without WithTiering).
	Tiering TieringStats
	// TTL is the space's default time-to-live (WithTTL; 0: none) and TTLRefresh whether
	// recalls extend expiries (WithTTLRefresh). Expired counts the memories the migrator
	// removed on expiry since the space was opened.
	TTL        time.Duration
	TTLRefresh bool
	Expired    uint64
	// Filters describes the filter postings and how filtered recalls were answered.
	Filters FilterStats
	// Embedder is the name of the embedder that made the space's vectors, as recorded
	// (EmbedderInfo); EmbedderAttached says whether one is attached in this process.
	Embedder         string
	EmbedderAttached bool
	// Ops counts each operation since the space was opened: calls, items, failures by
	// code, latency and batch-size distributions, throughput.
	Ops []OpStats
	// Queue describes the batchers and streams feeding the space.
	Queue QueueStats
}

// Stats returns the space's statistics.
func (sp *Space) Stats() SpaceStats {
	sp.mu.RLock()
	stats := SpaceStats{
		Name:             sp.name,
		Dim:              sp.cfg.Dim,
		Metric:           "cosine",
		Index:            IndexKind(sp.cfg.Index).String(),
		ConfidenceWeight: sp.cfg.ConfidenceWeight,
		Created:          time.Unix(0, sp.cfg.Created),
		IndexLoadedFrom:  sp.loadedFrom,
		DamagedRecords:   sp.damaged,
		Embedder:         sp.cfg.Ext.EmbedderName,
		EmbedderAttached: sp.embedder.Load() != nil,
		TTL:              time.Duration(sp.cfg.Ext.TTL),
		TTLRefresh:       sp.cfg.Ext.TTLRefresh,
	}
	idx := sp.idx
	sp.mu.RUnlock()
	if idx != nil {
		stats.Index = idx.Kind().String()
	}
	stats.Tiers = sp.counts.Snapshot()
	stats.Len = int(stats.Tiers[0] + stats.Tiers[1] + stats.Tiers[2])
	if idx != nil {
		stats.IndexLen = idx.Len()
		stats.IndexBytes = idx.MemoryBytes()
	}
	stats.PendingAccess = sp.access.pendingLen()
	stats.Expired = sp.expiry.removedCount()
	stats.Filters = sp.filterStats()
	stats.Ops, stats.Queue = sp.metrics.snapshot()
	if t := sp.tiering; t != nil {
		stats.Tiering = t.stats(int(stats.Tiers[tier.Hot]))
		if w := sp.warmIndex(); w != nil {
			stats.Tiering.WarmBytes, stats.Tiering.WarmIndexLen = w.MemoryBytes(), w.Len()
		}
		stats.Queue.State = max(stats.Queue.State, stats.Tiering.State)
	}
	return stats
}

// closer is a batcher or stream feeding the space.
type closer interface{ Close() error }

func (sp *Space) register(c closer) {
	sp.feedMu.Lock()
	if sp.feeds == nil {
		sp.feeds = make(map[closer]struct{})
	}
	sp.feeds[c] = struct{}{}
	sp.feedMu.Unlock()
}

func (sp *Space) unregister(c closer) {
	sp.feedMu.Lock()
	delete(sp.feeds, c)
	sp.feedMu.Unlock()
}

// closeFeeds drains and closes every batcher and stream of the space, all at once: each
// stops accepting at the same moment, and the drain takes as long as the slowest one.
func (sp *Space) closeFeeds() {
	sp.feedMu.Lock()
	feeds := make([]closer, 0, len(sp.feeds))
	for c := range sp.feeds {
		feeds = append(feeds, c)
	}
	sp.feedMu.Unlock()
	var wg sync.WaitGroup
	for _, c := range feeds {
		wg.Go(func() { c.Close() })
	}
	wg.Wait()
}

// measure records a call of op that handled items items and ended with *errp.
func (sp *Space) measure(op Op, items int, start time.Time, errp *error) {
	sp.metrics.observe(op, items, time.Since(start), *errp, nil)
}

func maxParallel() int { return runtime.GOMAXPROCS(0) }
