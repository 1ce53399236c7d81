package engram

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/engram-go/engram/tier"
)

// bruteForce is the reference recall: cosine against every memory, filters, top K by
// similarity (ties by ID), then ordered by score.
func bruteForce(mems []Memory, q Query, weight float32) []Hit {
	norm := func(v []float32) []float64 {
		var ss float64
		for _, x := range v {
			ss += float64(x) * float64(x)
		}
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = float64(x) / math.Sqrt(ss)
		}
		return out
	}
	cue := norm(q.Embedding)
	var all []Hit
	for _, m := range mems {
		e := norm(m.Embedding)
		var sim float64
		for i := range e {
			sim += e[i] * cue[i]
		}
		if float32(sim) < q.MinSimilarity || m.Conf() < q.MinConfidence {
			continue
		}
		ok := true
		for k, v := range q.Metadata {
			if m.Metadata[k] != v {
				ok = false
			}
		}
		for _, tg := range q.Tags {
			if !slices.Contains(m.Tags, tg) {
				ok = false
			}
		}
		if ok {
			all = append(all, Hit{Memory: m, Similarity: float32(sim)})
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Similarity > all[j].Similarity })
	if len(all) > q.K {
		all = all[:q.K]
	}
	for i := range all {
		all[i].Score = all[i].Similarity * (1 - weight + weight*all[i].Memory.Conf())
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Score > all[j].Score })
	return all
}

func TestExactRecallMatchesBruteForce(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	sp := mustSpace(t, s, "bf")
	r := rand.New(rand.NewPCG(11, 12))
	const dim = 32
	mems := synthetic(r, 2000, dim, "m")
	for off := 0; off < len(mems); off += 500 {
		mustStore(t, sp, mems[off:off+500])
	}
	for trial := 0; trial < 60; trial++ {
		q := Query{Embedding: randUnit(r, dim), K: 1 + r.IntN(30), Exact: true, MinSimilarity: -1}
		switch trial % 5 {
		case 1:
			q.MinSimilarity = 0.1
		case 2:
			q.MinConfidence = 0.7
		case 3:
			q.Tags = []string{"t2"}
			q.Metadata = map[string]string{"parity": "even"}
		case 4:
			q.Metadata = map[string]string{"bucket": "3", "parity": "odd"}
			q.SimilarityOnly = true
		}
		if trial%7 == 0 {
			q.Embedding = slices.Clone(mems[r.IntN(len(mems))].Embedding) // un-normalized cue
		}
		got, err := sp.Recall(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		weight := DefaultConfidenceWeight
		if q.SimilarityOnly {
			weight = 0
		}
		want := bruteForce(mems, q, weight)
		if len(got) != len(want) {
			t.Fatalf("trial %d: %d hits, want %d", trial, len(got), len(want))
		}
		for i := range got {
			g, w := got[i], want[i]
			if math.Abs(float64(g.Similarity-w.Similarity)) > 1e-5 || math.Abs(float64(g.Score-w.Score)) > 1e-5 {
				t.Fatalf("trial %d hit %d: sim/score %v/%v, want %v/%v", trial, i, g.Similarity, g.Score, w.Similarity, w.Score)
			}
			if g.Memory.ID != w.Memory.ID && math.Abs(float64(g.Score-w.Score)) > 1e-6 {
				t.Fatalf("trial %d hit %d: %s, want %s", trial, i, g.Memory.ID, w.Memory.ID)
			}
			if i > 0 && got[i-1].Score < g.Score {
				t.Fatalf("trial %d: hits not sorted by score", trial)
			}
			if g.Memory.Content != "memory "+g.Memory.ID[2:] {
				t.Fatalf("hit carries the wrong memory: %+v", g.Memory)
			}
		}
	}
}

func TestConfidenceWeightsScore(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	sp := mustSpace(t, s, "w", WithConfidenceWeight(1))
	mustStore(t, sp, []Memory{
		{ID: "close-unsure", Embedding: unit(1, 0.1), Confidence: Confidence(0.2)},
		{ID: "far-sure", Embedding: unit(1, 0.5), Confidence: Confidence(1)},
	})
	hits, _ := sp.Recall(ctx, Query{Embedding: unit(1, 0), K: 2})
	if hits[0].Memory.ID != "far-sure" || hits[0].Similarity >= hits[1].Similarity {
		t.Fatalf("score did not weigh confidence: %+v", hits)
	}
	hits, _ = sp.Recall(ctx, Query{Embedding: unit(1, 0), K: 2, SimilarityOnly: true})
	if hits[0].Memory.ID != "close-unsure" || hits[0].Score != hits[0].Similarity {
		t.Fatalf("SimilarityOnly: %+v", hits)
	}
}

func TestQueryValidation(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	sp := mustSpace(t, s, "q")
	if hits, err := sp.Recall(ctx, Query{Embedding: unit(1, 0), K: 3}); err != nil || len(hits) != 0 {
		t.Fatalf("recall on an empty space = %v %v", hits, err)
	}
	mustStore(t, sp, []Memory{{Embedding: unit(1, 0)}})
	nan := float32(math.NaN())
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	cases := []struct {
		name string
		ctx  context.Context
		q    Query
		code Code
	}{
		{"K=0", ctx, Query{Embedding: unit(1, 0)}, CodeInvalidQuery},
		{"K<0", ctx, Query{Embedding: unit(1, 0), K: -1}, CodeInvalidQuery},
		{"K absurd", ctx, Query{Embedding: unit(1, 0), K: 1 << 30}, CodeInvalidQuery},
		{"similarity > 1", ctx, Query{Embedding: unit(1, 0), K: 1, MinSimilarity: 1.5}, CodeInvalidQuery},
		{"similarity < -1", ctx, Query{Embedding: unit(1, 0), K: 1, MinSimilarity: -2}, CodeInvalidQuery},
		{"similarity NaN", ctx, Query{Embedding: unit(1, 0), K: 1, MinSimilarity: nan}, CodeInvalidQuery},
		{"confidence > 1", ctx, Query{Embedding: unit(1, 0), K: 1, MinConfidence: 2}, CodeInvalidQuery},
		{"breadth < 0", ctx, Query{Embedding: unit(1, 0), K: 1, Breadth: -1}, CodeInvalidQuery},
		{"unknown tier", ctx, Query{Embedding: unit(1, 0), K: 1, Tiers: 1 << 6}, CodeInvalidQuery},
		{"wrong dim", ctx, Query{Embedding: unit(1, 0, 0), K: 1}, CodeDimensionMismatch},
		{"empty cue", ctx, Query{K: 1}, CodeInvalidEmbedding},
		{"zero cue", ctx, Query{Embedding: unit(0, 0), K: 1}, CodeInvalidEmbedding},
		{"nan cue", ctx, Query{Embedding: unit(nan, 1), K: 1}, CodeInvalidEmbedding},
		{"canceled", canceled, Query{Embedding: unit(1, 0), K: 1}, CodeCanceled},
	}
	for _, c := range cases {
		if _, err := sp.Recall(c.ctx, c.q); CodeOf(err) != c.code {
			t.Errorf("%s: %v, want %s", c.name, err, c.code)
		}
	}
	cue := unit(3, 4)
	if _, err := sp.Recall(ctx, Query{Embedding: cue, K: 1}); err != nil || cue[0] != 3 {
		t.Fatalf("recall modified the caller's cue: %v %v", cue, err)
	}
	if hits, err := sp.Recall(ctx, Query{Embedding: unit(1, 0), K: 1, Tiers: tier.Of(tier.Cold)}); err != nil || len(hits) != 0 {
		t.Fatalf("cold-only recall found hot memories: %v %v", hits, err)
	}
	if hits, err := sp.Recall(ctx, Query{Embedding: unit(1, 0), K: 1, Tiers: tier.All}); err != nil || len(hits) != 1 {
		t.Fatalf("all-tier recall: %v %v", hits, err)
	}
}

func TestBatchRecallKeepsOrderAndPerQueryErrors(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	sp := mustSpace(t, s, "br")
	mems := synthetic(rand.New(rand.NewPCG(3, 3)), 200, 16, "b")
	mustStore(t, sp, mems)
	qs := make([]Query, 40)
	for i := range qs {
		qs[i] = Query{Embedding: mems[i*5].Embedding, K: 1}
	}
	qs[13] = Query{Embedding: unit(1, 2), K: 1} // wrong dimension
	qs[27].K = 0
	res, err := sp.BatchRecall(ctx, qs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		switch i {
		case 13:
			if !errors.Is(r.Err, ErrDimensionMismatch) {
				t.Errorf("query 13: %v", r.Err)
			}
		case 27:
			if !errors.Is(r.Err, ErrInvalidQuery) {
				t.Errorf("query 27: %v", r.Err)
			}
		default:
			if r.Err != nil || len(r.Hits) != 1 || r.Hits[0].Memory.ID != mems[i*5].ID {
				t.Errorf("query %d: %+v %v, want %s", i, r.Hits, r.Err, mems[i*5].ID)
			}
		}
	}
	if res, err := sp.BatchRecall(ctx, nil); err != nil || len(res) != 0 {
		t.Fatalf("empty BatchRecall = %v %v", res, err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if res, err := sp.BatchRecall(canceled, qs[:2]); !errors.Is(err, ErrCanceled) || !errors.Is(res[1].Err, ErrCanceled) {
		t.Fatalf("canceled BatchRecall = %v", err)
	}
}

// TestAccessStatistics: recalls update LastAccess / AccessCount without a write per recall;
// the background flush and Close persist them; Forget discards them; upsert keeps them.
func TestAccessStatistics(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "a.db")
	s, err := Open(path, WithAccessFlushInterval(0)) // flush only on Sync/Close
	if err != nil {
		t.Fatal(err)
	}
	sp := mustSpace(t, s, "a")
	mustStore(t, sp, []Memory{{ID: "x", Embedding: unit(1, 0)}, {ID: "y", Embedding: unit(0, 1)}})
	before := time.Now()
	for i := 0; i < 3; i++ {
		hits, _ := sp.Recall(ctx, Query{Embedding: unit(1, 0), K: 1})
		if hits[0].Memory.AccessCount != uint32(i+1) || hits[0].Memory.LastAccess.Before(before) {
			t.Fatalf("recall %d: access %d at %v", i, hits[0].Memory.AccessCount, hits[0].Memory.LastAccess)
		}
	}
	if st := sp.Stats(); st.PendingAccess != 1 {
		t.Fatalf("pending = %d, want 1 (nothing written yet)", st.PendingAccess)
	}
	m, _ := sp.Get(ctx, "x")
	if m.AccessCount != 3 {
		t.Fatalf("Get sees %d accesses, want 3 (pending included)", m.AccessCount)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if st := sp.Stats(); st.PendingAccess != 0 {
		t.Fatalf("pending after Sync = %d", st.PendingAccess)
	}
	sp.Recall(ctx, Query{Embedding: unit(1, 0), K: 1})
	if _, err := sp.Remember(ctx, Memory{ID: "x", Content: "new", Embedding: unit(1, 0.1)}); err != nil {
		t.Fatal(err)
	}
	sp.Recall(ctx, Query{Embedding: unit(0, 1), K: 1}) // y once
	sp.Forget(ctx, "y")
	sp.Remember(ctx, Memory{ID: "y", Embedding: unit(0, 1)}) // a new y starts from zero
	s.Close()

	s, err = Open(path, WithAccessFlushInterval(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sp, _ = s.LookupSpace("a")
	if m, _ := sp.Get(ctx, "x"); m.AccessCount != 4 || m.LastAccess.Before(before) || m.Content != "new" {
		t.Fatalf("after reopen x: %d accesses at %v, content %q", m.AccessCount, m.LastAccess, m.Content)
	}
	if m, _ := sp.Get(ctx, "y"); m.AccessCount != 0 || !m.LastAccess.IsZero() {
		t.Fatalf("re-created y inherited statistics: %d", m.AccessCount)
	}
	sp.Recall(ctx, Query{Embedding: unit(0, 1), K: 1})
	deadline := time.Now().Add(5 * time.Second)
	for sp.Stats().PendingAccess != 0 {
		if time.Now().After(deadline) {
			t.Fatal("background flush never ran")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
