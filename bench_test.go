package engram

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/engram-go/engram/index"
	"github.com/engram-go/engram/internal/codec"
	"github.com/engram-go/engram/tier"
	bolt "go.etcd.io/bbolt"
)

// Write-path benchmarks: `go test -run '^$' -bench 'BatchRemember|RawBolt' -benchtime 2000x`.
//
// BenchmarkBatchRemember measures durable (fsync per commit) BatchRemember into a space on
// the exact index. BenchmarkRawBolt writes the same encoded record bytes straight into
// bbolt, one transaction per batch of the same size, also fsync'd: the ceiling the store's
// overhead (validation, normalization, encoding, the ID map, the index) is measured
// against. Both report memories/s.

var benchSizes = []int{1, 10, 100, 1000}
var benchDims = []int{100, 768}

// benchPool returns n random memories of dimension dim with ~200 bytes of content.
func benchPool(n, dim int) []Memory {
	r := rand.New(rand.NewPCG(42, uint64(dim)))
	mems := make([]Memory, n)
	for i := range mems {
		mems[i] = Memory{
			Content:   fmt.Sprintf("benchmark memory %d: %0200d", i, i),
			Embedding: randUnit(r, dim),
			Metadata:  map[string]string{"source": "bench"},
		}
	}
	return mems
}

func BenchmarkBatchRemember(b *testing.B) {
	for _, dim := range benchDims {
		pool := benchPool(4000, dim)
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("dim=%d/batch=%d", dim, size), func(b *testing.B) {
				s, err := Open(filepath.Join(b.TempDir(), "bench.db"))
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				sp, err := s.Space(context.Background(), "bench", WithDimension(dim), WithIndex(IndexFlat))
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				off := 0
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if off+size > len(pool) {
						off = 0
					}
					res, err := sp.BatchRemember(ctx, pool[off:off+size])
					if err != nil || res.Failed > 0 {
						b.Fatal(err, res.Err())
					}
					off += size
				}
				b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "memories/s")
			})
		}
	}
}

func BenchmarkRawBolt(b *testing.B) {
	for _, dim := range benchDims {
		pool := benchPool(4000, dim)
		// The exact bytes the store would write for each memory.
		encoded := make([][]byte, len(pool))
		for i, m := range pool {
			rec := codec.Record{Confidence: 1, Created: 1, Norm: 1, Vec: m.Embedding, ID: "01JBENCHMARKBENCHMARK00000", Content: m.Content, Meta: m.Metadata}
			encoded[i] = codec.Encode(nil, &rec)
		}
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("dim=%d/batch=%d", dim, size), func(b *testing.B) {
				db, err := bolt.Open(filepath.Join(b.TempDir(), "raw.db"), 0o600, &bolt.Options{FreelistType: bolt.FreelistMapType})
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("r")); return err })
				off := 0
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if off+size > len(encoded) {
						off = 0
					}
					err := db.Update(func(tx *bolt.Tx) error {
						bk := tx.Bucket([]byte("r"))
						bk.FillPercent = 1
						for _, v := range encoded[off : off+size] {
							seq, _ := bk.NextSequence()
							if err := bk.Put(codec.SeqKey(seq), v); err != nil {
								return err
							}
						}
						return nil
					})
					if err != nil {
						b.Fatal(err)
					}
					off += size
				}
				b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "memories/s")
			})
		}
	}
}

// BenchmarkRecall measures Space.Recall against a search of its own graph with the same
// breadth, on the GloVe fixture (8,000 memories with ~200 bytes of content and metadata),
// one goroutine: `go test -run '^$' -bench Recall -benchmem .`. The difference is what a
// recall costs outside the graph (reading and hydrating its K hits, statistics, scoring).
func BenchmarkRecall(b *testing.B) {
	ctx := context.Background()
	dim, base, queries, _ := glove(b)
	s := openTemp(b, WithNoSync())
	sp := mustSpace(b, s, "g", WithIndex(IndexHNSW))
	rememberRows(b, sp, dim, base, 0, len(base)/dim)
	g, _ := sp.graph()
	nq := len(queries) / dim
	for _, ef := range []int{16, 64} {
		b.Run(fmt.Sprintf("graph/ef=%d", ef), func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				q := queries[(i%nq)*dim : (i%nq+1)*dim]
				if _, err := g.Search(q, 10, index.SearchOptions{Breadth: ef, MinSimilarity: -1}); err != nil {
					b.Fatal(err)
				}
			}
		})
		for _, skip := range []bool{false, true} {
			b.Run(fmt.Sprintf("recall/ef=%d/skip-embedding=%v", ef, skip), func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					q := queries[(i%nq)*dim : (i%nq+1)*dim]
					hits, err := sp.Recall(ctx, Query{Embedding: q, K: 10, Breadth: ef, SimilarityOnly: true, MinSimilarity: -1, SkipEmbedding: skip})
					if err != nil || len(hits) != 10 {
						b.Fatal(len(hits), err)
					}
				}
			})
		}
	}
}

// BenchmarkRecallTiers measures default recall (hot and warm together) against hot-only
// recall on a tiered space holding the GloVe fixture with a hot tier of 10%, one goroutine:
// `go test -run '^$' -bench RecallTiers .`.
func BenchmarkRecallTiers(b *testing.B) {
	ctx := context.Background()
	dim, base, queries, _ := glove(b)
	s := openTemp(b, WithNoSync(), WithMigrateInterval(0))
	n := len(base) / dim
	sp := mustSpace(b, s, "g", WithIndex(IndexHNSW), WithTiering(tier.Policy{HotCapacity: n / 10}))
	for off := 0; off < n; off += 500 {
		rememberRows(b, sp, dim, base, off, min(off+500, n))
		for {
			if st, err := sp.Migrate(ctx); err != nil || st.Demoted == 0 {
				break
			}
		}
	}
	nq := len(queries) / dim
	for _, tiers := range []tier.Set{tier.Default, tier.Of(tier.Hot), tier.Of(tier.Warm)} {
		b.Run("tiers="+tiers.String(), func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				q := queries[(i%nq)*dim : (i%nq+1)*dim]
				if _, err := sp.Recall(ctx, Query{Embedding: q, K: 10, SimilarityOnly: true, MinSimilarity: -1, Tiers: tiers}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
