package index

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"slices"
)

// Graph8 snapshot v1 — the links without the codes (the store holds every vector in its
// records, and quantizing is cheap; finding the links again is not):
//
//	"EGG8" u8 version, 3 reserved
//	u32 dim, u32 M, u32 EfConstruction, u32 EfSearch, u32 slots, u32 entry, i32 top layer
//	per slot: u8 state; when allocated: u64 key, then for layers 0..level:
//	          u32 count, count × u32 neighbour
//	u32 CRC-32C of everything before it
//
// Hidden nodes (their data not committed yet) are saved as tombstones. Decoding checks the
// structure completely (degree bounds, neighbours in range and holding the layer, keys
// unique, entry valid), so a damaged snapshot is rejected, never loaded.
const (
	g8Magic   = "EGG8"
	g8Version = 1
	g8Header  = 8 + 7*4
)

// MarshalBinary implements Index. Searches and stamp updates continue meanwhile; writers
// wait.
func (g *Graph8) MarshalBinary() ([]byte, error) {
	g.wmu.Lock()
	defer g.wmu.Unlock()
	g.mu.RLock()
	defer g.mu.RUnlock()
	b := make([]byte, 0, g8Header+4+int(g.high)*(16+4*g.stride))
	b = append(b, g8Magic...)
	b = append(b, g8Version, 0, 0, 0)
	for _, v := range []int{g.dim, g.m, g.cfg.EfConstruction, g.cfg.EfSearch, int(g.high), int(g.entry), g.top} {
		b = binary.LittleEndian.AppendUint32(b, uint32(v))
	}
	for id := uint32(0); id < g.high; id++ {
		st := g.stateOf(id)
		if st&g8Allocated != 0 && st&(g8Live|g8Deleted) == 0 {
			st |= g8Deleted // hidden: a load re-inserts it from its record if it committed
		}
		b = append(b, st)
		if st&g8Allocated == 0 {
			continue
		}
		b = binary.LittleEndian.AppendUint64(b, g.keyOf(id))
		for l := 0; l <= int(st&g8Level); l++ {
			lst := g.list(id, l)
			b = binary.LittleEndian.AppendUint32(b, lst[0])
			for _, x := range lst[1 : 1+lst[0]] {
				b = binary.LittleEndian.AppendUint32(b, x)
			}
		}
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli)), nil
}

// Graph8Loader is a decoded snapshot waiting for its nodes' vectors: Fill each key's, then
// Finish. Nodes whose vector never arrives (the memory left the tier after the snapshot)
// are dropped; keys the snapshot does not know are the caller's to Add after Finish.
type Graph8Loader struct {
	g      *Graph8
	filled []bool
	done   bool
}

// DecodeGraph8 checks and decodes a snapshot of a graph of dim-dimensional vectors. Any
// damage, or a snapshot of another dimension, is an ErrSnapshot error. The caller states
// the dimension because the decoder allocates the code blocks before returning: a
// dimension read from damaged bytes could otherwise ask for gigabytes.
func DecodeGraph8(b []byte, dim int, cfg Graph8Config) (*Graph8Loader, error) {
	bad := func(format string, args ...any) (*Graph8Loader, error) {
		return nil, fmt.Errorf("%w: graph8: %s", ErrSnapshot, fmt.Sprintf(format, args...))
	}
	if len(b) < g8Header+4 || string(b[:4]) != g8Magic {
		return bad("not a graph8 snapshot")
	}
	if b[4] != g8Version {
		return bad("version %d", b[4])
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return bad("checksum mismatch")
	}
	u32 := func(off int) uint32 { return binary.LittleEndian.Uint32(body[off:]) }
	sdim, m, efc, efs := int(u32(8)), int(u32(12)), int(u32(16)), int(u32(20))
	high, entry, top := u32(24), u32(28), int(int32(u32(32)))
	if sdim != dim || dim <= 0 || m < 2 || m > 128 || efc <= 0 || efc > 1<<16 || efs <= 0 || efs > 1<<16 {
		return bad("parameters dim=%d (want %d) M=%d efc=%d ef=%d", sdim, dim, m, efc, efs)
	}
	// Each slot takes at least a byte, and an allocated one holds its key and lists: a
	// real snapshot's slots cost in memory a few dozen times their bytes at most. Bounding
	// the ratio keeps a forged header (with a matching checksum) from allocating gigabytes.
	slot := uint64(dim + 4 + 8 + 4 + 1 + 4 + 4*(1+2*m))
	if uint64(high) > uint64(len(body)-g8Header) || uint64(high)*slot > max(256*uint64(len(body)), 1<<24) {
		return bad("%d slots do not fit %d bytes", high, len(body))
	}
	cfg.M, cfg.EfConstruction, cfg.EfSearch = m, efc, efs
	g := NewGraph8(dim, cfg)
	if high > 0 {
		g.grow(high - 1)
	}
	g.high = high
	ld := &Graph8Loader{g: g, filled: make([]bool, high)}
	off := g8Header
	need := func(n int) bool { return off+n <= len(body) }
	for id := uint32(0); id < high; id++ {
		if !need(1) {
			return bad("truncated at slot %d", id)
		}
		st := body[off]
		off++
		blk, i := g.blk(id), id&g8Mask
		if st&g8Allocated == 0 {
			if st != 0 {
				return bad("slot %d: state %x", id, st)
			}
			g.free = append(g.free, id)
			continue
		}
		if st&^(g8Level|g8Allocated|g8Live|g8Deleted) != 0 || st&(g8Live|g8Deleted) == 0 {
			return bad("slot %d: state %x", id, st)
		}
		level := int(st & g8Level)
		if level > g8MaxLevel || !need(8) {
			return bad("slot %d: level %d", id, level)
		}
		key := binary.LittleEndian.Uint64(body[off:])
		off += 8
		blk.keys[i] = key
		if level > 0 {
			g.upper[id] = make([]uint32, level*(1+m))
		}
		for l := 0; l <= level; l++ {
			if !need(4) {
				return bad("truncated at slot %d", id)
			}
			n := int(u32(off))
			off += 4
			if n > g.maxDegree(l) || !need(4*n) {
				return bad("slot %d layer %d: %d neighbours", id, l, n)
			}
			lst := g.list(id, l)
			lst[0] = uint32(n)
			for j := 1; j <= n; j++ {
				if lst[j] = u32(off); lst[j] >= high || lst[j] == id || slices.Contains(lst[1:j], lst[j]) {
					return bad("slot %d: neighbour %d out of range, itself or repeated", id, lst[j])
				}
				off += 4
			}
		}
		// Every node comes back as a tombstone until Fill gives it its code.
		blk.state[i] = g8Allocated | uint8(level) | g8Deleted
		g.dead++
		if st&g8Deleted == 0 {
			if _, dup := g.byKey.get(key); dup {
				return bad("duplicate key %d", key)
			}
			g.byKey.set(key, int32(id))
		}
	}
	if off != len(body) {
		return bad("%d trailing bytes", len(body)-off)
	}
	if err := g.checkLinks(); err != nil {
		return bad("%v", err)
	}
	switch {
	case top >= 0:
		if entry >= high || g.stateOf(entry)&g8Allocated == 0 || g.levelOf(entry) != top {
			return bad("entry %d does not hold the top layer %d", entry, top)
		}
		g.entry, g.top = entry, top
	case top != -1 || int(high) > len(g.free):
		return bad("nodes without an entry point")
	}
	return ld, nil
}

// checkLinks verifies, once every slot is decoded, that each link leads to an allocated
// node holding the link's layer, and counts the layer-0 in-degrees the lists imply.
func (g *Graph8) checkLinks() error {
	for id := uint32(0); id < g.high; id++ {
		st := g.stateOf(id)
		if st&g8Allocated == 0 {
			continue
		}
		for l := 0; l <= int(st&g8Level); l++ {
			lst := g.list(id, l)
			for _, x := range lst[1 : 1+lst[0]] {
				if g.stateOf(x)&g8Allocated == 0 || g.levelOf(x) < l {
					return fmt.Errorf("slot %d layer %d links to slot %d without that layer", id, l, x)
				}
				if l == 0 {
					g.blk(x).indeg[x&g8Mask]++
				}
			}
		}
	}
	return nil
}

// Dim returns the snapshot's dimension.
func (ld *Graph8Loader) Dim() int { return ld.g.dim }

// Config returns the snapshot's graph parameters.
func (ld *Graph8Loader) Config() Graph8Config { return ld.g.cfg }

// Fill gives key its vector (unit length, Dim floats) and stamp. It reports false when the
// snapshot does not know key (or it was filled already, or Finish ran): Add it after
// Finish.
func (ld *Graph8Loader) Fill(key uint64, vec []float32, stamp uint32) bool {
	g := ld.g
	if ld.done || len(vec) != g.dim {
		return false
	}
	r, ok := g.byKey.get(key)
	if !ok || ld.filled[r] {
		return false
	}
	id := uint32(r)
	ld.filled[id] = true
	b, i := g.blk(id), id&g8Mask
	b.scales[i] = quantize(g.code(id), vec)
	b.stamps[i] = stamp
	b.state[i] = b.state[i]&^g8Deleted | g8Live
	g.dead--
	g.live++
	return true
}

// Finish returns the graph: keyed nodes that got no vector are dropped, and the graph is
// repaired around every tombstone (they have no code to be traversed by). It also reports
// how many keyed nodes were dropped. Calling it again returns the same graph and 0.
func (ld *Graph8Loader) Finish() (*Graph8, int) {
	g := ld.g
	if ld.done {
		return g, 0
	}
	ld.done = true
	missing := 0
	for id := uint32(0); id < g.high; id++ {
		if st := g.stateOf(id); st&g8Allocated != 0 && !ld.filled[id] {
			if r, ok := g.byKey.get(g.keyOf(id)); ok && uint32(r) == id {
				g.byKey.del(g.keyOf(id))
				missing++
			}
		}
	}
	ld.filled = nil
	s := g.getScratch()
	g.wmu.Lock()
	if g.dead > 0 {
		g.compact(s)
	} else {
		g.connect(s)
	}
	g.wmu.Unlock()
	g.putScratch(s)
	g.changes.Store(0)
	return g, missing
}
