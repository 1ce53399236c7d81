package index

import (
	"math/rand/v2"
	"testing"
)

// TestRowIndexMatchesAMap: dense keys, sparse keys and switches between the two forms keep
// exactly a map's contents; dense keys cost about 4 bytes each, sparse ones a map's cost.
func TestRowIndexMatchesAMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	x := newRowIndex()
	ref := map[uint64]int32{}
	check := func(phase string) {
		t.Helper()
		if x.len() != len(ref) {
			t.Fatalf("%s: len %d, want %d", phase, x.len(), len(ref))
		}
		for k, v := range ref {
			if got, ok := x.get(k); !ok || got != v {
				t.Fatalf("%s: get(%d) = %d %v, want %d", phase, k, got, ok, v)
			}
		}
		seen := 0
		x.each(func(k uint64, v int32) bool {
			if want, ok := ref[k]; !ok || want != v {
				t.Fatalf("%s: each yielded %d → %d, want %d (present %v)", phase, k, v, want, ok)
			}
			seen++
			return true
		})
		if seen != len(ref) {
			t.Fatalf("%s: each yielded %d keys, want %d", phase, seen, len(ref))
		}
		stopped := 0
		x.each(func(uint64, int32) bool { stopped++; return stopped < 3 })
		if want := min(3, len(ref)); stopped != want {
			t.Fatalf("%s: each went on after false: %d calls, want %d", phase, stopped, want)
		}
		for range 200 {
			k := r.Uint64N(1 << 40)
			_, want := ref[k]
			if _, ok := x.get(k); ok != want {
				t.Fatalf("%s: get(%d) present = %v, want %v", phase, k, ok, want)
			}
		}
	}
	// Dense: sequence numbers, some removed.
	for k := uint64(1); k <= 50_000; k++ {
		x.set(k, int32(k*3))
		ref[k] = int32(k * 3)
	}
	for range 10_000 {
		k := 1 + r.Uint64N(50_000)
		x.del(k)
		delete(ref, k)
	}
	check("dense")
	if x.sparse != nil || x.bytes() > int64(len(ref))*6 {
		t.Fatalf("dense keys: sparse=%v, %d bytes for %d keys", x.sparse != nil, x.bytes(), len(ref))
	}
	// Sparse keys far apart: the map form takes over.
	for range 20_000 {
		k := 1<<30 + r.Uint64N(1<<40)
		v := int32(r.IntN(1 << 30))
		x.set(k, v)
		ref[k] = v
	}
	check("sparse")
	if x.sparse == nil || x.bytes() > int64(len(ref))*mapEntryBytes {
		t.Fatalf("sparse keys: sparse=%v, %d bytes for %d keys", x.sparse != nil, x.bytes(), len(ref))
	}
	// Remove the sparse ones, grow dense again: back to pages once the count doubles.
	for k := range ref {
		if k >= 1<<30 {
			x.del(k)
			delete(ref, k)
		}
	}
	for k := uint64(50_001); k <= 400_000; k++ {
		x.set(k, int32(k))
		ref[k] = int32(k)
	}
	check("dense again")
	if x.sparse != nil {
		t.Fatal("dense keys again: still in the map form")
	}
	// Overwrites do not change the count.
	x.set(7, 1)
	ref[7] = 1
	check("overwrite")
}
