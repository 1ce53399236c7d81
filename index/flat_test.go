package index

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"testing"

	"github.com/engram-go/engram/vector"
)

func randUnit(r *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	vector.Normalize(v)
	return v
}

// reference holds what the index should contain.
type reference map[uint64][]float32

func (ref reference) search(q []float32, k int, minSim float32, keep func(uint64) bool) []Result {
	var all []Result
	for key, v := range ref {
		s := vector.Dot(v, q)
		if s >= minSim && (keep == nil || keep(key)) {
			all = append(all, Result{key, s})
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].Similarity != all[j].Similarity {
			return all[i].Similarity > all[j].Similarity
		}
		return all[i].Key < all[j].Key
	})
	if len(all) > k {
		all = all[:k]
	}
	return all
}

func TestFlatMatchesReferenceThroughChurn(t *testing.T) {
	const dim = 16
	r := rand.New(rand.NewPCG(1, 2))
	f := NewFlat(dim)
	ref := reference{}
	for round := 0; round < 30; round++ {
		n := 1 + r.IntN(60)
		keys := make([]uint64, n)
		vecs := make([]float32, 0, n*dim)
		for i := range keys {
			keys[i] = uint64(r.IntN(400)) // repeats replace
			v := randUnit(r, dim)
			vecs = append(vecs, v...)
			ref[keys[i]] = v // last row for a key wins
		}
		if err := f.Add(keys, vecs); err != nil {
			t.Fatal(err)
		}
		var del []uint64
		for i := 0; i < r.IntN(20); i++ {
			k := uint64(r.IntN(400))
			del = append(del, k)
		}
		want := 0
		seen := map[uint64]bool{}
		for _, k := range del {
			if _, ok := ref[k]; ok && !seen[k] {
				want++
			}
			seen[k] = true
			delete(ref, k)
		}
		if got := f.Delete(del...); got != want {
			t.Fatalf("round %d: Delete = %d, want %d", round, got, want)
		}
		if f.Len() != len(ref) {
			t.Fatalf("round %d: Len = %d, want %d", round, f.Len(), len(ref))
		}
		q := randUnit(r, dim)
		k := 1 + r.IntN(25)
		keep := func(key uint64) bool { return key%3 != 0 }
		for _, c := range []struct {
			min  float32
			keep func(uint64) bool
		}{{-1, nil}, {0.2, nil}, {-1, keep}} {
			got, err := f.Search(q, k, SearchOptions{MinSimilarity: c.min, Filter: c.keep})
			if err != nil {
				t.Fatal(err)
			}
			if want := ref.search(q, k, c.min, c.keep); !slices.Equal(got, want) {
				t.Fatalf("round %d: Search = %v\nwant %v", round, got, want)
			}
		}
	}
	for k, v := range ref {
		got := make([]float32, dim)
		if !f.Contains(k) || !f.Vector(k, got) || !slices.Equal(got, v) {
			t.Fatalf("key %d: stored vector differs", k)
		}
	}
	keys := slices.Sorted(f.Keys())
	if len(keys) != len(ref) {
		t.Fatalf("Keys yields %d, want %d", len(keys), len(ref))
	}
	if f.Contains(100_000) || f.Vector(100_000, make([]float32, dim)) {
		t.Fatal("absent key reported present")
	}
	if f.MemoryBytes() < int64(len(ref)*dim*4) {
		t.Fatal("MemoryBytes below the vectors' size")
	}
}

func TestFlatRejectsWrongDimensions(t *testing.T) {
	f := NewFlat(4)
	if err := f.Add([]uint64{1}, make([]float32, 3)); !errors.Is(err, ErrDimension) {
		t.Fatalf("Add = %v", err)
	}
	if _, err := f.Search(make([]float32, 5), 1, SearchOptions{}); !errors.Is(err, ErrDimension) {
		t.Fatalf("Search = %v", err)
	}
	if got, err := f.Search(make([]float32, 4), 3, SearchOptions{}); err != nil || len(got) != 0 {
		t.Fatalf("Search on empty = %v %v", got, err)
	}
}

func TestFlatSnapshotRoundTripAndCorruption(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	f := NewFlat(8)
	for i := 0; i < 50; i++ {
		f.Add([]uint64{uint64(i * 7)}, randUnit(r, 8))
	}
	f.Delete(14, 21)
	b, err := f.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	g, err := UnmarshalFlat(b)
	if err != nil {
		t.Fatal(err)
	}
	q := randUnit(r, 8)
	a1, _ := f.Search(q, 10, SearchOptions{MinSimilarity: -1})
	a2, _ := g.Search(q, 10, SearchOptions{MinSimilarity: -1})
	if !slices.Equal(a1, a2) || g.Len() != 48 || g.Dim() != 8 || g.Kind() != KindFlat {
		t.Fatal("snapshot does not restore the index")
	}
	if again, _ := g.MarshalBinary(); !bytes.Equal(again, b) {
		t.Fatal("snapshot not stable")
	}
	for i := 0; i < len(b); i += 3 {
		bad := bytes.Clone(b)
		bad[i] ^= 0x40
		if _, err := UnmarshalFlat(bad); !errors.Is(err, ErrSnapshot) {
			t.Fatalf("flip at %d accepted: %v", i, err)
		}
	}
	for _, n := range []int{0, 10, 23, len(b) - 1} {
		if _, err := UnmarshalFlat(b[:n]); !errors.Is(err, ErrSnapshot) {
			t.Fatalf("truncation to %d accepted", n)
		}
	}
	empty, _ := NewFlat(3).MarshalBinary()
	if e, err := UnmarshalFlat(empty); err != nil || e.Len() != 0 {
		t.Fatalf("empty snapshot: %v", err)
	}
}

func FuzzUnmarshalFlat(f *testing.F) {
	g := NewFlat(2)
	g.Add([]uint64{1, 2}, []float32{1, 0, 0, 1})
	b, _ := g.MarshalBinary()
	f.Add(b)
	f.Add([]byte("EGFL"))
	f.Fuzz(func(t *testing.T, b []byte) {
		idx, err := UnmarshalFlat(b)
		if err != nil {
			return
		}
		q := make([]float32, idx.Dim())
		q[0] = 1
		idx.Search(q, 3, SearchOptions{MinSimilarity: -1})
	})
}

func TestFlatConcurrentSearchAndWrites(t *testing.T) {
	const dim = 8
	f := NewFlat(dim)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 9))
			for i := 0; i < 300; i++ {
				key := uint64(r.IntN(100))
				if i%3 == 0 {
					f.Delete(key)
					continue
				}
				f.Add([]uint64{key}, randUnit(r, dim))
			}
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 10))
			for i := 0; i < 300; i++ {
				res, err := f.Search(randUnit(r, dim), 5, SearchOptions{MinSimilarity: -1})
				if err != nil {
					t.Error(err)
					return
				}
				for j := 1; j < len(res); j++ {
					if res[j].Similarity > res[j-1].Similarity || math.IsNaN(float64(res[j].Similarity)) {
						t.Error("unsorted results")
					}
				}
			}
		}()
	}
	wg.Wait()
	n := 0
	for range f.Keys() {
		n++
	}
	if n != f.Len() {
		t.Fatalf("Keys %d != Len %d", n, f.Len())
	}
}
