package index

import (
	"fmt"
	"math"
	"sync/atomic"
	"unsafe"

	"github.com/engram-go/engram/vector"
	"github.com/viterin/vek/vek32"
)

// simOf is the similarity of q to a stored vector. A NaN (a vector with a non-finite
// component, stored by an older engram or added to the index directly) becomes
// unscorable, below every real similarity: the node is still traversed, so the graph
// stays connected through it, but it never displaces a real hit and is never returned.
// Compared as they were, NaNs would wedge the heaps (every comparison with them is false)
// and stop a greedy descent that started on one.
func simOf(q, v []float32) float32 {
	if s := vek32.Dot(q, v); s == s {
		return s
	}
	return unscorable
}

var unscorable = float32(math.Inf(-1))

// cand is a node with its similarity to the query.
type cand struct {
	sim float32
	id  uint32
}

// maxQueue pops the most similar candidate first.
type maxQueue []cand

func (q *maxQueue) push(c cand) {
	h := append(*q, c)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if h[p].sim >= h[i].sim {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
	*q = h
}

func (q *maxQueue) pop() cand {
	h := *q
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	for i := 0; ; {
		l := 2*i + 1
		if l >= n {
			break
		}
		c := l
		if r := l + 1; r < n && h[r].sim > h[l].sim {
			c = r
		}
		if h[i].sim >= h[c].sim {
			break
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
	*q = h
	return top
}

// minQueue keeps the best candidates seen, least similar at the root so it can be evicted.
type minQueue []cand

func (q *minQueue) push(c cand) {
	h := append(*q, c)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if h[p].sim <= h[i].sim {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
	*q = h
}

// replaceTop swaps the root for c (which must not be less similar) and restores order:
// one sift-down instead of a push and a pop when a full result set admits a better node.
func (q minQueue) replaceTop(c cand) {
	q[0] = c
	q.down(0)
}

func (q minQueue) down(i int) {
	n := len(q)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		c := l
		if r := l + 1; r < n && q[r].sim < q[l].sim {
			c = r
		}
		if q[i].sim <= q[c].sim {
			return
		}
		q[i], q[c] = q[c], q[i]
		i = c
	}
}

func (q *minQueue) pop() cand {
	h := *q
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	h.down(0)
	*q = h
	return top
}

// visitSet marks nodes seen by one search. Generation stamps make reset O(1): a node is
// visited when its mark equals the current generation.
type visitSet struct {
	gen   uint16
	marks []uint16
}

func (v *visitSet) reset(n uint32) {
	if int(n) > len(v.marks) {
		v.marks = make([]uint16, n+n/4+blockSize)
		v.gen = 0
	}
	v.gen++
	if v.gen == 0 {
		clear(v.marks)
		v.gen = 1
	}
}

// visit marks id and reports whether it was new.
func (v *visitSet) visit(id uint32) bool {
	if int(id) >= len(v.marks) { // a node added after the search started
		grown := make([]uint16, int(id)+int(id)/4+blockSize)
		copy(grown, v.marks)
		v.marks = grown
	}
	if v.marks[id] == v.gen {
		return false
	}
	v.marks[id] = v.gen
	return true
}

// searchScratch is the reusable state of one search or insert, pooled per graph so the
// hot loop allocates nothing.
type searchScratch struct {
	visit visitSet
	cands maxQueue
	res   minQueue
	out   []cand   // results sorted best first
	sel   []cand   // heuristic selection
	mine  []cand   // the inserted node's own selection
	tmp   []cand   // candidates of a list being pruned
	fresh []cand   // unvisited neighbours of the node being expanded
	prev  []uint32 // a repaired list before its repair
	back  []cand   // a repaired node's new neighbours, to link back
	keys  []uint64 // sortBySim's scratch
	touch float32
	dir   []*hblock
}

func (g *HNSW) getScratch() *searchScratch {
	s, _ := g.scratch.Get().(*searchScratch)
	if s == nil {
		s = &searchScratch{}
	}
	s.dir = *g.dir.Load()
	return s
}

func (g *HNSW) putScratch(s *searchScratch) {
	s.dir = nil
	g.scratch.Put(s)
}

func (g *HNSW) loadEntry() (id uint32, top int, ok bool) {
	e := g.entry.Load()
	if e == 0 {
		return 0, 0, false
	}
	return uint32(e >> 32), int(uint32(e)) - 1, true
}

// greedy walks layer l from cur towards q, moving to any better neighbour until none is,
// and returns the local optimum (the ef = 1 search of the upper layers).
func (g *HNSW) greedy(s *searchScratch, q []float32, cur uint32, curSim float32, l int) (uint32, float32) {
	for changed := true; changed; {
		changed = false
		lst := g.list(g.block(&s.dir, cur), cur, l)
		if lst == nil {
			break
		}
		n := min(int(atomic.LoadUint32(&lst[0])), len(lst)-1)
		for i := 1; i <= n; i++ {
			nb := atomic.LoadUint32(&lst[i])
			sim := simOf(q, g.vecOf(g.block(&s.dir, nb), nb))
			if sim > curSim {
				cur, curSim, changed = nb, sim, true
			}
		}
	}
	return cur, curSim
}

// admitFunc decides whether a reached node may enter the result set (it is traversed
// either way).
type admitFunc func(b *hblock, id uint32) bool

// searchLayer is the ef-bounded best-first search of one layer from the entry points in
// s.cands (already pushed and visited). It leaves the ef best admitted nodes in s.out,
// most similar first. budget > 0 stops the search after that many distance evaluations.
// It returns false when the budget ran out.
func (g *HNSW) searchLayer(s *searchScratch, q []float32, ef, l int, admit admitFunc, budget int) bool {
	res := s.res[:0]
	for _, c := range s.cands {
		if admit == nil || admit(g.block(&s.dir, c.id), c.id) {
			res.push(c)
		}
	}
	for len(res) > ef {
		res.pop()
	}
	complete := true
	evals := 0
	for len(s.cands) > 0 {
		c := s.cands.pop()
		if len(res) >= ef && c.sim < res[0].sim {
			break
		}
		lst := g.list(g.block(&s.dir, c.id), c.id, l)
		if lst == nil {
			continue
		}
		// Gather the unvisited neighbours first, then score them in a tight loop: the
		// vector loads of successive dot products overlap instead of waiting behind the
		// heap updates.
		n := min(int(atomic.LoadUint32(&lst[0])), len(lst)-1)
		if len(s.cands) > 0 && l == 0 {
			// The next node to expand is most likely the new top: start loading its list.
			nx := s.cands[0].id
			s.touch += float32(atomic.LoadUint32(&g.list(g.block(&s.dir, nx), nx, 0)[1]))
		}
		fresh := s.fresh[:0]
		for i := 1; i <= n; i++ {
			if nb := atomic.LoadUint32(&lst[i]); s.visit.visit(nb) {
				fresh = append(fresh, cand{id: nb})
			}
		}
		g.warmRecs(s, fresh)
		for i := range fresh {
			fresh[i].sim = simOf(q, g.vecOf(g.block(&s.dir, fresh[i].id), fresh[i].id))
		}
		s.fresh = fresh
		evals += len(fresh)
		for _, f := range fresh {
			if len(res) >= ef && f.sim <= res[0].sim {
				continue
			}
			s.cands.push(f)
			if admit == nil || admit(g.block(&s.dir, f.id), f.id) {
				if len(res) < ef {
					res.push(f)
				} else {
					res.replaceTop(f)
				}
			}
		}
		if budget > 0 && evals >= budget {
			complete = false
			break
		}
	}
	s.cands = s.cands[:0]
	// Drain the min-heap into s.out, best first.
	s.out = s.out[:0]
	for len(res) > 0 {
		s.out = append(s.out, res.pop())
	}
	for i, j := 0, len(s.out)-1; i < j; i, j = i+1, j-1 {
		s.out[i], s.out[j] = s.out[j], s.out[i]
	}
	s.res = res
	return complete
}

// warmRecs brings every candidate's record (state, layer-0 list, vector) into cache before
// any product is computed: the misses overlap, so the products that follow find their data
// in cache instead of paying one memory latency each, and so do the state check that admits
// the node and, if it is expanded later, its list. With prefetch instructions (amd64) the
// search goes on while the lines arrive; elsewhere it reads one word per line, which also
// overlaps the misses but waits for them.
//
// Measured on 340k GloVe vectors, one snapshot loaded by each binary, one-thread QPS by
// thread CPU time, binaries alternating (per-round ratios ranged 0.75–1.33: the machine is
// shared). Against the separate arrays with one read per vector line, nine rounds: median
// 1.14×, 1.16×, 1.01× at ef 16, 64, 256. Prefetching the separate arrays instead (vector
// and state) was no gain, five rounds: 0.98×, 0.99×, 0.85×. Within this layout, reads
// instead of prefetches, four rounds: prefetching 1.16×, 1.18×, 1.01×, 1.18× at ef 16, 64,
// 128, 256; prefetching only the state's and the vector's lines, 0.93–1.07× of the whole.
func (g *HNSW) warmRecs(s *searchScratch, cs []cand) {
	if havePrefetch {
		for i := range cs {
			id := cs[i].id
			prefetchLines(unsafe.Pointer(&g.block(&s.dir, id).nodes[int(id&blockMask)*g.rec]), g.rec*4)
		}
		return
	}
	var t uint32
	for i := range cs {
		id := cs[i].id
		off := int(id&blockMask) * g.rec
		r := g.block(&s.dir, id).nodes[off : off+g.rec : off+g.rec]
		// Atomic loads (plain moves on amd64 and arm64): the state and list words may be
		// written meanwhile.
		for j := 0; j < len(r); j += 16 {
			t += atomic.LoadUint32(&r[j])
		}
		t += atomic.LoadUint32(&r[len(r)-1])
	}
	s.touch += float32(t) // kept, so the loads cannot be optimized away
}

// Search implements Index. Deleted nodes are traversed but never returned. With a filter,
// the graph search gets a budget of distance evaluations; if the filter is so selective
// that the search has not settled within it, Search falls back to an exact scan, so a
// selective filter still yields the k best matching nodes whenever k exist.
// SearchOptions.Exact forces the exact scan.
func (g *HNSW) Search(q []float32, k int, opt SearchOptions) ([]Result, error) {
	if len(q) != g.dim {
		return nil, fmt.Errorf("%w: query of dim %d, index dim %d", ErrDimension, len(q), g.dim)
	}
	if k <= 0 {
		return nil, nil
	}
	g.reclaimMu.RLock()
	defer g.reclaimMu.RUnlock()
	if opt.Exact {
		return g.exact(q, k, opt), nil
	}
	ep, top, ok := g.loadEntry()
	if !ok {
		return nil, nil
	}
	s := g.getScratch()
	defer g.putScratch(s)
	g.mu.Lock()
	high := g.high
	g.mu.Unlock()
	s.visit.reset(high)

	cur, curSim := ep, simOf(q, g.vecOf(g.block(&s.dir, ep), ep))
	for l := top; l > 0; l-- {
		cur, curSim = g.greedy(s, q, cur, curSim, l)
	}
	ef := opt.Breadth
	if ef <= 0 {
		ef = g.cfg.EfSearch
	}
	ef = max(ef, k)

	var admit admitFunc
	budget := 0
	if opt.Filter != nil {
		admit = func(b *hblock, id uint32) bool {
			return g.stateOf(b, id)&(stLive|stDeleted) == stLive && opt.Filter(b.keys[id&blockMask])
		}
		// Enough to fill ef with a filter passing a few percent of nodes; past that an
		// exact scan (which consults the filter only for top candidates) is cheaper.
		budget = max(2048, 32*ef)
	} else {
		admit = func(b *hblock, id uint32) bool {
			return g.stateOf(b, id)&(stLive|stDeleted) == stLive
		}
	}
	s.visit.visit(cur)
	s.cands = append(s.cands[:0], cand{curSim, cur})
	if cur != ep {
		// Also start from the entry point. The bottom layer is a directed graph: every live
		// node is reachable from the entry point (the connectivity repair sees to it, Verify
		// checks it), but not necessarily from the node the descent ended on. One more dot
		// product makes a search whose ef covers the graph find every node; with a small ef
		// the far entry point is simply never expanded.
		s.visit.visit(ep)
		s.cands.push(cand{simOf(q, g.vecOf(g.block(&s.dir, ep), ep)), ep})
	}
	if !g.searchLayer(s, q, ef, 0, admit, budget) {
		// The filter rejected so much that the graph search ran out of budget before it
		// settled: its results are whatever it stumbled on. A selective filter leaves few
		// candidates, which is exactly when the exact scan is cheap and right.
		if opt.FellBack != nil {
			*opt.FellBack = true
		}
		return g.exact(q, k, opt), nil
	}
	out := make([]Result, 0, min(k, len(s.out)))
	for _, c := range s.out {
		if len(out) == k {
			break
		}
		if c.sim < opt.MinSimilarity || c.sim == unscorable {
			break // sorted: the rest are below too
		}
		out = append(out, Result{Key: s.dir[c.id>>blockShift].keys[c.id&blockMask], Similarity: c.sim})
	}
	sortTies(out)
	return out, nil
}

// exact scans every live node. Called with reclaimMu held shared, so no slot it reads is
// recycled meanwhile; slots being filled by concurrent inserts are skipped by their state.
func (g *HNSW) exact(q []float32, k int, opt SearchOptions) []Result {
	// The count first: a block list loaded after it covers every node below it (an insert
	// publishes a grown list before raising high), while one loaded before may be stale.
	g.mu.Lock()
	high := g.high
	g.mu.Unlock()
	dir := *g.dir.Load()
	acc := vector.NewTopKAcc(k, opt.MinSimilarity, make([]vector.Scored, 0, k))
	var filter func(int) bool
	if opt.Filter != nil {
		filter = func(row int) bool {
			return opt.Filter(dir[row>>blockShift].keys[row&blockMask])
		}
	}
	for id := uint32(0); id < high; id++ {
		b := dir[id>>blockShift]
		if g.stateOf(b, id)&(stLive|stDeleted) != stLive {
			continue
		}
		acc.Offer(int(id), vek32.Dot(q, g.vecOf(b, id)), filter)
	}
	res := acc.Result()
	out := make([]Result, len(res))
	for i, r := range res {
		out[i] = Result{Key: dir[r.Row>>blockShift].keys[r.Row&blockMask], Similarity: r.Score}
	}
	sortTies(out)
	return out
}
