package index_test

import (
	"errors"
	"fmt"
	"log"
	"math"

	"github.com/engram-go/engram/index"
)

// circle returns n unit vectors spread around the circle, keyed 1..n.
func circle(n int) ([]uint64, []float32) {
	keys := make([]uint64, n)
	vecs := make([]float32, 0, 2*n)
	for i := range n {
		keys[i] = uint64(i + 1)
		a := 2 * math.Pi * float64(i) / float64(n)
		vecs = append(vecs, float32(math.Cos(a)), float32(math.Sin(a)))
	}
	return keys, vecs
}

// HNSW.Search answers a query approximately from the graph; SearchOptions tune one
// query: Breadth trades time for recall, MinSimilarity drops weak neighbours, Filter
// restricts the result (falling back to an exact scan when too selective, reported
// through FellBack), and Exact forces the exhaustive scan.
func ExampleHNSW_Search() {
	keys, vecs := circle(200)
	g := index.NewHNSW(2, index.HNSWConfig{Workers: 1})
	if err := g.Add(keys, vecs); err != nil {
		log.Fatal(err)
	}
	q := []float32{1, 0} // key 1's vector

	res, _ := g.Search(q, 3, index.SearchOptions{Breadth: 100})
	for _, r := range res {
		fmt.Printf("%d %.4f\n", r.Key, r.Similarity)
	}

	// A filter: only keys divisible by 50. The filtered walk gets a budget of
	// distance evaluations; a filter too selective for it falls back to an exact scan,
	// and FellBack tells (not in a graph this small).
	var fellBack bool
	res, _ = g.Search(q, 2, index.SearchOptions{
		MinSimilarity: -1,
		Filter:        func(k uint64) bool { return k%50 == 0 },
		FellBack:      &fellBack,
	})
	fmt.Println(res[0].Key, res[1].Key, fellBack)

	res, _ = g.Search(q, 10, index.SearchOptions{Exact: true, MinSimilarity: 0.999})
	fmt.Println(len(res))

	// A query of the wrong dimension is an ErrDimension error.
	_, err := g.Search([]float32{1, 0, 0}, 1, index.SearchOptions{})
	fmt.Println(errors.Is(err, index.ErrDimension))
	// Output:
	// 1 1.0000
	// 2 0.9995
	// 200 0.9995
	// 200 50 false
	// 3
	// true
}

// AddHidden links nodes for data whose commit is still in flight: searches traverse
// them but do not return them until Publish (or Delete, when the commit fails).
// Deletes leave tombstones that Compact repairs the graph around.
func ExampleHNSW_AddHidden() {
	keys, vecs := circle(8)
	g := index.NewHNSW(2, index.HNSWConfig{Workers: 1})
	if err := g.AddHidden(keys, vecs); err != nil {
		log.Fatal(err)
	}
	res, _ := g.Search([]float32{1, 0}, 1, index.SearchOptions{})
	fmt.Println(g.Len(), len(res))

	fmt.Println(g.Publish(keys...), g.Len())
	res, _ = g.Search([]float32{1, 0}, 1, index.SearchOptions{})
	fmt.Println(res[0].Key)

	fmt.Println(g.Delete(1, 2), g.Stats().Tombstones)
	g.Compact()
	st := g.Stats()
	fmt.Println(st.Live, st.Tombstones, g.Verify())
	// Output:
	// 0 0
	// 8 8
	// 1
	// 2 2
	// 6 0 <nil>
}
