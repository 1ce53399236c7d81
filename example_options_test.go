package engram_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/engram-go/engram"
)

func ExampleWithIndex() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	// IndexAuto (the default) scans exactly until the space is large, then uses the graph;
	// IndexFlat always scans, IndexHNSW always uses the graph.
	for _, k := range []engram.IndexKind{engram.IndexAuto, engram.IndexFlat, engram.IndexHNSW} {
		sp, err := s.Space(ctx, "space-"+k.String(), engram.WithIndex(k))
		if err != nil {
			log.Fatal(err)
		}
		sp.Remember(ctx, engram.Memory{Embedding: []float32{1, 0}})
		fmt.Println(k, "->", sp.Stats().Index)
	}
	// Output:
	// auto -> flat
	// flat -> flat
	// hnsw -> hnsw
}

func ExampleWithHNSW() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	// A smaller graph than the defaults: 8 neighbours a node, construction breadth 64,
	// query breadth 32.
	sp, err := s.Space(ctx, "graph", engram.WithIndex(engram.IndexHNSW), engram.WithHNSW(8, 64, 32))
	if err != nil {
		log.Fatal(err)
	}
	mems := make([]engram.Memory, 20)
	for i := range mems {
		mems[i] = engram.Memory{ID: fmt.Sprint(i), Embedding: []float32{1, float32(i) / 10, float32(i%7) / 7}}
	}
	sp.BatchRemember(ctx, mems)
	hits, _ := sp.Recall(ctx, engram.Query{Embedding: []float32{1, 1.4, 0}, K: 1})
	fmt.Println(sp.Stats().Index, hits[0].Memory.ID)

	// The parameters are part of the space: asking for others later is refused.
	_, err = s.Space(ctx, "graph", engram.WithHNSW(16, 200, 128))
	fmt.Println(engram.CodeOf(err))
	// Output:
	// hnsw 14
	// INVALID_OPTION
}

func ExampleWithHNSWThreshold() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	// Switch from the exact scan to the graph at 3 hot memories instead of 10,000.
	sp, _ := s.Space(ctx, "small", engram.WithHNSWThreshold(3))
	for i := 1; i <= 3; i++ {
		sp.Remember(ctx, engram.Memory{Embedding: []float32{1, float32(i)}})
		fmt.Println(sp.Len(), sp.Stats().Index)
	}
	// Output:
	// 1 flat
	// 2 flat
	// 3 hnsw
}

func ExampleWithDimension() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	sp, _ := s.Space(ctx, "notes", engram.WithDimension(3))
	fmt.Println(sp.Dim()) // fixed before the first memory

	_, err := sp.Remember(ctx, engram.Memory{Embedding: []float32{1, 0}})
	fmt.Println(engram.CodeOf(err))
	_, err = s.Space(ctx, "notes", engram.WithDimension(4))
	fmt.Println(engram.CodeOf(err))
	// Output:
	// 3
	// DIMENSION_MISMATCH
	// DIMENSION_MISMATCH
}

func ExampleWithConfidenceWeight() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	mems := []engram.Memory{
		{ID: "close-but-doubtful", Embedding: []float32{1, 0}, Confidence: engram.Confidence(0.5)},
		{ID: "further-but-sure", Embedding: []float32{0.8, 0.6}, Confidence: engram.Confidence(1)},
	}
	cue := engram.Query{Embedding: []float32{1, 0}, K: 2}
	// Score = Similarity × (1 − w + w × Confidence).
	for _, w := range []float32{0, 1} {
		sp, _ := s.Space(ctx, fmt.Sprintf("w%.0f", w), engram.WithConfidenceWeight(w))
		sp.BatchRemember(ctx, mems)
		hits, _ := sp.Recall(ctx, cue)
		fmt.Printf("w=%.0f:", w)
		for _, h := range hits {
			fmt.Printf(" %s (sim %.1f, score %.1f)", h.Memory.ID, h.Similarity, h.Score)
		}
		fmt.Println()
	}
	// Output:
	// w=0: close-but-doubtful (sim 1.0, score 1.0) further-but-sure (sim 0.8, score 0.8)
	// w=1: further-but-sure (sim 0.8, score 0.8) close-but-doubtful (sim 1.0, score 0.5)
}

func ExampleWithAccessFlushInterval() {
	// Write recall statistics to disk only on Sync and Close.
	s, done := tempStore(engram.WithAccessFlushInterval(0))
	defer done()
	ctx := context.Background()
	sp, _ := s.Space(ctx, "notes")
	sp.Remember(ctx, engram.Memory{ID: "a", Embedding: []float32{1, 0}})
	sp.Recall(ctx, engram.Query{Embedding: []float32{1, 0}, K: 1})
	fmt.Println("pending:", sp.Stats().PendingAccess)
	s.Sync()
	m, _ := sp.Get(ctx, "a")
	fmt.Println("pending:", sp.Stats().PendingAccess, "accesses:", m.AccessCount)
	// Output:
	// pending: 1
	// pending: 0 accesses: 1
}

func ExampleWithFileMode() {
	dir, _ := os.MkdirTemp("", "engram-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "shared.db")
	s, err := engram.Open(path, engram.WithFileMode(0o640))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	fi, _ := os.Stat(path)
	// The process umask may remove bits, never add them.
	fmt.Println(fi.Mode().Perm()&^0o640 == 0, fi.Mode().Perm()&0o600)
	// Output: true -rw-------
}

func ExampleWithInitialMmapSize() {
	// Map 64 MiB up front for a large import, saving remaps as the file grows.
	s, done := tempStore(engram.WithInitialMmapSize(64<<20), engram.WithNoSync())
	defer done()
	ctx := context.Background()
	sp, _ := s.Space(ctx, "import")
	mems := make([]engram.Memory, 1000)
	for i := range mems {
		mems[i] = engram.Memory{Embedding: []float32{1, float32(i)}}
	}
	res, err := sp.RememberAll(ctx, mems, 500, 1)
	fmt.Println(res.Stored, err, s.Sync())
	// Output: 1000 <nil> <nil>
}
