package engram

import (
	"slices"
	"sync/atomic"

	"github.com/engram-go/engram/index"
	"github.com/engram-go/engram/internal/codec"
	"github.com/engram-go/engram/tier"
)

// Filtered recall: how the hot tier is searched when a query has a filter (Query.Where,
// Metadata, Tags).
//
// The filter is bound to the space's postings (postings.go) and sized there: an upper
// bound of the memories it can match, from the posting sets of its metadata and tag
// tests. Then one of two plans runs:
//
//   - postings: when the filter can name its candidates (an Eq, In or HasTag test, or an
//     And holding one, or an Or of such) and they are few, only those memories' vectors
//     are scored, exactly (index SearchKeys). Its cost grows with the matches.
//   - graph: otherwise the graph search runs with the filter applied to the nodes it
//     reaches. Its cost grows as the filter gets selective, since the search must pass
//     over the memories the filter rejects; past a budget it gives up and scans every
//     vector (plan "scan"). On the exact index (small spaces, Query.Exact) this is the
//     full scan with the filter applied (plan "exact").
//
// postingsPay draws the line between the two, from a measurement (see its comment).
// Either way the filter is checked per candidate from the postings alone when they decide
// it (a few nanoseconds, no record read), else against the record; each result is then
// checked against its record once more, and should a concurrent write make the two
// disagree, the search runs again with every candidate checked against its record
// (counted in FilterStats.Rechecks).

// planKind names how a recall's hot tier was searched.
type planKind uint8

const (
	planGraph    planKind = iota // the graph, filter on candidates
	planPostings                 // exact scan of the filter's postings
	planExact                    // the exact index's full scan (filter on candidates)
	planScan                     // the graph gave up (filter too selective for it) and scanned
	numPlans
)

var planNames = [numPlans]string{"graph", "postings", "exact", "scan"}

func (p planKind) String() string { return planNames[p] }

// planCounters count the filtered recalls of a space by plan.
type planCounters struct {
	n        [numPlans]atomic.Uint64
	rechecks atomic.Uint64
}

// FilterStats describes a space's filter postings and how its filtered recalls were
// answered since it was opened.
type FilterStats struct {
	Postings PostingStats
	// Plans counts filtered recalls by how their hot tier was searched: "postings" (only
	// the filter's matches scored), "graph" (graph search, filter on candidates), "exact"
	// (the exact index, filter on candidates) and "scan" (a graph search that gave up on a
	// filter too selective for it and scanned every vector).
	Plans map[string]uint64
	// Rechecks counts recalls searched a second time with every candidate checked against
	// its record, because a concurrent write (or an expiry) made a result fail its check.
	Rechecks uint64
}

func (sp *Space) filterStats() FilterStats {
	st := FilterStats{Postings: sp.postings.stats(), Plans: make(map[string]uint64, numPlans), Rechecks: sp.plans.rechecks.Load()}
	for p := range numPlans {
		st.Plans[p.String()] = sp.plans.n[p].Load()
	}
	return st
}

// keySearcher is an index that can search a subset of its keys exactly.
type keySearcher interface {
	SearchKeys(q []float32, k int, keys []uint64, opt index.SearchOptions) ([]index.Result, error)
}

// postingsPay reports whether scoring est candidates beats the graph search, in a hot
// index of n vectors searched with breadth ef.
//
// TODO(measure): calibrated by BenchmarkFilterPlans.
func postingsPay(est, n, ef int) bool {
	return est <= max(postingsFloor, n/postingsFraction)
}

const (
	postingsFloor    = 2048
	postingsFraction = 50
)

// hotFiltered searches the hot index for a filtered query, choosing the plan. The caller
// holds the postings' read lock, with the filter bound.
func (r *recaller) hotFiltered(idx index.Index, opt index.SearchOptions, errp *error) ([]index.Result, error) {
	opt.Filter = r.admit(errp)
	if ks, ok := idx.(keySearcher); ok && !r.q.Exact {
		ef := opt.Breadth
		if ef <= 0 {
			ef = r.sp.config().EfSearch
		}
		pays := postingsPay
		if f := r.sp.store.opts.postingsPay; f != nil {
			pays = f
		}
		if est, gen := r.where.estimate(idx.Len()); gen && pays(est, idx.Len(), max(ef, r.q.K)) {
			r.keys = r.where.candidates(r.keys[:0])
			r.plan = planPostings
			return ks.SearchKeys(r.cue, r.q.K, r.keys, opt)
		}
	}
	fell := false
	opt.FellBack = &fell
	res, err := idx.Search(r.cue, r.q.K, opt)
	switch {
	case idx.Kind() == index.KindFlat || r.q.Exact:
		r.plan = planExact
	case fell:
		r.plan = planScan
	default:
		r.plan = planGraph
	}
	return res, err
}

// admit is the filter of a filtered hot search: the postings decide where they can, the
// record where they cannot (or where the query tests confidence).
func (r *recaller) admit(errp *error) func(uint64) bool {
	postingsOnly := r.where.exact() && r.q.MinConfidence == 0
	return func(seq uint64) bool {
		switch r.where.pre(seq) {
		case triNo:
			return false
		case triYes:
			if postingsOnly {
				return true
			}
		}
		return r.check(seq, tier.All, errp)
	}
}

// passes reports whether a record passes the query's record tests: confidence, expiry and
// filter. tierOf gives the memory's tier, needed only for a FilterFunc's memory.
func (r *recaller) passes(v *codec.View, seq uint64, tierOf func() tier.Tier) bool {
	if v.Confidence < r.q.MinConfidence || r.sp.expired(v, seq, r.now) {
		return false
	}
	if r.where == nil {
		return true
	}
	var mem memorySource
	if r.hasFunc {
		mem = func(v *codec.View) Memory {
			acc := r.sp.access.get(seq)
			m := memoryOf(v, tierOf(), acc, nil, nil)
			m.ExpiresAt = expiryTime(r.sp.expiresAt(v.Expires, acc.last))
			return m
		}
	}
	return r.where.match(v, mem)
}

// estimate returns an upper bound of how many of total memories n matches, from the
// bound postings, and whether its candidates can be listed from them (candidates) rather
// than being every memory.
func (n *fnode) estimate(total int) (int, bool) {
	switch n.op {
	case opEq, opIn, opTag:
		est := 0
		for _, s := range n.sets {
			if s != nil {
				est += s.Len()
			}
		}
		return min(est, total), true
	case opAnd:
		best, gen := total, false
		for _, k := range n.kids {
			if e, g := k.estimate(total); g && (!gen || e < best) {
				best, gen = e, true
			}
		}
		return best, gen
	case opOr:
		sum := 0
		for _, k := range n.kids {
			e, g := k.estimate(total)
			if !g {
				return total, false
			}
			sum += e
		}
		return min(sum, total), true
	}
	return total, false
}

// candidates appends to dst, ascending and without repeats, a superset of the memories n
// matches, for an n whose estimate says it can (and whose bound postings are held).
func (n *fnode) candidates(dst []uint64) []uint64 {
	switch n.op {
	case opEq, opTag:
		if s := n.sets[0]; s != nil {
			dst = s.AppendTo(dst)
		}
		return dst
	case opIn, opOr:
		start := len(dst)
		if n.op == opIn {
			for _, s := range n.sets {
				if s != nil {
					dst = s.AppendTo(dst)
				}
			}
		} else {
			for _, k := range n.kids {
				dst = k.candidates(dst)
			}
		}
		part := dst[start:]
		slices.Sort(part) // a memory has one value per key, but In may repeat a value
		return dst[:start+len(slices.Compact(part))]
	case opAnd:
		var best *fnode
		bestEst := 0
		for _, k := range n.kids {
			if e, g := k.estimate(int(^uint(0) >> 1)); g && (best == nil || e < bestEst) {
				best, bestEst = k, e
			}
		}
		if best != nil {
			return best.candidates(dst)
		}
	}
	return dst
}

// unbind forgets the bound posting sets: from here on pre answers maybe and the record
// decides (the warm and cold searches run after the postings' lock is released).
func (n *fnode) unbind() {
	n.bound = false
	clear(n.sets)
	for _, k := range n.kids {
		k.unbind()
	}
}
