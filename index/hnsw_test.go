package index

import (
	"testing"
)

// fixtureEf is the query breadth the CI recall test documents: recall@10 ≥ 0.95 at it.
const fixtureEf = 64

func TestHNSWRecallOnRealData(t *testing.T) {
	f := testFixture(t)
	g := NewHNSW(f.dim, HNSWConfig{})
	if err := g.Add(keysUpTo(f.nBase), f.base); err != nil {
		t.Fatal(err)
	}
	if g.Len() != f.nBase {
		t.Fatalf("Len = %d", g.Len())
	}
	for _, ef := range []int{10, 32, fixtureEf, 200} {
		var sum float64
		for i := 0; i < f.nQuery; i++ {
			res, err := g.Search(f.query(i), 10, SearchOptions{Breadth: ef, MinSimilarity: -1})
			if err != nil {
				t.Fatal(err)
			}
			sum += f.recall10(i, res)
		}
		r := sum / float64(f.nQuery)
		t.Logf("ef=%d recall@10=%.4f", ef, r)
		if ef == fixtureEf && r < 0.95 {
			t.Fatalf("recall@10 at ef=%d is %.4f, want ≥ 0.95", ef, r)
		}
	}
	t.Logf("%+v", g.Stats())
}
