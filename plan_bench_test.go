package engram

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/engram-go/engram/internal/wink"
	"github.com/engram-go/engram/vector"
)

// BenchmarkFilterPlans measures both filtered-recall plans at each selectivity — the
// postings plan (score the filter's matches) and the graph plan (graph search, filter on
// candidates) — forced, plus the planner's own choice, on 100,000 GloVe-derived vectors
// (the bench module's data set, read from its cache; the benchmark is skipped without it):
//
//	flock /work/wt/bench.lock go test -run '^$' -bench FilterPlans -benchtime 400x -timeout 30m .
//
// Each memory has a "cat" metadata value whose share of the space is the selectivity.
// Besides ns/op (one K=10 recall, one thread) it reports recall@10 against the exact top-10
// of the matching memories. postingsPay's threshold comes from where the two plans' times
// cross.
func BenchmarkFilterPlans(b *testing.B) {
	fx := loadPlanFixture(b)
	never := func(int, int, int) bool { return false }
	plans := []struct {
		name      string
		pay       func(est, n, ef int) bool
		breadth   int
		overfetch float64
		inSearch  bool
	}{
		{"postings", func(int, int, int) bool { return true }, 0, 0, false},
		{"graph", never, 0, 0, false}, // breadth + overfetch (3) × K / selectivity
		{"graph-margin1", never, 0, 1, false},
		{"graph-margin6", never, 0, 6, false},
		{"graph-filter", never, 0, 0, true},
		{"planner", nil, 0, 0, false},
	}
	for _, sel := range planSelectivities {
		cat := catName(sel)
		for _, p := range plans {
			b.Run(fmt.Sprintf("sel=%g%%/plan=%s", sel*100, p.name), func(b *testing.B) {
				o := &fx.store.opts
				o.postingsPay, o.overfetch, o.filterInSearch = p.pay, p.overfetch, p.inSearch
				defer func() { o.postingsPay, o.overfetch, o.filterInSearch = nil, 0, false }()
				ctx := context.Background()
				q := Query{K: 10, Where: Eq("cat", cat), SkipEmbedding: true, SimilarityOnly: true, Breadth: p.breadth}
				var hit, total int
				st0 := fx.sp.Stats().Filters.Plans
				scans, retries := st0["scan"], st0["graph-filter"]+st0["postings"]
				for i := range fx.nq {
					q.Embedding = fx.queries[i*fx.dim : (i+1)*fx.dim]
					hits, err := fx.sp.Recall(ctx, q)
					if err != nil {
						b.Fatal(err)
					}
					hit += fx.hits(sel, i, hits)
					total += 10
				}
				b.ResetTimer()
				for i := range b.N {
					q.Embedding = fx.queries[(i%fx.nq)*fx.dim : (i%fx.nq+1)*fx.dim]
					if _, err := fx.sp.Recall(ctx, q); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(hit)/float64(total), "recall@10")
				st := fx.sp.Stats().Filters.Plans
				b.ReportMetric(float64(st["scan"]-scans), "scans")
				b.ReportMetric(float64(st["graph-filter"]+st["postings"]-retries), "retries")
			})
		}
	}
	for _, breadth := range []int{0, 64, 32} {
		b.Run(fmt.Sprintf("unfiltered/ef=%d", breadth), func(b *testing.B) {
			ctx := context.Background()
			q := Query{K: 10, SkipEmbedding: true, SimilarityOnly: true, Breadth: breadth}
			for i := range b.N {
				q.Embedding = fx.queries[(i%fx.nq)*fx.dim : (i%fx.nq+1)*fx.dim]
				if _, err := fx.sp.Recall(ctx, q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("unfiltered-user", func(b *testing.B) { // as a user writes it: embeddings copied out
		ctx := context.Background()
		q := Query{K: 10}
		for i := range b.N {
			q.Embedding = fx.queries[(i%fx.nq)*fx.dim : (i%fx.nq+1)*fx.dim]
			if _, err := fx.sp.Recall(ctx, q); err != nil {
				b.Fatal(err)
			}
		}
	})
}

var planSelectivities = []float64{0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001}

func catName(sel float64) string { return fmt.Sprintf("s%g", sel) }

// planFixture is a 100k-memory space of GloVe vectors with cat values at each selectivity,
// held-out queries, and each query's exact filtered top-10 per selectivity.
type planFixture struct {
	store   *Store
	sp      *Space
	dim, nq int
	queries []float32
	// threshold[sel][q] is the exact 10th-best similarity among the matching memories.
	threshold map[float64][]float32
	cats      []string
}

// hits counts the results of query qi at least as similar as the exact 10th best.
func (fx *planFixture) hits(sel float64, qi int, hits []Hit) int {
	n := 0
	for _, h := range hits {
		if h.Similarity >= fx.threshold[sel][qi]-1e-5 {
			n++
		}
	}
	return n
}

var (
	planFixtureOnce sync.Once
	planFx          *planFixture
	planFxErr       error
)

func loadPlanFixture(b *testing.B) *planFixture {
	planFixtureOnce.Do(func() { planFx, planFxErr = buildPlanFixture() })
	if planFxErr != nil {
		b.Skip(planFxErr)
	}
	return planFx
}

func buildPlanFixture() (*planFixture, error) {
	cache := os.Getenv("ENGRAM_BENCH_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "engram-bench")
	}
	_, vecs, dim, err := wink.ReadCache(filepath.Join(cache, "glove-sg-100d-1.1.0.bin"))
	if err != nil {
		return nil, fmt.Errorf("GloVe cache not available (run `go run ./bench fetch`): %v", err)
	}
	const n, nq = 100_000, 200
	rng := rand.New(rand.NewPCG(1, 2))
	perm := rng.Perm(len(vecs) / dim)
	fx := &planFixture{dim: dim, nq: nq, threshold: map[float64][]float32{}}
	for _, r := range perm[:nq] {
		fx.queries = append(fx.queries, vecs[r*dim:(r+1)*dim]...)
	}
	dir, err := os.MkdirTemp("", "engram-planbench")
	if err != nil {
		return nil, err
	}
	fx.store, err = Open(filepath.Join(dir, "bench.db"), WithNoSync(), WithMigrateInterval(0))
	if err != nil {
		return nil, err
	}
	os.RemoveAll(dir) // the open file lives on; nothing is left behind
	if fx.sp, err = fx.store.Space(context.Background(), "glove"); err != nil {
		return nil, err
	}
	// Categories: each selectivity's share of the memories, the rest "other".
	mems := make([]Memory, n)
	base := make([]float32, 0, n*dim)
	fx.cats = make([]string, n)
	for i, r := range perm[nq : nq+n] {
		x, cat := rng.Float64(), "other"
		acc := 0.0
		for _, s := range planSelectivities {
			if acc += s; x < acc {
				cat = catName(s)
				break
			}
		}
		fx.cats[i] = cat
		v := vecs[r*dim : (r+1)*dim]
		base = append(base, v...)
		mems[i] = Memory{Embedding: v, Metadata: map[string]string{"cat": cat}}
	}
	start := time.Now()
	for off := 0; off < n; off += 5000 {
		if _, err := fx.sp.BatchRemember(context.Background(), mems[off:off+5000]); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(os.Stderr, "plan fixture: %d memories stored in %v\n", n, time.Since(start).Round(time.Second))
	// Exact filtered top-10 per selectivity, by brute force over normalized vectors.
	for i := 0; i < n; i++ {
		vector.Normalize(base[i*dim : (i+1)*dim])
	}
	for _, s := range planSelectivities {
		cat := catName(s)
		th := make([]float32, nq)
		for qi := range nq {
			q := append([]float32(nil), fx.queries[qi*dim:(qi+1)*dim]...)
			vector.Normalize(q)
			var sims []float32
			for i := range n {
				if fx.cats[i] == cat {
					sims = append(sims, vector.Dot(q, base[i*dim:(i+1)*dim]))
				}
			}
			slices.SortFunc(sims, func(a, b float32) int { return cmp.Compare(b, a) })
			th[qi] = sims[min(9, len(sims)-1)]
		}
		fx.threshold[s] = th
	}
	return fx, nil
}

// BenchmarkOpenPostings measures Open of a 100,000-memory space (exact index, 100-d)
// whose memories carry no metadata, or three metadata entries and two tags each, so the
// postings' share of the load is the difference:
//
//	flock /work/wt/bench.lock go test -run '^$' -bench OpenPostings -benchtime 5x .
func BenchmarkOpenPostings(b *testing.B) {
	const n, dim = 100_000, 100
	for _, terms := range []int{0, 5} {
		b.Run(fmt.Sprintf("terms=%d", terms), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "open.db")
			s, err := Open(path, WithNoSync())
			if err != nil {
				b.Fatal(err)
			}
			sp, err := s.Space(context.Background(), "s", WithIndex(IndexFlat))
			if err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 1))
			for off := 0; off < n; off += 10_000 {
				mems := make([]Memory, 10_000)
				for i := range mems {
					mems[i].Embedding = randUnit(rng, dim)
					if terms > 0 {
						id := off + i
						mems[i].Metadata = map[string]string{"user": fmt.Sprintf("u%d", id%1000), "kind": fmt.Sprintf("k%d", id%7), "doc": fmt.Sprintf("d%d", id)}
						mems[i].Tags = []string{fmt.Sprintf("t%d", id%13), "all"}
					}
				}
				if _, err := sp.BatchRemember(context.Background(), mems); err != nil {
					b.Fatal(err)
				}
			}
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			var st PostingStats
			for range b.N {
				s, err := Open(path)
				if err != nil {
					b.Fatal(err)
				}
				sp, _ := s.LookupSpace("s")
				st = sp.postings.stats()
				s.Close()
			}
			b.ReportMetric(float64(st.Bytes)/n, "postingB/mem")
		})
	}
}
