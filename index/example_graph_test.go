package index_test

import (
	"errors"
	"fmt"
	"log"

	"github.com/engram-go/engram/index"
)

func ExampleNewHNSW() {
	g := index.NewHNSW(2, index.HNSWConfig{M: 8, EfConstruction: 64, EfSearch: 32})
	// Vectors must be unit-normalized: similarity is the dot product.
	err := g.Add([]uint64{10, 20, 30, 40}, []float32{
		1, 0,
		0, 1,
		0.6, 0.8,
		0.8, 0.6,
	})
	if err != nil {
		log.Fatal(err)
	}
	res, _ := g.Search([]float32{1, 0}, 2, index.SearchOptions{})
	for _, r := range res {
		fmt.Println(r.Key, r.Similarity)
	}

	// Deleted nodes stay in the graph as tombstones (still traversed, never returned)
	// until Compact repairs around them.
	g.Delete(10)
	st := g.Stats()
	fmt.Println(g.Len(), g.Contains(10), st.Live, st.Tombstones, g.Verify())
	res, _ = g.Search([]float32{1, 0}, 1, index.SearchOptions{})
	fmt.Println(res[0].Key)
	// Output:
	// 10 1
	// 40 0.8
	// 3 false 3 1 <nil>
	// 40
}

func ExampleDecodeHNSW() {
	vecs := map[uint64][]float32{1: {1, 0}, 2: {0, 1}, 3: {0.6, 0.8}}
	g := index.NewHNSW(2, index.HNSWConfig{})
	for _, k := range []uint64{1, 2, 3} {
		g.Add([]uint64{k}, vecs[k])
	}
	snap, _ := g.MarshalBinary() // the graph's links, without the vectors

	ld, err := index.DecodeHNSW(snap, 2, 0)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("dimension", ld.Dim())
	// The vectors come from elsewhere (the store's records); key 3 is gone meanwhile.
	for _, k := range []uint64{1, 2} {
		ld.Fill(k, vecs[k])
	}
	g2, missing := ld.Finish() // the loader is spent: Fill now refuses
	res, _ := g2.Search([]float32{0.6, 0.8}, 1, index.SearchOptions{})
	fmt.Println(g2.Len(), missing, res[0].Key)

	_, err = index.DecodeHNSW(snap[:10], 2, 0)
	fmt.Println(errors.Is(err, index.ErrSnapshot))
	// Output:
	// dimension 2
	// 2 1 2
	// true
}

func ExampleUnmarshalFlat() {
	f := index.NewFlat(2)
	f.Add([]uint64{7, 8}, []float32{1, 0, 0, 1})
	snap, _ := f.MarshalBinary()

	f2, err := index.UnmarshalFlat(snap)
	fmt.Println(f2.Len(), f2.Contains(8), err)
	snap[len(snap)-1] ^= 1 // damage it
	_, err = index.UnmarshalFlat(snap)
	fmt.Println(errors.Is(err, index.ErrSnapshot))
	// Output:
	// 2 true <nil>
	// true
}
