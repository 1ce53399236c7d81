package engram

// The cold tier keeps nothing in memory: its memories are records only, found by scanning
// them at full precision when a query names the tier (and by Query.Exact over warm).

import (
	"fmt"

	"github.com/engram-go/engram/index"
	"github.com/engram-go/engram/internal/codec"
	"github.com/engram-go/engram/tier"
	"github.com/engram-go/engram/vector"
)

// scan reads the records of tier t on disk and scores them at full precision: the cold
// tier keeps nothing in memory, so this is how it is searched — slow by design, and only
// on request — and how Query.Exact searches the warm tier.
func (r *recaller) scan(t tier.Tier) error {
	var ferr error
	filter := r.filter(tier.All, &ferr)
	acc := vector.NewTopKAcc(r.q.K, r.q.MinSimilarity, nil)
	var keys []uint64
	vec := make([]float32, r.dim)
	// A record's tier is the one it was written to unless a tier entry says otherwise:
	// walk the records once, checking each one's tier.
	walk := r.buckets().tierWalk()
	c := r.recs.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if walk(k, v) != t {
			continue
		}
		view, err := codec.Parse(v)
		if err != nil {
			return newErr(CodeCorrupt, OpRecall, r.sp.name, fmt.Sprintf("record %x", k), err)
		}
		if view.Dim != r.dim {
			continue
		}
		seq, _ := codec.KeySeq(k)
		view.Embedding(vec)
		keys = append(keys, seq)
		acc.Offer(len(keys)-1, vector.Dot(vec, r.cue), func(row int) bool { return filter(keys[row]) })
	}
	if ferr != nil {
		return ferr
	}
	best := acc.Result()
	res := make([]index.Result, len(best))
	for i, s := range best {
		res[i] = index.Result{Key: keys[s.Row], Similarity: s.Score}
	}
	_, err := r.add(res, t, true, tier.All)
	return err
}
