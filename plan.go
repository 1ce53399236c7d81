package engram

import (
	"fmt"
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
//   - graph: otherwise the graph is searched for more results than K — its breadth plus
//     K / selectivity times a margin — and the K nearest that pass are kept: the cost of
//     an unfiltered search of that breadth. Should fewer than K pass (the filter was more selective than
//     its estimate, which is only an upper bound when the filter has record tests), the
//     postings plan runs after all, or, for a filter the postings cannot list, a search
//     with the filter applied to the nodes the graph reaches, which scans every vector
//     when it does not settle (plan "scan"). On the exact index (small spaces,
//     Query.Exact) the graph plan is the full scan with the filter applied ("exact").
//
// postingsPay draws the line between the two from a cost model measured on GloVe 100k.
// Either way the filter is checked per candidate from the postings alone when they decide
// it (a few nanoseconds, no record read), else against the record; each result is then
// checked against its record once more, and should a concurrent write make the two
// disagree, the search runs again with every candidate checked against its record
// (counted in FilterStats.Rechecks).

// planKind names how a recall's hot tier was searched.
type planKind uint8

const (
	planGraph       planKind = iota // the graph, more results than K, filtered after
	planPostings                    // exact scan of the filter's postings
	planExact                       // the exact index's full scan (filter on candidates)
	planGraphFilter                 // the graph with the filter inside the search
	planScan                        // that search gave up (filter too selective for it) and scanned
	numPlans
)

var planNames = [numPlans]string{"graph", "postings", "exact", "graph-filter", "scan"}

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
	// the filter's matches scored), "graph" (a graph search for more than K results, the
	// filter applied to them), "graph-filter" (a graph search admitting only matches, when
	// the first found too few), "scan" (such a search that gave up on a filter too
	// selective for it and scanned every vector) and "exact" (the exact index's scan with
	// the filter applied).
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

// The planner's cost model, from BenchmarkFilterPlans (GloVe 100k, 100-d, K 10, the
// shared 2-core machine: `go test -run '^$' -bench FilterPlans .`): scoring the listed
// candidates cost about 55 ns a candidate (10,000 in 555 µs, 5,000 in 289 µs), a graph
// search about 2.5 µs per result asked for (128 in 290-330 µs, 300 in 584 µs) — only their
// ratio matters, as load slows both alike. The exact index's full scan costs about a
// quarter of a listed candidate per vector (its rows are contiguous; the README's exact-
// vs-graph measurement behind DefaultHNSWThreshold).
const (
	keyCost  = 55
	efCost   = 2500
	flatCost = 14
	// overfetch: the graph plan asks for its breadth plus overfetch × K / selectivity
	// results: the K nearest matches are about the (K / selectivity) nearest memories, and
	// a search finds its first results more surely than its last. Measured at margin 1,
	// 1.5 and 3 on top of the breadth (128): recall@10 0.92, 0.91 and 0.95 at 10%
	// selectivity; 0.93, 0.93, 0.94 at 20%; at 50% the breadth alone gave 0.9485.
	overfetch = 3.0
)

// fetchSize is how many results the graph plan asks for, for a filter matching est of n
// memories and a query of k hits with breadth ef.
func fetchSize(est, n, ef, k int, margin float64) int {
	if est <= 0 {
		est = 1
	}
	want := ef + int(margin*float64(k)*float64(n)/float64(est)+0.5)
	return min(want, maxBreadth, max(n, ef))
}

// postingsPay reports whether scoring est listed candidates beats searching the index
// (the graph with fetchSize results, or the exact index's full scan) for a query of k
// hits with breadth ef over n vectors.
func postingsPay(est, n, ef, k int, scan bool) bool {
	if scan {
		return est*keyCost <= n*flatCost
	}
	return est*keyCost <= fetchSize(est, n, ef, k, overfetch)*efCost
}

// hotFiltered searches the hot index for a filtered query, choosing the plan. The caller
// holds the postings' read lock, with the filter bound.
func (r *recaller) hotFiltered(idx index.Index, opt index.SearchOptions, errp *error) ([]index.Result, error) {
	admit := r.admit(errp)
	n, k := idx.Len(), r.q.K
	ef := opt.Breadth
	if ef <= 0 {
		ef = r.sp.config().EfSearch
	}
	ef = max(ef, k)
	scan := idx.Kind() == index.KindFlat || r.q.Exact
	est, gen := r.where.estimate(n)
	ks, canList := idx.(keySearcher)
	postings := func() ([]index.Result, error) {
		r.keys = r.where.candidates(r.keys[:0])
		r.plan = planPostings
		opt.Filter = admit
		return ks.SearchKeys(r.cue, k, r.keys, opt)
	}
	if canList && gen {
		pays := r.sp.store.opts.postingsPay
		if pays == nil {
			pays = func(est, n, ef int) bool { return postingsPay(est, n, ef, k, scan) }
		}
		if pays(est, n, ef) {
			return postings()
		}
	}
	if scan {
		r.plan = planExact
		opt.Filter = admit
		return idx.Search(r.cue, k, opt)
	}
	// The graph: ask for more results than K, as many more as the filter is selective, and
	// keep the K nearest that pass — a search as cheap as an unfiltered one of that breadth.
	// Applying the filter inside the search instead (admitting only matching nodes to its
	// result list) was measured slower at every selectivity: the search must then travel
	// until it has collected its breadth of matches.
	o := &r.sp.store.opts
	if !o.filterInSearch {
		margin := float64(overfetch)
		if o.overfetch > 0 {
			margin = o.overfetch
		}
		fetch := fetchSize(est, n, ef, k, margin)
		res, err := idx.Search(r.cue, fetch, index.SearchOptions{Breadth: fetch, MinSimilarity: opt.MinSimilarity})
		if err != nil {
			return nil, err
		}
		out := res[:0]
		for _, x := range res {
			if admit(x.Key) {
				if out = append(out, x); len(out) == k {
					break
				}
			}
		}
		if *errp != nil || len(out) == k || len(res) < fetch {
			r.plan = planGraph
			return out, nil // (fewer than fetch results: the graph had no more above MinSimilarity)
		}
	}
	// Fewer than K of the results matched: the filter is more selective than estimated.
	// Score its candidates if it can list them, else search with the filter applied to the
	// nodes the graph reaches (which scans every vector when it does not settle).
	if canList && gen && o.postingsPay == nil { // (tests force the search below)
		return postings()
	}
	fell := false
	opt.Filter, opt.FellBack = admit, &fell
	res, err := idx.Search(r.cue, k, opt)
	r.plan = planGraphFilter
	if fell {
		r.plan = planScan
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

// needView reports whether the query filters on record fields (or the space has memories
// that may have expired).
func (r *recaller) needView() bool {
	return r.q.MinConfidence > 0 || r.where != nil || r.expiring
}

// filter returns the record filter for index candidates: visible in this transaction,
// in one of the tiers in accept (tier.All: no check), and passing the query's record
// tests (confidence, filter, expiry). err receives a decoding failure.
func (r *recaller) filter(accept tier.Set, errp *error) func(uint64) bool {
	return func(key uint64) bool { return r.check(key, accept, errp) }
}

// check is the test of filter for one candidate.
func (r *recaller) check(key uint64, accept tier.Set, errp *error) bool {
	v := r.record(key)
	if v == nil {
		return false // not (or no longer) visible in this transaction
	}
	var kb [8]byte
	if accept != tier.All && !accept.Has(r.buckets().tierOf(seqKey(&kb, key), v)) {
		return false // moved by a migration that committed after the index was read
	}
	if !r.needView() {
		return true
	}
	view, err := codec.Parse(v)
	if err != nil {
		*errp = newErr(CodeCorrupt, OpRecall, r.sp.name, fmt.Sprintf("record %d", key), err)
		return false
	}
	return r.passes(&view, key, func() tier.Tier { return r.buckets().tierOf(seqKey(&kb, key), v) })
}
