package index_test

import (
	"fmt"

	"github.com/engram-go/engram/index"
)

func ExampleFlat() {
	idx := index.NewFlat(2)
	// Vectors must be unit-normalized: similarity is the dot product.
	idx.Add([]uint64{10, 20, 30}, []float32{
		1, 0,
		0, 1,
		0.6, 0.8,
	})
	res, _ := idx.Search([]float32{1, 0}, 2, index.SearchOptions{
		MinSimilarity: -1,
		Filter:        func(key uint64) bool { return key != 10 },
	})
	for _, r := range res {
		fmt.Println(r.Key, r.Similarity)
	}
	// Output:
	// 30 0.6
	// 20 0
}
