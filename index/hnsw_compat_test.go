package index

import (
	"os"
	"testing"
)

// TestHNSWLoadsSnapshotOfEarlierLayout: testdata/hnsw-v1-m8-600.snap was written by the
// graph before node records held their vector beside their list (separate vector, list
// and state arrays, commit 803b3de): NewHNSW(dim, HNSWConfig{M: 8, EfConstruction: 64,
// Workers: 1}), Add of the first 600 fixture vectors under keys 0..599, Delete(5, 17, 300),
// MarshalBinary (that code reproduces the file byte for byte). Snapshots carry links, not
// memory layout, so it must load into today's graph and answer as a graph of the same
// vectors would.
func TestHNSWLoadsSnapshotOfEarlierLayout(t *testing.T) {
	f := loadFixture(t)
	b, err := os.ReadFile("testdata/hnsw-v1-m8-600.snap")
	if err != nil {
		t.Fatal(err)
	}
	ld, err := DecodeHNSW(b, f.dim, 1)
	if err != nil {
		t.Fatal(err)
	}
	const n = 600
	deleted := map[uint64]bool{5: true, 17: true, 300: true}
	for k := uint64(0); k < n; k++ {
		if got := ld.Fill(k, f.base[int(k)*f.dim:int(k+1)*f.dim]); got == deleted[k] {
			t.Fatalf("Fill(%d) = %v", k, got)
		}
	}
	g, missing := ld.Finish()
	if missing != 0 || g.Len() != n-len(deleted) {
		t.Fatalf("missing %d, Len %d", missing, g.Len())
	}
	if err := g.Verify(); err != nil {
		t.Fatal(err)
	}
	exact := NewFlat(f.dim)
	for k := uint64(0); k < n; k++ {
		if !deleted[k] {
			exact.Add([]uint64{k}, f.base[int(k)*f.dim:int(k+1)*f.dim])
		}
	}
	hits := 0
	for i := 0; i < f.nQuery; i++ {
		want, _ := exact.Search(f.query(i), 10, SearchOptions{MinSimilarity: -1})
		got, _ := g.Search(f.query(i), 10, SearchOptions{Breadth: 64, MinSimilarity: -1})
		in := map[uint64]bool{}
		for _, r := range want {
			in[r.Key] = true
		}
		for _, r := range got {
			if deleted[r.Key] {
				t.Fatalf("query %d returned deleted key %d", i, r.Key)
			}
			if in[r.Key] {
				hits++
			}
		}
	}
	if r := float64(hits) / float64(10*f.nQuery); r < 0.97 {
		t.Fatalf("recall@10 %.4f on the loaded graph, want ≥ 0.97", r)
	}
	// And it still saves as the same format.
	again, err := g.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeHNSW(again, f.dim, 1); err != nil {
		t.Fatal(err)
	}
}
