package index

import (
	"fmt"

	"github.com/engram-go/engram/vector"
	"github.com/viterin/vek/vek32"
)

// Subset search: the k nearest of a given set of keys, exactly. A store answers a
// selective filter this way — its postings name the few memories that can match, and
// scoring just those beats any graph search, which must wade through the many that
// cannot (see the store's plan.go for where the line falls).

// keyChunk is how many keys a subset search resolves per hold of an index lock: the
// lock is not held across the scoring, and a chunk's vectors fit in L2.
const keyChunk = 256

// SearchKeys returns up to k of keys, those nearest to the unit vector q, most similar
// first (ties by lower key): an exact search restricted to keys. Keys absent from the
// index (or hidden, or deleted) are skipped; keys must be distinct. opt.Filter, when set,
// is consulted only for keys that would otherwise make the result; opt.Breadth and
// opt.Exact do not apply.
func (g *HNSW) SearchKeys(q []float32, k int, keys []uint64, opt SearchOptions) ([]Result, error) {
	if len(q) != g.dim {
		return nil, fmt.Errorf("%w: query of dim %d, index dim %d", ErrDimension, len(q), g.dim)
	}
	if k <= 0 || len(keys) == 0 {
		return nil, nil
	}
	g.reclaimMu.RLock() // no slot is recycled under the ids resolved below
	defer g.reclaimMu.RUnlock()
	acc := vector.NewTopKAcc(k, opt.MinSimilarity, make([]vector.Scored, 0, k))
	filter := subsetFilter(keys, opt.Filter)
	ids := make([]uint32, 0, keyChunk)
	rows := make([]int, 0, keyChunk)
	missed := make([]int, 0, keyChunk)
	// Ids are handed out in insertion order, and so are the store's keys: a key's id is
	// most often the previous key's id plus the difference of the keys. That guess is
	// checked against the slot (its key, and that it is live) and spares the key map —
	// the bulk of the cost of a subset search — for every key it gets right.
	g.mu.Lock()
	high := g.high
	g.mu.Unlock()
	dir := *g.dir.Load() // loaded after high: covers every id below it
	var delta uint64     // key - id of the last key found
	known := false
	for off := 0; off < len(keys); off += keyChunk {
		chunk := keys[off:min(off+keyChunk, len(keys))]
		ids, rows, missed = ids[:0], rows[:0], missed[:0]
		for i, key := range chunk {
			if id := key - delta; known && key >= delta && id < uint64(high) {
				b := dir[id>>blockShift]
				if b.keys[id&blockMask] == key && g.stateOf(b, uint32(id))&(stLive|stDeleted) == stLive {
					ids, rows = append(ids, uint32(id)), append(rows, off+i)
					continue
				}
			}
			missed = append(missed, i)
		}
		if len(missed) > 0 {
			g.mu.Lock()
			for _, i := range missed {
				if id32, ok := g.byKey.get(chunk[i]); ok {
					id := uint32(id32)
					ids, rows = append(ids, id), append(rows, off+i)
					delta, known = chunk[i]-uint64(id), true
				}
			}
			g.mu.Unlock()
			dir = *g.dir.Load() // ids from the map may be newer than high
		}
		// Touch every vector first so their cache misses overlap (see warmRecs).
		var touch float32
		for _, id := range ids {
			v := g.vecOf(dir[id>>blockShift], id)
			for j := 0; j < len(v); j += 16 {
				touch += v[j]
			}
		}
		_ = touch
		for j, id := range ids {
			b := dir[id>>blockShift]
			if g.stateOf(b, id)&(stLive|stDeleted) != stLive {
				continue
			}
			acc.Offer(rows[j], vek32.Dot(q, g.vecOf(b, id)), filter)
		}
	}
	return subsetResults(acc, keys), nil
}

// SearchKeys is HNSW.SearchKeys for the exact index.
func (f *Flat) SearchKeys(q []float32, k int, keys []uint64, opt SearchOptions) ([]Result, error) {
	if len(q) != f.dim {
		return nil, fmt.Errorf("%w: query of dim %d, index dim %d", ErrDimension, len(q), f.dim)
	}
	if k <= 0 || len(keys) == 0 {
		return nil, nil
	}
	acc := vector.NewTopKAcc(k, opt.MinSimilarity, make([]vector.Scored, 0, k))
	filter := subsetFilter(keys, opt.Filter)
	f.mu.RLock()
	for i, key := range keys {
		if r, ok := f.row[key]; ok {
			acc.Offer(i, vek32.Dot(q, f.vec(r)), filter)
		}
	}
	f.mu.RUnlock()
	return subsetResults(acc, keys), nil
}

func subsetFilter(keys []uint64, keep func(uint64) bool) func(int) bool {
	if keep == nil {
		return nil
	}
	return func(row int) bool { return keep(keys[row]) }
}

func subsetResults(acc *vector.TopKAcc, keys []uint64) []Result {
	best := acc.Result()
	out := make([]Result, len(best))
	for i, s := range best {
		out[i] = Result{Key: keys[s.Row], Similarity: s.Score}
	}
	sortTies(out)
	return out
}
