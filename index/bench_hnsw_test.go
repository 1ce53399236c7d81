package index

import (
	"fmt"
	"testing"
)

// BenchmarkHNSWSearch: one query at a time on the real-data fixture, at a few breadths.
// `go test -run '^$' -bench HNSW -benchmem ./index`
func BenchmarkHNSWSearch(b *testing.B) {
	f := loadFixture(b)
	g := NewHNSW(f.dim, HNSWConfig{})
	g.Add(keysUpTo(f.nBase), f.base)
	for _, ef := range []int{32, 64, 128} {
		b.Run(fmt.Sprintf("ef=%d", ef), func(b *testing.B) {
			opt := SearchOptions{Breadth: ef, MinSimilarity: -1}
			i := 0
			for b.Loop() {
				g.Search(f.query(i%f.nQuery), 10, opt)
				i++
			}
		})
	}
}

// BenchmarkHNSWBuild inserts the fixture with all cores.
func BenchmarkHNSWBuild(b *testing.B) {
	f := loadFixture(b)
	for b.Loop() {
		g := NewHNSW(f.dim, HNSWConfig{})
		g.Add(keysUpTo(f.nBase), f.base)
	}
	b.ReportMetric(float64(f.nBase*b.N)/b.Elapsed().Seconds(), "vectors/s")
}

// TestHNSWSearchAllocations: the search loop allocates nothing; a query costs a fixed
// handful of allocations (the result slice and the admission closure), whatever the
// breadth.
func TestHNSWSearchAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	f := loadFixture(t)
	g := NewHNSW(f.dim, HNSWConfig{})
	g.Add(keysUpTo(2000), f.base[:2000*f.dim])
	for _, ef := range []int{16, 256} {
		opt := SearchOptions{Breadth: ef, MinSimilarity: -1}
		g.Search(f.query(0), 10, opt) // warm the scratch pool
		allocs := testing.AllocsPerRun(200, func() { g.Search(f.query(1), 10, opt) })
		if allocs > 3 {
			t.Fatalf("ef=%d: %.1f allocations per search, want ≤ 3", ef, allocs)
		}
	}
}
