package index

import (
	"math"
	"slices"
)

// sortTies orders results by similarity descending, then key ascending, making results
// deterministic whatever internal order an index found them in.
func sortTies(rs []Result) {
	slices.SortFunc(rs, func(a, b Result) int {
		switch {
		case a.Similarity > b.Similarity:
			return -1
		case a.Similarity < b.Similarity:
			return 1
		case a.Key < b.Key:
			return -1
		case a.Key > b.Key:
			return 1
		}
		return 0
	})
}

// sortBySim orders cands by similarity descending, ties by id ascending. It sorts packed
// uint64 keys (the similarity's bits made order-preserving, then the id) in keys, a
// scratch buffer it returns for reuse: a sort of plain integers compares inline, where a
// comparison function costs a call per comparison — the sorts of the candidate lists are a
// large share of a graph repair's time.
func sortBySim(cands []cand, keys []uint64) []uint64 {
	keys = slices.Grow(keys[:0], len(cands))[:len(cands)]
	for i, c := range cands {
		keys[i] = uint64(^orderedBits(c.sim))<<32 | uint64(c.id)
	}
	slices.Sort(keys)
	for i, k := range keys {
		cands[i] = cand{sim: math.Float32frombits(fromOrdered(^uint32(k >> 32))), id: uint32(k)}
	}
	return keys
}

// orderedBits maps a float32 to a uint32 whose unsigned order is the float's order
// (negative floats have their bits flipped, positive ones their sign bit set).
func orderedBits(f float32) uint32 {
	b := math.Float32bits(f)
	if b>>31 != 0 {
		return ^b
	}
	return b | 1<<31
}

// fromOrdered inverts orderedBits.
func fromOrdered(b uint32) uint32 {
	if b>>31 != 0 {
		return b &^ (1 << 31)
	}
	return ^b
}
