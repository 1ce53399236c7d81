package index

import (
	"math"
	"runtime"
	"slices"
	"sync"
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

// g8Group is how many nodes one worker plans in a round (see insertBatch).
const g8Group = 8

// insertBatch links nodes (the writer lock held). Each node's insert is the HNSW one:
// greedy descent to its level, then on each layer an efConstruction search, the heuristic
// selection of its neighbours, and reverse links. The nodes are allocated first (unlinked,
// so no search reaches them), then linked in rounds: under one read lock — beside running
// searches — each worker plans a group of g8Group nodes, and once all have, the round's
// lists are stored under the write lock, in order. A neighbour list that another node
// changed since it was planned is planned again there.
//
// Why rounds: when each worker stored its own plans, a worker leaving the write lock took
// the read lock again before the other, waiting for the write lock, could take it; that one
// then waited for a whole plan, and two workers kept one core busy (measured: 1.07 cores).
// Nodes planned in the same round cannot find each other by search (none is linked yet),
// so each is also compared directly with the earlier nodes of its group (plan's mates):
// memories demoted together are often similar, and must still become neighbours.
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
	workers := 1
	if len(nodes) >= g8ParallelBatch {
		workers = runtime.GOMAXPROCS(0)
	}
	scratch := make([]*g8scratch, workers)
	for w := range scratch {
		scratch[w] = g.getScratch()
		defer g.putScratch(scratch[w])
	}
	plan := func(w int, group []g8node) {
		for i := range group {
			g.plan(scratch[w], &group[i], group[:i])
		}
	}
	for off := 0; off < len(nodes); {
		size := workers * g8Group
		if g.top < 0 {
			size = 1 // an empty graph: the first node becomes the entry point alone
		}
		round := nodes[off:min(off+size, len(nodes))]
		off += len(round)
		g.mu.RLock()
		if len(round) <= g8Group {
			plan(0, round)
		} else {
			var wg sync.WaitGroup
			for w := range workers {
				if lo := w * g8Group; lo < len(round) {
					wg.Go(func() { plan(w, round[lo:min(lo+g8Group, len(round))]) })
				}
			}
			wg.Wait()
		}
		g.mu.RUnlock()
		g.mu.Lock()
		for i := range round {
			g.applyLocked(scratch[0], &round[i], publish)
			round[i].own, round[i].plans = nil, nil
		}
		g.mu.Unlock()
	}
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

// plan computes node n's lists and its neighbours' new lists (mu held shared). mates are
// nodes planned before n in the same group, not linked yet: the search cannot reach them,
// so they are candidates by direct comparison.
func (g *Graph8) plan(s *g8scratch, n *g8node, mates []g8node) {
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
		found := len(s.out)
		if found > 0 { // the next layer's search starts here (not at a mate: unlinked)
			cur, curSim = s.out[0].id, s.out[0].sim
		}
		for _, m := range mates {
			if m.level >= l && len(m.own) > 0 {
				s.out = append(s.out, cand{g.sim(code, scale, m.id), m.id})
			}
		}
		if len(s.out) == 0 {
			continue // everything reachable is a tombstone: the node stays unlinked here
		}
		if len(s.out) > found {
			s.keys = sortBySim(s.out, s.keys)
		}
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
