package jsonl_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/engram-go/engram"
	"github.com/engram-go/engram/jsonl"
	"github.com/engram-go/engram/tier"
)

// openStore opens a store in a fresh temporary directory; done closes and removes it.
func openStore() (*engram.Store, func()) {
	dir, err := os.MkdirTemp("", "jsonl-example")
	if err != nil {
		log.Fatal(err)
	}
	s, err := engram.Open(filepath.Join(dir, "memories.db"))
	if err != nil {
		log.Fatal(err)
	}
	return s, func() { s.Close(); os.RemoveAll(dir) }
}

func ExampleWriter_WriteHeader() {
	s, done := openStore()
	defer done()
	ctx := context.Background()
	sp, _ := s.Space(ctx, "notes", engram.WithIndex(engram.IndexFlat), engram.WithConfidenceWeight(0.2))
	at := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	sp.Remember(ctx, engram.Memory{ID: "tea", Content: "Ada prefers tea", Embedding: []float32{0.6, 0.8}, CreatedAt: at})
	sp.Archive(ctx, []engram.Memory{{ID: "bike", Content: "Ada cycled in 2019", Embedding: []float32{1, 0}, CreatedAt: at}})

	// The lossless form: the space's settings first, then every memory with its tier.
	w := jsonl.NewWriter(os.Stdout)
	if err := w.WriteHeader(jsonl.HeaderOf(sp)); err != nil {
		log.Fatal(err)
	}
	for m, err := range sp.All(ctx) {
		if err != nil {
			log.Fatal(err)
		}
		m.CreatedAt = m.CreatedAt.UTC()
		if err := w.Write(m); err != nil {
			log.Fatal(err)
		}
	}
	w.Flush()
	// Output:
	// {"engram_jsonl":1,"space":"notes","dim":2,"settings":{"index":"flat","hnsw":{"m":16,"ef_construction":200,"ef_search":128,"threshold":10000},"confidence_weight":0.2}}
	// {"id":"tea","content":"Ada prefers tea","embedding":[0.6,0.8],"confidence":1,"created_at":"2025-03-01T10:00:00Z","tier":"hot"}
	// {"id":"bike","content":"Ada cycled in 2019","embedding":[1,0],"confidence":1,"created_at":"2025-03-01T10:00:00Z","tier":"cold"}
}

func ExampleReader_Header() {
	export := `{"engram_jsonl":1,"space":"notes","dim":2,"settings":{"index":"auto","hnsw":{"m":16,"ef_construction":200,"ef_search":128,"threshold":10000},"confidence_weight":0.5,"tiering":{"hot_capacity":1000,"high_watermark":1,"low_watermark":0.9,"activation_half_life_seconds":604800,"warm_idle_seconds":0,"promote":["recall"],"max_per_cycle":20000,"batch_size":1000,"backpressure":"block"}}}
{"id":"tea","content":"Ada prefers tea","embedding":[0.6,0.8],"access_count":4,"last_access":"2025-03-02T08:00:00Z","tier":"hot"}
{"id":"cat","content":"Ada's cat is Turing","embedding":[0,1],"tier":"warm"}
{"id":"bike","content":"Ada cycled in 2019","embedding":[1,0],"tier":"cold"}
`
	s, done := openStore()
	defer done()
	ctx := context.Background()
	r := jsonl.NewReader(strings.NewReader(export))
	h, err := r.Header()
	if err != nil {
		log.Fatal(err)
	}
	// Recreate the space as it was exported, then restore its memories into their tiers
	// with their access statistics.
	sp, err := s.Space(ctx, h.Space, h.Settings.Options()...)
	if err != nil {
		log.Fatal(err)
	}
	var batch []engram.Memory
	for m, err := range r.All() {
		if err != nil {
			log.Fatal(err)
		}
		batch = append(batch, m)
	}
	if _, err := sp.Restore(ctx, batch); err != nil {
		log.Fatal(err)
	}
	st := sp.Stats()
	fmt.Println("dim", st.Dim, "hot capacity", sp.Settings().Tiering.HotCapacity, "tiers", st.Tiers)
	m, _ := sp.Get(ctx, "tea")
	fmt.Println(m.AccessCount, m.LastAccess.UTC().Format(time.RFC3339))
	hits, _ := sp.Recall(ctx, engram.Query{Embedding: []float32{1, 0}, K: 3, Tiers: tier.All})
	for _, h := range hits {
		fmt.Println(h.Memory.ID, h.Memory.Tier)
	}
	// Output:
	// dim 2 hot capacity 1000 tiers [1 1 1]
	// 4 2025-03-02T08:00:00Z
	// bike cold
	// tea hot
	// cat warm
}
