package index

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestSortBySim: the packed-key sort orders by similarity descending, ties by id, and
// hands back every candidate bit for bit (negative similarities included).
func TestSortBySim(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var keys []uint64
	for _, n := range []int{0, 1, 2, 7, 64, 300} {
		c := make([]cand, n)
		for i := range c {
			sim := float32(r.Float64()*2 - 1)
			if i%5 == 0 && i > 0 {
				sim = c[i-1].sim // ties
			}
			if i == 3 {
				sim = float32(math.Inf(-1))
			}
			c[i] = cand{sim: sim, id: uint32(r.IntN(1 << 20))}
		}
		// The reference: the results' own ordering (sortTies), by similarity then key.
		want := make([]Result, len(c))
		for i, x := range c {
			want[i] = Result{Key: uint64(x.id), Similarity: x.sim}
		}
		sortTies(want)
		keys = sortBySim(c, keys)
		for i, x := range c {
			if x.id != uint32(want[i].Key) || math.Float32bits(x.sim) != math.Float32bits(want[i].Similarity) {
				t.Fatalf("n=%d, position %d: got %v, want %v", n, i, x, want[i])
			}
		}
	}
	for _, f := range []float32{-1, -0.5, -1e-30, 0, 1e-30, 0.5, 1, float32(math.Inf(1))} {
		if got := math.Float32frombits(fromOrdered(orderedBits(f))); got != f {
			t.Fatalf("round trip of %v gave %v", f, got)
		}
	}
}
