package main

// Offline tests of the harness pieces whose bugs would silently skew every
// number: the exact top-k, the split, recall scoring and the file formats.
// None needs the network or the Python peers.

import (
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

func randomUnit(r *rand.Rand, n, dim int) []float32 {
	v := make([]float32, n*dim)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	for i := 0; i < n; i++ {
		normalize(v[i*dim : (i+1)*dim])
	}
	return v
}

func TestExactTopKMatchesSort(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const n, nq, dim, k = 2000, 20, 16, 25
	base := randomUnit(r, n, dim)
	// Duplicate rows create exact ties, which must break towards lower ids.
	copy(base[7*dim:8*dim], base[3*dim:4*dim])
	queries := randomUnit(r, nq, dim)
	copy(queries[:dim], base[3*dim:4*dim])
	gt := exactTopK(base, queries, dim, k)
	for qi := 0; qi < nq; qi++ {
		q := queries[qi*dim : (qi+1)*dim]
		ids := make([]int, n)
		for i := range ids {
			ids[i] = i
		}
		sort.SliceStable(ids, func(a, b int) bool {
			return dot(q, base[ids[a]*dim:(ids[a]+1)*dim]) > dot(q, base[ids[b]*dim:(ids[b]+1)*dim])
		})
		got, scores := gt.row(qi)
		for j := 0; j < k; j++ {
			if int(got[j]) != ids[j] {
				t.Fatalf("query %d rank %d: got id %d, want %d", qi, j, got[j], ids[j])
			}
			if j > 0 && scores[j] > scores[j-1] {
				t.Fatalf("query %d: scores not descending", qi)
			}
		}
	}
	if ids, _ := gt.row(0); ids[0] != 3 || ids[1] != 7 {
		t.Fatalf("tie order: got %v, want 3 then 7", ids[:2])
	}
}

func TestSplitDeterministicAndDisjoint(t *testing.T) {
	b1, q1, err := split(1000, 700, 50, 9)
	if err != nil {
		t.Fatal(err)
	}
	b2, q2, _ := split(1000, 700, 50, 9)
	if !slices.Equal(b1, b2) || !slices.Equal(q1, q2) {
		t.Fatal("same seed gave different splits")
	}
	seen := map[int]bool{}
	for _, i := range append(slices.Clone(b1), q1...) {
		if seen[i] || i < 0 || i >= 1000 {
			t.Fatalf("row %d repeated or out of range", i)
		}
		seen[i] = true
	}
	if _, _, err := split(100, 90, 20, 1); err == nil {
		t.Fatal("oversized split accepted")
	}
	// Pin the first rows of the fixture's split so an accidental change to
	// the shuffle (which would silently change the CI fixture when it is
	// regenerated, and orphan cached ground truth) is caught.
	fb, fq, _ := split(341479, 5000, 200, 1)
	if !slices.Equal(fq[:3], []int{164840, 311639, 284398}) || !slices.Equal(fb[:3], []int{233351, 28158, 323716}) {
		t.Fatalf("split changed: queries start %v, base starts %v", fq[:3], fb[:3])
	}
}

func TestRecallScoring(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const n, nq, dim = 500, 10, 8
	s := &suite{base: randomUnit(r, n, dim), queries: randomUnit(r, nq, dim), dim: dim}
	s.gt = exactTopK(s.base, s.queries, dim, 20)
	perfect := make([]uint32, nq*recallK)
	for qi := 0; qi < nq; qi++ {
		ids, _ := s.gt.row(qi)
		copy(perfect[qi*recallK:], ids[:recallK])
	}
	if got := s.recallAt10(perfect, recallK); got != 1 {
		t.Fatalf("perfect answers scored %v", got)
	}
	// Half the answers replaced by a repeated id and by "none".
	half := slices.Clone(perfect)
	for qi := 0; qi < nq; qi++ {
		row := half[qi*recallK : (qi+1)*recallK]
		for j := 5; j < recallK; j++ {
			if j%2 == 0 {
				row[j] = row[0]
			} else {
				row[j] = ^uint32(0)
			}
		}
	}
	if got := s.recallAt10(half, recallK); got != 0.5 {
		t.Fatalf("half answers scored %v, want 0.5", got)
	}
}

func TestFixtureRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const dim = 12
	base, query := randomUnit(r, 300, dim), randomUnit(r, 7, dim)
	gt := exactTopK(base, query, dim, 10)
	b := encodeFixture(base, query, dim, gt, 77)
	f, err := decodeFixture(b)
	if err != nil {
		t.Fatal(err)
	}
	if f.dim != dim || f.k != 10 || f.seed != 77 || !slices.Equal(f.base, base) ||
		!slices.Equal(f.query, query) || !slices.Equal(f.gt.IDs, gt.IDs) || !slices.Equal(f.gt.Scores, gt.Scores) {
		t.Fatal("fixture did not round-trip")
	}
	b[100] ^= 1
	if _, err := decodeFixture(b); err == nil {
		t.Fatal("corrupted fixture accepted")
	}
}
