// Quickstart: the README's first example, kept compiling by `go vet ./...` and run by
// `go run ./examples/quickstart`.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/engram-go/engram"
)

func main() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "engram-quickstart")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// One file holds the whole store; writes are fsync'd by default.
	store, err := engram.Open(filepath.Join(dir, "memories.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	// A space fixes its embedding dimension with its first memory (or WithDimension).
	notes, err := store.Space(ctx, "notes")
	if err != nil {
		log.Fatal(err)
	}

	// One transaction for the whole batch; bad items fail alone with a code.
	res, err := notes.BatchRemember(ctx, []engram.Memory{
		{Content: "Ada prefers tea in the afternoon", Embedding: []float32{0.9, 0.1, 0.0}, Tags: []string{"ada"}},
		{Content: "Ada's cat is called Turing", Embedding: []float32{0.1, 0.9, 0.2}, Tags: []string{"ada"}},
		{Content: "broken", Embedding: []float32{0, 0, 0}}, // zero vector: INVALID_EMBEDDING
	})
	if err != nil {
		log.Fatal(err) // only whole-batch failures (closed store, failed commit, ...)
	}
	fmt.Printf("stored %d, failed %d\n", res.Stored, res.Failed)
	for i, it := range res.Items {
		if it.Err != nil {
			fmt.Printf("  item %d: %v (retryable: %v)\n", i, engram.CodeOf(it.Err), engram.IsRetryable(it.Err))
		}
	}

	hits, err := notes.Recall(ctx, engram.Query{Embedding: []float32{1, 0.2, 0}, K: 2, Tags: []string{"ada"}})
	if err != nil {
		log.Fatal(err)
	}
	for _, h := range hits {
		fmt.Printf("  %.3f  %s\n", h.Similarity, h.Memory.Content)
	}
}
