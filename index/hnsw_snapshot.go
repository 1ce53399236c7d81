package index

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sync/atomic"
)

// HNSW snapshot v1 — the graph without its vectors (the store already holds every vector
// in its records, so a snapshot only saves the expensive part: the links).
//
//	"EGHN" u8 version, 3 reserved
//	u32 dim, u32 M, u32 EfConstruction, u32 EfSearch
//	u32 slots, u64 entry (node << 32 | top layer + 1; 0 = empty)
//	per slot: u32 state; when allocated: u64 key, then for layers 0..level:
//	          u32 count, count × u32 neighbour
//	u32 CRC-32C of everything before it
//
// Decoding checks the structure completely (counts within the degree bounds, neighbours
// within the slot range, keys unique, levels within range, entry valid) so that a damaged
// snapshot is rejected instead of yielding a graph that could crash a search.
const (
	hnswMagic   = "EGHN"
	hnswVersion = 1
)

// MarshalBinary implements Index. Searches continue meanwhile; inserts and compaction wait.
func (g *HNSW) MarshalBinary() ([]byte, error) {
	g.buildMu.Lock() // no insert or repair may change links mid-encode
	defer g.buildMu.Unlock()
	g.mu.Lock()
	high := g.high
	g.mu.Unlock()
	dir := *g.dir.Load()
	b := make([]byte, 0, 36+int(high)*(16+4*g.m0))
	b = append(b, hnswMagic...)
	b = append(b, hnswVersion, 0, 0, 0)
	for _, v := range []int{g.dim, g.m, g.cfg.EfConstruction, g.cfg.EfSearch, int(high)} {
		b = binary.LittleEndian.AppendUint32(b, uint32(v))
	}
	b = binary.LittleEndian.AppendUint64(b, g.entry.Load())
	for id := uint32(0); id < high; id++ {
		blk := dir[id>>blockShift]
		st := g.stateOf(blk, id)
		if st&stAllocated != 0 && st&(stLive|stDeleted) == 0 {
			// Hidden (its data is not committed yet): saved as a tombstone, so a load
			// re-inserts it from its record if the commit happened.
			st |= stDeleted
		}
		b = binary.LittleEndian.AppendUint32(b, st)
		if st&stAllocated == 0 {
			continue
		}
		b = binary.LittleEndian.AppendUint64(b, blk.keys[id&blockMask])
		for l := 0; l <= int(st&stLevelMask); l++ {
			lst := g.list(blk, id, l)
			n := int(atomic.LoadUint32(&lst[0]))
			b = binary.LittleEndian.AppendUint32(b, uint32(n))
			for i := 1; i <= n; i++ {
				b = binary.LittleEndian.AppendUint32(b, atomic.LoadUint32(&lst[i]))
			}
		}
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli)), nil
}

// HNSWLoader is a decoded snapshot waiting for its vectors: Fill each key's vector, then
// Finish. Nodes whose vector never arrives (their record is gone) become tombstones.
type HNSWLoader struct {
	g      *HNSW
	filled []bool
	keyed  int
	done   bool // Finish ran: the graph is the caller's, Fill no longer touches it
}

// DecodeHNSW checks and decodes a snapshot of a graph of dim-dimensional vectors. workers
// sets the parallelism of later inserts (0 = GOMAXPROCS). Any damage, or a snapshot of
// another dimension, is an ErrSnapshot error. The caller states the dimension because the
// decoder allocates the vector blocks (filled later from the records) before returning: a
// dimension read from damaged bytes could otherwise ask for gigabytes.
func DecodeHNSW(b []byte, dim, workers int) (*HNSWLoader, error) {
	bad := func(format string, args ...any) (*HNSWLoader, error) {
		return nil, fmt.Errorf("%w: %s", ErrSnapshot, fmt.Sprintf(format, args...))
	}
	if len(b) < 40 || string(b[:4]) != hnswMagic {
		return bad("not an HNSW snapshot")
	}
	if b[4] != hnswVersion {
		return bad("HNSW snapshot version %d", b[4])
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return bad("checksum mismatch")
	}
	u32 := func(off int) uint32 { return binary.LittleEndian.Uint32(body[off:]) }
	sdim, m, efc, efs, high := int(u32(8)), int(u32(12)), int(u32(16)), int(u32(20)), u32(24)
	entry := binary.LittleEndian.Uint64(body[28:])
	if sdim != dim || dim <= 0 || m < 2 || m > 1024 || efc <= 0 || efs <= 0 {
		return bad("parameters dim=%d (want %d) M=%d efc=%d ef=%d", sdim, dim, m, efc, efs)
	}
	// Each slot takes at least 4 bytes, which bounds the allocation a forged count can cause.
	if uint64(high)*4 > uint64(len(body)-36) {
		return bad("%d slots do not fit %d bytes", high, len(body))
	}
	g := NewHNSW(dim, HNSWConfig{M: m, EfConstruction: efc, EfSearch: efs, Workers: workers})
	ld := &HNSWLoader{g: g, filled: make([]bool, high)}
	for g.high < high {
		g.high += blockSize
		g.grow()
	}
	g.high = high
	dir := *g.dir.Load()
	off := 36
	need := func(n int) bool { return off+n <= len(body) }
	for id := uint32(0); id < high; id++ {
		if !need(4) {
			return bad("truncated at slot %d", id)
		}
		st := u32(off)
		off += 4
		blk := dir[id>>blockShift]
		i := id & blockMask
		if st&stAllocated == 0 {
			if st != 0 {
				return bad("slot %d: state %x", id, st)
			}
			g.free = append(g.free, id)
			continue
		}
		if st&^(stLevelMask|stAllocated|stLive|stDeleted) != 0 || st&(stLive|stDeleted) == 0 {
			return bad("slot %d: state %x", id, st)
		}
		level := int(st & stLevelMask)
		if level > maxLevel || !need(8) {
			return bad("slot %d: level %d", id, level)
		}
		key := binary.LittleEndian.Uint64(body[off:])
		off += 8
		blk.keys[i] = key
		if level > 0 {
			up := make([]uint32, level*(1+m))
			blk.upper[i].Store(&up)
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
			lst := g.list(blk, id, l)
			lst[0] = uint32(n)
			for j := 1; j <= n; j++ {
				nb := u32(off)
				off += 4
				if nb >= high {
					return bad("slot %d: neighbour %d out of range", id, nb)
				}
				lst[j] = nb
			}
		}
		// Nodes come back as tombstones until Fill gives them a vector.
		*g.statePtr(blk, id) = stAllocated | uint32(level) | stDeleted
		if st&stDeleted == 0 {
			if _, dup := g.byKey.get(key); dup {
				return bad("duplicate key %d", key)
			}
			g.byKey.set(key, int32(id))
			ld.keyed++
		}
		g.dead++
	}
	if off != len(body) {
		return bad("%d trailing bytes", len(body)-off)
	}
	if err := g.checkLinks(); err != nil {
		return nil, err
	}
	if entry != 0 {
		ep, top := uint32(entry>>32), int(uint32(entry))-1
		if ep >= high || top < 0 {
			return bad("entry %x", entry)
		}
		est := *g.statePtr(dir[ep>>blockShift], ep)
		if est&stAllocated == 0 || int(est&stLevelMask) != top {
			return bad("entry node %d does not have the top layer %d", ep, top)
		}
	} else if high > uint32(len(g.free)) {
		return bad("nodes without an entry point")
	}
	g.entry.Store(entry)
	return ld, nil
}

// checkLinks verifies, on a freshly decoded graph, that every neighbour is an allocated node
// that has the layer it is linked on, and counts layer-0 in-degrees on the way.
func (g *HNSW) checkLinks() error {
	dir := *g.dir.Load()
	high := g.high
	for id := uint32(0); id < high; id++ {
		blk := dir[id>>blockShift]
		st := *g.statePtr(blk, id)
		if st&stAllocated == 0 {
			continue
		}
		for l := 0; l <= int(st&stLevelMask); l++ {
			lst := g.list(blk, id, l)
			for j := 1; j <= int(lst[0]); j++ {
				nst := *g.statePtr(dir[lst[j]>>blockShift], lst[j])
				if nst&stAllocated == 0 || int(nst&stLevelMask) < l {
					return fmt.Errorf("%w: slot %d layer %d links to slot %d without that layer", ErrSnapshot, id, l, lst[j])
				}
				if l == 0 {
					dir[lst[j]>>blockShift].indeg[lst[j]&blockMask]++
				}
			}
		}
	}
	return nil
}

// Dim returns the dimension the snapshot was taken at.
func (ld *HNSWLoader) Dim() int { return ld.g.dim }

// Config returns the snapshot's graph parameters.
func (ld *HNSWLoader) Config() HNSWConfig { return ld.g.cfg }

// Fill gives key its vector (unit length, Dim floats). It reports false when the snapshot
// does not know key (the record was written after the snapshot): insert it after Finish.
// After Finish it reports false and changes nothing.
func (ld *HNSWLoader) Fill(key uint64, vec []float32) bool {
	g := ld.g
	if ld.done {
		return false
	}
	id32, ok := g.byKey.get(key)
	id := uint32(id32)
	if !ok || len(vec) != g.dim || ld.filled[id] {
		return false
	}
	ld.filled[id] = true
	copy(g.vecOf((*g.dir.Load())[id>>blockShift], id), vec)
	return true
}

// Finish returns the graph: filled nodes become live, and keyed nodes that got no vector
// (their memory was forgotten after the snapshot) are dropped as tombstones, which the next
// compaction removes. It also reports how many keyed nodes were missing. Calling it again
// returns the same graph and 0.
func (ld *HNSWLoader) Finish() (*HNSW, int) {
	g := ld.g
	if ld.done {
		return g, 0
	}
	ld.done = true
	dir := *g.dir.Load()
	var gone []uint64
	g.byKey.each(func(key uint64, id32 int32) bool {
		id := uint32(id32)
		blk := dir[id>>blockShift]
		if ld.filled[id] {
			*g.statePtr(blk, id) = *g.statePtr(blk, id)&^stDeleted | stLive
			g.dead--
			g.live.Add(1)
		} else {
			gone = append(gone, key)
		}
		return true
	})
	for _, key := range gone {
		g.byKey.del(key)
	}
	missing := len(gone)
	// Tombstones have no vector here (only live memories have records), so repair around
	// them now rather than let searches route through zero vectors.
	if g.dead > 0 {
		g.Compact()
	}
	ld.filled = nil
	return g, missing
}
