package index

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/engram-go/engram/vector"
)

// TestGraph8BatchMatesLinked: memories inserted in one batch are planned in rounds whose
// nodes cannot find each other by search, so each is compared directly with the earlier
// nodes of its group. A batch of tight clusters (members consecutive, as memories written
// together are demoted together) must come out with every member linked to another member
// of its cluster on the bottom layer.
func TestGraph8BatchMatesLinked(t *testing.T) {
	const dim, base, clusters, size = 64, 3000, 40, 6
	r := rand.New(rand.NewPCG(3, 4))
	g := NewGraph8(dim, Graph8Config{})
	var vecs []float32
	for range base {
		vecs = append(vecs, randUnit(r, dim)...)
	}
	if err := g.Add(keysUpTo(base), vecs); err != nil {
		t.Fatal(err)
	}
	var keys []uint64
	vecs = vecs[:0]
	for c := range clusters {
		centre := randUnit(r, dim)
		for m := range size {
			v := randUnit(r, dim)
			for j := range v {
				v[j] = centre[j] + 0.05*v[j]
			}
			vector.Normalize(v)
			keys = append(keys, uint64(base+c*size+m))
			vecs = append(vecs, v...)
		}
	}
	if err := g.Add(keys, vecs); err != nil {
		t.Fatal(err)
	}
	if err := g.Verify(); err != nil {
		t.Fatal(err)
	}
	lonely := 0
	for c := range clusters {
		members := keys[c*size : (c+1)*size]
		for _, k := range members {
			id, _ := g.byKey.get(k)
			lst := g.list(uint32(id), 0)
			linked := false
			for _, nb := range lst[1 : 1+lst[0]] {
				if nb != uint32(id) && slices.Contains(members, g.keyOf(nb)) {
					linked = true
				}
			}
			if !linked {
				lonely++
				t.Errorf("cluster %d: member %d links to no other member: %v", c, k, lst[1:1+lst[0]])
			}
		}
	}
	if lonely > 0 {
		t.Fatalf("%d of %d members unlinked from their cluster", lonely, clusters*size)
	}
}
