package engram

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/engram-go/engram/internal/codec"
	"github.com/engram-go/engram/tier"
)

// TestTinyAndHugeEmbeddings: an embedding of any magnitude float32 holds — subnormal,
// tiny, huge — is stored as its finite unit direction (an embedding of 1e-40s used to be
// stored as NaN: Get returned NaN, Check said OK, and on a graph space the memory took a
// real hit's place in most recalls with similarity NaN). No recall scores NaN, before or
// after a reopen.
func TestTinyAndHugeEmbeddings(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/s.db"
	s := openHooked(t, path)
	const dim = 4
	r := rand.New(rand.NewPCG(4, 4))
	for _, kind := range []IndexKind{IndexFlat, IndexHNSW} {
		sp := mustSpace(t, s, strings.ToLower(kind.String()), WithIndex(kind), WithDimension(dim))
		var mems []Memory
		for i := 0; i < 300; i++ {
			mems = append(mems, Memory{ID: fmt.Sprintf("n%d", i), Embedding: randUnit(r, dim)})
		}
		odd := map[string][]float32{
			"1e-40":      {1e-40, 0, 0, 0},
			"smallest":   {0, 1e-45, 0, 0},
			"subnormals": {1e-40, -2e-40, 3e-41, 0},
			"tiny":       {3e-39, 3e-39, 0, 0},
			"huge":       {math.MaxFloat32, -math.MaxFloat32, 0, 1},
		}
		for id, e := range odd {
			mems = append(mems, Memory{ID: id, Embedding: e})
		}
		mustStore(t, sp, mems)
		checkSpace := func(sp *Space) {
			t.Helper()
			for id, e := range odd {
				m, err := sp.Get(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				var norm float64
				for i, x := range m.Embedding {
					if x != x || math.IsInf(float64(x), 0) || (e[i] == 0) != (x == 0) || (e[i] > 0) != (x > 0) {
						t.Fatalf("%s: %s stored as %v", kind, id, m.Embedding)
					}
					norm += float64(x) * float64(x)
				}
				if math.Abs(norm-1) > 1e-5 {
					t.Fatalf("%s: %s stored with squared norm %v", kind, id, norm)
				}
			}
			for q := 0; q < 100; q++ {
				hits, err := sp.Recall(ctx, Query{Embedding: randUnit(r, dim), K: 10, MinSimilarity: -1})
				if err != nil || len(hits) != 10 {
					t.Fatalf("%s: recall: %d hits, %v", kind, len(hits), err)
				}
				for _, h := range hits {
					if h.Similarity != h.Similarity || h.Score != h.Score {
						t.Fatalf("%s: recall scored %s NaN", kind, h.Memory.ID)
					}
				}
			}
		}
		checkSpace(sp)
		if rep, err := s.Check(ctx); err != nil || !rep.OK {
			t.Fatalf("Check: %v %+v", err, rep)
		}
	}
	s.Close()
	s2 := openHooked(t, path)
	for _, name := range s2.Spaces() {
		sp, _ := s2.LookupSpace(name)
		for q := 0; q < 50; q++ {
			hits, _ := sp.Recall(ctx, Query{Embedding: randUnit(r, dim), K: 10, MinSimilarity: -1})
			for _, h := range hits {
				if h.Similarity != h.Similarity {
					t.Fatalf("after reopen: recall scored %s NaN", h.Memory.ID)
				}
			}
		}
	}
}

// TestNonFiniteStoredEmbedding: a record whose stored embedding is not finite (its
// checksum is fine: the old normalization wrote it) is reported by Check, left out of the
// indexes at Open like a damaged record, and never recalled, whichever tier it is in.
func TestNonFiniteStoredEmbedding(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/s.db"
	s := openHooked(t, path)
	r := rand.New(rand.NewPCG(1, 2))
	for _, kind := range []IndexKind{IndexFlat, IndexHNSW} {
		sp := mustSpace(t, s, strings.ToLower(kind.String()), WithIndex(kind), WithDimension(4))
		mustStore(t, sp, synthetic(r, 50, 4, "m"))
	}
	// The old normalization's output, written behind the store's back: one hot, one cold.
	nan := float32(math.NaN())
	for _, name := range s.Spaces() {
		sp, _ := s.LookupSpace(name)
		if err := s.update(ctx, func(tx *boltTx) error {
			b, _ := openSpaceTx(tx, &sp.names)
			for i, tr := range []uint8{0, 2} {
				seq := uint64(1000 + i)
				rec := codec.Record{Tier: tr, Confidence: 1, Created: 1, Vec: []float32{nan, nan, nan, nan}, ID: fmt.Sprintf("nan%d", i),
					Tags: []string{"damaged"}, Meta: map[string]string{"kind": "nan"}} // Open posts no terms for it
				if err := b.recs.Put(codec.SeqKey(seq), codec.Encode(nil, &rec)); err != nil {
					return err
				}
				if err := b.ids.Put([]byte(rec.ID), codec.SeqKey(seq)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		sc, err := sp.Check(ctx)
		if err != nil || !strings.Contains(strings.Join(sc.Problems, "\n"), "non-finite") {
			t.Fatalf("%s: Check does not flag the non-finite embeddings: %v %q", name, err, sc.Problems)
		}
	}
	s.Close()
	s = openHooked(t, path)
	for _, name := range s.Spaces() {
		sp, _ := s.LookupSpace(name)
		if st := sp.Stats(); st.DamagedRecords != 2 || st.IndexLen != 50 {
			t.Fatalf("%s after reopen: damaged %d, index %d", name, st.DamagedRecords, st.IndexLen)
		}
		for q := 0; q < 50; q++ {
			hits, err := sp.Recall(ctx, Query{Embedding: randUnit(r, 4), K: 60, MinSimilarity: -1, Tiers: tier.All})
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range hits {
				if h.Similarity != h.Similarity || strings.HasPrefix(h.Memory.ID, "nan") {
					t.Fatalf("%s: recalled %s with similarity %v", name, h.Memory.ID, h.Similarity)
				}
			}
		}
		// Two problems, the records: not a third for the postings of their terms, which Open
		// leaves out with them (Check once expected every readable record posted).
		if sc, _ := sp.Check(ctx); sc.ProblemCount != 2 {
			t.Fatalf("%s: Check after reopen: %q", name, sc.Problems)
		}
	}
}
