package engram_test

import (
	"context"
	"fmt"
	"log"
	"sync"
	"sync/atomic"

	"github.com/engram-go/engram"
	"github.com/engram-go/engram/embed/hash"
)

// WithEmbedChunk sets how many texts go to the embedder in one Embed call: a batch of
// 10 text-only memories with chunks of 4 makes three calls (4, 4 and 2 texts).
func ExampleWithEmbedChunk() {
	ctx := context.Background()
	store, done := tempStore()
	defer done()
	inner, _ := hash.New(hash.WithDimension(64))
	var mu sync.Mutex
	var sizes []int
	counting := engram.EmbedderFunc(func(ctx context.Context, texts []string) ([][]float32, error) {
		mu.Lock()
		sizes = append(sizes, len(texts))
		mu.Unlock()
		return inner.Embed(ctx, texts)
	})
	notes, err := store.Space(ctx, "notes", engram.WithEmbedder(counting), engram.WithDimension(64),
		engram.WithEmbedChunk(4), engram.WithEmbedParallelism(1))
	if err != nil {
		log.Fatal(err)
	}
	mems := make([]engram.Memory, 10)
	for i := range mems {
		mems[i].Content = fmt.Sprintf("note number %d", i)
	}
	res, _ := notes.BatchRemember(ctx, mems)
	fmt.Println(res.Stored, sizes)
	// Output: 10 [4 4 2]
}

// WithEmbedParallelism bounds how many of a batch's chunks are embedded at once; raise it
// for a remote embedder, whose calls mostly wait on the network.
func ExampleWithEmbedParallelism() {
	ctx := context.Background()
	store, done := tempStore()
	defer done()
	inner, _ := hash.New(hash.WithDimension(64))
	var now, peak atomic.Int32
	tracking := engram.EmbedderFunc(func(ctx context.Context, texts []string) ([][]float32, error) {
		n := now.Add(1)
		defer now.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		return inner.Embed(ctx, texts)
	})
	notes, err := store.Space(ctx, "notes", engram.WithEmbedder(tracking), engram.WithDimension(64),
		engram.WithEmbedChunk(1), engram.WithEmbedParallelism(2))
	if err != nil {
		log.Fatal(err)
	}
	mems := make([]engram.Memory, 8)
	for i := range mems {
		mems[i].Content = fmt.Sprintf("note number %d", i)
	}
	res, _ := notes.BatchRemember(ctx, mems)
	fmt.Println(res.Stored, peak.Load() <= 2)
	// Output: 8 true
}

// WithQueryCache keeps the embeddings of recent Query.Text cues, so a repeated question
// does not call the embedder again.
func ExampleWithQueryCache() {
	ctx := context.Background()
	store, done := tempStore()
	defer done()
	inner, _ := hash.New(hash.WithDimension(64))
	var calls atomic.Int32
	counting := engram.EmbedderFunc(func(ctx context.Context, texts []string) ([][]float32, error) {
		calls.Add(1)
		return inner.Embed(ctx, texts)
	})
	notes, err := store.Space(ctx, "notes", engram.WithEmbedder(counting), engram.WithDimension(64),
		engram.WithQueryCache(16))
	if err != nil {
		log.Fatal(err)
	}
	notes.Remember(ctx, engram.Memory{Content: "Ada's cat is called Turing"})
	before := calls.Load()
	for range 3 {
		notes.Recall(ctx, engram.Query{Text: "what is Ada's cat called?", K: 1})
	}
	fmt.Println(calls.Load() - before) // one call for three recalls of the same text
	// Output: 1
}
