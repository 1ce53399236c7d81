package index

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// g8RepairHops bounds how far a repair follows chains of deleted nodes for replacements.
const g8RepairHops = 2

// Compact repairs the graph around its tombstones and recycles their slots (Delete and
// Add call it once tombstones reach CompactRatio of the nodes).
func (g *Graph8) Compact() {
	g.wmu.Lock()
	defer g.wmu.Unlock()
	s := g.getScratch()
	defer g.putScratch(s)
	g.compact(s)
}

// compact (the writer lock held): every node that links to a deleted one gets its list
// re-selected, by the same heuristic as inserts, from its other neighbours and the nodes
// the deleted ones linked to (following chains of deleted nodes a hop or two, as in
// FreshDiskANN's delete consolidation), refilled to the degree it had. The new lists are
// planned under the read lock by all cores and stored under the write lock, which also
// recycles the slots: no search can hold a deleted node then.
func (g *Graph8) compact(s *g8scratch) {
	g.mu.RLock()
	var deadIDs, liveIDs []uint32
	for id := uint32(0); id < g.high; id++ {
		switch st := g.stateOf(id); {
		case st&g8Allocated == 0:
		case st&g8Deleted != 0:
			deadIDs = append(deadIDs, id)
		default:
			liveIDs = append(liveIDs, id)
		}
	}
	if len(deadIDs) == 0 {
		g.mu.RUnlock()
		return
	}
	var (
		mu    sync.Mutex
		plans []g8plan
		next  atomic.Int64
		wg    sync.WaitGroup
	)
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Go(func() {
			ws := &g8scratch{qc: make([]int8, g.dim)}
			var mine []g8plan
			for {
				i := next.Add(1) - 1
				if i >= int64(len(liveIDs)) {
					break
				}
				p := liveIDs[i]
				for l := 0; l <= g.levelOf(p); l++ {
					if pl, ok := g.planRepair(ws, p, l); ok {
						mine = append(mine, pl)
					}
				}
			}
			mu.Lock()
			plans = append(plans, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	entry, top := g.entry, g.top
	if g.stateOf(entry)&g8Deleted != 0 { // a live node of the highest level takes over
		top = -1
		for _, id := range liveIDs {
			if lv := g.levelOf(id); lv > top {
				entry, top = id, lv
			}
		}
	}
	g.mu.RUnlock()

	g.mu.Lock()
	for _, p := range plans {
		before := slices.Clone(g.list(p.node, p.l)[1 : 1+g.list(p.node, p.l)[0]])
		g.setList(p.node, p.l, p.list)
		// Links both ways, as inserts make them: a new neighbour with room links back, so
		// the survivors do not lose in-links consolidation after consolidation.
		for _, x := range p.list {
			if !slices.Contains(before, x) {
				g.linkBack(x, p.node, p.l)
			}
		}
	}
	for _, d := range deadIDs {
		b, i := g.blk(d), d&g8Mask
		for _, x := range g.list(d, 0)[1 : 1+g.list(d, 0)[0]] {
			g.addIn(x, -1)
		}
		b.links0[int(i)*g.stride] = 0
		delete(g.upper, d)
		b.state[i] = 0
	}
	for _, d := range deadIDs {
		g.blk(d).indeg[d&g8Mask] = 0
	}
	g.free = append(g.free, deadIDs...)
	g.dead = 0
	g.entry, g.top = entry, top
	g.mu.Unlock()
	g.rescueOrphans(s)
	g.sinceConnect = 0
	g.connect(s)
	g.mu.Lock()
	g.shrinkLocked()
	g.mu.Unlock()
}

// linkBack adds p to x's layer-l list if it has room and lacks it (mu held exclusively).
func (g *Graph8) linkBack(x, p uint32, l int) {
	lst := g.list(x, l)
	if lst == nil || g.stateOf(x)&g8Deleted != 0 {
		return
	}
	cnt := int(lst[0])
	if cnt >= g.maxDegree(l) || slices.Contains(lst[1:1+cnt], p) {
		return
	}
	lst[1+cnt] = p
	lst[0]++
	if l == 0 {
		g.addIn(p, 1)
	}
}

// planRepair plans p's layer-l list without its deleted members, reporting false when it
// has none (mu held shared).
func (g *Graph8) planRepair(s *g8scratch, p uint32, l int) (g8plan, bool) {
	lst := g.list(p, l)
	if lst == nil {
		return g8plan{}, false
	}
	members := lst[1 : 1+lst[0]]
	dead := func(x uint32) bool { return g.stateOf(x)&g8Deleted != 0 }
	if !slices.ContainsFunc(members, dead) {
		return g8plan{}, false
	}
	// A node that kept most of its links keeps them, and fills the places of the dead
	// ones with the nearest of their live neighbours: no re-selection, which costs about
	// as much as an insert.
	keep := make([]uint32, 0, len(members))
	for _, x := range members {
		if !dead(x) {
			keep = append(keep, x)
		}
	}
	if 4*len(keep) >= 3*g.maxDegree(l) {
		pc, ps := g.code(p), g.scale(p)
		c := s.tmp[:0]
		for _, d := range members {
			if !dead(d) {
				continue
			}
			if dl := g.list(d, l); dl != nil {
				for _, x := range dl[1 : 1+dl[0]] {
					if x != p && !dead(x) && !slices.Contains(keep, x) && !slices.ContainsFunc(c, func(y cand) bool { return y.id == x }) {
						c = append(c, cand{g.sim(pc, ps, x), x})
					}
				}
			}
		}
		s.keys = sortBySim(c, s.keys)
		s.tmp = c
		for _, x := range c {
			if len(keep) >= len(members) {
				break
			}
			keep = append(keep, x.id)
		}
		return g8plan{node: p, l: l, list: keep}, true
	}
	s.visit.reset(uint32(len(g.blocks)) << g8Shift)
	s.visit.visit(p)
	pc, ps := g.code(p), g.scale(p)
	c := s.tmp[:0]
	var frontier []uint32
	add := func(x uint32) {
		if !s.visit.visit(x) {
			return
		}
		if dead(x) {
			frontier = append(frontier, x)
			return
		}
		c = append(c, cand{g.sim(pc, ps, x), x})
	}
	for _, x := range members {
		add(x)
	}
	for hop := 0; hop < g8RepairHops && len(frontier) > 0 && len(c) < 4*g.maxDegree(l); hop++ {
		cur := frontier
		frontier = nil
		for _, d := range cur {
			if dl := g.list(d, l); dl != nil {
				for _, x := range dl[1 : 1+dl[0]] {
					add(x)
				}
			}
		}
	}
	s.keys = sortBySim(c, s.keys)
	s.tmp = c
	sel := g.heuristic(s, c, g.maxDegree(l))
	// Keep the degree the node had: the heuristic, on a pool drawn from a damaged
	// neighbourhood, often keeps fewer links than the deletions took.
	out := make([]uint32, 0, len(members))
	for _, x := range sel {
		out = append(out, x.id)
	}
	for _, x := range c {
		if len(out) >= len(members) {
			break
		}
		if !slices.Contains(out, x.id) {
			out = append(out, x.id)
		}
	}
	return g8plan{node: p, l: l, list: out}, true
}

// rescueOrphans links back every node no layer-0 list points to any more (the pruning of
// its neighbours' lists dropped it, or its last in-link was a deleted node), which no
// search could otherwise reach: it is added to the list of an out-neighbour with room, or
// replaces there the member with the most other in-links.
func (g *Graph8) rescueOrphans(s *g8scratch) {
	g.mu.Lock()
	defer g.mu.Unlock()
	orphans := g.orphans
	g.orphans = nil
	for _, o := range orphans {
		st := g.stateOf(o)
		if o == g.entry || st&g8Allocated == 0 || st&g8Deleted != 0 || g.blk(o).indeg[o&g8Mask] > 0 {
			continue
		}
		own := g.list(o, 0)
		for _, c := range own[1 : 1+own[0]] {
			if g.adopt(c, o) {
				break
			}
		}
	}
}

// adopt makes c link to o on layer 0, reporting whether it could (mu held exclusively).
func (g *Graph8) adopt(c, o uint32) bool {
	if g.stateOf(c)&g8Deleted != 0 || c == o {
		return false
	}
	lst := g.list(c, 0)
	cnt := int(lst[0])
	if slices.Contains(lst[1:1+cnt], o) {
		return true
	}
	if cnt < g.m0 {
		lst[1+cnt] = o
		lst[0]++
		g.addIn(o, 1)
		return true
	}
	victim, most := -1, int32(1)
	for i := 1; i <= cnt; i++ {
		if d := g.blk(lst[i]).indeg[lst[i]&g8Mask]; d > most {
			victim, most = i, d
		}
	}
	if victim < 0 {
		return false
	}
	g.addIn(lst[victim], -1)
	lst[victim] = o
	g.addIn(o, 1)
	return true
}

// connect makes every node reachable from the entry point on the bottom layer: the
// heuristic can leave a few nodes linking only among themselves (each with in-links, so
// the orphan rescue does not see them). A walk from the entry point finds them, and each
// unreachable component gets a link from the reachable node nearest to it.
func (g *Graph8) connect(s *g8scratch) {
	g.mu.RLock()
	if g.top < 0 {
		g.mu.RUnlock()
		return
	}
	reached := make([]bool, g.high)
	g.reach(reached, g.entry)
	var lost []uint32
	for id := uint32(0); id < g.high; id++ {
		if st := g.stateOf(id); !reached[id] && st&g8Allocated != 0 && st&g8Deleted == 0 {
			lost = append(lost, id)
		}
	}
	g.mu.RUnlock()
	for _, u := range lost {
		if reached[u] {
			continue // linked along with an earlier one
		}
		g.mu.RLock()
		uc, us := g.code(u), g.scale(u)
		cur, curSim := g.descend(s, uc, us, 0)
		g.start(s, uc, us, cur, curSim)
		s.visit.visit(u)
		g.searchLayer(s, uc, us, g.cfg.EfConstruction, 0, func(id uint32) bool {
			return reached[id] && g.stateOf(id)&g8Deleted == 0
		}, 0)
		near := slices.Clone(s.out)
		g.mu.RUnlock()
		g.mu.Lock()
		for _, c := range near {
			if g.adopt(c.id, u) {
				g.reach(reached, u) // its whole component is reachable now
				break
			}
		}
		g.mu.Unlock()
	}
}

// reach marks in reached every node the bottom layer leads to from from.
func (g *Graph8) reach(reached []bool, from uint32) {
	queue := []uint32{from}
	reached[from] = true
	for len(queue) > 0 {
		x := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		lst := g.list(x, 0)
		for _, y := range lst[1 : 1+lst[0]] {
			if int(y) < len(reached) && !reached[y] {
				reached[y] = true
				queue = append(queue, y)
			}
		}
	}
}

// Verify checks the graph's invariants and reports the first violation: every list member
// is an allocated node with the layer it is linked on, counts are within the degree
// bounds, in-degrees match the lists, the key index and the counts match the nodes, and
// every published or hidden node is reachable from the entry point on the bottom layer.
func (g *Graph8) Verify() error {
	g.wmu.Lock() // no writer between its two phases
	defer g.wmu.Unlock()
	g.mu.RLock()
	defer g.mu.RUnlock()
	indeg := make([]int32, g.high)
	live, hidden, dead := 0, 0, 0
	for id := uint32(0); id < g.high; id++ {
		st := g.stateOf(id)
		if st&g8Allocated == 0 {
			continue
		}
		switch {
		case st&g8Deleted != 0:
			dead++
		case st&g8Live != 0:
			live++
		default:
			hidden++
		}
		if st&g8Deleted == 0 {
			if r, ok := g.byKey.get(g.keyOf(id)); !ok || uint32(r) != id {
				return fmt.Errorf("node %d (key %d) is not where the key index says (%d, %v)", id, g.keyOf(id), r, ok)
			}
		}
		for l := 0; l <= int(st&g8Level); l++ {
			lst := g.list(id, l)
			if lst == nil {
				return fmt.Errorf("node %d: no list on layer %d", id, l)
			}
			if int(lst[0]) > g.maxDegree(l) {
				return fmt.Errorf("node %d layer %d: %d neighbours", id, l, lst[0])
			}
			for j, x := range lst[1 : 1+lst[0]] {
				if x >= g.high || g.stateOf(x)&g8Allocated == 0 || g.levelOf(x) < l {
					return fmt.Errorf("node %d layer %d: neighbour %d is free or lacks the layer", id, l, x)
				}
				if x == id || slices.Contains(lst[1:1+j], x) {
					return fmt.Errorf("node %d layer %d: links to %d twice or to itself", id, l, x)
				}
				if l == 0 {
					indeg[x]++
				}
			}
		}
	}
	if live != g.live || hidden != g.hidden || dead != g.dead || g.byKey.len() != live+hidden {
		return fmt.Errorf("counts live %d hidden %d dead %d keys %d, nodes say %d %d %d", g.live, g.hidden, g.dead, g.byKey.len(), live, hidden, dead)
	}
	for id := uint32(0); id < g.high; id++ {
		if st := g.stateOf(id); st&g8Allocated != 0 && g.blk(id).indeg[id&g8Mask] != indeg[id] {
			return fmt.Errorf("node %d: in-degree %d, lists say %d", id, g.blk(id).indeg[id&g8Mask], indeg[id])
		}
	}
	if g.top < 0 {
		if live+hidden > 0 {
			return fmt.Errorf("%d nodes and no entry point", live+hidden)
		}
		return nil
	}
	if st := g.stateOf(g.entry); st&g8Allocated == 0 || g.levelOf(g.entry) != g.top {
		return fmt.Errorf("entry %d does not hold the top layer %d", g.entry, g.top)
	}
	reached := make([]bool, g.high)
	g.reach(reached, g.entry)
	for id := uint32(0); id < g.high; id++ {
		if st := g.stateOf(id); !reached[id] && st&g8Allocated != 0 && st&g8Deleted == 0 {
			return fmt.Errorf("node %d is not reachable from the entry point", id)
		}
	}
	return nil
}
