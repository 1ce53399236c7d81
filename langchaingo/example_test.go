package engramlc_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/engram-go/engram"
	engramlc "github.com/engram-go/engram/langchaingo"
	"github.com/tmc/langchaingo/schema"
	"github.com/tmc/langchaingo/vectorstores"
)

// keywords is a toy langchaingo embeddings.Embedder for the examples, one dimension per
// keyword (plus one so no text is a zero vector). A real application passes any
// langchaingo embedder instead, for instance:
//
//	llm, _ := openai.New(openai.WithEmbeddingModel("text-embedding-3-small"))
//	e, _ := embeddings.NewEmbedder(llm)
type keywords []string

func (k keywords) EmbedDocuments(_ context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, t := range texts {
		v := make([]float32, len(k)+1)
		v[len(k)] = 0.1
		for j, w := range k {
			if strings.Contains(strings.ToLower(t), w) {
				v[j] = 1
			}
		}
		out[i] = v
	}
	return out, nil
}

func (k keywords) EmbedQuery(ctx context.Context, text string) ([]float32, error) {
	v, err := k.EmbedDocuments(ctx, []string{text})
	return v[0], err
}

var toy = keywords{"tea", "coffee", "cat", "report", "ada", "bob"}

// tempStore opens an engram store in a fresh directory, removed by done.
func tempStore() (store *engram.Store, done func()) {
	dir, err := os.MkdirTemp("", "engramlc-example")
	if err != nil {
		log.Fatal(err)
	}
	s, err := engram.Open(filepath.Join(dir, "memories.db"))
	if err != nil {
		log.Fatal(err)
	}
	return s, func() { s.Close(); os.RemoveAll(dir) }
}

func Example() {
	store, done := tempStore()
	defer done()
	ctx := context.Background()

	vs, err := engramlc.New(store, engramlc.WithEmbedder(toy))
	if err != nil {
		log.Fatal(err)
	}
	_, err = vs.AddDocuments(ctx, []schema.Document{
		{PageContent: "Ada prefers green tea", Metadata: map[string]any{"author": "ada", "year": 2024}},
		{PageContent: "Bob drinks black coffee", Metadata: map[string]any{"author": "bob"}},
		{PageContent: "Ada's cat is called Turing", Metadata: map[string]any{"author": "ada"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	docs, err := vs.SimilaritySearch(ctx, "what tea does Ada like?", 2,
		vectorstores.WithFilters(map[string]any{"author": "ada"}))
	if err != nil {
		log.Fatal(err)
	}
	for _, d := range docs {
		fmt.Printf("%.2f %s (year: %v)\n", d.Score, d.PageContent, d.Metadata["year"])
	}
	// Output:
	// 1.00 Ada prefers green tea (year: 2024)
	// 0.50 Ada's cat is called Turing (year: <nil>)
}

func ExampleNew() {
	store, done := tempStore()
	defer done()
	vs, err := engramlc.New(store,
		engramlc.WithEmbedder(toy),
		engramlc.WithSpace("docs"),
		engramlc.WithSpaceOptions(engram.WithIndex(engram.IndexHNSW)),
		engramlc.WithBatchSize(512),
		engramlc.WithIDKey("doc_id"),
	)
	fmt.Println(vs != nil, err)
	_, err = engramlc.New(store, engramlc.WithBatchSize(0))
	fmt.Println(err)
	// Output:
	// true <nil>
	// engramlc: WithBatchSize(0): want at least 1
}

func ExampleStore_AddDocuments() {
	store, done := tempStore()
	defer done()
	ctx := context.Background()
	vs, _ := engramlc.New(store, engramlc.WithEmbedder(toy))

	ids, err := vs.AddDocuments(ctx, []schema.Document{
		{PageContent: "Quarterly report draft", Metadata: map[string]any{"id": "report-q3"}},
		{PageContent: "bad \xff text"},                               // engram rejects invalid UTF-8
		{PageContent: "Notes about tea and coffee"},                  // stored under a generated ID
		{PageContent: "x", Metadata: map[string]any{"f": func() {}}}, // cannot be stringified
	}, vectorstores.WithNameSpace("work"))
	fmt.Println(ids[0], ids[1] == "", len(ids[2]), ids[3] == "")
	var ae *engramlc.AddError
	if errors.As(err, &ae) {
		fmt.Println(ae.Stored, "of", ae.Total, "stored")
		fmt.Println(engram.CodeOf(ae.Failed[1]), errors.Is(err, engram.ErrInvalidText))
	}
	// Output:
	// report-q3 true 26 true
	// 2 of 4 stored
	// INVALID_TEXT true
}

func ExampleStore_SimilaritySearch() {
	store, done := tempStore()
	defer done()
	ctx := context.Background()
	vs, _ := engramlc.New(store, engramlc.WithEmbedder(toy))
	vs.AddDocuments(ctx, []schema.Document{
		{PageContent: "Ada prefers green tea", Metadata: map[string]any{"id": "n1", "stars": 5}},
		{PageContent: "Bob drinks black coffee", Metadata: map[string]any{"id": "n2", "stars": 3}},
	})

	docs, _ := vs.SimilaritySearch(ctx, "tea", 5, vectorstores.WithScoreThreshold(0.5))
	for _, d := range docs {
		fmt.Printf("%s %.2f %v %v\n", d.Metadata["id"], d.Score, d.PageContent, d.Metadata["stars"])
	}
	_, err := vs.SimilaritySearch(ctx, "tea", 5, vectorstores.WithFilters(map[string]any{"stars": map[string]any{"$gt": 4}}))
	fmt.Println(errors.Is(err, engramlc.ErrUnsupportedFilter))
	// Output:
	// n1 0.71 Ada prefers green tea 5
	// true
}

func ExampleStringify() {
	for _, v := range []any{"ada", 2024, 2024.0, 0.1, true, nil, []string{"a", "b"}} {
		s, _ := engramlc.Stringify(v)
		fmt.Printf("%q ", s)
	}
	fmt.Println()
	// Output: "ada" "2024" "2024" "0.1" "true" "null" "[\"a\",\"b\"]"
}

func ExampleNewEmbedder() {
	e := engramlc.NewEmbedder(toy, engramlc.WithName("toy-keywords-v1"), engramlc.WithDimension(7))
	fmt.Println(e.Name(), e.Dimension())
	// Output: toy-keywords-v1 7
}

// Until spaces embed text themselves (engram.WithEmbedder), the adapter embeds and the
// application stores the vectors.
func ExampleEmbedder_Embed() {
	store, done := tempStore()
	defer done()
	ctx := context.Background()
	e := engramlc.NewEmbedder(toy, engramlc.WithName("toy-keywords-v1"))
	notes, _ := store.Space(ctx, "notes")

	texts := []string{"Ada prefers green tea", "Bob drinks black coffee"}
	vecs, err := e.Embed(ctx, texts)
	if err != nil {
		log.Fatal(err)
	}
	notes.BatchRemember(ctx, []engram.Memory{
		{Content: texts[0], Embedding: vecs[0]},
		{Content: texts[1], Embedding: vecs[1]},
	})
	cue, _ := e.Embed(ctx, []string{"coffee"})
	hits, _ := notes.Recall(ctx, engram.Query{Embedding: cue[0], K: 1})
	fmt.Println(hits[0].Memory.Content, e.Dimension())
	// Output: Bob drinks black coffee 7
}

func ExampleWithRetryable() {
	// langchaingo errors carry no HTTP status; classify them by their text.
	e := engramlc.NewEmbedder(toy, engramlc.WithRetryable(func(err error) bool {
		return strings.Contains(err.Error(), "429") || strings.Contains(err.Error(), "503")
	}))
	fmt.Println(e != nil)
	// Output: true
}
