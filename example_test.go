package engram_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/engram-go/engram"
	"github.com/engram-go/engram/embed/hash"
)

// tempStore opens a store in a fresh directory; the examples remove it when done.
func tempStore(opts ...engram.Option) (*engram.Store, func()) {
	dir, err := os.MkdirTemp("", "engram-example")
	if err != nil {
		log.Fatal(err)
	}
	s, err := engram.Open(filepath.Join(dir, "memories.db"), opts...)
	if err != nil {
		log.Fatal(err)
	}
	return s, func() { s.Close(); os.RemoveAll(dir) }
}

func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "engram-example")
	defer os.RemoveAll(dir)

	s, err := engram.Open(filepath.Join(dir, "memories.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	// A second Open of the same file fails fast instead of hanging.
	_, err = engram.Open(s.Path(), engram.WithLockTimeout(0))
	fmt.Println(errors.Is(err, engram.ErrLocked), engram.IsRetryable(err))
	// Output: true true
}

func ExampleStore_Space() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()

	notes, err := s.Space(ctx, "notes", engram.WithDimension(3))
	if err != nil {
		log.Fatal(err)
	}
	_, err = s.Space(ctx, "Bad Name")
	fmt.Println(notes.Name(), notes.Dim(), engram.CodeOf(err))
	fmt.Println(s.Spaces())
	// Output:
	// notes 3 INVALID_SPACE_NAME
	// [notes]
}

func ExampleSpace_Remember() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	notes, _ := s.Space(ctx, "notes")

	id, err := notes.Remember(ctx, engram.Memory{
		ID:         "coffee",
		Content:    "Ada takes her coffee black",
		Embedding:  []float32{0.9, 0.1, 0.2},
		Confidence: engram.Confidence(0.8),
		Tags:       []string{"preferences"},
	})
	fmt.Println(id, err)
	// Output: coffee <nil>
}

func ExampleSpace_BatchRemember() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	notes, _ := s.Space(ctx, "notes", engram.WithDimension(3))

	res, err := notes.BatchRemember(ctx, []engram.Memory{
		{ID: "a", Content: "valid", Embedding: []float32{1, 0, 0}},
		{ID: "b", Content: "wrong size", Embedding: []float32{1, 0}},
		{ID: "c", Content: "zero vector", Embedding: []float32{0, 0, 0}},
		{ID: "d", Content: "bad confidence", Embedding: []float32{0, 1, 0}, Confidence: engram.Confidence(2)},
		{ID: "e", Content: "valid too", Embedding: []float32{0, 0, 1}},
	})
	if err != nil { // only whole-batch failures land here
		log.Fatal(err)
	}
	fmt.Printf("stored %d, failed %d\n", res.Stored, res.Failed)
	for i, it := range res.Items {
		if it.Err != nil {
			fmt.Println(i, engram.CodeOf(it.Err), engram.IsRetryable(it.Err))
		} else {
			fmt.Println(i, "stored", it.ID)
		}
	}
	// Output:
	// stored 2, failed 3
	// 0 stored a
	// 1 DIMENSION_MISMATCH false
	// 2 INVALID_EMBEDDING false
	// 3 INVALID_CONFIDENCE false
	// 4 stored e
}

func ExampleSpace_Recall() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	notes, _ := s.Space(ctx, "notes")
	notes.BatchRemember(ctx, []engram.Memory{
		{ID: "tea", Content: "likes green tea", Embedding: []float32{0.9, 0.1, 0}, Tags: []string{"drinks"}},
		{ID: "coffee", Content: "likes coffee", Embedding: []float32{0.8, 0.3, 0}, Tags: []string{"drinks"}, Confidence: engram.Confidence(0.4)},
		{ID: "cat", Content: "has a cat", Embedding: []float32{0, 0.2, 1}},
	})

	hits, err := notes.Recall(ctx, engram.Query{
		Embedding: []float32{1, 0.2, 0},
		K:         5,
		Tags:      []string{"drinks"},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, h := range hits {
		fmt.Printf("%s sim=%.3f score=%.3f accesses=%d\n", h.Memory.ID, h.Similarity, h.Score, h.Memory.AccessCount)
	}
	// Output:
	// tea sim=0.996 score=0.996 accesses=1
	// coffee sim=0.987 score=0.691 accesses=1
}

func ExampleSpace_BatchRecall() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	notes, _ := s.Space(ctx, "notes")
	notes.BatchRemember(ctx, []engram.Memory{
		{ID: "x", Embedding: []float32{1, 0}},
		{ID: "y", Embedding: []float32{0, 1}},
	})
	results, err := notes.BatchRecall(ctx, []engram.Query{
		{Embedding: []float32{0.1, 1}, K: 1},
		{Embedding: []float32{1, 0, 0}, K: 1}, // wrong dimension: fails alone
		{Embedding: []float32{1, 0.1}, K: 1},
	})
	if err != nil {
		log.Fatal(err)
	}
	for i, r := range results {
		if r.Err != nil {
			fmt.Println(i, engram.CodeOf(r.Err))
			continue
		}
		fmt.Println(i, r.Hits[0].Memory.ID)
	}
	// Output:
	// 0 y
	// 1 DIMENSION_MISMATCH
	// 2 x
}

func ExampleSpace_Get() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	notes, _ := s.Space(ctx, "notes")
	notes.Remember(ctx, engram.Memory{ID: "m", Content: "hello", Embedding: []float32{3, 4}})

	m, err := notes.Get(ctx, "m")
	fmt.Println(m.Content, m.Embedding, m.Conf(), m.Tier, err)
	_, err = notes.Get(ctx, "missing")
	fmt.Println(errors.Is(err, engram.ErrNotFound))
	// Output:
	// hello [0.6 0.8] 1 hot <nil>
	// true
}

func ExampleSpace_Forget() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	notes, _ := s.Space(ctx, "notes")
	notes.BatchRemember(ctx, []engram.Memory{{ID: "a", Embedding: []float32{1, 0}}, {ID: "b", Embedding: []float32{0, 1}}})

	n, err := notes.Forget(ctx, "a", "unknown")
	fmt.Println(n, err, notes.Len())
	// Output: 1 <nil> 1
}

func ExampleSpace_All() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	notes, _ := s.Space(ctx, "notes")
	notes.BatchRemember(ctx, []engram.Memory{
		{ID: "first", Embedding: []float32{1, 0}},
		{ID: "second", Embedding: []float32{0, 1}},
	})
	for m, err := range notes.All(ctx) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(m.ID)
	}
	// Output:
	// first
	// second
}

func ExampleStore_DropSpace() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	scratch, _ := s.Space(ctx, "scratch")
	scratch.Remember(ctx, engram.Memory{Embedding: []float32{1}})

	fmt.Println(s.DropSpace(ctx, "scratch"), s.Spaces())
	_, err := scratch.Recall(ctx, engram.Query{Embedding: []float32{1}, K: 1})
	fmt.Println(engram.CodeOf(err))
	// Output:
	// <nil> []
	// SPACE_NOT_FOUND
}

func ExampleStore_Sync() {
	// A bulk load without an fsync per commit, made durable once at the end.
	s, done := tempStore(engram.WithNoSync())
	defer done()
	ctx := context.Background()
	bulk, _ := s.Space(ctx, "bulk")
	for i := 0; i < 10; i++ {
		bulk.Remember(ctx, engram.Memory{Embedding: []float32{float32(i), 1}})
	}
	fmt.Println(s.Sync(), bulk.Len())
	// Output: <nil> 10
}

func ExampleCodeOf() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	notes, _ := s.Space(ctx, "notes")
	_, err := notes.Recall(ctx, engram.Query{Embedding: []float32{1}, K: 0})

	var e *engram.Error
	if errors.As(err, &e) {
		fmt.Println(e.Code, e.Op, e.Retryable())
	}
	fmt.Println(errors.Is(err, engram.ErrInvalidQuery), engram.CodeOf(err) == engram.CodeInvalidQuery)
	// Output:
	// INVALID_QUERY recall false
	// true true
}

func ExampleStore_Stats() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	notes, _ := s.Space(ctx, "notes")
	notes.Remember(ctx, engram.Memory{Embedding: []float32{1, 2, 3}})
	for _, sp := range s.Stats().Spaces {
		fmt.Println(sp.Name, sp.Len, sp.Dim, sp.Index, sp.Tiers)
	}
	// Output: notes 1 3 flat [1 0 0]
}

// A space with an Embedder takes text: memories without an embedding are embedded inside
// BatchRemember, and Query.Text recalls by text. embed/hash is an offline embedder
// (feature hashing of words and character n-grams); embed/glove, embed/openai and
// embed/ollama are others.
func ExampleWithEmbedder() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "engram-example")
	defer os.RemoveAll(dir)
	store, err := engram.Open(filepath.Join(dir, "memories.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	embedder, _ := hash.New(hash.WithDimension(256))
	notes, err := store.Space(ctx, "notes", engram.WithEmbedder(embedder))
	if err != nil {
		log.Fatal(err)
	}
	res, _ := notes.BatchRemember(ctx, []engram.Memory{
		{Content: "Ada prefers green tea in the afternoon"},
		{Content: "Ada's cat is called Turing"},
		{Content: "The build server restarts every night at two"},
	})
	fmt.Println(res.Stored, notes.Dim())
	hits, _ := notes.Recall(ctx, engram.Query{Text: "what is the name of Ada's cat", K: 1})
	fmt.Println(hits[0].Memory.Content)
	// Output:
	// 3 256
	// Ada's cat is called Turing
}

// Any function can be an Embedder.
func ExampleEmbedderFunc() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "engram-example")
	defer os.RemoveAll(dir)
	store, _ := engram.Open(filepath.Join(dir, "memories.db"))
	defer store.Close()
	// A toy embedder: word lengths. Real ones call a model.
	lengths := engram.EmbedderFunc(func(_ context.Context, texts []string) ([][]float32, error) {
		out := make([][]float32, len(texts))
		for i, t := range texts {
			v := make([]float32, 4)
			for j, w := range strings.Fields(t) {
				v[j%4] += float32(len(w))
			}
			out[i] = v
		}
		return out, nil
	})
	sp, _ := store.Space(ctx, "toy", engram.WithEmbedder(lengths))
	sp.BatchRemember(ctx, []engram.Memory{{ID: "short", Content: "a b c d"}, {ID: "long", Content: "abcdefgh a a a"}})
	hits, _ := sp.Recall(ctx, engram.Query{Text: "xxxxxxxxx y y y", K: 1, SimilarityOnly: true})
	fmt.Println(hits[0].Memory.ID)
	// Output: long
}
