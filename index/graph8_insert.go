package index

import (
	"cmp"
	"math"
	"slices"
)

// g8plan is a neighbour list a writer computed under the read lock, to store under the
// write lock.
type g8plan struct {
	node uint32
	l    int
	list []uint32
}

// insert links one node (the writer lock held): greedy descent to its level, then on each
// layer an efConstruction search, the heuristic selection of its neighbours, and reverse
// links — all planned under the read lock, beside running searches, and stored under the
// write lock.
func (g *Graph8) insert(s *g8scratch, key uint64, code []int8, scale float32, stamp uint32, publish bool) {
	level := min(int(-math.Log(1-g.rng.Float64())*g.ml), g8MaxLevel)
	id, recycled := g.high, false
	if n := len(g.free); n > 0 {
		id, recycled = g.free[n-1], true
	}
	s.newID, s.newCode, s.newScale, s.hasNew = id, code, scale, true
	own := make([][]uint32, level+1)
	var plans []g8plan

	g.mu.RLock()
	if g.top >= 0 {
		cur, curSim := g.descend(s, code, scale, level)
		for l := min(level, g.top); l >= 0; l-- {
			s.visit.reset(uint32(len(g.blocks))<<g8Shift + 1)
			s.visit.visit(cur)
			s.visit.visit(id)
			s.cands = append(s.cands[:0], cand{curSim, cur})
			g.searchLayer(s, code, scale, g.cfg.EfConstruction, l, g.notDeleted, 0)
			if len(s.out) == 0 {
				continue // everything reachable is a tombstone: the node stays unlinked here
			}
			cur, curSim = s.out[0].id, s.out[0].sim
			sel := slices.Clone(g.heuristic(s, s.out, g.maxDegree(l)))
			own[l] = make([]uint32, len(sel))
			for i, c := range sel {
				own[l][i] = c.id
				if p, ok := g.planLink(s, c.id, id, c.sim, l); ok {
					plans = append(plans, p)
				}
			}
		}
	}
	g.mu.RUnlock()

	g.mu.Lock()
	if recycled {
		g.free = g.free[:len(g.free)-1]
	} else {
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
	st := g8Allocated | uint8(level)
	if publish {
		st |= g8Live
		g.live++
	} else {
		g.hidden++
	}
	b.state[i] = st
	for l, ids := range own {
		if ids != nil {
			g.setList(id, l, ids)
		}
	}
	for _, p := range plans {
		g.setList(p.node, p.l, p.list)
	}
	g.byKey.set(key, int32(id))
	if g.top < 0 || level > g.top {
		g.entry, g.top = id, level
	}
	if len(own[0]) > 0 && b.indeg[i] == 0 && id != g.entry {
		g.orphans = append(g.orphans, id)
	}
	g.mu.Unlock()
	s.hasNew = false
}

// notDeleted admits every node that may become a neighbour: anything but tombstones.
func (g *Graph8) notDeleted(id uint32) bool {
	return g.stateOf(id)&g8Deleted == 0
}

// planLink computes n's layer-l list with the new node id (similarity sim to n) added: a
// list with room takes it; a full one is re-selected by the heuristic among its members
// (tombstones dropped) and id. It reports false when the list stays as it is.
func (g *Graph8) planLink(s *g8scratch, n, id uint32, sim float32, l int) (g8plan, bool) {
	lst := g.list(n, l)
	if lst == nil {
		return g8plan{}, false
	}
	cnt := int(lst[0])
	if cnt < g.maxDegree(l) {
		nl := make([]uint32, cnt+1)
		copy(nl, lst[1:1+cnt])
		nl[cnt] = id
		return g8plan{n, l, nl}, true
	}
	nc, ns := g.code(n), g.scale(n)
	c := append(s.tmp[:0], cand{sim, id})
	for _, x := range lst[1 : 1+cnt] {
		if g.stateOf(x)&g8Deleted == 0 {
			c = append(c, cand{g.sim(s, nc, ns, x), x})
		}
	}
	slices.SortFunc(c, func(a, b cand) int { return cmp.Compare(b.sim, a.sim) })
	s.tmp = c
	sel := g.heuristic(s, c, g.maxDegree(l))
	if !slices.ContainsFunc(sel, func(x cand) bool { return x.id == id }) && len(sel) == cnt {
		return g8plan{}, false // the new node did not make it, and nothing was dropped
	}
	nl := make([]uint32, len(sel))
	for i, x := range sel {
		nl[i] = x.id
	}
	return g8plan{n, l, nl}, true
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
