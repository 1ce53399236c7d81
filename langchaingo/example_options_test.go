package engramlc_test

import (
	"context"
	"fmt"
	"log"
	"slices"
	"sync"

	"github.com/engram-go/engram"
	engramlc "github.com/engram-go/engram/langchaingo"
	"github.com/tmc/langchaingo/schema"
	"github.com/tmc/langchaingo/vectorstores"
)

// counting wraps the toy embedder and records the size of each EmbedDocuments call.
type counting struct {
	keywords
	mu    sync.Mutex
	sizes []int
}

func (c *counting) EmbedDocuments(ctx context.Context, texts []string) ([][]float32, error) {
	c.mu.Lock()
	c.sizes = append(c.sizes, len(texts))
	c.mu.Unlock()
	return c.keywords.EmbedDocuments(ctx, texts)
}

// fixed is an embedder whose vectors have the wrong length for a model declared at 7.
type fixed struct{}

func (fixed) EmbedDocuments(_ context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i := range out {
		out[i] = []float32{1, 0, 0}
	}
	return out, nil
}

func (f fixed) EmbedQuery(ctx context.Context, text string) ([]float32, error) {
	v, err := f.EmbedDocuments(ctx, []string{text})
	return v[0], err
}

func docs(texts ...string) []schema.Document {
	d := make([]schema.Document, len(texts))
	for i, t := range texts {
		d[i] = schema.Document{PageContent: t}
	}
	return d
}

// WithBatchSize sets how many documents go into one EmbedDocuments call and one
// BatchRemember: fit it to the embedding API's per-request limit.
func ExampleWithBatchSize() {
	store, done := tempStore()
	defer done()
	emb := &counting{keywords: toy}
	vs, err := engramlc.New(store, engramlc.WithEmbedder(emb), engramlc.WithBatchSize(2))
	if err != nil {
		log.Fatal(err)
	}
	ids, err := vs.AddDocuments(context.Background(), docs("tea", "coffee", "cat", "report", "bob"))
	if err != nil {
		log.Fatal(err)
	}
	slices.Sort(emb.sizes)
	fmt.Println(len(ids), "documents in EmbedDocuments calls of", emb.sizes)
	// Output: 5 documents in EmbedDocuments calls of [1 2 2]
}

// WithEmbedder sets the embedder of documents and queries for every call; a call's own
// vectorstores.WithEmbedder overrides it, and without either a call fails.
func ExampleWithEmbedder() {
	store, done := tempStore()
	defer done()
	ctx := context.Background()
	vs, err := engramlc.New(store) // no default embedder
	if err != nil {
		log.Fatal(err)
	}
	_, err = vs.AddDocuments(ctx, docs("Ada prefers green tea"))
	fmt.Println(err)
	_, err = vs.AddDocuments(ctx, docs("Ada prefers green tea"), vectorstores.WithEmbedder(toy))
	fmt.Println(err)

	vs, _ = engramlc.New(store, engramlc.WithEmbedder(toy))
	found, _ := vs.SimilaritySearch(ctx, "tea", 1)
	fmt.Println(found[0].PageContent)
	// Output:
	// engramlc: no embedder (use engramlc.WithEmbedder or vectorstores.WithEmbedder)
	// <nil>
	// Ada prefers green tea
}

// WithIDKey names the metadata key carrying a document's ID: adding a document with an
// ID already stored replaces it (an upsert), and search results carry the ID under the
// same key.
func ExampleWithIDKey() {
	store, done := tempStore()
	defer done()
	ctx := context.Background()
	vs, _ := engramlc.New(store, engramlc.WithEmbedder(toy), engramlc.WithIDKey("doc_id"))
	for _, text := range []string{"Ada drinks tea", "Ada drinks green tea"} { // the second replaces the first
		ids, err := vs.AddDocuments(ctx, []schema.Document{
			{PageContent: text, Metadata: map[string]any{"doc_id": "ada-tea"}},
		})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(ids)
	}
	found, _ := vs.SimilaritySearch(ctx, "tea", 5)
	fmt.Println(len(found), found[0].Metadata["doc_id"], found[0].PageContent)
	// Output:
	// [ada-tea]
	// [ada-tea]
	// 1 ada-tea Ada drinks green tea
}

// WithSpace sets the engram space documents go to when a call names no namespace
// (vectorstores.WithNameSpace); the space is created on first use.
func ExampleWithSpace() {
	store, done := tempStore()
	defer done()
	ctx := context.Background()
	vs, _ := engramlc.New(store, engramlc.WithEmbedder(toy), engramlc.WithSpace("kb"))
	vs.AddDocuments(ctx, docs("Ada prefers green tea"))
	vs.AddDocuments(ctx, docs("Quarterly report"), vectorstores.WithNameSpace("work"))
	fmt.Println(store.Spaces())
	// Output: [kb work]
}

// WithSpaceOptions configures the spaces AddDocuments creates, e.g. the index or
// confidence's weight in scores.
func ExampleWithSpaceOptions() {
	store, done := tempStore()
	defer done()
	ctx := context.Background()
	vs, _ := engramlc.New(store, engramlc.WithEmbedder(toy),
		engramlc.WithSpaceOptions(engram.WithIndex(engram.IndexFlat)))
	if _, err := vs.AddDocuments(ctx, docs("Ada prefers green tea")); err != nil {
		log.Fatal(err)
	}
	sp, _ := store.LookupSpace(engramlc.DefaultSpace)
	st := sp.Settings()
	fmt.Println(st.Index, st.Dim)
	// Output: flat 7
}

// WithDimension declares the wrapped model's dimension: Dimension knows it before any
// call (a space can be created with it), and an answer of another length fails the
// call instead of reaching the store.
func ExampleWithDimension() {
	e := engramlc.NewEmbedder(fixed{}, engramlc.WithDimension(7))
	fmt.Println(e.Dimension())
	_, err := e.Embed(context.Background(), []string{"hello"})
	fmt.Println(err != nil)
	// Output:
	// 7
	// true
}

// WithName gives the adapter the stable name a space records: a space attached to
// one model refuses an embedder of another name, which keeps two models' vectors apart.
func ExampleWithName() {
	store, done := tempStore()
	defer done()
	ctx := context.Background()
	small := engramlc.NewEmbedder(toy, engramlc.WithName("toy-keywords-v1"))
	other := engramlc.NewEmbedder(toy, engramlc.WithName("toy-keywords-v2"))
	_, err := store.Space(ctx, "notes", engram.WithEmbedder(small))
	fmt.Println(err)
	_, err = store.Space(ctx, "notes", engram.WithEmbedder(other))
	fmt.Println(engram.CodeOf(err))
	// Output:
	// <nil>
	// INVALID_OPTION
}

// Dimension is the declared dimension (WithDimension), else the one the first
// successful Embed returned, 0 before it.
func ExampleEmbedder_Dimension() {
	e := engramlc.NewEmbedder(toy)
	fmt.Println(e.Dimension())
	if _, err := e.Embed(context.Background(), []string{"tea"}); err != nil {
		log.Fatal(err)
	}
	fmt.Println(e.Dimension())
	// Output:
	// 0
	// 7
}

// Name is "" unless set with WithName: the adapter cannot know which model the wrapped
// langchaingo embedder runs, so a space records no name for it and cannot guard
// against a model change.
func ExampleEmbedder_Name() {
	fmt.Printf("%q\n", engramlc.NewEmbedder(toy).Name())
	fmt.Printf("%q\n", engramlc.NewEmbedder(toy, engramlc.WithName("openai:text-embedding-3-small")).Name())
	// Output:
	// ""
	// "openai:text-embedding-3-small"
}
