package index

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestSQ8CandidatesContainTheExactTop(t *testing.T) {
	f := testFixture(t)
	s := NewSQ8(f.dim)
	if err := s.Add(keysUpTo(f.nBase), f.base); err != nil {
		t.Fatal(err)
	}
	var hit, total int
	for i := 0; i < f.nQuery; i++ {
		cands, err := s.Search(f.query(i), 10, SearchOptions{Breadth: 40, MinSimilarity: -1})
		if err != nil || len(cands) != 40 {
			t.Fatalf("search: %v %d", err, len(cands))
		}
		in := map[uint64]bool{}
		for _, c := range cands {
			in[c.Key] = true
		}
		for j := 0; j < 10; j++ {
			total++
			if in[uint64(f.truth[i*f.k+j])] {
				hit++
			}
		}
	}
	if r := float64(hit) / float64(total); r < 0.99 {
		t.Fatalf("exact top-10 inside the 40 candidates: %.4f, want ≥ 0.99", r)
	}
}

func TestSQ8ChurnStampsAndFilter(t *testing.T) {
	const dim = 24
	r := rand.New(rand.NewPCG(4, 24))
	s := NewSQ8(dim)
	ref := reference{}
	for round := 0; round < 20; round++ {
		keys := make([]uint64, 50)
		vecs := make([]float32, 0, 50*dim)
		stamps := make([]uint32, 50)
		for i := range keys {
			keys[i] = uint64(r.IntN(400))
			v := randUnit(r, dim)
			vecs = append(vecs, v...)
			ref[keys[i]] = v
			stamps[i] = uint32(keys[i])
		}
		s.AddStamped(keys, vecs, stamps)
		for i := 0; i < 10; i++ {
			k := uint64(r.IntN(400))
			s.Delete(k)
			delete(ref, k)
		}
		if s.Len() != len(ref) {
			t.Fatalf("Len %d, want %d", s.Len(), len(ref))
		}
	}
	for k := range ref {
		if st, ok := s.Stamp(k); !ok || st != uint32(k) {
			t.Fatalf("stamp of %d: %d %v", k, st, ok)
		}
	}
	old := s.StampedBefore(100, 1000)
	for _, k := range old {
		if k >= 100 {
			t.Fatalf("key %d stamped %d returned as older than 100", k, k)
		}
	}
	q := randUnit(r, dim)
	res, _ := s.Search(q, 5, SearchOptions{Breadth: 20, MinSimilarity: -1, Filter: func(k uint64) bool { return k%2 == 0 }})
	want := ref.search(q, 3, -1, func(k uint64) bool { return k%2 == 0 })
	found := 0
	for _, w := range want {
		for _, g := range res {
			if g.Key%2 != 0 {
				t.Fatal("filtered key returned")
			}
			if g.Key == w.Key {
				found++
			}
		}
	}
	if found != len(want) {
		t.Fatalf("exact top-3 not among the candidates: %v vs %v", res, want)
	}
	if _, err := s.MarshalBinary(); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkSQ8Search(b *testing.B) {
	const dim, n = 384, 200_000
	r := rand.New(rand.NewPCG(5, 5))
	s := NewSQ8(dim)
	vecs := make([]float32, 0, 10_000*dim)
	for i := 0; i < 10_000; i++ {
		vecs = append(vecs, randUnit(r, dim)...)
	}
	for off := 0; off < n; off += 10_000 {
		s.Add(keysUpTo(n)[off:off+10_000], vecs)
	}
	q := randUnit(r, dim)
	for b.Loop() {
		s.Search(q, 10, SearchOptions{Breadth: 40, MinSimilarity: -1})
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds()/1e6, "Mrows/s")
}

// TestSQ8LargeFilteredAndThreshold: on an index large enough for the parallel scan, a
// selective filter (run on the calling goroutine) still yields the best passing rows, and
// the MinSimilarity pre-filter never drops an exact match, even for a spiky vector whose
// quantization error is large.
func TestSQ8LargeFilteredAndThreshold(t *testing.T) {
	const dim, n = 64, 120_000
	r := rand.New(rand.NewPCG(8, 8))
	s := NewSQ8(dim)
	vecs := make([]float32, 0, n*dim)
	for range n {
		vecs = append(vecs, randUnit(r, dim)...)
	}
	if err := s.Add(keysUpTo(n), vecs); err != nil {
		t.Fatal(err)
	}
	q := vecs[:dim]
	// Every 97th key passes: the unfiltered top candidates hold few of them.
	res, err := s.Search(q, 5, SearchOptions{MinSimilarity: -1, Filter: func(k uint64) bool { return k%97 == 0 }})
	if err != nil || len(res) != 5 {
		t.Fatalf("filtered: %v %d", err, len(res))
	}
	want := s.scan(s.scorer(q, -1), 5, func(k uint64) bool { return k%97 == 0 }, 0, n)
	for i := range res {
		if res[i].Key != want[i].Key {
			t.Fatalf("filtered result %d: %d, want %d", i, res[i].Key, want[i].Key)
		}
	}
	// A spiky unit vector: one large component, the rest just under half a quantization
	// step, so they all round to zero; at 1536 dimensions they hold 2% of its square norm.
	const wide = 1536
	s = NewSQ8(wide)
	spiky := make([]float32, wide)
	for i := range spiky {
		spiky[i] = 0.0039
	}
	spiky[0] = 1
	var ss float32
	for _, x := range spiky {
		ss += x * x
	}
	for i := range spiky {
		spiky[i] /= float32(math.Sqrt(float64(ss)))
	}
	s.Add([]uint64{1 << 40}, spiky)
	res, _ = s.Search(spiky, 1, SearchOptions{MinSimilarity: 0.999})
	if len(res) == 0 || res[0].Key != 1<<40 {
		t.Fatalf("exact match dropped by the threshold pre-filter: %+v", res)
	}
}
