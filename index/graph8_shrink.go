package index

// shrinkLocked gives back the memory of recycled slots once they are many (mu held
// exclusively): the nodes above the new end move into the free slots below it, every list
// is rewritten through the moves, and the blocks past the end are released. Memory then
// follows the node count rather than its peak — after a wave of cooling or promotions, or
// an ArchiveWhere, the warm tier's codes and links shrink with it. Cost: one pass over
// every list, a few tens of milliseconds for a million nodes, under the write lock.
func (g *Graph8) shrinkLocked() {
	if len(g.free) < g8Block || len(g.free)*8 < int(g.high) {
		return
	}
	n := g.high - uint32(len(g.free)) // allocated nodes: the new end
	var holes []uint32                // free slots below the end, ascending
	for id := uint32(0); id < n; id++ {
		if g.stateOf(id)&g8Allocated == 0 {
			holes = append(holes, id)
		}
	}
	remap := make([]uint32, g.high-n) // new id of node n+i (when allocated)
	next := 0
	for id := n; id < g.high; id++ {
		if g.stateOf(id)&g8Allocated == 0 {
			continue
		}
		to := holes[next]
		next++
		remap[id-n] = to
		g.moveNode(id, to)
	}
	move := func(x uint32) uint32 {
		if x >= n {
			return remap[x-n]
		}
		return x
	}
	for id := uint32(0); id < n; id++ {
		for l := 0; l <= g.levelOf(id); l++ {
			lst := g.list(id, l)
			for j := 1; j <= int(lst[0]); j++ {
				lst[j] = move(lst[j])
			}
		}
	}
	for i, o := range g.orphans {
		g.orphans[i] = move(o)
	}
	g.entry = move(g.entry)
	g.high, g.free = n, nil
	keep := int((n + g8Block - 1) >> g8Shift) // the slots past n in the last block are free
	clear(g.blocks[keep:])
	g.blocks = g.blocks[:keep]
}

// moveNode copies node from into the free slot to (mu held exclusively); lists pointing
// at it are rewritten by the caller.
func (g *Graph8) moveNode(from, to uint32) {
	fb, fi := g.blk(from), from&g8Mask
	tb, ti := g.blk(to), to&g8Mask
	copy(g.code(to), g.code(from))
	tb.scales[ti], tb.keys[ti], tb.stamps[ti] = fb.scales[fi], fb.keys[fi], fb.stamps[fi]
	tb.state[ti], tb.indeg[ti] = fb.state[fi], fb.indeg[fi]
	copy(tb.links0[int(ti)*g.stride:int(ti+1)*g.stride], fb.links0[int(fi)*g.stride:int(fi+1)*g.stride])
	if up, ok := g.upper[from]; ok {
		g.upper[to] = up
		delete(g.upper, from)
	}
	if fb.state[fi]&g8Deleted == 0 {
		g.byKey.set(fb.keys[fi], int32(to))
	}
	fb.state[fi] = 0
}
