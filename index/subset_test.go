package index

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSearchKeysIsExactOverTheSubset: both indexes' SearchKeys return exactly the
// reference top k of the given keys, skipping absent and deleted keys, honouring the
// filter and MinSimilarity, with the filter consulted only for would-be results.
func TestSearchKeysIsExactOverTheSubset(t *testing.T) {
	// Consecutive keys (what a store's bulk load gives: every id guess right), spaced
	// keys (every guess wrong), and consecutive keys after churn that recycled slots.
	for _, layout := range []string{"consecutive", "spaced", "churned"} {
		t.Run(layout, func(t *testing.T) { testSearchKeys(t, layout) })
	}
}

func testSearchKeys(t *testing.T, layout string) {
	const dim, n = 16, 3000
	rng := rand.New(rand.NewPCG(9, 9))
	keys := make([]uint64, n)
	vecs := make([]float32, 0, n*dim)
	ref := reference{}
	for i := range keys {
		keys[i] = uint64(i + 1)
		if layout == "spaced" {
			keys[i] = uint64(i*3 + 1)
		}
		v := randUnit(rng, dim)
		vecs = append(vecs, v...)
		ref[keys[i]] = v
	}
	g := NewHNSW(dim, HNSWConfig{M: 8, EfConstruction: 64, CompactRatio: 0.01})
	f := NewFlat(dim)
	for _, idx := range []Index{g, f} {
		if err := idx.Add(keys, vecs); err != nil {
			t.Fatal(err)
		}
		idx.Delete(keys[10], keys[20])
	}
	delete(ref, keys[10])
	delete(ref, keys[20])
	if layout == "churned" {
		// Delete a tenth, compact (recycling their slots), and add them back under new
		// keys: ids and keys no longer move together.
		var gone []uint64
		for i := 30; i < n; i += 10 {
			gone = append(gone, keys[i])
			delete(ref, keys[i])
		}
		g.Delete(gone...)
		f.Delete(gone...)
		g.Compact()
		var back []uint64
		var backVecs []float32
		for j := range gone {
			nk := uint64(n + 100 + j)
			v := randUnit(rng, dim)
			back, backVecs = append(back, nk), append(backVecs, v...)
			ref[nk] = v
		}
		for _, idx := range []Index{g, f} {
			if err := idx.Add(back, backVecs); err != nil {
				t.Fatal(err)
			}
		}
		keys = append(keys, back...)
	}
	for trial := range 50 {
		// A subset: some present keys (the deleted ones among them) and some absent.
		var subset []uint64
		for i, k := range keys {
			if rng.IntN(10) == 0 || i == 10 || i == 20 {
				subset = append(subset, k)
			}
		}
		subset = append(subset, uint64(n*5+7), uint64(n*5+8), uint64(n*5+9)) // absent
		slices.Sort(subset)
		in := map[uint64]bool{}
		for _, k := range subset {
			in[k] = true
		}
		q := randUnit(rng, dim)
		k := 1 + rng.IntN(20)
		minSim := float32(-1)
		if trial%3 == 0 {
			minSim = 0.1
		}
		keepOdd := func(key uint64) bool { return key%2 == 1 }
		for _, filter := range []func(uint64) bool{nil, keepOdd} {
			want := ref.search(q, k, minSim, func(key uint64) bool { return in[key] && (filter == nil || filter(key)) })
			for name, ks := range map[string]interface {
				SearchKeys([]float32, int, []uint64, SearchOptions) ([]Result, error)
			}{"hnsw": g, "flat": f} {
				calls := 0
				opt := SearchOptions{MinSimilarity: minSim}
				if filter != nil {
					opt.Filter = func(key uint64) bool { calls++; return filter(key) }
				}
				got, err := ks.SearchKeys(q, k, subset, opt)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("trial %d, %s: got %v, want %v", trial, name, got, want)
				}
				if filter != nil && calls >= len(subset) {
					t.Fatalf("%s: the filter was consulted %d times for %d keys", name, calls, len(subset))
				}
			}
		}
	}
	for _, ks := range []interface {
		SearchKeys([]float32, int, []uint64, SearchOptions) ([]Result, error)
	}{g, f} {
		if res, err := ks.SearchKeys(make([]float32, dim), 0, keys, SearchOptions{}); res != nil || err != nil {
			t.Fatalf("k = 0: %v %v", res, err)
		}
		if res, err := ks.SearchKeys(make([]float32, dim), 5, nil, SearchOptions{}); res != nil || err != nil {
			t.Fatalf("no keys: %v %v", res, err)
		}
		if _, err := ks.SearchKeys(make([]float32, dim+1), 5, keys, SearchOptions{}); !errors.Is(err, ErrDimension) {
			t.Fatalf("wrong dimension: %v", err)
		}
	}
}

// TestSearchReportsFallback: a filtered graph search that gives up on a filter too
// selective for it says so through SearchOptions.FellBack; one that does not leaves it.
func TestSearchReportsFallback(t *testing.T) {
	f := testFixture(t)
	g := NewHNSW(f.dim, HNSWConfig{})
	if err := g.Add(keysUpTo(f.nBase), f.base); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		keep func(uint64) bool
		fell bool
	}{
		{func(k uint64) bool { return k%2 == 0 }, false},
		{func(k uint64) bool { return k%1000 == 0 }, true},
	} {
		fell := false
		res, err := g.Search(f.query(0), 10, SearchOptions{MinSimilarity: -1, Filter: c.keep, FellBack: &fell})
		if err != nil || len(res) == 0 {
			t.Fatalf("search: %v %v", res, err)
		}
		if fell != c.fell {
			t.Errorf("FellBack = %v, want %v", fell, c.fell)
		}
	}
}
