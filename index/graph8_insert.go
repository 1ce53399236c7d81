package index

import (
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// g8plan is a neighbour list a writer computed under the read lock, to store under the
// write lock. before is the list it replaces, as the plan saw it.
type g8plan struct {
	node   uint32
	l      int
	sim    float32 // of the inserted node to node (for a re-plan)
	list   []uint32
	before []uint32
}

// g8node is a node being inserted: allocated, its links planned, then stored.
type g8node struct {
	id    uint32
	level int
	own   [][]uint32 // its lists per layer
	plans []g8plan   // its neighbours' lists with it added
}

// g8ParallelBatch is the batch size from which inserts are planned by all cores.
const g8ParallelBatch = 64

// insertBatch links nodes (the writer lock held). Each node's insert is the HNSW one:
// greedy descent to its level, then on each layer an efConstruction search, the heuristic
// selection of its neighbours, and reverse links. The nodes are allocated first (unlinked,
// so no search reaches them); then each one's links are planned under the read lock —
// beside running searches, and on all cores for a large batch — and stored under the write
// lock. A neighbour list that another node of the batch changed since it was planned is
// planned again there.
func (g *Graph8) insertBatch(keys []uint64, codes []int8, scales []float32, stamps []uint32, publish bool) {
	nodes := make([]g8node, len(keys))
	g.mu.Lock()
	for i, k := range keys {
		var stamp uint32
		if stamps != nil {
			stamp = stamps[i]
		}
		nodes[i] = g.allocLocked(k, codes[i*g.dim:(i+1)*g.dim], scales[i], stamp)
	}
	g.mu.Unlock()
	link := func(s *g8scratch, n *g8node) {
		g.mu.RLock()
		g.plan(s, n)
		g.mu.RUnlock()
		g.mu.Lock()
		g.applyLocked(s, n, publish)
		g.mu.Unlock()
		n.own, n.plans = nil, nil
	}
	first := 0
	if g.top < 0 { // an empty graph: the first node becomes the entry point alone
		s := g.getScratch()
		link(s, &nodes[0])
		g.putScratch(s)
		first = 1
	}
	workers := min(runtime.GOMAXPROCS(0), (len(nodes)-first+g8ParallelBatch-1)/g8ParallelBatch)
	if workers <= 1 {
		s := g.getScratch()
		for i := first; i < len(nodes); i++ {
			link(s, &nodes[i])
		}
		g.putScratch(s)
		return
	}
	var next atomic.Int64
	next.Store(int64(first))
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			s := g.getScratch()
			defer g.putScratch(s)
			for {
				i := next.Add(1) - 1
				if i >= int64(len(nodes)) {
					return
				}
				link(s, &nodes[i])
			}
		})
	}
	wg.Wait()
}

// allocLocked takes a slot for a node (mu held exclusively) and stores its data. The node
// is linkable but unlinked, and hidden until applyLocked publishes it.
func (g *Graph8) allocLocked(key uint64, code []int8, scale float32, stamp uint32) g8node {
	level := min(int(-math.Log(1-g.rng.Float64())*g.ml), g8MaxLevel)
	var id uint32
	if n := len(g.free); n > 0 {
		id, g.free = g.free[n-1], g.free[:n-1]
	} else {
		id = g.high
		g.high++
		g.grow(id)
	}
	b, i := g.blk(id), id&g8Mask
	copy(g.code(id), code)
	b.scales[i], b.keys[i], b.stamps[i], b.indeg[i] = scale, key, stamp, 0
	b.links0[int(i)*g.stride] = 0
	delete(g.upper, id)
	if level > 0 {
		g.upper[id] = make([]uint32, level*(1+g.m))
	}
	b.state[i] = g8Allocated | uint8(level)
	g.hidden++
	g.byKey.set(key, int32(id))
	return g8node{id: id, level: level}
}

// plan computes node n's lists and its neighbours' new lists (mu held shared).
func (g *Graph8) plan(s *g8scratch, n *g8node) {
	if g.top < 0 {
		return
	}
	code, scale := g.code(n.id), g.scale(n.id)
	n.own = make([][]uint32, n.level+1)
	cur, curSim := g.descend(s, code, scale, n.level)
	for l := min(n.level, g.top); l >= 0; l-- {
		s.visit.reset(uint32(len(g.blocks)) << g8Shift)
		s.visit.visit(cur)
		s.visit.visit(n.id)
		s.cands = append(s.cands[:0], cand{curSim, cur})
		g.searchLayer(s, code, scale, g.cfg.EfConstruction, l, g.notDeleted, 0)
		if len(s.out) == 0 {
			continue // everything reachable is a tombstone: the node stays unlinked here
		}
		cur, curSim = s.out[0].id, s.out[0].sim
		sel := slices.Clone(g.heuristic(s, s.out, g.maxDegree(l)))
		n.own[l] = make([]uint32, len(sel))
		for i, c := range sel {
			n.own[l][i] = c.id
			if p, ok := g.planLink(s, c.id, n.id, c.sim, l); ok {
				n.plans = append(n.plans, p)
			}
		}
	}
}

// applyLocked stores a planned node's lists and its neighbours' (mu held exclusively),
// planning again a neighbour's list that changed since, and publishes the node.
func (g *Graph8) applyLocked(s *g8scratch, n *g8node, publish bool) {
	for l, ids := range n.own {
		if ids != nil {
			g.setList(n.id, l, ids)
		}
	}
	for _, p := range n.plans {
		if lst := g.list(p.node, p.l); !slices.Equal(lst[1:1+lst[0]], p.before) {
			var ok bool
			if p, ok = g.planLink(s, p.node, n.id, p.sim, p.l); !ok {
				continue
			}
		}
		g.setList(p.node, p.l, p.list)
	}
	if g.top < 0 || n.level > g.top {
		g.entry, g.top = n.id, n.level
	}
	b, i := g.blk(n.id), n.id&g8Mask
	if b.indeg[i] == 0 && n.id != g.entry && len(n.own) > 0 && len(n.own[0]) > 0 {
		g.orphans = append(g.orphans, n.id)
	}
	if publish {
		b.state[i] |= g8Live
		g.hidden--
		g.live++
	}
}

// notDeleted admits every node that may become a neighbour: anything but tombstones.
func (g *Graph8) notDeleted(id uint32) bool {
	return g.stateOf(id)&g8Deleted == 0
}

// planLink computes n's layer-l list with the node id (similarity sim to n) added: a list
// with room takes it; a full one is re-selected by the heuristic among its members
// (tombstones dropped) and id. It reports false when the list stays as it is.
func (g *Graph8) planLink(s *g8scratch, n, id uint32, sim float32, l int) (g8plan, bool) {
	lst := g.list(n, l)
	if lst == nil {
		return g8plan{}, false
	}
	cnt := int(lst[0])
	before := slices.Clone(lst[1 : 1+cnt])
	if slices.Contains(before, id) {
		return g8plan{}, false
	}
	if cnt < g.maxDegree(l) {
		return g8plan{node: n, l: l, sim: sim, list: append(slices.Clone(before), id), before: before}, true
	}
	nc, ns := g.code(n), g.scale(n)
	c := append(s.tmp[:0], cand{sim, id})
	for _, x := range before {
		if g.stateOf(x)&g8Deleted == 0 {
			c = append(c, cand{g.sim(nc, ns, x), x})
		}
	}
	s.keys = sortBySim(c, s.keys)
	s.tmp = c
	sel := g.heuristic(s, c, g.maxDegree(l))
	if !slices.ContainsFunc(sel, func(x cand) bool { return x.id == id }) && len(sel) == cnt {
		return g8plan{}, false // the new node did not make it, and nothing was dropped
	}
	nl := make([]uint32, len(sel))
	for i, x := range sel {
		nl[i] = x.id
	}
	return g8plan{node: n, l: l, sim: sim, list: nl, before: before}, true
}

// setList stores id's layer-l list (mu held exclusively), keeping the layer-0 in-degrees:
// a node that loses its last in-link is noted as an orphan, to be linked back.
func (g *Graph8) setList(id uint32, l int, ids []uint32) {
	lst := g.list(id, l)
	if lst == nil {
		return
	}
	if l == 0 {
		old := lst[1 : 1+lst[0]]
		for _, x := range old {
			if !slices.Contains(ids, x) {
				g.addIn(x, -1)
			}
		}
		for _, x := range ids {
			if !slices.Contains(old, x) {
				g.addIn(x, 1)
			}
		}
	}
	copy(lst[1:], ids)
	lst[0] = uint32(len(ids))
}

// addIn adjusts x's layer-0 in-degree (mu held exclusively).
func (g *Graph8) addIn(x uint32, d int32) {
	p := &g.blk(x).indeg[x&g8Mask]
	*p += d
	if *p == 0 && d < 0 {
		g.orphans = append(g.orphans, x)
	}
}
