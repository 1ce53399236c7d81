package index

import (
	"slices"
	"sync/atomic"

	"github.com/viterin/vek/vek32"
)

// casState applies f to a node's state atomically and returns the state it replaced.
func casState(p *uint32, f func(uint32) uint32) uint32 {
	for {
		old := atomic.LoadUint32(p)
		if atomic.CompareAndSwapUint32(p, old, f(old)) {
			return old
		}
	}
}

// markLive makes a linked node returnable and counts it, unless it was deleted while its
// insert ran (then it stays a tombstone).
func (g *HNSW) markLive(b *hblock, id uint32) {
	old := casState(g.statePtr(b, id), func(s uint32) uint32 { return s | stLive })
	if old&stDeleted == 0 && old&stLive == 0 {
		g.live.Add(1)
	}
}

func (g *HNSW) maxDegree(l int) int {
	if l == 0 {
		return g.m0
	}
	return g.m
}

// notDeleted admits every node that may become a neighbour: anything but tombstones.
func (g *HNSW) notDeleted(b *hblock, id uint32) bool {
	return g.stateOf(b, id)&stDeleted == 0
}

// insert links node id (allocated, with its vector) into the graph: greedy descent to the
// node's top layer, then on each layer an efConstruction search, heuristic selection of
// its neighbours, and reverse links (which may prune the neighbours' lists).
//
// With publish false the node stays hidden: linked and traversed, never returned, until
// Publish.
func (g *HNSW) insert(id uint32, s *searchScratch, publish bool) {
	s.dir = *g.dir.Load()
	b := g.block(&s.dir, id)
	level := int(g.stateOf(b, id) & stLevelMask)
	q := g.vecOf(b, id)

	for g.entry.Load() == 0 {
		if g.entry.CompareAndSwap(0, uint64(id)<<32|uint64(level+1)) {
			if publish {
				g.markLive(b, id)
			}
			return
		}
	}
	ep, top, _ := g.loadEntry()
	cur, curSim := ep, vek32.Dot(q, g.vecOf(g.block(&s.dir, ep), ep))
	for l := top; l > level; l-- {
		cur, curSim = g.greedy(s, q, cur, curSim, l)
	}
	bound := uint32(len(s.dir)) << blockShift
	// marked: no markLive is due. A hidden node is never marked here (Publish does it); a
	// published one is marked once, as soon as its first list is set.
	marked := !publish
	for l := min(level, top); l >= 0; l-- {
		s.visit.reset(bound)
		s.visit.visit(cur)
		s.visit.visit(id)
		s.cands = append(s.cands[:0], cand{curSim, cur})
		g.searchLayer(s, q, g.cfg.EfConstruction, l, g.notDeleted, 0)
		if len(s.out) == 0 {
			continue // everything reachable is a tombstone; the node stays unlinked here
		}
		cur, curSim = s.out[0].id, s.out[0].sim
		// A new node picks M neighbours on every layer, layer 0 included (Malkov & Yashunin,
		// algorithm 1; hnswlib does the same): layer 0's 2M is the bound its lists grow to
		// through reverse links. Picking 2M made each insert link back to up to 2M nodes whose
		// lists, mostly full, had to be re-selected. Two graphs of 100k GloVe vectors built
		// in one process (2 workers, process CPU time): picking 2M cost 1.23× the CPU of M in
		// random order and 1.54× in the data set's frequency order; mean layer-0 degree 23.5
		// vs 21.5 (random) and 26.9 vs 24.5 (file). The sparser graph needs a larger ef for
		// the same recall: at recall@10 0.95, ef 118 vs 104 (random) and 101 vs 88 (file),
		// which cost a median 7% and 6% of one-thread QPS (7 alternating rounds each); at 0.99
		// the two were within noise (1.04× and 0.99×).
		mine := append(s.mine[:0], g.heuristic(s, s.out, g.m)...)
		s.mine = mine

		lk := g.lock(id)
		lk.Lock()
		g.setList(s, g.list(b, id, l), l, mine)
		lk.Unlock()
		if !marked {
			// Returnable before anyone links to it: a search that reaches it can use it.
			g.markLive(b, id)
			marked = true
		}
		for _, c := range mine {
			g.addLink(s, c.id, id, c.sim, l)
		}
	}
	if !marked {
		g.markLive(b, id)
	}
	if publish && atomic.LoadInt32(&b.indeg[id&blockMask]) == 0 {
		g.noteOrphan(id)
	}
	for level > top { // raise the entry point if this node reaches higher
		e := g.entry.Load()
		if int(uint32(e))-1 >= level || g.entry.CompareAndSwap(e, uint64(id)<<32|uint64(level+1)) {
			break
		}
	}
}

// heuristic selects up to m neighbours from cands (sorted most similar first): a candidate
// is kept only if it is more similar to the base than to every neighbour kept so far,
// which spreads the links in different directions (Malkov & Yashunin, algorithm 4).
func (g *HNSW) heuristic(s *searchScratch, cands []cand, m int) []cand {
	sel := s.sel[:0]
	for _, c := range cands {
		if len(sel) >= m {
			break
		}
		vc := g.vecOf(g.block(&s.dir, c.id), c.id)
		good := true
		for _, r := range sel {
			if vek32.Dot(vc, g.vecOf(g.block(&s.dir, r.id), r.id)) > c.sim {
				good = false
				break
			}
		}
		if good {
			sel = append(sel, c)
		}
	}
	s.sel = sel
	return sel
}

// addLink adds id to n's list on layer l; a full list is re-selected by the heuristic
// among its current members and id.
func (g *HNSW) addLink(s *searchScratch, n, id uint32, sim float32, l int) {
	bn := g.block(&s.dir, n)
	lk := g.lock(n)
	lk.Lock()
	defer lk.Unlock()
	lst := g.list(bn, n, l)
	if lst == nil {
		return
	}
	cnt := int(atomic.LoadUint32(&lst[0]))
	for i := 1; i <= cnt; i++ {
		if atomic.LoadUint32(&lst[i]) == id {
			return
		}
	}
	mmax := g.maxDegree(l)
	if cnt < mmax {
		atomic.StoreUint32(&lst[cnt+1], id)
		atomic.StoreUint32(&lst[0], uint32(cnt+1))
		if l == 0 {
			g.addIn(&s.dir, id, 1)
		}
		return
	}
	vn := g.vecOf(bn, n)
	c := append(s.tmp[:0], cand{sim, id})
	for i := 1; i <= cnt; i++ {
		x := atomic.LoadUint32(&lst[i])
		if g.stateOf(g.block(&s.dir, x), x)&stDeleted == 0 {
			c = append(c, cand{id: x})
		}
	}
	g.warmRecs(s, c[1:])
	for i := 1; i < len(c); i++ {
		c[i].sim = vek32.Dot(vn, g.vecOf(g.block(&s.dir, c[i].id), c[i].id))
	}
	s.keys = sortBySim(c, s.keys)
	s.tmp = c
	g.setList(s, lst, l, g.heuristic(s, c, mmax))
}

// setList replaces a neighbour list (the caller holds the owner's lock). On layer 0 it
// keeps the in-degrees current: a node that loses its last in-link is noted as an orphan.
func (g *HNSW) setList(s *searchScratch, lst []uint32, l int, sel []cand) {
	old := int(atomic.LoadUint32(&lst[0]))
	if l == 0 {
		for i := 1; i <= old; i++ {
			x := atomic.LoadUint32(&lst[i])
			if !slices.ContainsFunc(sel, func(c cand) bool { return c.id == x }) {
				g.addIn(&s.dir, x, -1)
			}
		}
		for _, c := range sel {
			if !slices.Contains(lst[1:old+1], c.id) {
				g.addIn(&s.dir, c.id, 1)
			}
		}
	}
	for i, x := range sel {
		atomic.StoreUint32(&lst[i+1], x.id)
	}
	atomic.StoreUint32(&lst[0], uint32(len(sel)))
}

// addIn adjusts id's layer-0 in-degree.
func (g *HNSW) addIn(dir *[]*hblock, id uint32, delta int32) {
	if atomic.AddInt32(&g.block(dir, id).indeg[id&blockMask], delta) == 0 && delta < 0 {
		g.noteOrphan(id)
	}
}

func (g *HNSW) noteOrphan(id uint32) {
	g.orphMu.Lock()
	g.orphans = append(g.orphans, id)
	g.orphMu.Unlock()
}

// rescueOrphans links back every live node that no layer-0 list points to any more (the
// heuristic pruning of its neighbours' lists dropped it), which no search could otherwise
// ever reach: it is added to the list of its nearest out-neighbour with room, or replaces,
// in the nearest one's list, the member with the most other in-links.
func (g *HNSW) rescueOrphans() {
	g.orphMu.Lock()
	orphans := g.orphans
	g.orphans = nil
	g.orphMu.Unlock()
	if len(orphans) == 0 {
		return
	}
	dir := *g.dir.Load()
	ep, _, _ := g.loadEntry()
	for _, o := range orphans {
		bo := g.block(&dir, o)
		if o == ep || g.stateOf(bo, o)&(stLive|stDeleted) != stLive || atomic.LoadInt32(&bo.indeg[o&blockMask]) > 0 {
			continue
		}
		own := g.list(bo, o, 0)
		n := int(atomic.LoadUint32(&own[0]))
		for i := 1; i <= n; i++ {
			c := atomic.LoadUint32(&own[i])
			if g.adopt(&dir, c, o) {
				break
			}
		}
	}
}

// adopt makes c link to orphan o on layer 0, reporting whether it could.
func (g *HNSW) adopt(dir *[]*hblock, c, o uint32) bool {
	bc := g.block(dir, c)
	if g.stateOf(bc, c)&stDeleted != 0 {
		return false
	}
	lk := g.lock(c)
	lk.Lock()
	defer lk.Unlock()
	lst := g.list(bc, c, 0)
	cnt := int(atomic.LoadUint32(&lst[0]))
	if slices.Contains(lst[1:cnt+1], o) {
		return true
	}
	if cnt < g.m0 {
		atomic.StoreUint32(&lst[cnt+1], o)
		atomic.StoreUint32(&lst[0], uint32(cnt+1))
		g.addIn(dir, o, 1)
		return true
	}
	victim, most := -1, int32(1)
	for i := 1; i <= cnt; i++ {
		x := atomic.LoadUint32(&lst[i])
		if d := atomic.LoadInt32(&g.block(dir, x).indeg[x&blockMask]); d > most {
			victim, most = i, d
		}
	}
	if victim < 0 {
		return false
	}
	g.addIn(dir, atomic.LoadUint32(&lst[victim]), -1)
	atomic.StoreUint32(&lst[victim], o)
	g.addIn(dir, o, 1)
	return true
}
