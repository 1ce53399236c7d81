package index_test

import (
	"fmt"
	"slices"

	"github.com/engram-go/engram/index"
)

func ExampleNewGraph8() {
	// A graph over 8-bit codes: a quarter of the memory of float32 vectors, approximate
	// similarities (within about 1e-3) for the caller to re-rank at full precision.
	g := index.NewGraph8(2, index.Graph8Config{})
	g.AddStamped([]uint64{10, 20, 30}, []float32{
		1, 0,
		0, 1,
		0.6, 0.8,
	}, []uint32{100, 200, 300}) // stamps: the caller's (the warm tier keeps last use there)
	res, _ := g.Search([]float32{1, 0}, 2, index.SearchOptions{MinSimilarity: -1})
	for _, r := range res {
		fmt.Printf("%d %.2f\n", r.Key, r.Similarity)
	}
	// Nodes linked hidden (while the data's commit runs) are not returned until published.
	g.AddHidden([]uint64{40}, []float32{0.8, 0.6}, nil)
	fmt.Println(g.Len(), g.Contains(40), g.Publish(40), g.Contains(40))
	fmt.Println(g.StampedBefore(250, 10), g.Verify()) // 40 has stamp 0
	// Output:
	// 10 1.00
	// 30 0.60
	// 3 false 1 true
	// [10 20 40] <nil>
}

func ExampleDecodeGraph8() {
	vecs := map[uint64][]float32{1: {1, 0}, 2: {0, 1}, 3: {0.6, 0.8}}
	g := index.NewGraph8(2, index.Graph8Config{})
	for _, k := range []uint64{1, 2, 3} {
		g.Add([]uint64{k}, vecs[k])
	}
	snap, _ := g.MarshalBinary() // the links, without the codes

	ld, err := index.DecodeGraph8(snap, 2, index.Graph8Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Fill the codes from the records; key 2 left the tier since, key 4 joined it.
	ld.Fill(1, vecs[1], 0)
	ld.Fill(3, vecs[3], 0)
	fmt.Println(ld.Fill(4, []float32{0.8, 0.6}, 0)) // not in the snapshot: added after
	h, dropped := ld.Finish()
	h.Add([]uint64{4}, []float32{0.8, 0.6})
	res, _ := h.Search([]float32{0, 1}, 1, index.SearchOptions{MinSimilarity: -1})
	fmt.Println(dropped, h.Len(), res[0].Key, h.Verify())
	// Output:
	// false
	// 1 3 3 <nil>
}

// Each Graph8 node carries a stamp the caller owns: the warm tier keeps a memory's
// last use there, updates it on every hit (SetStamp takes only the read lock), and
// ages the memories stamped before a cut-off (StampedBefore) into the cold tier.
func ExampleGraph8_SetStamp() {
	g := index.NewGraph8(2, index.Graph8Config{})
	g.AddStamped([]uint64{1, 2, 3}, []float32{1, 0, 0, 1, 0.6, 0.8}, []uint32{10, 20, 30})

	fmt.Println(g.SetStamp(1, 40), g.SetStamp(9, 40)) // 9 is absent
	s, ok := g.Stamp(1)
	fmt.Println(s, ok)
	old := g.StampedBefore(35, 10) // in no particular order
	slices.Sort(old)
	fmt.Println(old)

	// Move the old ones out; Compact repairs the graph around their tombstones.
	fmt.Println(g.Delete(old...))
	g.Compact()
	st := g.Stats()
	fmt.Println(st.Live, st.Tombstones, g.Verify())
	// Output:
	// true false
	// 40 true
	// [2 3]
	// 2
	// 1 0 <nil>
}
