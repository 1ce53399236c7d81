package index

import (
	"fmt"
)

// g8scratch is the reusable state of one search, insert or repair.
type g8scratch struct {
	visit visitSet
	cands maxQueue
	res   minQueue
	out   []cand // results, most similar first
	sel   []cand // heuristic selection
	tmp   []cand
	fresh []cand // unvisited neighbours of the node being expanded
	qc    []int8
	keys  []uint64 // sortBySim's scratch
	touch int8     // sink of the code loads (touch)
}

func (g *Graph8) getScratch() *g8scratch {
	s, _ := g.scratch.Get().(*g8scratch)
	if s == nil {
		s = &g8scratch{qc: make([]int8, g.dim)}
	}
	return s
}

func (g *Graph8) putScratch(s *g8scratch) { g.scratch.Put(s) }

// sim is the approximate similarity of the vector (qc, qs) to node id.
func (g *Graph8) sim(qc []int8, qs float32, id uint32) float32 {
	return qs * g.scale(id) * float32(dot8(qc, g.code(id)))
}

// touch reads one byte per cache line of each candidate's code before any product is
// computed: the loads miss in parallel (Go has no prefetch instruction), so the products
// that follow find their data in cache. The sum is kept so the loads are not optimized
// away.
func (g *Graph8) touch(cs []cand) int8 {
	var t int8
	for i := range cs {
		c := g.code(cs[i].id)
		for j := 0; j < len(c); j += 64 {
			t += c[j]
		}
	}
	return t
}

// greedy walks layer l from cur towards the query while a neighbour is more similar.
func (g *Graph8) greedy(s *g8scratch, qc []int8, qs float32, cur uint32, curSim float32, l int) (uint32, float32) {
	for changed := true; changed; {
		changed = false
		lst := g.list(cur, l)
		if lst == nil {
			break
		}
		for _, nb := range lst[1 : 1+lst[0]] {
			if sim := g.sim(qc, qs, nb); sim > curSim {
				cur, curSim, changed = nb, sim, true
			}
		}
	}
	return cur, curSim
}

// descend runs the greedy walk from the entry point down to layer level+1 and returns the
// node reached with its similarity.
func (g *Graph8) descend(s *g8scratch, qc []int8, qs float32, level int) (uint32, float32) {
	cur := g.entry
	curSim := g.sim(qc, qs, cur)
	for l := g.top; l > level; l-- {
		cur, curSim = g.greedy(s, qc, qs, cur, curSim, l)
	}
	return cur, curSim
}

// searchLayer is the ef-bounded best-first search of layer l from the entry points in
// s.cands (already pushed and visited): it leaves the ef best admitted nodes in s.out,
// most similar first. budget > 0 stops it after that many similarity evaluations, and it
// then returns false.
func (g *Graph8) searchLayer(s *g8scratch, qc []int8, qs float32, ef, l int, admit func(uint32) bool, budget int) bool {
	res := s.res[:0]
	for _, c := range s.cands {
		if admit(c.id) {
			res.push(c)
		}
	}
	for len(res) > ef {
		res.pop()
	}
	complete, evals := true, 0
	for len(s.cands) > 0 {
		c := s.cands.pop()
		if len(res) >= ef && c.sim < res[0].sim {
			break
		}
		lst := g.list(c.id, l)
		if lst == nil {
			continue
		}
		// Gather the unvisited neighbours, touch their codes, then score them: the loads
		// of the codes overlap instead of each waiting behind the previous product.
		fresh := s.fresh[:0]
		for _, nb := range lst[1 : 1+lst[0]] {
			if s.visit.visit(nb) {
				fresh = append(fresh, cand{id: nb})
			}
		}
		s.touch += g.touch(fresh)
		for i := range fresh {
			fresh[i].sim = g.sim(qc, qs, fresh[i].id)
		}
		s.fresh = fresh
		evals += len(fresh)
		for _, f := range fresh {
			if len(res) >= ef && f.sim <= res[0].sim {
				continue
			}
			s.cands.push(f)
			if admit(f.id) {
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

// start seeds a bottom-layer search from cur and, when different, the entry point: every
// node is reachable from the entry point on layer 0 (connect sees to it), not necessarily
// from the node a descent ended on.
func (g *Graph8) start(s *g8scratch, qc []int8, qs float32, cur uint32, curSim float32) {
	s.visit.reset(uint32(len(g.blocks)) << g8Shift)
	s.visit.visit(cur)
	s.cands = append(s.cands[:0], cand{curSim, cur})
	if cur != g.entry {
		s.visit.visit(g.entry)
		s.cands.push(cand{g.sim(qc, qs, g.entry), g.entry})
	}
}

// heuristic selects up to m of cands (most similar first): a candidate is kept only if it
// is more similar to the base than to every neighbour kept so far.
func (g *Graph8) heuristic(s *g8scratch, cands []cand, m int) []cand {
	sel := s.sel[:0]
	for _, c := range cands {
		if len(sel) >= m {
			break
		}
		cc, cs := g.code(c.id), g.scale(c.id)
		good := true
		for _, r := range sel {
			if g.sim(cc, cs, r.id) > c.sim {
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

// Search implements Index with approximate similarities. It returns up to k nodes, most
// similar first; the caller re-ranks them at full precision. A node whose similarity
// cannot reach MinSimilarity even at the quantization's error bound is left out. With a
// filter the graph search gets a budget of evaluations; a filter so selective that the
// search has not settled within it falls back to a scan of every node, as Exact does.
func (g *Graph8) Search(q []float32, k int, opt SearchOptions) ([]Result, error) {
	if len(q) != g.dim {
		return nil, fmt.Errorf("%w: query of dim %d, index dim %d", ErrDimension, len(q), g.dim)
	}
	if k <= 0 {
		return nil, nil
	}
	sc := newScorer(g.dim, q, opt.MinSimilarity)
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.top < 0 {
		return nil, nil
	}
	if opt.Exact {
		return g.exact(&sc, k, opt.Filter), nil
	}
	s := g.getScratch()
	defer g.putScratch(s)
	cur, curSim := g.descend(s, sc.qc, sc.qs, 0)
	ef := opt.Breadth
	if ef <= 0 {
		ef = g.cfg.EfSearch
	}
	ef = max(ef, k)
	admit := func(id uint32) bool { return returnable(g.stateOf(id)) }
	budget := 0
	if f := opt.Filter; f != nil {
		admit = func(id uint32) bool { return returnable(g.stateOf(id)) && f(g.keyOf(id)) }
		budget = max(2048, 32*ef)
	}
	g.start(s, sc.qc, sc.qs, cur, curSim)
	if !g.searchLayer(s, sc.qc, sc.qs, ef, 0, admit, budget) {
		return g.exact(&sc, k, opt.Filter), nil
	}
	out := make([]Result, 0, min(k, len(s.out)))
	for _, c := range s.out {
		if len(out) == k {
			break
		}
		if c.sim+sc.errBound(g.scale(c.id)) < sc.minSim {
			continue
		}
		out = append(out, Result{Key: g.keyOf(c.id), Similarity: c.sim})
	}
	sortTies(out)
	return out, nil
}

// exact scores every published node and keeps the k best that pass filter (consulted
// only for nodes that would enter the result). Called with mu held shared.
func (g *Graph8) exact(sc *scorer, k int, filter func(uint64) bool) []Result {
	h := make(minQueue, 0, k)
	for id := uint32(0); id < g.high; id++ {
		b := g.blk(id)
		i := id & g8Mask
		if !returnable(b.state[i]) {
			continue
		}
		sv := b.scales[i]
		sim := sc.qs * sv * float32(dot8(sc.qc, b.codes[int(i)*g.dim:(int(i)+1)*g.dim]))
		if sim+sc.errBound(sv) < sc.minSim || (len(h) == k && sim <= h[0].sim) {
			continue
		}
		if filter != nil && !filter(b.keys[i]) {
			continue
		}
		if len(h) < k {
			h.push(cand{sim, id})
		} else {
			h.replaceTop(cand{sim, id})
		}
	}
	out := make([]Result, len(h))
	for i, c := range h {
		out[i] = Result{Key: g.keyOf(c.id), Similarity: c.sim}
	}
	sortTies(out)
	return out
}
