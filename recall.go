package engram

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/engram-go/engram/index"
	"github.com/engram-go/engram/internal/codec"
	"github.com/engram-go/engram/tier"
	"github.com/engram-go/engram/vector"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sync/errgroup"
)

// maxBreadth bounds Query.Breadth: beyond it an approximate search costs more than an exact
// scan of any realistic space.
const maxBreadth = 1 << 16

// Recall returns up to q.K memories nearest to q.Embedding by cosine similarity, among
// those that pass the query's thresholds and filters, sorted by Score (see Hit). The K
// nearest are chosen by similarity; Score then orders them.
//
// Each returned memory counts as accessed: its LastAccess and AccessCount are updated in
// memory at once and written to disk by the next access flush, never by the recall itself.
//
// Invalid queries fail with INVALID_QUERY (K, thresholds, breadth), DIMENSION_MISMATCH or
// INVALID_EMBEDDING (the cue); a space without memories returns no hits.
func (sp *Space) Recall(ctx context.Context, q Query) (hits []Hit, err error) {
	done, err := sp.enter(OpRecall)
	if err != nil {
		return nil, err
	}
	defer done()
	defer sp.measure(OpRecall, 1, time.Now(), &err)
	return sp.recall(ctx, &q)
}

// recall is Recall inside an entered call.
func (sp *Space) recall(ctx context.Context, q *Query) ([]Hit, error) {
	const op = OpRecall
	bad := func(format string, args ...any) ([]Hit, error) {
		return nil, newErr(CodeInvalidQuery, op, sp.name, fmt.Sprintf(format, args...), nil)
	}
	switch {
	case q.K <= 0 || q.K > sp.store.limit.MaxK:
		return bad("K = %d, want 1 to %d", q.K, sp.store.limit.MaxK)
	case !(q.MinSimilarity >= -1 && q.MinSimilarity <= 1):
		return bad("MinSimilarity = %v, want -1 to 1", q.MinSimilarity)
	case !(q.MinConfidence >= 0 && q.MinConfidence <= 1):
		return bad("MinConfidence = %v, want 0 to 1", q.MinConfidence)
	case q.Breadth < 0 || q.Breadth > maxBreadth:
		return bad("Breadth = %d, want 0 to %d", q.Breadth, maxBreadth)
	case q.Tiers&^tier.All != 0:
		return bad("Tiers = %08b names unknown tiers", uint8(q.Tiers))
	}
	dim, idx, weight := sp.state()
	if len(q.Embedding) == 0 {
		return nil, newErr(CodeInvalidEmbedding, op, sp.name, "cue embedding is empty", vector.ErrEmpty)
	}
	if dim != 0 && len(q.Embedding) != dim {
		return nil, newErr(CodeDimensionMismatch, op, sp.name, fmt.Sprintf("cue has %d dimensions, the space %d", len(q.Embedding), dim), nil)
	}
	cue := slices.Clone(q.Embedding)
	if _, err := vector.Normalize(cue); err != nil {
		return nil, newErr(CodeInvalidEmbedding, op, sp.name, "cue", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, ctxErr(op, sp.name, err)
	}
	if idx == nil {
		return nil, nil // no memories yet
	}
	if q.SimilarityOnly {
		weight = 0
	}
	// Default recall searches hot and continues into warm only when hot has fewer than K
	// passing hits; a query that names tiers searches each of them and merges.
	cascade := q.Tiers == tier.Default
	tiers := q.Tiers.Resolve()
	now := time.Now()

	var hits []Hit
	err := sp.store.view(func(tx *bolt.Tx) error {
		b, err := sp.buckets(tx)
		if err != nil {
			return err
		}
		r := &recaller{sp: sp, b: b, q: q, cue: cue, weight: weight, now: now}
		if tiers.Has(tier.Hot) {
			if err := r.hot(idx); err != nil {
				return err
			}
		}
		if tiers.Has(tier.Warm) && (!cascade || len(r.hits) < q.K) {
			if err := r.warm(dim); err != nil {
				return err
			}
		}
		if tiers.Has(tier.Cold) && !cascade {
			if err := r.scan(dim, tier.Cold); err != nil {
				return err
			}
		}
		hits = r.hits
		return nil
	})
	if err != nil {
		return nil, storageErr(op, sp.name, err)
	}
	// The K nearest by similarity across the tiers searched, then ordered by score.
	if len(hits) > q.K {
		bySimilarity(hits)
		hits = hits[:q.K]
	}
	slices.SortStableFunc(hits, func(a, b Hit) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(b.Similarity, a.Similarity)
	})
	sp.touch(hits)
	return hits, nil
}

// recaller gathers the hits of one recall, tier by tier, in one read transaction.
type recaller struct {
	sp     *Space
	b      spaceTx
	q      *Query
	cue    []float32
	weight float32
	now    time.Time
	hits   []Hit
	seen   map[uint64]bool // seqs already hit (a memory is in one tier, but be safe)
}

// needView reports whether the query filters on record fields.
func (r *recaller) needView() bool {
	return r.q.MinConfidence > 0 || len(r.q.Metadata) > 0 || len(r.q.Tags) > 0
}

// filter returns the record filter for index candidates: visible in this transaction,
// in one of the tiers in accept (tier.All: no check), and passing the query's field
// filters. err receives a decoding failure.
func (r *recaller) filter(accept tier.Set, errp *error) func(uint64) bool {
	checkTier := accept != tier.All
	need := r.needView()
	return func(key uint64) bool {
		var kb [8]byte
		k := seqKey(&kb, key)
		v := r.b.recs.Get(k)
		if v == nil {
			return false // not (or no longer) visible in this transaction
		}
		if checkTier && !accept.Has(r.b.tierOf(k, v)) {
			return false // moved by a migration that committed after the index was read
		}
		if !need {
			return true
		}
		view, err := codec.Parse(v)
		if err != nil {
			*errp = newErr(CodeCorrupt, OpRecall, r.sp.name, fmt.Sprintf("record %d", key), err)
			return false
		}
		return view.Confidence >= r.q.MinConfidence && view.HasTags(r.q.Tags) && view.HasMeta(r.q.Metadata)
	}
}

// add turns index results (keys with similarities) into hits, reading their records.
func (r *recaller) add(res []index.Result, exact bool) error {
	for _, x := range res {
		if r.seen[x.Key] {
			continue
		}
		var kb [8]byte
		k := seqKey(&kb, x.Key)
		v := r.b.recs.Get(k)
		if v == nil {
			continue
		}
		view, err := codec.Parse(v)
		if err != nil {
			return newErr(CodeCorrupt, OpRecall, r.sp.name, fmt.Sprintf("record %d", x.Key), err)
		}
		sim := x.Similarity
		if !exact { // a compressed tier's estimate: re-rank at full precision
			vec := make([]float32, view.Dim)
			view.Embedding(vec)
			sim = vector.Dot(vec, r.cue)
		}
		if !(sim >= r.q.MinSimilarity) { // NaN: a non-finite stored vector is never a hit
			continue
		}
		m := r.sp.toMemory(r.b, k, &view)
		conf, boost := m.Conf(), float32(1)
		if d := r.sp.decay; d.Kind != tier.NoDecay {
			last := m.CreatedAt
			if m.LastAccess.After(last) {
				last = m.LastAccess
			}
			idle := r.now.Sub(last)
			conf, boost = d.Apply(conf, idle), d.Boost(idle)
		}
		if r.seen == nil {
			r.seen = map[uint64]bool{}
		}
		r.seen[x.Key] = true
		r.hits = append(r.hits, Hit{
			Memory:     m,
			Similarity: sim,
			Confidence: conf,
			Score:      sim * (1 - r.weight + r.weight*conf) * boost,
			seq:        x.Key,
		})
	}
	return nil
}

// hot searches the in-memory index.
func (r *recaller) hot(idx index.Index) error {
	var ferr error
	filter := r.filter(tier.All, &ferr)
	opt := index.SearchOptions{Breadth: r.q.Breadth, MinSimilarity: r.q.MinSimilarity, Exact: r.q.Exact}
	if r.needView() {
		opt.Filter = filter
	}
	res, err := idx.Search(r.cue, r.q.K, opt)
	if err != nil {
		return newErr(CodeDimensionMismatch, OpRecall, r.sp.name, "", err)
	}
	if !r.needView() && !allVisible(r.b.recs, res) {
		// A write raced the index (a record committed after this transaction began, or
		// forgotten while the index still held it). Rare: search again, admitting only
		// keys visible here, so the result is still K long and consistent.
		opt.Filter = filter
		if res, err = idx.Search(r.cue, r.q.K, opt); err != nil {
			return newErr(CodeDimensionMismatch, OpRecall, r.sp.name, "", err)
		}
	}
	if ferr != nil {
		return ferr
	}
	return r.add(res, true)
}

// warmRerank is how many candidates per wanted hit the warm tier's compressed scan
// hands to the full-precision re-rank.
const warmRerank = 4

// warm scans the warm tier's 8-bit codes for candidates and re-ranks them.
func (r *recaller) warm(dim int) error {
	w := r.sp.warmIndex()
	if w == nil || w.Len() == 0 {
		return nil
	}
	if r.q.Exact {
		return r.scan(dim, tier.Warm) // exhaustive: every warm record at full precision
	}
	var ferr error
	res, err := w.Search(r.cue, r.q.K, index.SearchOptions{
		Breadth:       max(warmRerank*r.q.K, 40, r.q.Breadth),
		MinSimilarity: r.q.MinSimilarity,
		// Hot too: a memory whose demotion committed after this transaction began is
		// already out of the graph, in the warm codes, and still hot here. (One promoted
		// the other way is still in the codes until the graph has it.) Cold is left out:
		// an archived memory is not recalled by default.
		Filter: r.filter(tier.Of(tier.Hot, tier.Warm), &ferr),
	})
	if err != nil {
		return newErr(CodeDimensionMismatch, OpRecall, r.sp.name, "", err)
	}
	if ferr != nil {
		return ferr
	}
	// The scan's candidates are approximate; after the full-precision re-rank only the K
	// most similar stay, so more candidates never mean more hits.
	start := len(r.hits)
	if err := r.add(res, false); err != nil {
		return err
	}
	if warm := r.hits[start:]; len(warm) > r.q.K {
		bySimilarity(warm)
		r.hits = r.hits[:start+r.q.K]
	}
	return nil
}

// bySimilarity sorts hits by decreasing similarity, ties by sequence number.
func bySimilarity(hits []Hit) {
	slices.SortStableFunc(hits, func(a, b Hit) int {
		if c := cmp.Compare(b.Similarity, a.Similarity); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
}

// scan reads the records of tier t on disk and scores them at full precision: the cold
// tier keeps nothing in memory, so this is how it is searched — slow by design, and only
// on request — and how Query.Exact searches the warm tier.
func (r *recaller) scan(dim int, t tier.Tier) error {
	var ferr error
	filter := r.filter(tier.All, &ferr)
	acc := vector.NewTopKAcc(r.q.K, r.q.MinSimilarity, nil)
	var keys []uint64
	vec := make([]float32, dim)
	consider := func(k, v []byte) error {
		view, err := codec.Parse(v)
		if err != nil {
			return newErr(CodeCorrupt, OpRecall, r.sp.name, fmt.Sprintf("record %x", k), err)
		}
		if view.Dim != dim {
			return nil
		}
		seq, _ := codec.KeySeq(k)
		view.Embedding(vec)
		keys = append(keys, seq)
		acc.Offer(len(keys)-1, vector.Dot(vec, r.cue), func(row int) bool { return filter(keys[row]) })
		return nil
	}
	// A record's tier is the one it was written to unless a tier entry says otherwise:
	// walk the records once, checking each one's tier.
	c := r.b.recs.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if r.b.tierOf(k, v) != t {
			continue
		}
		if err := consider(k, v); err != nil {
			return err
		}
	}
	if ferr != nil {
		return ferr
	}
	best := acc.Result()
	res := make([]index.Result, len(best))
	for i, s := range best {
		res[i] = index.Result{Key: keys[s.Row], Similarity: s.Score}
	}
	return r.add(res, true)
}

// allVisible reports whether every result's record exists in the transaction of recs.
func allVisible(recs *bolt.Bucket, res []index.Result) bool {
	for _, r := range res {
		var kb [8]byte
		if recs.Get(seqKey(&kb, r.Key)) == nil {
			return false
		}
	}
	return true
}

// touch records the access of every hit, and shows it in the returned memories; with
// tiering it also updates the hot memories' activation and queues warm and cold hits for
// promotion (tier.Policy.Promote).
func (sp *Space) touch(hits []Hit) {
	if len(hits) == 0 {
		return
	}
	now := time.Unix(0, time.Now().UnixNano()).UTC() // wall clock only, as it reads back from disk
	ids := make([]string, len(hits))
	var hot, other []uint64
	for i := range hits {
		ids[i] = hits[i].Memory.ID
		hits[i].Memory.LastAccess = now
		hits[i].Memory.AccessCount++
		if hits[i].Memory.Tier == tier.Hot {
			hot = append(hot, hits[i].seq)
		} else {
			other = append(other, hits[i].seq)
		}
	}
	sp.access.touch(ids, now.UnixNano())
	if t := sp.tiering; t != nil {
		if !t.policy.Promote.OnRecall() {
			other = nil
		}
		t.touch(hot, other, now.UnixNano())
		if w := sp.warmIndex(); w != nil {
			for i := range hits {
				if hits[i].Memory.Tier == tier.Warm {
					w.SetStamp(hits[i].seq, stampOf(now.UnixNano()))
				}
			}
		}
		if len(other) > 0 {
			sp.store.wakeMigrator()
		}
	}
}

// RecallResult is the outcome of one query of BatchRecall.
type RecallResult struct {
	Hits []Hit
	Err  error
}

// BatchRecall runs the queries in parallel (at most GOMAXPROCS at a time) and returns one
// result per query, in input order; a failed query does not affect the others. The error
// is non-nil only when no query could run (store closed, space dropped, ctx done, or more
// than Limits.MaxBatch queries); the results then all carry it.
func (sp *Space) BatchRecall(ctx context.Context, qs []Query) ([]RecallResult, error) {
	const op = OpRecall
	out := make([]RecallResult, len(qs))
	failAll := func(err error) ([]RecallResult, error) {
		for i := range out {
			out[i].Err = err
		}
		return out, err
	}
	done, err := sp.enter(op)
	if err != nil {
		return failAll(err)
	}
	defer done()
	if len(qs) > sp.store.limit.MaxBatch {
		return failAll(newErr(CodeBatchTooLarge, op, sp.name, fmt.Sprintf("%d queries exceed the limit %d", len(qs), sp.store.limit.MaxBatch), nil))
	}
	if err := ctx.Err(); err != nil {
		return failAll(ctxErr(op, sp.name, err))
	}
	start := time.Now()
	var g errgroup.Group
	g.SetLimit(maxParallel())
	for i := range qs {
		g.Go(func() error {
			out[i].Hits, out[i].Err = sp.recall(ctx, &qs[i])
			return nil
		})
	}
	_ = g.Wait() // per-query errors are in out
	failed := make([]ItemResult, len(out))
	for i := range out {
		failed[i].Err = out[i].Err
	}
	sp.metrics.observe(OpRecall, len(qs), time.Since(start), nil, failed)
	return out, nil
}
