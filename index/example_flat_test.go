package index_test

import (
	"errors"
	"fmt"
	"log"
	"slices"

	"github.com/engram-go/engram/index"
)

// NewFlat is the exact index: use it while a space is small, or as the reference an
// approximate index is measured against. Every method of the Index interface is here,
// plus the Flat-only SearchKeys, Vector and Export.
func ExampleNewFlat() {
	f := index.NewFlat(2)
	fmt.Println(f.Kind(), f.Dim(), f.Len())

	// Vectors must be unit-normalized: similarity is the dot product. Adding a key
	// that is present replaces its vector.
	if err := f.Add([]uint64{1, 2, 3}, []float32{1, 0, 0, 1, 0.6, 0.8}); err != nil {
		log.Fatal(err)
	}
	fmt.Println(f.Len(), f.Contains(2), f.MemoryBytes() > 0)

	// A wrong-length vector is a typed error, not a panic.
	err := f.Add([]uint64{4}, []float32{1, 0, 0})
	fmt.Println(errors.Is(err, index.ErrDimension))

	res, _ := f.Search([]float32{0.8, 0.6}, 2, index.SearchOptions{MinSimilarity: -1})
	for _, r := range res {
		fmt.Printf("%d %.2f\n", r.Key, r.Similarity)
	}

	// SearchKeys: exact search restricted to a candidate set (absent keys are skipped).
	res, _ = f.SearchKeys([]float32{1, 0}, 5, []uint64{2, 3, 99}, index.SearchOptions{MinSimilarity: -1})
	fmt.Println(len(res), res[0].Key)

	v := make([]float32, f.Dim())
	fmt.Println(f.Vector(3, v), v)

	fmt.Println(f.Delete(1, 42)) // only 1 was present
	keys := slices.Sorted(f.Keys())
	fmt.Println(keys)

	// Export copies every key with its vector, e.g. to move them into an HNSW graph.
	ek, ev := f.Export()
	g := index.NewHNSW(2, index.HNSWConfig{})
	if err := g.Add(ek, ev); err != nil {
		log.Fatal(err)
	}
	fmt.Println(g.Len())
	// Output:
	// flat 2 0
	// 3 true true
	// true
	// 3 0.96
	// 1 0.80
	// 2 3
	// true [0.6 0.8]
	// 1
	// [2 3]
	// 2
}
