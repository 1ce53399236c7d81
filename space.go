package engram

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"iter"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/engram-go/engram/index"
	"github.com/engram-go/engram/internal/codec"
	"github.com/engram-go/engram/tier"
	bolt "go.etcd.io/bbolt"
)

// Space is a named, isolated collection of memories with one embedding dimension. Get one
// from Store.Space. All methods are safe for concurrent use.
type Space struct {
	st    *Store
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

	tiers  tier.Counts
	tier   *tierState // nil unless tiering is on
	decay  tier.Decay
	access accessTracker

	metrics spaceMetrics

	// nextSeq is the last record sequence number handed out; BatchRemember reserves ranges
	// of it before committing (the records bucket's own sequence follows in each commit).
	nextSeq atomic.Uint64

	feedMu sync.Mutex
	feeds  map[closer]struct{} // open batchers and streams, drained by Store.Close

	snapChanges uint64 // the graph's change counter when it was last snapshotted (guarded by mu)
	loadedFrom  string // how Open restored the index: "snapshot", "records" or "" (new)
	damaged     int    // records that failed their checksum at Open
}

func newSpace(s *Store, name string, cfg codec.Config) *Space {
	sp := &Space{st: s, name: name, names: namesOf(name), cfg: cfg, decay: decayOf(cfg)}
	sp.closing.Store(new(make(chan struct{})))
	if p := policyOf(cfg); p.HotCapacity > 0 {
		sp.tier = newTierState(p)
		if cfg.Dim > 0 {
			sp.tier.warm = index.NewSQ8(cfg.Dim)
		}
	}
	sp.metrics.since = time.Now()
	sp.access.init()
	if cfg.Dim > 0 {
		sp.idx = emptyIndex(cfg, 0)
	}
	return sp
}

// useHNSW reports whether a space of cfg holding hot memories belongs on the graph.
func useHNSW(cfg codec.Config, hot int) bool {
	switch cfg.Index {
	case codec.IndexHNSW:
		return true
	case codec.IndexFlat:
		return false
	}
	return hot >= cfg.HNSWThreshold
}

// emptyIndex returns the index a space of cfg uses for hot memories.
func emptyIndex(cfg codec.Config, hot int) index.Index {
	if useHNSW(cfg, hot) {
		return index.NewHNSW(cfg.Dim, hnswConfig(cfg))
	}
	return index.NewFlat(cfg.Dim)
}

// loadSpace reads a space's config and restores its index: from the snapshot when there
// is a usable one (reconciled with the records), else by rebuilding from the records.
func loadSpace(s *Store, name string) (*Space, error) {
	const op = "open"
	start := time.Now()
	var sp *Space
	var replayed, missing int
	var fromSnapshot bool
	err := s.view(func(tx *bolt.Tx) error {
		cfg, err := codec.DecodeConfig(tx.Bucket(bucketSpaces).Get([]byte(name)))
		if err != nil {
			return newErr(CodeCorrupt, op, name, "space config", err)
		}
		sp = newSpace(s, name, cfg)
		b, ok := openSpaceTx(tx, &sp.names)
		if !ok {
			return newErr(CodeCorrupt, op, name, "space buckets missing", nil)
		}
		recs := b.recs
		sp.nextSeq.Store(recs.Sequence())
		if cfg.Dim == 0 {
			return nil
		}
		// Each record's tier: its entry in the tiers bucket, else the tier it was written to.
		// Both buckets are keyed by sequence number, so one merge walk pairs them.
		tc := b.tiers.Cursor()
		var tk, tv []byte
		started := false // the walk restarts only per pass, not when it ran off the end
		tierAt := func(k, v []byte) tier.Tier {
			if !started {
				tk, tv = tc.First()
				started = true
			}
			for tk != nil && bytes.Compare(tk, k) < 0 {
				tk, tv = tc.Next()
			}
			if tk != nil && bytes.Equal(tk, k) && len(tv) == 1 {
				return tier.Tier(tv[0])
			}
			if len(v) > 1 {
				return tier.Tier(v[1])
			}
			return tier.Hot
		}
		// Count hot records first (a byte or two each), to pick the index before filling it.
		hot := 0
		c := recs.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if tierAt(k, v) == tier.Hot {
				hot++
			}
		}
		started = false
		var loader *index.HNSWLoader
		if useHNSW(cfg, hot) {
			loader = sp.openSnapshot(tx, cfg)
			fromSnapshot = loader != nil
			sp.idx = index.NewHNSW(cfg.Dim, hnswConfig(cfg))
		} else {
			sp.idx = index.NewFlat(cfg.Dim)
		}
		// Stream vectors in chunks: one buffer, no per-record allocation, bounded memory.
		const chunk = 4096
		keys := make([]uint64, 0, chunk)
		vecs := make([]float32, 0, chunk*cfg.Dim)
		var pendingKeys []uint64 // records newer than the snapshot, inserted after its load
		var pendingVecs []float32
		flush := func() error {
			if len(keys) == 0 {
				return nil
			}
			err := sp.idx.Add(keys, vecs)
			keys, vecs = keys[:0], vecs[:0]
			return err
		}
		var warmKeys []uint64
		var warmStamps []uint32
		warmVecs := make([]float32, 0, chunk*cfg.Dim)
		flushWarm := func() error {
			if len(warmKeys) == 0 || sp.tier == nil {
				return nil
			}
			err := sp.tier.warm.AddStamped(warmKeys, warmVecs, warmStamps)
			warmKeys, warmVecs, warmStamps = warmKeys[:0], warmVecs[:0], warmStamps[:0]
			return err
		}
		// lastUse is when a memory was last written or recalled, for activation and aging.
		lastUse := func(view *codec.View) (int64, uint32) {
			last, count := view.Created, uint32(0)
			if raw := b.access.Get(view.IDBytes()); raw != nil {
				if a, err := codec.DecodeAccess(raw); err == nil {
					last, count = max(last, a.Last), a.Count
				}
			}
			return last, count
		}
		loaded := 0
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if loaded++; sp.tier != nil && loaded%65536 == 0 {
				// Keep the pages read so far out of the resident set (residency.go); this
				// read transaction holds the mapping in place.
				dropMapping(s.db.Info().Data, tx.Size())
			}
			seq, err := codec.KeySeq(k)
			if err != nil {
				return newErr(CodeCorrupt, op, name, "record key", err)
			}
			view, err := codec.Parse(v)
			t := tierAt(k, v)
			if err == nil && (!t.Valid() || view.Dim != cfg.Dim) {
				err = fmt.Errorf("tier %d, dim %d in a space of dim %d", t, view.Dim, cfg.Dim)
			}
			if err != nil {
				// A damaged record is left out (its checksum caught it), not allowed to make
				// the whole store unopenable: reading it gives CORRUPT, Check reports it, and
				// the stats count it.
				sp.damaged++
				s.log.Warn("damaged record left out of the index", "space", name, "seq", seq, "err", err)
				continue
			}
			sp.tiers.Add(t, 1)
			switch {
			case t == tier.Warm && sp.tier != nil:
				last, _ := lastUse(&view)
				warmKeys = append(warmKeys, seq)
				warmStamps = append(warmStamps, stampOf(last))
				warmVecs = warmVecs[:len(warmVecs)+cfg.Dim]
				view.Embedding(warmVecs[len(warmVecs)-cfg.Dim:])
				if len(warmKeys) == chunk {
					if err := flushWarm(); err != nil {
						return err
					}
				}
				continue
			case t != tier.Hot:
				continue // cold (or warm in a space whose tiering was turned off): on disk only
			}
			if sp.tier != nil {
				last, count := lastUse(&view)
				sp.tier.hot[seq] = hotStat{last: last, count: count, conf: view.Confidence}
			}
			vecs = vecs[:len(vecs)+cfg.Dim]
			row := vecs[len(vecs)-cfg.Dim:]
			view.Embedding(row)
			if loader != nil {
				vecs = vecs[:len(vecs)-cfg.Dim]
				if !loader.Fill(seq, row) {
					pendingKeys = append(pendingKeys, seq)
					pendingVecs = append(pendingVecs, row...)
				}
				continue
			}
			keys = append(keys, seq)
			if len(keys) == chunk {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := flushWarm(); err != nil {
			return err
		}
		if loader != nil {
			g, miss := loader.Finish()
			sp.idx, missing, replayed = g, miss, len(pendingKeys)
			sp.snapChanges = g.Changes()
			return g.Add(pendingKeys, pendingVecs)
		}
		return flush()
	})
	if err != nil {
		return nil, s.storageErr(op, name, err)
	}
	if sp.idx != nil {
		sp.loadedFrom = "records"
		if fromSnapshot {
			sp.loadedFrom = "snapshot"
		}
		s.log.Info("space loaded", "space", name, "memories", sp.Len(), "index", sp.idx.Kind().String(),
			"from_snapshot", fromSnapshot, "replayed", replayed, "dropped", missing, "elapsed", time.Since(start))
	}
	return sp, nil
}

// openSnapshot decodes the space's snapshot if there is one that fits the config, else
// returns nil (and logs why), leaving the graph to be rebuilt.
func (sp *Space) openSnapshot(tx *bolt.Tx, cfg codec.Config) *index.HNSWLoader {
	data, err := readSnapshot(tx, sp.name)
	if err == nil && data == nil {
		return nil
	}
	var ld *index.HNSWLoader
	if err == nil {
		ld, err = index.DecodeHNSW(data, cfg.Dim, 0)
	}
	if err == nil {
		if c := ld.Config(); ld.Dim() != cfg.Dim || c.M != cfg.M || c.EfConstruction != cfg.EfConstruction {
			err = fmt.Errorf("snapshot of dim %d M %d efc %d does not match the space", ld.Dim(), c.M, c.EfConstruction)
		}
	}
	if err != nil {
		sp.st.log.Warn("index snapshot unusable; rebuilding the graph from records", "space", sp.name, "err", err)
		return nil
	}
	return ld
}

// checkOptions verifies that options given for an existing space match its config.
func (sp *Space) checkOptions(so spaceOptions) error {
	sp.mu.RLock()
	defer sp.mu.RUnlock()
	if so.dimSet && sp.cfg.Dim != 0 && so.dim != sp.cfg.Dim {
		return newErr(CodeDimensionMismatch, "space", sp.name, fmt.Sprintf("space has dimension %d, option asks for %d", sp.cfg.Dim, so.dim), nil)
	}
	mismatch := func(what string, have, want any) error {
		return newErr(CodeInvalidOption, "space", sp.name, fmt.Sprintf("space has %s %v, option asks for %v", what, have, want), nil)
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
	}
	return nil
}

// release drops the in-memory state of a dropped space.
func (sp *Space) release() {
	sp.mu.Lock()
	sp.idx = nil
	if t := sp.tier; t != nil {
		t.warm = nil // the warm codes and the hot statistics go with the index
		t.mu.Lock()
		clear(t.hot)
		clear(t.promote)
		t.mu.Unlock()
	}
	sp.mu.Unlock()
	sp.access.reset()
}

// enter admits a call on the space: the store must be open and the space not dropped. The
// returned function ends the call.
func (sp *Space) enter(op string) (func(), error) {
	if !sp.st.gate.enter() {
		return nil, newErr(CodeClosed, op, sp.name, "", nil)
	}
	if !sp.gate.enter() {
		sp.st.gate.exit()
		return nil, newErr(CodeSpaceNotFound, op, sp.name, "space was dropped", nil)
	}
	return func() { sp.gate.exit(); sp.st.gate.exit() }, nil
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

// Len returns the number of memories in the space, across all tiers.
func (sp *Space) Len() int {
	c := sp.tiers.Snapshot()
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
	// Ops counts each operation since the space was opened: calls, items, failures by
	// code, latency and batch-size distributions, throughput.
	Ops []OpStats
	// Queue describes the batchers and streams feeding the space.
	Queue QueueStats
}

// Stats returns the space's statistics.
func (sp *Space) Stats() SpaceStats {
	sp.mu.RLock()
	st := SpaceStats{
		Name:             sp.name,
		Dim:              sp.cfg.Dim,
		Metric:           "cosine",
		Index:            IndexKind(sp.cfg.Index).String(),
		ConfidenceWeight: sp.cfg.ConfidenceWeight,
		Created:          time.Unix(0, sp.cfg.Created),
		IndexLoadedFrom:  sp.loadedFrom,
		DamagedRecords:   sp.damaged,
	}
	idx := sp.idx
	sp.mu.RUnlock()
	if idx != nil {
		st.Index = idx.Kind().String()
	}
	st.Tiers = sp.tiers.Snapshot()
	st.Len = int(st.Tiers[0] + st.Tiers[1] + st.Tiers[2])
	if idx != nil {
		st.IndexLen = idx.Len()
		st.IndexBytes = idx.MemoryBytes()
	}
	st.PendingAccess = sp.access.pendingLen()
	st.Ops, st.Queue = sp.metrics.snapshot()
	if t := sp.tier; t != nil {
		st.Tiering = t.stats(int(st.Tiers[tier.Hot]))
		if w := sp.warmIndex(); w != nil {
			st.Tiering.WarmBytes = w.MemoryBytes()
		}
		if order(st.Tiering.State) > order(st.Queue.State) {
			st.Queue.State = st.Tiering.State
		}
	}
	return st
}

// Get returns the memory with the given ID, or NOT_FOUND. Get does not count as an access.
func (sp *Space) Get(ctx context.Context, id string) (m Memory, err error) {
	const op = "get"
	done, err := sp.enter(op)
	if err != nil {
		return Memory{}, err
	}
	defer done()
	defer sp.measure(OpGet, 1, time.Now(), &err)
	if err := sp.st.checkID(id); err != nil {
		return Memory{}, &Error{Code: CodeInvalidID, Op: op, Space: sp.name, Item: -1, Msg: err.Error()}
	}
	if err := ctx.Err(); err != nil {
		return Memory{}, ctxErr(op, sp.name, err)
	}
	err = sp.st.view(func(tx *bolt.Tx) error {
		b, err := sp.bucket(tx)
		if err != nil {
			return err
		}
		seq := b.keyOf(id)
		if seq == nil {
			return &Error{Code: CodeNotFound, Op: op, Space: sp.name, ID: id, Item: -1}
		}
		m, err = sp.readMemory(b, seq, id)
		if err == nil && m.Tier != tier.Hot && sp.tier != nil && sp.tier.policy.Promote.OnGet() {
			s, _ := codec.KeySeq(seq)
			sp.tier.touch(nil, []uint64{s}, time.Now().UnixNano())
			sp.st.wakeMigrator()
		}
		return err
	})
	if err != nil {
		return Memory{}, sp.st.storageErr(op, sp.name, err)
	}
	return m, nil
}

// bucket returns the space's buckets in tx, or SPACE_NOT_FOUND if it was dropped.
func (sp *Space) bucket(tx *bolt.Tx) (spaceTx, error) {
	b, ok := openSpaceTx(tx, &sp.names)
	if !ok {
		return b, newErr(CodeSpaceNotFound, "", sp.name, "space was dropped", nil)
	}
	return b, nil
}

// readMemory decodes the record at seq (a key from the ids bucket) with its access
// statistics. The result owns all its memory.
func (sp *Space) readMemory(b spaceTx, seqKey []byte, id string) (Memory, error) {
	v := b.recs.Get(seqKey)
	if v == nil {
		return Memory{}, newErr(CodeCorrupt, "", sp.name, fmt.Sprintf("id %q points at a missing record", id), nil)
	}
	view, err := codec.Parse(v)
	if err != nil {
		return Memory{}, newErr(CodeCorrupt, "", sp.name, "record of "+id, err)
	}
	if view.ID() != id {
		// The ID map is not checksummed; the record is. A map entry that leads to another
		// memory means damage, not an answer.
		return Memory{}, newErr(CodeCorrupt, "", sp.name, fmt.Sprintf("id %q maps to the record of %q", id, view.ID()), nil)
	}
	return sp.toMemory(b, seqKey, &view), nil
}

// toMemory converts a parsed record, adding stored and pending access statistics.
func (sp *Space) toMemory(b spaceTx, key []byte, view *codec.View) Memory {
	rec := view.Record()
	conf := rec.Confidence
	m := Memory{
		ID:         rec.ID,
		Content:    rec.Content,
		Embedding:  rec.Vec,
		Confidence: &conf,
		CreatedAt:  time.Unix(0, rec.Created).UTC(),
		Metadata:   rec.Meta,
		Tags:       rec.Tags,
		Tier:       tier.Tier(rec.Tier),
	}
	if v := b.tiers.Get(key); len(v) == 1 {
		m.Tier = tier.Tier(v[0]) // moved since it was written
	}
	var acc codec.Access
	if raw := b.access.Get([]byte(rec.ID)); raw != nil {
		acc, _ = codec.DecodeAccess(raw) // a damaged statistic reads as "never accessed"
	}
	p := sp.access.peek(rec.ID)
	acc.Count += p.n
	acc.Last = max(acc.Last, p.last)
	if acc.Last != 0 {
		m.LastAccess = time.Unix(0, acc.Last).UTC()
	}
	m.AccessCount = acc.Count
	return m
}

// Forget removes the memories with the given IDs from disk and from the index, in one
// transaction, and returns how many existed. Unknown IDs are not an error.
func (sp *Space) Forget(ctx context.Context, ids ...string) (n int, err error) {
	const op = "forget"
	done, err := sp.enter(op)
	if err != nil {
		return 0, err
	}
	defer done()
	defer sp.measure(OpForget, len(ids), time.Now(), &err)
	if len(ids) > sp.st.limit.MaxBatch {
		return 0, newErr(CodeBatchTooLarge, op, sp.name, fmt.Sprintf("%d ids exceed the limit %d", len(ids), sp.st.limit.MaxBatch), nil)
	}
	for i, id := range ids {
		if err := sp.st.checkID(id); err != nil {
			return 0, &Error{Code: CodeInvalidID, Op: op, Space: sp.name, Item: i, Msg: err.Error()}
		}
	}
	if sp.st.opts.readOnly {
		return 0, newErr(CodeReadOnly, op, sp.name, "", nil)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	var seqs []uint64
	var tiers []tier.Tier
	req := &writeReq{ctx: ctx, space: sp}
	req.write = func(tx *bolt.Tx) error {
		seqs, tiers = seqs[:0], tiers[:0]
		b, err := sp.bucket(tx)
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
			t := b.tierOf(key, b.recs.Get(key))
			if err := b.recs.Delete(key); err != nil {
				return err
			}
			if err := b.tiers.Delete(key); err != nil {
				return err
			}
			if err := b.ids.Delete([]byte(id)); err != nil {
				return err
			}
			if err := b.access.Delete([]byte(id)); err != nil {
				return err
			}
			// Inside the transaction, so no access flush (also a write transaction) is
			// iterating the tracker's maps meanwhile.
			sp.access.forget(id)
			seqs = append(seqs, seq)
			tiers = append(tiers, t)
		}
		return nil
	}
	if err := sp.st.submit(req); err != nil {
		return 0, sp.st.writeErr(ctx, op, sp.name, err)
	}
	sp.turn.enter(req.ticket)
	_, idx, _ := sp.state()
	var hot, warm []uint64
	for i, t := range tiers {
		sp.tiers.Add(t, -1)
		switch t {
		case tier.Hot:
			hot = append(hot, seqs[i])
		case tier.Warm:
			warm = append(warm, seqs[i])
		}
	}
	if idx != nil && len(hot) > 0 {
		idx.Delete(hot...)
	}
	if w := sp.warmIndex(); w != nil && len(warm) > 0 {
		w.Delete(warm...)
	}
	if sp.tier != nil {
		sp.tier.forget(seqs...)
	}
	sp.turn.leave(req.ticket)
	return len(seqs), nil
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

// closeFeeds drains and closes every batcher and stream of the space.
func (sp *Space) closeFeeds() {
	sp.feedMu.Lock()
	feeds := make([]closer, 0, len(sp.feeds))
	for c := range sp.feeds {
		feeds = append(feeds, c)
	}
	sp.feedMu.Unlock()
	for _, c := range feeds {
		c.Close()
	}
}

// measure records a call of op that handled items items and ended with *errp.
func (sp *Space) measure(op Op, items int, start time.Time, errp *error) {
	sp.metrics.observe(op, items, time.Since(start), *errp, nil)
}

// scanPage is how many records All reads per read transaction.
const scanPage = 256

// All iterates over the space's memories in the order they were last written. It reads
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
		const op = "scan"
		var after []byte // last seq key seen
		page := make([]seqMemory, 0, scanPage)
		for {
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
				return sp.st.view(func(tx *bolt.Tx) error {
					b, err := sp.bucket(tx)
					if err != nil {
						return err
					}
					c := b.recs.Cursor()
					k, v := c.First()
					if after != nil {
						k, v = c.Seek(after)
						if k != nil && string(k) == string(after) {
							k, v = c.Next()
						}
					}
					for ; k != nil && len(page) < scanPage; k, v = c.Next() {
						view, err := codec.Parse(v)
						if err != nil {
							return newErr(CodeCorrupt, op, sp.name, fmt.Sprintf("record %x", k), err)
						}
						seq, _ := codec.KeySeq(k)
						page = append(page, seqMemory{sp.toMemory(b, k, &view), seq})
						after = append(after[:0], k...)
					}
					return nil
				})
			}()
			if err != nil {
				yield(seqMemory{}, sp.st.storageErr(op, sp.name, err))
				return
			}
			sp.st.releaseFilePages(false) // a full scan would map the whole file (residency.go)
			for _, m := range page {
				if !yield(m, nil) {
					return
				}
			}
			if len(page) < scanPage {
				return
			}
		}
	}
}

// seqKey encodes seq into a stack buffer for lookups.
func seqKey(buf *[8]byte, seq uint64) []byte {
	binary.BigEndian.PutUint64(buf[:], seq)
	return buf[:]
}

func maxParallel() int { return runtime.GOMAXPROCS(0) }
