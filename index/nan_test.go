package index

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestNaNVectorNeverDisplacesAHit: a vector with a non-finite component (stored by an
// older engram, or added directly) scores NaN against every query. Every index must skip
// it: NaN compares false with everything, so in a top-k heap it wedges the root and takes
// a real hit's place, and a greedy descent starting on it never moves. Whatever the index,
// each search returns k real hits (the k best, for the exact ones) and no NaN.
func TestNaNVectorNeverDisplacesAHit(t *testing.T) {
	const dim, n, k = 8, 400, 10
	r := rand.New(rand.NewPCG(9, 9))
	vecs := make([]float32, 0, n*dim)
	keys := make([]uint64, n)
	ref := reference{}
	for i := range keys {
		keys[i] = uint64(i + 1)
		v := randUnit(r, dim)
		if i%97 == 0 { // a few poisoned rows, the first one the graph's entry point
			v[3] = float32(math.NaN())
		} else {
			ref[keys[i]] = v
		}
		vecs = append(vecs, v...)
	}
	nan := func(key uint64) bool { _, ok := ref[key]; return !ok }
	for _, idx := range []Index{NewFlat(dim), NewHNSW(dim, HNSWConfig{M: 8, EfConstruction: 64, EfSearch: 32})} {
		if err := idx.Add(keys, vecs); err != nil {
			t.Fatal(err)
		}
		for q := 0; q < 50; q++ {
			cue := randUnit(r, dim)
			for _, exact := range []bool{false, true} {
				got, err := idx.Search(cue, k, SearchOptions{MinSimilarity: -1, Exact: exact})
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != k {
					t.Fatalf("%s exact=%v: %d hits, want %d", idx.Kind(), exact, len(got), k)
				}
				for _, h := range got {
					if nan(h.Key) || h.Similarity != h.Similarity {
						t.Fatalf("%s exact=%v: the NaN vector %d came back (similarity %v)", idx.Kind(), exact, h.Key, h.Similarity)
					}
				}
				if idx.Kind() == KindFlat || (idx.Kind() == KindHNSW && exact) {
					if want := ref.search(cue, k, -1, nil); want[k-1].Similarity > got[k-1].Similarity+1e-6 {
						t.Fatalf("%s: the k-th hit scores %v, the true k-th %v", idx.Kind(), got[k-1].Similarity, want[k-1].Similarity)
					}
				}
			}
		}
	}
}
