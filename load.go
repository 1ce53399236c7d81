package engram

import (
	"fmt"
	"time"

	"github.com/engram-go/engram/index"
	"github.com/engram-go/engram/internal/codec"
	"github.com/engram-go/engram/tier"
	"github.com/engram-go/engram/vector"
	bolt "go.etcd.io/bbolt"
)

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

// loadSpace reads a space's config and restores its in-memory state: the hot index from
// the snapshot when there is a usable one (reconciled with the records), else rebuilt from
// the records; the warm codes, the tier counts and the hot tier's statistics from the
// records and their tier entries.
func loadSpace(s *Store, name string) (*Space, error) {
	const op = OpOpen
	start := time.Now()
	var sp *Space
	var l *spaceLoad
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
		sp.nextSeq.Store(b.recs.Sequence())
		if cfg.Dim == 0 {
			return nil
		}
		l = &spaceLoad{sp: sp, b: b, tx: tx, cfg: cfg}
		return l.run()
	})
	if err != nil {
		return nil, storageErr(op, name, err)
	}
	if l != nil {
		sp.loadedFrom = "records"
		if l.snapshot != nil {
			sp.loadedFrom = "snapshot"
		}
		s.log.Info("space loaded", "space", name, "memories", sp.Len(), "index", sp.idx.Kind().String(),
			"from_snapshot", l.snapshot != nil, "replayed", len(l.pendingKeys), "dropped", l.missing, "elapsed", time.Since(start))
	}
	return sp, nil
}

// loadChunk is how many memories a load takes into memory at a time: one buffer of
// vectors, reused, so loading needs no per-record allocation and bounded memory.
const loadChunk = 4096

// spaceLoad restores one space's in-memory state inside Open's read transaction.
type spaceLoad struct {
	sp  *Space
	b   spaceTx
	tx  *bolt.Tx
	cfg codec.Config

	snapshot    *index.HNSWLoader // the graph's snapshot being filled; nil when rebuilding
	pendingKeys []uint64          // hot records newer than the snapshot, inserted after it
	pendingVecs []float32
	missing     int // snapshot nodes whose records are gone

	// The warm index's snapshot being filled (nil: rebuilt from the records), and the
	// warm records it does not know, inserted after it.
	warmSnap    *index.Graph8Loader
	warmPending tierChange

	change tierChange  // the chunk being loaded
	audit  idLoadAudit // of the ID map against the records (audit.go)
}

func (l *spaceLoad) run() error {
	sp, cfg := l.sp, l.cfg
	if err := sp.access.load(l.b); err != nil {
		return err
	}
	if useHNSW(cfg, l.countHot()) {
		l.snapshot = sp.openSnapshot(l.tx, cfg)
		sp.idx = index.NewHNSW(cfg.Dim, hnswConfig(cfg))
	} else {
		sp.idx = index.NewFlat(cfg.Dim)
	}
	if sp.tiering != nil {
		l.warmSnap = sp.openWarmSnapshot(l.tx, cfg.Dim)
	}
	vec := make([]float32, cfg.Dim)
	walk := l.b.tierWalk()
	loaded := 0
	c := l.b.recs.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if loaded++; sp.tiering != nil && loaded%65536 == 0 {
			// Keep the pages read so far out of the resident set (residency.go); this
			// read transaction holds the mapping in place.
			dropMapping(sp.store.db.Info().Data, l.tx.Size())
		}
		seq, err := codec.KeySeq(k)
		if err != nil {
			return newErr(CodeCorrupt, OpOpen, sp.name, "record key", err)
		}
		view, err := codec.Parse(v)
		if err == nil {
			l.audit.record(seq, &view)
		} else {
			l.audit.damagedRecord(seq)
		}
		t := walk(k, v)
		if err == nil && (!t.Valid() || view.Dim != cfg.Dim) {
			err = fmt.Errorf("tier %d, dim %d in a space of dim %d", t, view.Dim, cfg.Dim)
		}
		if err == nil {
			view.Embedding(vec)
			err = usableEmbedding(vec)
		}
		if err != nil {
			// A damaged record is left out (its checksum caught it), not allowed to make
			// the whole store unopenable: reading it gives CORRUPT, Check reports it, and
			// the stats count it.
			sp.damaged++
			sp.store.log.Warn("damaged record left out of the index", "space", sp.name, "seq", seq, "err", err)
			continue
		}
		l.take(seq, t, &view, vec)
		if len(l.change.hot)+len(l.change.warm)+l.change.cold >= loadChunk {
			sp.applyChange(&l.change)
			l.change = tierChange{addVecs: l.change.addVecs[:0], warmVecs: l.change.warmVecs[:0],
				postAdd: l.change.postAdd[:0], expiring: l.change.expiring[:0]}
		}
	}
	sp.applyChange(&l.change)
	if err := l.finishWarm(); err != nil {
		return err
	}
	if l.snapshot != nil {
		g, missing := l.snapshot.Finish()
		sp.idx, l.missing = g, missing
		sp.snapChanges = g.Changes()
		if err := g.Add(l.pendingKeys, l.pendingVecs); err != nil {
			return err
		}
	}
	l.finishAudit()
	return nil
}

// usableEmbedding refuses a stored embedding with a non-finite component. Its checksum
// is fine — engram before 2025-12 normalized embeddings of tiny norm (below about 1e-38)
// to all NaN — but it scores NaN against every cue, so it is kept out of the indexes like
// a damaged record (counted in DamagedRecords, listed by Check; Get still returns it). One
// SIMD pass over a vector the load has in hand anyway.
func usableEmbedding(vec []float32) error {
	if err := vector.Validate(vec); err != nil {
		return fmt.Errorf("stored embedding is unusable: %w", err)
	}
	return nil
}

// finishWarm installs the warm index loaded from its snapshot, with the warm records the
// snapshot did not know inserted, and records how the index was restored.
func (l *spaceLoad) finishWarm() error {
	t := l.sp.tiering
	if t == nil {
		return nil
	}
	if l.warmSnap == nil {
		if l.sp.counts.Get(tier.Warm) > 0 {
			t.warmFrom = "records"
		}
		return nil
	}
	w, missing := l.warmSnap.Finish()
	t.warm, t.warmFrom = w, "snapshot"
	t.warmSaved = w.Changes()
	p := &l.warmPending
	l.sp.store.log.Info("warm index loaded", "space", l.sp.name, "memories", w.Len(), "replayed", len(p.warmKeys), "dropped", missing)
	return w.AddStamped(p.warmKeys, p.warmVecs, p.warmStamps)
}

// countHot counts the hot records (a byte or two each), to pick the index before filling
// it.
func (l *spaceLoad) countHot() int {
	walk := l.b.tierWalk()
	hot := 0
	c := l.b.recs.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if walk(k, v) == tier.Hot {
			hot++
		}
	}
	return hot
}

// take adds one valid record in tier t, with its embedding vec, to the chunk.
func (l *spaceLoad) take(seq uint64, t tier.Tier, view *codec.View, vec []float32) {
	// The chunk is applied inside this read transaction, so the postings read the terms
	// straight from the record.
	l.change.postAdd = append(l.change.postAdd, postingDoc{seq: seq, view: *view, useView: true})
	if view.Expires != 0 {
		l.change.expiring = append(l.change.expiring, expiryEntry{view.Expires, seq})
	}
	switch {
	case t == tier.Hot:
		var st hotStat
		if l.sp.tiering != nil {
			st.last, st.count = l.lastUse(seq, view)
			st.conf = view.Confidence
		}
		if l.snapshot == nil {
			l.change.enterHot(seq, vec, st)
			return
		}
		l.change.enterHot(seq, nil, st) // the snapshot's graph holds it, or it is replayed
		if !l.snapshot.Fill(seq, vec) {
			l.pendingKeys = append(l.pendingKeys, seq)
			l.pendingVecs = append(l.pendingVecs, vec...)
		}
	case t == tier.Warm && l.sp.tiering != nil:
		last, _ := l.lastUse(seq, view)
		stamp := stampOf(last)
		if l.warmSnap == nil {
			l.change.enterWarm(seq, vec, stamp)
			return
		}
		l.change.enterWarm(seq, nil, stamp) // the snapshot's index holds it, or it is replayed
		if !l.warmSnap.Fill(seq, vec, stamp) {
			l.warmPending.enterWarm(seq, vec, stamp)
		}
	case t == tier.Warm:
		l.change.enterWarm(seq, nil, 0) // a space without tiering keeps warm records on disk only
	default:
		l.change.enterCold(seq)
	}
}

// lastUse is when a memory was last written or recalled, and how often it was recalled,
// for the hot tier's activation and the warm tier's aging.
func (l *spaceLoad) lastUse(seq uint64, view *codec.View) (int64, uint32) {
	a := l.sp.access.stats[seq] // loaded first; the space is not shared yet
	return max(view.Created, a.last), a.count
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
		sp.store.log.Warn("index snapshot unusable; rebuilding the graph from records", "space", sp.name, "err", err)
		return nil
	}
	return ld
}

// promoteToHNSW moves a space that outgrew the exact scan onto the graph: the graph is
// built from the flat index's vectors (in parallel) while recalls keep using the flat one,
// then swapped in. Called in a write's turn, so no other write can slip between the two.
func (sp *Space) promoteToHNSW(flat *index.Flat, cfg codec.Config) {
	start := time.Now()
	keys, vecs := flat.Export()
	g := index.NewHNSW(flat.Dim(), hnswConfig(cfg))
	if err := g.Add(keys, vecs); err != nil {
		sp.store.log.Error("building the graph index failed; staying on the exact index", "space", sp.name, "err", err)
		return
	}
	sp.mu.Lock()
	sp.idx = g
	sp.mu.Unlock()
	sp.store.log.Info("space switched to the HNSW index", "space", sp.name, "memories", len(keys), "elapsed", time.Since(start))
}

// hnswConfig returns the graph parameters of a space.
func hnswConfig(cfg codec.Config) index.HNSWConfig {
	c := index.HNSWConfig{M: cfg.M, EfConstruction: cfg.EfConstruction, EfSearch: cfg.EfSearch}
	if policyOf(cfg).HotCapacity > 0 {
		c.CompactRatio = tieredCompactRatio
	}
	return c
}

// tieredCompactRatio is the tombstone share at which a tiered space's hot graph repairs
// itself. Migration deletes a tenth of the hot tier at a time (high to low watermark), so
// at the graph's default, 5%, every demotion cycle repairs nearly every node; at 20% a
// repair serves two cycles. Measured with `cd bench && go run . hotchurn --n 28000 --hot
// 8000 --compact 0.05,0.2,0.4` (384-d): repairs cost 83% of the inserts' CPU time at 5%,
// 47% at 20%, 19% at 40% — where the inserts themselves, walking more tombstones, cost a
// third more; recall@10 against a fresh graph of the survivors was equal or better at each.
// (A graph loaded from a snapshot keeps the default until index.DecodeHNSW takes it.)
const tieredCompactRatio = 0.2
