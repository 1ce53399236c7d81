package engram

import (
	"context"
	"time"

	"github.com/engram-go/engram/index"
	"github.com/engram-go/engram/tier"
	bolt "go.etcd.io/bbolt"
)

// The warm tier's index. Warm memories stay searchable in memory as 8-bit codes (a
// quarter of their float32 vectors) in a proximity graph, index.Graph8, which default
// recall searches beside the hot graph; its candidates are re-ranked at full precision
// from the records. Migration maintains it in commit order like every other in-memory
// structure (placement.go): a demotion links the memory in, hidden, while its commit runs
// and publishes it in its turn; a promotion, cooling, forget or replacement deletes it.
// Its links are snapshotted beside the hot graph's (<space>/warm) and reconciled with the
// records at Open, so a reopen does not rebuild it.
//
// Why a graph (measured with cd bench && go run . warmindex): on 210,000
// synthetic 384-d vectors an inverted file over the same codes (index.IVF, lists grown by
// splitting) had to scan a fifth of its lists for recall@10 0.95 — about 1,200 queries/s,
// under half the rate of the graph at the same recall — and the full scan of the codes
// (the warm tier before) managed 268 queries/s. The graph's maintenance cost (inserts,
// repairs around deletions) is what an inverted file would have saved; with codes instead
// of float32 vectors and fewer links than the hot graph (M 12, efConstruction 64 vs 16 and
// 200) a warm insert costs a fraction of the hot insert that preceded it.
const (
	warmM              = 12
	warmEfConstruction = 64
	// warmEf is the warm graph's own default breadth, for callers of the index alone; a
	// recall searches it at warmBreadth.
	warmEf = 96
	// warmRerank is how many candidates per wanted hit the warm search hands to the
	// full-precision re-rank: the codes' error (about 1e-3 of a cosine) rarely moves a
	// memory more than a few places, and twice K re-ranked found the same top 10 as four
	// times K on every configuration measured.
	warmRerank = 2
)

func warmConfig() index.Graph8Config {
	return index.Graph8Config{M: warmM, EfConstruction: warmEfConstruction, EfSearch: warmEf}
}

// newWarmIndex returns an empty warm index of dim-length vectors.
func newWarmIndex(dim int) *index.Graph8 { return index.NewGraph8(dim, warmConfig()) }

// snapshotWarm writes the warm index if it changed since its last snapshot.
func (sp *Space) snapshotWarm(ctx context.Context) error {
	const op = OpSnapshot
	t, w := sp.tiering, sp.warmIndex()
	if w == nil {
		return nil
	}
	t.mu.Lock()
	saved := t.warmSaved
	t.mu.Unlock()
	changes := w.Changes() // before encoding: a change meanwhile is saved now or next time
	if changes == saved {
		return nil
	}
	start := time.Now()
	data, err := w.MarshalBinary()
	if err != nil {
		return newErr(CodeStorage, op, sp.name, "encode the warm index", err)
	}
	if err := sp.saveChunks(ctx, sp.names.warm, data); err != nil {
		return err
	}
	t.mu.Lock()
	t.warmSaved = changes
	t.mu.Unlock()
	sp.store.log.Info("warm index snapshot saved", "space", sp.name, "bytes", len(data), "elapsed", time.Since(start))
	return nil
}

// openWarmSnapshot decodes the space's warm index snapshot if there is a usable one, else
// returns nil (and logs why), leaving the index to be rebuilt from the records.
func (sp *Space) openWarmSnapshot(tx *bolt.Tx, dim int) *index.Graph8Loader {
	data, err := readChunks(tx, sp.names.warm)
	if err == nil && data == nil {
		return nil
	}
	var ld *index.Graph8Loader
	if err == nil {
		ld, err = index.DecodeGraph8(data, dim, warmConfig())
	}
	if err != nil {
		sp.store.log.Warn("warm index snapshot unusable; rebuilding it from records", "space", sp.name, "err", err)
		return nil
	}
	return ld
}

// checkWarmSnapshot reports a stored warm index snapshot that would not load (Open would
// rebuild the index from the records: nothing is lost, but the file is damaged).
func (sp *Space) checkWarmSnapshot(tx *bolt.Tx, c *SpaceCheck) {
	dim := sp.Dim()
	if sp.tiering == nil || dim == 0 {
		return
	}
	data, err := readChunks(tx, sp.names.warm)
	if err == nil && data != nil {
		_, err = index.DecodeGraph8(data, dim, warmConfig())
	}
	if err != nil {
		c.problem("warm index snapshot: %v (the next Open rebuilds the index)", err)
	}
}

// checkWarm verifies the warm index's structure (nil: no warm index).
func checkWarm(w *index.Graph8, c *SpaceCheck) {
	if w == nil {
		return
	}
	if err := w.Verify(); err != nil {
		c.problem("warm index: %v", err)
	}
}

// warmBreadth is the warm search's breadth for a recall that sets none: the space's hot
// breadth (EfSearch, 128 by default), where the warm graph's own default (warmEf) is
// lower. Measured on 210,000 synthetic 384-d vectors (cd bench && go run . warmindex
// --efs 96,128,160,192): recall@10 0.929 at 96, 0.956 at 128, 0.971 at 160, 0.979 at 192,
// for 3,436 / 3,158 / 2,498 / 1,700 queries/s — 128 is the knee. Query.Breadth sets both
// searches' breadth.
func (r *recaller) warmBreadth() int {
	if r.q.Breadth > 0 {
		return r.q.Breadth
	}
	ef := r.sp.config().EfSearch
	if ef <= 0 {
		ef = DefaultHNSWEfSearch
	}
	return max(ef, r.q.K)
}

// warmSearch runs the warm tier's approximate search for the recaller: the K × warmRerank
// codes nearest the cue whose similarity can reach floor, to re-rank from the records.
func (r *recaller) warmSearch(w *index.Graph8, floor float32, filter func(uint64) bool) ([]index.Result, error) {
	res, err := w.Search(r.cue, max(warmRerank*r.q.K, r.q.K+8), index.SearchOptions{
		Breadth:       r.warmBreadth(),
		MinSimilarity: floor,
		Filter:        filter,
	})
	if err != nil {
		return nil, newErr(CodeDimensionMismatch, OpRecall, r.sp.name, "", err)
	}
	return res, nil
}

// kthSim returns the K-th best similarity among the candidates so far, when there are K:
// a memory less similar cannot make the result.
func (r *recaller) kthSim() (float32, bool) {
	if len(r.cands) < r.q.K {
		return 0, false
	}
	sims := make([]float32, len(r.cands))
	for i := range r.cands {
		sims[i] = r.cands[i].sim
	}
	nthSmallest(sims, r.q.K, func(a, b float32) bool { return a > b })
	kth := sims[0]
	for _, s := range sims[:r.q.K] {
		kth = min(kth, s)
	}
	return kth, true
}

// warmStampOf is the last-use stamp a memory enters the warm tier with.
func (sp *Space) warmStampOf(seq uint64, last int64) uint32 {
	if sp.tiering != nil { // recalls not yet flushed to the access records count too
		last = max(last, sp.tiering.lastUse(seq))
	}
	return stampOf(last)
}

// linkWarmAhead links memories about to be demoted into the warm index, hidden, while the
// demotion's commit runs (placement.go publishes them in its turn, or drops them), so the
// linking overlaps the commit and the space's other writes instead of holding up their
// turns. It returns the seqs linked.
func (sp *Space) linkWarmAhead(seqs []uint64, vecs [][]float32, stamps []uint32) []uint64 {
	w := sp.warmIndex()
	if w == nil || len(seqs) == 0 {
		return nil
	}
	dim := w.Dim()
	keys := make([]uint64, 0, len(seqs))
	flat := make([]float32, 0, len(seqs)*dim)
	st := make([]uint32, 0, len(seqs))
	for i, s := range seqs {
		if vecs[i] == nil || w.Has(s) {
			continue // not readable, or (never expected) already in the warm index
		}
		keys, flat, st = append(keys, s), append(flat, vecs[i]...), append(st, stamps[i])
	}
	if err := w.AddHidden(keys, flat, st); err != nil {
		sp.store.log.Error("warm index insert failed", "space", sp.name, "err", err)
		return nil
	}
	return keys
}

// warmTiers is what a warm search accepts of a candidate's tier in the recall's
// transaction: warm, and hot too — a memory whose demotion committed after the transaction
// began is already out of the graph and in the warm index, and still hot here. Cold is left
// out: an archived memory is not recalled by default.
var warmTiers = tier.Of(tier.Hot, tier.Warm)

// warm searches the warm tier's index (warm.go) and re-ranks its candidates at full
// precision. Once hot has K candidates, a warm memory must beat the K-th of them to make
// the result, so the search leaves out codes that cannot (within their error bound).
func (r *recaller) warm() error {
	w := r.sp.warmIndex()
	if w == nil || w.Len() == 0 {
		return nil
	}
	if r.q.Exact {
		return r.scan(tier.Warm) // exhaustive: every warm record at full precision
	}
	floor := r.q.MinSimilarity
	if kth, ok := r.kthSim(); ok {
		floor = max(floor, kth)
	}
	var ferr error
	var filter func(uint64) bool
	if r.needView() {
		filter = r.filter(warmTiers, &ferr)
	}
	res, err := r.warmSearch(w, floor, filter)
	if err == nil {
		err = ferr
	}
	if err != nil {
		return err
	}
	start := len(r.cands)
	accept := warmTiers
	if filter != nil {
		accept = tier.All // the filter checked the tiers
	}
	missing, err := r.add(res, tier.Warm, false, accept)
	if err != nil || missing == 0 || filter != nil {
		return err
	}
	// A write raced the index (a memory forgotten, or moved out of hot and warm, after
	// this transaction began, still in the index). Rare: search again, admitting only
	// what this transaction accepts, so the result is still complete.
	r.cands = r.cands[:start]
	clear(r.seen)
	if res, err = r.warmSearch(w, floor, r.filter(warmTiers, &ferr)); err == nil {
		err = ferr
	}
	if err != nil {
		return err
	}
	_, err = r.add(res, tier.Warm, false, tier.All)
	return err
}
