package index

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/viterin/vek/vek32"
)

// needsCompact reports whether tombstones reached the configured share of the graph.
func (g *HNSW) needsCompact() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	used := int(g.high) - len(g.free)
	return g.dead >= 64 && float64(g.dead) >= g.cfg.CompactRatio*float64(used)
}

// Compact removes tombstones from the graph: every live node that links to a deleted one
// gets its list re-selected (by the same heuristic as inserts) from its live neighbours
// plus the live nodes the deleted ones linked to, following chains of deleted nodes a few
// hops, as in FreshDiskANN's delete consolidation. Then no list points at a deleted node,
// and their slots are recycled for new inserts once the searches running meanwhile end.
// Searches proceed during Compact; inserts wait for it.
func (g *HNSW) Compact() {
	g.buildMu.Lock()
	defer g.buildMu.Unlock()
	g.mu.Lock()
	high := g.high
	g.mu.Unlock()
	dir := *g.dir.Load()
	var deadIDs, liveIDs []uint32
	deadBits := make([]uint64, (high+63)/64)
	for id := uint32(0); id < high; id++ {
		st := g.stateOf(dir[id>>blockShift], id)
		switch {
		case st&stAllocated == 0:
		case st&stDeleted != 0:
			deadIDs = append(deadIDs, id)
			deadBits[id>>6] |= 1 << (id & 63)
		default:
			liveIDs = append(liveIDs, id)
		}
	}
	if len(deadIDs) == 0 {
		return
	}
	// The tombstones this compaction repairs away and recycles, as a bitmap: a repair asks
	// of every list member and candidate whether it is one, and the node states are
	// scattered over the graph's blocks (a cache miss each) where the bitmap fits in cache.
	// A node deleted while the compaction runs is not in it: it stays a tombstone, linked
	// and traversed, until the next one.
	dead := func(id uint32) bool {
		return id < high && deadBits[id>>6]&(1<<(id&63)) != 0
	}

	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < g.cfg.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := g.getScratch()
			defer g.putScratch(s)
			for {
				i := next.Add(1) - 1
				if i >= int64(len(liveIDs)) {
					return
				}
				p := liveIDs[i]
				level := int(g.stateOf(dir[p>>blockShift], p) & stLevelMask)
				for l := 0; l <= level; l++ {
					g.repair(s, p, l, dead)
				}
			}
		}()
	}
	wg.Wait()

	// A deleted entry point is replaced by a live node of the highest level.
	if ep, _, ok := g.loadEntry(); ok && dead(ep) {
		best, bestLevel := uint32(0), -1
		for _, id := range liveIDs {
			if lv := int(g.stateOf(dir[id>>blockShift], id) & stLevelMask); lv > bestLevel && !dead(id) {
				best, bestLevel = id, lv
			}
		}
		if bestLevel < 0 {
			g.entry.Store(0)
		} else {
			g.entry.Store(uint64(best)<<32 | uint64(bestLevel+1))
		}
	}

	// Recycle: wait out every search that might still hold a deleted id. The deleted
	// nodes' own links go away with them, which may leave a live node that only they
	// pointed to without an in-link: rescued right after.
	g.reclaimMu.Lock()
	for _, id := range deadIDs {
		b := dir[id>>blockShift]
		i := id & blockMask
		lst := g.list(b, id, 0)
		for j := 1; j <= int(atomic.LoadUint32(&lst[0])); j++ {
			g.addIn(&dir, atomic.LoadUint32(&lst[j]), -1)
		}
		atomic.StoreUint32(&lst[0], 0)
		b.upper[i].Store(nil)
		atomic.StoreUint32(g.statePtr(b, id), 0)
	}
	g.mu.Lock()
	g.free = append(g.free, deadIDs...)
	g.dead -= len(deadIDs)
	g.changes++
	g.mu.Unlock()
	g.reclaimMu.Unlock()
	g.rescueOrphans()
	g.connectComponents()
}

// repairHops bounds how far repair follows chains of deleted nodes for replacements.
const repairHops = 3

// repair re-selects p's layer-l list if it links to deleted nodes.
func (g *HNSW) repair(s *searchScratch, p uint32, l int, dead func(uint32) bool) {
	bp := g.block(&s.dir, p)
	lst := g.list(bp, p, l)
	if lst == nil {
		return
	}
	cnt := int(atomic.LoadUint32(&lst[0]))
	hasDead := false
	for i := 1; i <= cnt; i++ {
		if dead(atomic.LoadUint32(&lst[i])) {
			hasDead = true
			break
		}
	}
	if !hasDead {
		return
	}
	s.visit.reset(uint32(len(s.dir)) << blockShift)
	s.visit.visit(p)
	vp := g.vecOf(bp, p)
	c := s.tmp[:0]
	frontier := s.mine[:0] // deleted nodes to expand, reusing the buffer as an id list
	add := func(x uint32) {
		if !s.visit.visit(x) {
			return
		}
		if dead(x) {
			frontier = append(frontier, cand{id: x})
			return
		}
		c = append(c, cand{vek32.Dot(vp, g.vecOf(g.block(&s.dir, x), x)), x})
	}
	for i := 1; i <= cnt; i++ {
		add(atomic.LoadUint32(&lst[i]))
	}
	for hop := 0; hop < repairHops && len(frontier) > 0 && len(c) < 4*g.maxDegree(l); hop++ {
		cur := frontier
		frontier = make([]cand, 0, len(cur)*4)
		for _, d := range cur {
			dl := g.list(g.block(&s.dir, d.id), d.id, l)
			if dl == nil {
				continue
			}
			dn := int(atomic.LoadUint32(&dl[0]))
			for i := 1; i <= dn; i++ {
				add(atomic.LoadUint32(&dl[i]))
			}
		}
	}
	s.keys = sortBySim(c, s.keys)
	s.tmp = c
	before := s.prev[:0] // the list as it was, to tell new neighbours from kept ones
	for i := 1; i <= cnt; i++ {
		before = append(before, atomic.LoadUint32(&lst[i]))
	}
	s.prev = before
	sel := g.heuristic(s, c, g.maxDegree(l))
	// Keep the degree the node had: the heuristic, run on a pool drawn from a damaged
	// neighbourhood, often keeps fewer links than the deletions took, and over many
	// turnovers of the graph the mean degree (and recall) drifts down. Refill with the
	// nearest candidates it pruned, up to the list's old length.
	if len(sel) < cnt {
		for _, x := range c {
			if len(sel) >= cnt {
				break
			}
			if !slices.ContainsFunc(sel, func(y cand) bool { return y.id == x.id }) {
				sel = append(sel, x)
			}
		}
		s.sel = sel
	}
	lk := g.lock(p)
	lk.Lock()
	g.setList(s, lst, l, sel)
	lk.Unlock()
	// Links are made both ways, as inserts make them: a new neighbour links back to p
	// (addLink re-selects its list if full). Without this, each consolidation leaves the
	// surviving nodes with fewer in-links, and over many turnovers of the graph (a hot
	// tier under migration) the mean degree and recall drift down.
	back := s.back[:0]
	for _, x := range sel {
		if !slices.Contains(before, x.id) {
			back = append(back, x)
		}
	}
	s.back = back
	for _, x := range back {
		g.addLink(s, x.id, p, x.sim, l)
	}
}

// Verify checks the graph's invariants and reports the first violation: every list
// member is an allocated node with the layer it is linked on, no list points at a recycled
// slot, counts are within degree bounds, in-degree counters match the lists, every live
// node but the entry point has an in-link on layer 0, the live count is right, and every
// live node is reachable from the entry point on the bottom layer. It
// reads a moving graph, so call it while no insert or compaction runs.
func (g *HNSW) Verify() error {
	g.buildMu.Lock()
	defer g.buildMu.Unlock()
	g.mu.Lock()
	high := g.high
	g.mu.Unlock()
	dir := *g.dir.Load()
	indeg := make([]int32, high)
	live := 0
	for id := uint32(0); id < high; id++ {
		b := dir[id>>blockShift]
		st := g.stateOf(b, id)
		if st&stAllocated == 0 {
			continue
		}
		if st&(stLive|stDeleted) == stLive {
			live++
		}
		for l := 0; l <= int(st&stLevelMask); l++ {
			lst := g.list(b, id, l)
			if lst == nil {
				return fmt.Errorf("node %d: no list on layer %d", id, l)
			}
			n := int(lst[0])
			if n > g.maxDegree(l) {
				return fmt.Errorf("node %d layer %d: %d neighbours", id, l, n)
			}
			for j := 1; j <= n; j++ {
				x := lst[j]
				if x >= high {
					return fmt.Errorf("node %d layer %d: neighbour %d out of range", id, l, x)
				}
				xs := g.stateOf(dir[x>>blockShift], x)
				if xs&stAllocated == 0 || int(xs&stLevelMask) < l {
					return fmt.Errorf("node %d layer %d: neighbour %d is free or lacks the layer", id, l, x)
				}
				if l == 0 {
					indeg[x]++
				}
			}
		}
	}
	ep, _, ok := g.loadEntry()
	for id := uint32(0); id < high; id++ {
		b := dir[id>>blockShift]
		st := g.stateOf(b, id)
		if st&stAllocated == 0 {
			continue
		}
		if got := b.indeg[id&blockMask]; got != indeg[id] {
			return fmt.Errorf("node %d: in-degree counter %d, lists say %d", id, got, indeg[id])
		}
		if indeg[id] == 0 && id != ep && st&(stLive|stDeleted) == stLive {
			return fmt.Errorf("live node %d is unreachable (no layer-0 in-link)", id)
		}
	}
	if int64(live) != g.live.Load() {
		return fmt.Errorf("live count %d, states say %d", g.live.Load(), live)
	}
	// Every live node is reachable from the entry point on the bottom layer.
	if ok {
		reached := make([]bool, high)
		g.reachBottom(dir, high, reached, ep)
		for id := uint32(0); id < high; id++ {
			if !reached[id] && g.stateOf(dir[id>>blockShift], id)&(stLive|stDeleted) == stLive {
				return fmt.Errorf("live node %d is not reachable from the entry point", id)
			}
		}
	}
	return nil
}

// reachBottom marks in reached every node the bottom layer leads to from from (links
// loaded atomically: inserts may run meanwhile; links past high are ignored).
func (g *HNSW) reachBottom(dir []*hblock, high uint32, reached []bool, from uint32) {
	queue := []uint32{from}
	reached[from] = true
	for len(queue) > 0 {
		x := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		lst := g.list(dir[x>>blockShift], x, 0)
		n := int(atomic.LoadUint32(&lst[0]))
		for j := 1; j <= n; j++ {
			if y := atomic.LoadUint32(&lst[j]); y < high && !reached[y] {
				reached[y] = true
				queue = append(queue, y)
			}
		}
	}
}

// connectThreshold: graphs up to this many nodes are checked for connectivity after every
// insert batch; larger ones after every 10% of growth (a check walks the whole bottom
// layer: about 5 ms per 50,000 nodes).
const connectThreshold = 50_000

// maybeConnect runs connectComponents when due (see connectThreshold). Called at the end
// of an insert batch, with buildMu held shared.
func (g *HNSW) maybeConnect(added int) {
	g.mu.Lock()
	g.sinceConnect += added
	n := int(g.high) - len(g.free)
	due := n <= connectThreshold || g.sinceConnect*10 >= n
	if due {
		g.sinceConnect = 0
	}
	g.mu.Unlock()
	if due {
		g.connectComponents()
	}
}

// connectComponents makes every node reachable from the entry point on the bottom layer.
// The neighbour heuristic can leave a handful of nodes linking only among themselves (each
// with in-links, so the orphan rescue does not see them): a breadth-first walk from the
// entry point finds them, and each unreachable component gets a link from the reachable
// node nearest to it, found by a search for one of its members.
func (g *HNSW) connectComponents() {
	ep, _, ok := g.loadEntry()
	if !ok {
		return
	}
	g.mu.Lock()
	high := g.high
	g.mu.Unlock()
	dir := *g.dir.Load()
	reached := make([]bool, high)
	g.reachBottom(dir, high, reached, ep)
	s := g.getScratch()
	defer g.putScratch(s)
	for id := uint32(0); id < high; id++ {
		b := dir[id>>blockShift]
		if reached[id] || g.stateOf(b, id)&(stAllocated|stDeleted) != stAllocated {
			continue
		}
		// id heads an unreachable component: search from the entry point (which only
		// reaches reachable nodes) for the nodes nearest to it, and link the nearest
		// usable one to it.
		q := g.vecOf(b, id)
		s.dir = *g.dir.Load()
		s.visit.reset(uint32(len(s.dir)) << blockShift)
		top := 0
		cur := ep
		if e, t, ok := g.loadEntry(); ok {
			cur, top = e, t
		}
		curSim := vek32.Dot(q, g.vecOf(g.block(&s.dir, cur), cur))
		for l := top; l > 0; l-- {
			cur, curSim = g.greedy(s, q, cur, curSim, l)
		}
		s.visit.visit(cur)
		s.visit.visit(id)
		s.cands = append(s.cands[:0], cand{curSim, cur})
		g.searchLayer(s, q, g.cfg.EfConstruction, 0, g.notDeleted, 0)
		linked := false
		for _, c := range s.out {
			if c.id < high && reached[c.id] && g.adopt(&s.dir, c.id, id) {
				linked = true
				break
			}
		}
		if linked {
			g.reachBottom(dir, high, reached, id) // the whole component is reachable now
		}
	}
}
