package engram

import (
	"bytes"
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
// Invalid queries fail with INVALID_QUERY (K, thresholds, breadth, a filter that cannot be
// evaluated), DIMENSION_MISMATCH or INVALID_EMBEDDING (the cue); a space without memories
// returns no hits. Expired memories are never returned.
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
	if err := sp.checkQuery(q); err != nil {
		return nil, err
	}
	where, err := compileFilter(q.Where, q.Metadata, q.Tags)
	if err != nil {
		return nil, newErr(CodeInvalidQuery, op, sp.name, "Where: "+err.Error(), nil)
	}
	if q.Text != "" {
		em := sp.embedder.Load() // checkQuery saw one
		vecs, errs := sp.embedQueries(ctx, em, []string{q.Text})
		if errs[0] != nil {
			return nil, errs[0]
		}
		text := *q
		text.Embedding, text.Text = vecs[0], ""
		q = &text
	}
	dim, idx, weight := sp.state()
	if len(q.Embedding) == 0 {
		return nil, newErr(CodeInvalidEmbedding, op, sp.name, "cue embedding is empty", vector.ErrEmpty)
	}
	if dim != 0 && len(q.Embedding) != dim {
		return nil, newErr(CodeDimensionMismatch, op, sp.name, fmt.Sprintf("cue has %d dimensions, the space %d", len(q.Embedding), dim), nil)
	}
	r := sp.getRecaller()
	defer sp.putRecaller(r)
	r.cue = append(r.cue[:0], q.Embedding...)
	if _, err := vector.Normalize(r.cue); err != nil {
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
	r.q, r.weight, r.dim = q, weight, dim
	r.where, r.now, r.expiring = where, time.Now().UnixNano(), sp.expiry.any()
	r.hasFunc = where != nil && where.hasFunc()
	// Default recall (the zero Tiers) searches hot and warm together and keeps the K most
	// similar of both; a query names tiers to narrow it (tier.Of(tier.Hot)) or to add cold.
	tiers := q.Tiers.Resolve()

	var hits []Hit
	err = sp.store.view(func(tx *bolt.Tx) error {
		if err := r.open(tx); err != nil {
			return err
		}
		if tiers.Has(tier.Hot) {
			if err := r.hot(idx); err != nil {
				return err
			}
		}
		if tiers.Has(tier.Warm) {
			if err := r.warm(); err != nil {
				return err
			}
		}
		if tiers.Has(tier.Cold) {
			if err := r.scan(tier.Cold); err != nil {
				return err
			}
		}
		hits = r.hits(time.Now())
		return nil
	})
	if err != nil {
		return nil, storageErr(op, sp.name, err)
	}
	r.touch(hits)
	return hits, nil
}

// checkQuery validates a query's numbers.
func (sp *Space) checkQuery(q *Query) error {
	bad := func(format string, args ...any) error {
		return newErr(CodeInvalidQuery, OpRecall, sp.name, fmt.Sprintf(format, args...), nil)
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
	case q.Text != "" && len(q.Embedding) > 0:
		return bad("a query has an Embedding or a Text, not both")
	case q.Text != "" && sp.embedder.Load() == nil:
		return bad("Query.Text needs an Embedder attached to the space (WithEmbedder)")
	}
	return nil
}

// recaller gathers the candidates of one recall, tier by tier, in one read transaction,
// and turns the best into hits. Recallers are pooled per space, so a recall's scratch
// (the cue, the candidates, the re-rank buffer) is reused rather than allocated.
type recaller struct {
	sp        *Space
	tx        *bolt.Tx
	recs      *bolt.Bucket
	cur       *bolt.Cursor // over recs: one cursor serves every lookup (Bucket.Get makes one each)
	tiers     *bolt.Bucket // opened when a search needs the tier entries (tierBucket)
	q         *Query
	cue       []float32
	weight    float32
	dim       int
	cands     []candidate
	seen      map[uint64]bool // seqs already candidates, once there are many (see has)
	vec       []float32       // re-rank scratch
	seqs      []uint64
	ids       []string
	stats     []accessStat
	hotHits   []uint64 // touch's scratch: hits by tier
	otherHits []uint64

	// The query's filter (plan.go), compiled; nil when it has none.
	where    *fnode
	hasFunc  bool     // where holds a FilterFunc
	now      int64    // the recall's time, for expiry
	expiring bool     // the space holds memories with an expiry
	plan     planKind // how the hot tier was searched, for a filtered query
	keys     []uint64 // the postings plan's candidates
}

// candidate is an index result whose record was read: everything the ranking needs, and
// the parsed record to hydrate if it makes the result.
type candidate struct {
	seq   uint64
	sim   float32
	score float32
	conf  float32 // the confidence the score used (decayed)
	tier  tier.Tier
	view  codec.View // points into the transaction's pages
}

func (sp *Space) getRecaller() *recaller {
	if r, ok := sp.recallers.Get().(*recaller); ok {
		return r
	}
	return &recaller{sp: sp}
}

func (sp *Space) putRecaller(r *recaller) {
	clear(r.cands) // drop the views into the transaction's pages
	clear(r.ids)
	r.cands, r.seqs, r.stats, r.ids = r.cands[:0], r.seqs[:0], r.stats[:0], r.ids[:0]
	r.q, r.tx, r.recs, r.cur, r.tiers = nil, nil, nil, nil, nil
	r.where = nil
	clear(r.seen)
	sp.recallers.Put(r)
}

// open binds the recaller to a read transaction. Only the records bucket is opened up
// front: a recall answered from the hot tier reads nothing else.
func (r *recaller) open(tx *bolt.Tx) error {
	r.tx = tx
	if r.recs = tx.Bucket(r.sp.names.recs); r.recs == nil {
		return newErr(CodeSpaceNotFound, opNone, r.sp.name, "space was dropped", nil)
	}
	r.cur = r.recs.Cursor()
	return nil
}

// record returns the record at seq in this transaction, or nil.
func (r *recaller) record(seq uint64) []byte {
	var kb [8]byte
	key := seqKey(&kb, seq)
	k, v := r.cur.Seek(key)
	if !bytes.Equal(k, key) {
		return nil
	}
	return v
}

// buckets returns the space's buckets with the tier entries, for the tier checks of
// warm and cold searches.
func (r *recaller) buckets() spaceTx {
	if r.tiers == nil {
		r.tiers = r.tx.Bucket(r.sp.names.tiers)
	}
	return spaceTx{recs: r.recs, tiers: r.tiers}
}

// has reports whether seq is a candidate already (a memory is in one tier, but a move
// racing the recall can show it in two).
func (r *recaller) has(seq uint64) bool {
	if len(r.cands) < 32 {
		for i := range r.cands {
			if r.cands[i].seq == seq {
				return true
			}
		}
		return false
	}
	if len(r.seen) == 0 {
		if r.seen == nil {
			r.seen = make(map[uint64]bool, len(r.cands))
		}
		for i := range r.cands {
			r.seen[r.cands[i].seq] = true
		}
	}
	return r.seen[seq]
}

// add turns index results of tier t into candidates, reading each one's record: the one
// lookup a hit costs. exact says the results' similarities are at full precision; those
// of a compressed tier are recomputed from the record. accept, unless tier.All, is the set
// of tiers a result must be in within this transaction (the candidate then carries the
// tier it is in). It returns how many results have no record in this transaction, are in
// a tier accept leaves out, or fail the query's record tests (a write raced the index or
// the postings, or a memory expired).
func (r *recaller) add(res []index.Result, t tier.Tier, exact bool, accept tier.Set) (missing int, err error) {
	for _, x := range res {
		if r.has(x.Key) {
			continue
		}
		v := r.record(x.Key)
		if v == nil {
			missing++
			continue
		}
		ct := t
		if accept != tier.All {
			var kb [8]byte
			if ct = r.buckets().tierOf(seqKey(&kb, x.Key), v); !accept.Has(ct) {
				missing++
				continue
			}
		}
		view, err := codec.Parse(v)
		if err != nil {
			return missing, newErr(CodeCorrupt, OpRecall, r.sp.name, fmt.Sprintf("record %d", x.Key), err)
		}
		sim := x.Similarity
		if !exact { // a compressed tier's estimate: re-rank at full precision
			r.vec = slices.Grow(r.vec[:0], view.Dim)[:view.Dim]
			view.Embedding(r.vec)
			sim = vector.Dot(r.vec, r.cue)
		}
		if !(sim >= r.q.MinSimilarity) { // NaN: a non-finite stored vector is never a hit
			continue
		}
		if !r.passes(&view, x.Key, func() tier.Tier { return ct }) {
			missing++
			continue
		}
		r.cands = append(r.cands, candidate{seq: x.Key, sim: sim, tier: ct, view: view})
		if len(r.seen) > 0 { // has switched to the map: keep it complete
			r.seen[x.Key] = true
		}
	}
	return missing, nil
}

// hot searches the in-memory index: with a filter, by the plan hotFiltered picks.
func (r *recaller) hot(idx index.Index) error {
	var ferr error
	opt := index.SearchOptions{Breadth: r.q.Breadth, MinSimilarity: r.q.MinSimilarity, Exact: r.q.Exact}
	strict := false // every candidate checked against its record
	var res []index.Result
	var err error
	if r.where != nil {
		p := &r.sp.postings
		p.mu.RLock()
		p.bind(r.where)
		res, err = r.hotFiltered(idx, opt, &ferr)
		r.where.unbind() // the sets may change once the lock is released
		p.mu.RUnlock()
		r.sp.plans.n[r.plan].Add(1)
	} else {
		if r.q.MinConfidence > 0 {
			opt.Filter, strict = r.filter(tier.All, &ferr), true
		}
		res, err = idx.Search(r.cue, r.q.K, opt)
	}
	if err != nil {
		return newErr(CodeDimensionMismatch, OpRecall, r.sp.name, "", err)
	}
	if ferr != nil {
		return ferr
	}
	start := len(r.cands)
	missing, err := r.add(res, tier.Hot, true, tier.All)
	if err != nil || missing == 0 || strict {
		return err
	}
	// A write raced the index (a record committed after this transaction began, or
	// forgotten while the index still held it), a patch raced the postings, or a result
	// expired. Rare: search again, admitting only keys visible here that pass every test
	// against their records, so the result is still K long and consistent.
	if r.where != nil {
		r.sp.plans.rechecks.Add(1)
	}
	r.cands = r.cands[:start]
	clear(r.seen)
	opt.Filter = r.filter(tier.All, &ferr)
	if res, err = idx.Search(r.cue, r.q.K, opt); err != nil {
		return newErr(CodeDimensionMismatch, OpRecall, r.sp.name, "", err)
	}
	if ferr != nil {
		return ferr
	}
	_, err = r.add(res, tier.Hot, true, tier.All)
	return err
}

// hits scores the candidates, keeps the K nearest by similarity, orders them by score and
// turns them into hits that own their memory. Called inside the transaction the
// candidates' records belong to.
func (r *recaller) hits(now time.Time) []Hit {
	cands := r.cands
	if len(cands) == 0 {
		return nil
	}
	// The K nearest by similarity across the tiers searched, then ordered by score.
	if len(cands) > r.q.K {
		slices.SortStableFunc(cands, func(a, b candidate) int {
			if c := cmp.Compare(b.sim, a.sim); c != 0 {
				return c
			}
			return cmp.Compare(a.seq, b.seq)
		})
		cands = cands[:r.q.K]
	}
	r.seqs, r.stats = r.seqs[:0], slices.Grow(r.stats[:0], len(cands))[:len(cands)]
	for i := range cands {
		r.seqs = append(r.seqs, cands[i].seq)
	}
	r.sp.access.lookup(r.seqs, r.stats)
	d := r.sp.decay
	for i := range cands {
		c := &cands[i]
		conf, boost := c.view.Confidence, float32(1)
		if d.Kind != tier.NoDecay {
			idle := now.Sub(time.Unix(0, max(c.view.Created, r.stats[i].last)))
			conf, boost = d.Apply(conf, idle), d.Boost(idle)
		}
		c.conf = conf
		c.score = c.sim * (1 - r.weight + r.weight*conf) * boost
	}
	order := make([]int, len(cands)) // sort positions, so the stats stay aligned
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		if c := cmp.Compare(cands[b].score, cands[a].score); c != 0 {
			return c
		}
		return cmp.Compare(cands[b].sim, cands[a].sim)
	})
	// One allocation each for the hits, their embeddings and their confidences.
	hits := make([]Hit, len(cands))
	confs := make([]float32, len(cands))
	var vecs []float32
	if !r.q.SkipEmbedding {
		vecs = make([]float32, len(cands)*r.dim)
	}
	for j, i := range order {
		c := &cands[i]
		vec := noEmbedding
		if vecs != nil {
			vec = vecs[j*r.dim : (j+1)*r.dim : (j+1)*r.dim]
		}
		hits[j] = Hit{
			Memory:     memoryOf(&c.view, c.tier, r.stats[i], vec, &confs[j]),
			Similarity: c.sim,
			Confidence: c.conf,
			Score:      c.score,
			seq:        c.seq,
		}
		if c.view.Expires != 0 {
			hits[j].Memory.ExpiresAt = expiryTime(r.sp.expiresAt(c.view.Expires, r.stats[i].last))
		}
	}
	return hits
}

// touch records the access of every hit, and shows it in the returned memories; with
// tiering it also updates the hot memories' activation and queues warm and cold hits for
// promotion (tier.Policy.Promote).
func (r *recaller) touch(hits []Hit) {
	if len(hits) == 0 {
		return
	}
	sp := r.sp
	now := time.Now().UnixNano()
	r.seqs, r.ids = r.seqs[:0], r.ids[:0]
	r.hotHits, r.otherHits = r.hotHits[:0], r.otherHits[:0]
	r.stats = slices.Grow(r.stats[:0], len(hits))[:len(hits)]
	for i := range hits {
		r.seqs, r.ids = append(r.seqs, hits[i].seq), append(r.ids, hits[i].Memory.ID)
		if hits[i].Memory.Tier == tier.Hot {
			r.hotHits = append(r.hotHits, hits[i].seq)
		} else {
			r.otherHits = append(r.otherHits, hits[i].seq)
		}
	}
	sp.access.touch(r.seqs, r.ids, now, r.stats)
	for i := range hits {
		m := &hits[i].Memory
		m.LastAccess = time.Unix(0, r.stats[i].last).UTC()
		m.AccessCount = r.stats[i].count
		if sp.ttlRefresh && !m.ExpiresAt.IsZero() { // refreshed by this recall (expiry.go)
			m.ExpiresAt = expiryTime(max(m.ExpiresAt.UnixNano(), addNanos(r.stats[i].last, sp.ttl)))
		}
	}
	if t := sp.tiering; t != nil {
		other := r.otherHits
		if !t.policy.Promote.OnRecall() {
			other = nil
		}
		t.touch(r.hotHits, other, now)
		if w := sp.warmIndex(); w != nil {
			for i := range hits {
				if hits[i].Memory.Tier == tier.Warm {
					w.SetStamp(hits[i].seq, stampOf(now))
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
	qs = sp.embedQueryTexts(ctx, qs, out)
	var g errgroup.Group
	g.SetLimit(maxParallel())
	for i := range qs {
		if out[i].Err != nil {
			continue // its text could not be embedded
		}
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

// embedQueryTexts embeds the texts of the queries that have one, all in one go (cache
// first), and returns the queries with their cues as embeddings (a copy when any text was
// embedded). A query whose text failed gets its error in out.
func (sp *Space) embedQueryTexts(ctx context.Context, qs []Query, out []RecallResult) []Query {
	em := sp.embedder.Load()
	var texts []string
	var at []int
	for i := range qs {
		if qs[i].Text == "" {
			continue
		}
		if err := sp.checkQuery(&qs[i]); err != nil {
			out[i].Err = err
			continue
		}
		texts, at = append(texts, qs[i].Text), append(at, i)
	}
	if len(texts) == 0 {
		return qs
	}
	vecs, errs := sp.embedQueries(ctx, em, texts)
	cp := slices.Clone(qs)
	for j, i := range at {
		if errs[j] != nil {
			e := *errs[j]
			e.Item = i
			out[i].Err = &e
			continue
		}
		cp[i].Embedding, cp[i].Text = vecs[j], ""
	}
	return cp
}
