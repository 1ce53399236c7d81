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
	done, err := sp.enter("recall")
	if err != nil {
		return nil, err
	}
	defer done()
	defer sp.measure(OpRecall, 1, time.Now(), &err)
	return sp.recall(ctx, &q)
}

// recall is Recall inside an entered call.
func (sp *Space) recall(ctx context.Context, q *Query) ([]Hit, error) {
	const op = "recall"
	bad := func(format string, args ...any) ([]Hit, error) {
		return nil, newErr(CodeInvalidQuery, op, sp.name, fmt.Sprintf(format, args...), nil)
	}
	switch {
	case q.K <= 0 || q.K > sp.st.limit.MaxK:
		return bad("K = %d, want 1 to %d", q.K, sp.st.limit.MaxK)
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
	if idx == nil || !q.Tiers.Has(tier.Hot) {
		// No memories yet, or only tiers that hold nothing in this version.
		return nil, nil
	}
	if q.SimilarityOnly {
		weight = 0
	}

	var hits []Hit
	err := sp.st.view(func(tx *bolt.Tx) error {
		b, err := sp.bucket(tx)
		if err != nil {
			return err
		}
		recs := b.recs
		// Filters run on index candidates only (those that would make the result), reading
		// the candidate's record in this transaction.
		needView := q.MinConfidence > 0 || len(q.Metadata) > 0 || len(q.Tags) > 0
		var filterErr error
		filter := func(key uint64) bool {
			var kb [8]byte
			v := recs.Get(seqKey(&kb, key))
			if v == nil {
				return false // not (or no longer) visible in this transaction
			}
			if !needView {
				return true
			}
			view, err := codec.Parse(v)
			if err != nil {
				filterErr = newErr(CodeCorrupt, op, sp.name, fmt.Sprintf("record %d", key), err)
				return false
			}
			return view.Confidence >= q.MinConfidence && view.HasTags(q.Tags) && view.HasMeta(q.Metadata)
		}
		opt := index.SearchOptions{Breadth: q.Breadth, MinSimilarity: q.MinSimilarity, Exact: q.Exact}
		if needView {
			opt.Filter = filter
		}
		res, err := idx.Search(cue, q.K, opt)
		if err != nil {
			return newErr(CodeDimensionMismatch, op, sp.name, "", err)
		}
		if !needView && !allVisible(recs, res) {
			// A write raced the index (a record committed after this transaction began, or
			// forgotten while the index still held it). Rare: search again, admitting only
			// keys visible here, so the result is still K long and consistent.
			opt.Filter = filter
			if res, err = idx.Search(cue, q.K, opt); err != nil {
				return newErr(CodeDimensionMismatch, op, sp.name, "", err)
			}
		}
		if filterErr != nil {
			return filterErr
		}
		hits = make([]Hit, 0, len(res))
		for _, r := range res {
			var kb [8]byte
			v := recs.Get(seqKey(&kb, r.Key))
			if v == nil {
				continue // checked above; cannot happen within one transaction
			}
			view, err := codec.Parse(v)
			if err != nil {
				return newErr(CodeCorrupt, op, sp.name, fmt.Sprintf("record %d", r.Key), err)
			}
			m := sp.toMemory(b, &view)
			hits = append(hits, Hit{
				Memory:     m,
				Similarity: r.Similarity,
				Score:      r.Similarity * (1 - weight + weight*m.Conf()),
			})
		}
		return nil
	})
	if err != nil {
		return nil, sp.st.storageErr(op, sp.name, err)
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

// touch records the access of every hit, and shows it in the returned memories.
func (sp *Space) touch(hits []Hit) {
	if len(hits) == 0 {
		return
	}
	now := time.Unix(0, time.Now().UnixNano()) // wall clock only, as it reads back from disk
	ids := make([]string, len(hits))
	for i := range hits {
		ids[i] = hits[i].Memory.ID
		hits[i].Memory.LastAccess = now
		hits[i].Memory.AccessCount++
	}
	sp.access.touch(ids, now.UnixNano())
}
