package engramlc

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/engram-go/engram"
	"github.com/tmc/langchaingo/schema"
	"github.com/tmc/langchaingo/vectorstores"
)

func newStore(t *testing.T, opts ...Option) (*Store, *engram.Store, *fakeEmbedder) {
	t.Helper()
	es := openStore(t)
	f := newFake()
	vs, err := New(es, append([]Option{WithEmbedder(f)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return vs, es, f
}

var notes = []schema.Document{
	{PageContent: "Ada prefers green tea in the afternoon", Metadata: map[string]any{"author": "ada", "year": 2024}},
	{PageContent: "The quarterly report is due on Friday", Metadata: map[string]any{"author": "bob", "year": 2023.0}},
	{PageContent: "Ada's cat is called Turing", Metadata: map[string]any{"author": "ada", "pinned": true}},
	{PageContent: "Bob drinks black coffee every morning", Metadata: map[string]any{"author": "bob"}},
}

func TestAddAndSearch(t *testing.T) {
	ctx := context.Background()
	vs, es, _ := newStore(t)
	ids, err := vs.AddDocuments(ctx, notes)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != len(notes) {
		t.Fatalf("%d ids", len(ids))
	}
	for i, id := range ids {
		if id == "" {
			t.Fatalf("document %d has no id", i)
		}
	}
	sp, err := es.LookupSpace(DefaultSpace)
	if err != nil || sp.Len() != 4 {
		t.Fatalf("default space: %v", err)
	}
	docs, err := vs.SimilaritySearch(ctx, "the quarterly report is due on Friday", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 2 || docs[0].PageContent != notes[1].PageContent {
		t.Fatalf("results %+v", docs)
	}
	if math.Abs(float64(docs[0].Score)-1) > 1e-5 || !(docs[0].Score > docs[1].Score) {
		t.Fatalf("scores %v %v", docs[0].Score, docs[1].Score)
	}
	// Metadata comes back with JSON types, plus the memory's ID.
	md := docs[0].Metadata
	if md["author"] != "bob" || md["year"] != 2023.0 || md["id"] != ids[1] || len(md) != 3 {
		t.Fatalf("metadata %#v", md)
	}
	// The retriever of langchaingo works on it.
	got, err := vectorstores.ToRetriever(vs, 1).GetRelevantDocuments(ctx, "Ada's cat")
	if err != nil || len(got) != 1 || got[0].PageContent != notes[2].PageContent || got[0].Metadata["pinned"] != true {
		t.Fatalf("retriever: %+v %v", got, err)
	}
}

func TestScoreThresholdAndFilters(t *testing.T) {
	ctx := context.Background()
	vs, _, _ := newStore(t)
	if _, err := vs.AddDocuments(ctx, notes); err != nil {
		t.Fatal(err)
	}
	search := func(opts ...vectorstores.Option) []string {
		t.Helper()
		docs, err := vs.SimilaritySearch(ctx, "Ada prefers green tea in the afternoon", 10, opts...)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, d := range docs {
			out = append(out, d.PageContent[:3])
		}
		return out
	}
	if got := search(); len(got) != 4 {
		t.Fatalf("no threshold: %v", got)
	}
	if got := search(vectorstores.WithScoreThreshold(0.99)); len(got) != 1 || got[0] != "Ada" {
		t.Fatalf("threshold 0.99: %v", got)
	}
	if got := search(vectorstores.WithFilters(map[string]any{"author": "bob"})); len(got) != 2 || got[0] != "Bob" && got[0] != "The" {
		t.Fatalf("author filter: %v", got)
	}
	// An int filter matches a value stored as int or as float64 (both "2024" / "2023").
	if got := search(vectorstores.WithFilters(map[string]any{"year": 2023})); len(got) != 1 || got[0] != "The" {
		t.Fatalf("year filter: %v", got)
	}
	if got := search(vectorstores.WithFilters(map[string]any{"year": 2024.0, "author": "ada"})); len(got) != 1 || got[0] != "Ada" {
		t.Fatalf("two filters: %v", got)
	}
	if got := search(vectorstores.WithFilters(map[string]string{"author": "ada"})); len(got) != 2 {
		t.Fatalf("string map filter: %v", got)
	}
	if got := search(vectorstores.WithFilters(map[string]any{"author": "nobody"})); len(got) != 0 {
		t.Fatalf("no match: %v", got)
	}
	for name, f := range map[string]any{
		"operator":  map[string]any{"year": map[string]any{"$gt": 2000}},
		"any-of":    map[string]any{"author": []string{"ada", "bob"}},
		"struct":    map[string]any{"author": struct{ A int }{1}},
		"string":    "author = 'ada'",
		"reserved":  map[string]any{TypesKey: "x"},
		"NaN":       map[string]any{"year": math.NaN()},
		"slice map": []map[string]any{{"author": "ada"}},
	} {
		_, err := vs.SimilaritySearch(ctx, "tea", 3, vectorstores.WithFilters(f))
		if !errors.Is(err, ErrUnsupportedFilter) {
			t.Errorf("%s filter: %v", name, err)
		}
	}
	for _, th := range []float32{-1.5, 1.01} {
		if _, err := vs.SimilaritySearch(ctx, "tea", 3, vectorstores.WithScoreThreshold(th)); err == nil {
			t.Errorf("threshold %v accepted", th)
		}
	}
	if _, err := vs.SimilaritySearch(ctx, "tea", 0); err == nil {
		t.Error("numDocuments 0 accepted")
	}
}

func TestNamespaces(t *testing.T) {
	ctx := context.Background()
	vs, es, _ := newStore(t, WithSpace("notes"))
	if _, err := vs.AddDocuments(ctx, notes[:2]); err != nil {
		t.Fatal(err)
	}
	if _, err := vs.AddDocuments(ctx, notes[2:], vectorstores.WithNameSpace("pets")); err != nil {
		t.Fatal(err)
	}
	if got := es.Spaces(); strings.Join(got, ",") != "notes,pets" {
		t.Fatalf("spaces %v", got)
	}
	docs, err := vs.SimilaritySearch(ctx, "Ada's cat", 10)
	if err != nil || len(docs) != 2 {
		t.Fatalf("default space: %d docs, %v", len(docs), err)
	}
	docs, err = vs.SimilaritySearch(ctx, "Ada's cat", 10, vectorstores.WithNameSpace("pets"))
	if err != nil || len(docs) != 2 || docs[0].PageContent != notes[2].PageContent {
		t.Fatalf("pets: %+v %v", docs, err)
	}
	// Searching a namespace that was never written returns nothing and creates nothing.
	docs, err = vs.SimilaritySearch(ctx, "cat", 3, vectorstores.WithNameSpace("empty"))
	if err != nil || len(docs) != 0 {
		t.Fatalf("empty namespace: %v %v", docs, err)
	}
	if _, err := es.LookupSpace("empty"); !errors.Is(err, engram.ErrSpaceNotFound) {
		t.Fatalf("search created a space: %v", err)
	}
	_, err = vs.AddDocuments(ctx, notes[:1], vectorstores.WithNameSpace("Not Valid"))
	if engram.CodeOf(err) != engram.CodeInvalidSpaceName {
		t.Fatalf("invalid namespace: %v", err)
	}
}

func TestIDsFromMetadata(t *testing.T) {
	ctx := context.Background()
	vs, es, _ := newStore(t, WithIDKey("doc_id"))
	ids, err := vs.AddDocuments(ctx, []schema.Document{
		{PageContent: "first version", Metadata: map[string]any{"doc_id": "readme"}},
		{PageContent: "numbered", Metadata: map[string]any{"doc_id": 42}},
		{PageContent: "no id"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if ids[0] != "readme" || ids[1] != "42" || ids[2] == "" {
		t.Fatalf("ids %v", ids)
	}
	// Same ID again: the memory is replaced, not duplicated.
	if _, err := vs.AddDocuments(ctx, []schema.Document{{PageContent: "second version", Metadata: map[string]any{"doc_id": "readme"}}}); err != nil {
		t.Fatal(err)
	}
	sp, _ := es.LookupSpace(DefaultSpace)
	if sp.Len() != 3 {
		t.Fatalf("%d memories after an upsert, want 3", sp.Len())
	}
	docs, err := vs.SimilaritySearch(ctx, "second version", 1)
	if err != nil || docs[0].PageContent != "second version" || docs[0].Metadata["doc_id"] != "readme" {
		t.Fatalf("%+v %v", docs, err)
	}
	docs, _ = vs.SimilaritySearch(ctx, "no id", 1)
	if docs[0].Metadata["doc_id"] != ids[2] {
		t.Fatalf("generated id not returned: %#v", docs[0].Metadata)
	}
	if _, err := New(es, WithIDKey("")); err == nil {
		t.Fatal("empty id key accepted")
	}
}

// TestPerDocumentFailures: documents engram or the metadata conversion rejects fail alone,
// named in the error; the others are stored.
func TestPerDocumentFailures(t *testing.T) {
	ctx := context.Background()
	vs, es, _ := newStore(t)
	docs := []schema.Document{
		{PageContent: "good one"},
		{PageContent: "bad utf8 \xff"},
		{PageContent: "big metadata", Metadata: map[string]any{"blob": strings.Repeat("x", 70<<10)}},
		{PageContent: "func metadata", Metadata: map[string]any{"f": func() {}}},
		{PageContent: "reserved", Metadata: map[string]any{TypesKey: "[]"}},
		{PageContent: "bad id", Metadata: map[string]any{"id": strings.Repeat("i", 300)}},
		{PageContent: "good two", Metadata: map[string]any{"when": time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)}},
	}
	ids, err := vs.AddDocuments(ctx, docs)
	var ae *AddError
	if !errors.As(err, &ae) {
		t.Fatalf("want *AddError, got %T %v", err, err)
	}
	if ae.Stored != 2 || ae.Total != 7 || len(ae.Failed) != 5 {
		t.Fatalf("stored %d of %d, failed %v", ae.Stored, ae.Total, ae.Failed)
	}
	for _, i := range []int{1, 2, 3, 4, 5} {
		if ae.Failed[i] == nil || ids[i] != "" {
			t.Fatalf("document %d: err %v id %q", i, ae.Failed[i], ids[i])
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("document %d:", i)) {
			t.Fatalf("error does not name document %d: %v", i, err)
		}
	}
	if ids[0] == "" || ids[6] == "" {
		t.Fatalf("good documents: %v", ids)
	}
	if engram.CodeOf(ae.Failed[1]) != engram.CodeInvalidText || !errors.Is(err, engram.ErrMetadataTooLarge) || !errors.Is(err, engram.ErrInvalidID) {
		t.Fatalf("codes: %v", err)
	}
	sp, _ := es.LookupSpace(DefaultSpace)
	if sp.Len() != 2 {
		t.Fatalf("%d stored", sp.Len())
	}
	got, _ := vs.SimilaritySearch(ctx, "good two", 1)
	if got[0].Metadata["when"] != "2024-05-01T12:00:00Z" {
		t.Fatalf("time metadata %#v", got[0].Metadata["when"])
	}
}

// TestEmbedderFailureStopsAtItsBatch: earlier batches stay stored, later documents are
// named as not stored.
func TestEmbedderFailureStopsAtItsBatch(t *testing.T) {
	ctx := context.Background()
	vs, es, f := newStore(t, WithBatchSize(2))
	f.failCall = 2
	docs := make([]schema.Document, 5)
	for i := range docs {
		docs[i] = schema.Document{PageContent: fmt.Sprintf("document number %d", i)}
	}
	ids, err := vs.AddDocuments(ctx, docs)
	var ae *AddError
	if !errors.As(err, &ae) || ae.Stored != 2 || len(ae.Failed) != 3 {
		t.Fatalf("%v", err)
	}
	if ids[0] == "" || ids[1] == "" || ids[2] != "" || !strings.Contains(err.Error(), "service unavailable") {
		t.Fatalf("ids %v err %v", ids, err)
	}
	if sp, _ := es.LookupSpace(DefaultSpace); sp.Len() != 2 {
		t.Fatalf("%d stored", sp.Len())
	}
	// A wrong vector count is caught, not stored misaligned.
	vs2, _, f2 := newStore(t)
	f2.dropOne = true
	if _, err := vs2.AddDocuments(ctx, docs); err == nil || !strings.Contains(err.Error(), "4 vectors for 5 documents") {
		t.Fatalf("wrong count: %v", err)
	}
}

func TestBatchingAndOrder(t *testing.T) {
	ctx := context.Background()
	vs, es, f := newStore(t, WithBatchSize(64))
	f.dim = 1024 // few bucket collisions: every document's vector is its own
	docs := make([]schema.Document, 1000)
	for i := range docs {
		docs[i] = schema.Document{PageContent: fmt.Sprintf("note %d about topic%d", i, i), Metadata: map[string]any{"id": fmt.Sprintf("n%04d", i), "n": i}}
	}
	ids, err := vs.AddDocuments(ctx, docs)
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		if id != fmt.Sprintf("n%04d", i) {
			t.Fatalf("id %d = %q", i, id)
		}
	}
	if f.calls.Load() != 16 || f.texts.Load() != 1000 {
		t.Fatalf("%d calls for %d texts, want 16 for 1000", f.calls.Load(), f.texts.Load())
	}
	// Each memory holds its own document's vector (no misalignment across batches).
	sp, _ := es.LookupSpace(DefaultSpace)
	for _, i := range []int{0, 63, 64, 500, 999} {
		hits, err := sp.Recall(ctx, engram.Query{Embedding: f.vector(docs[i].PageContent), K: 1, Exact: true})
		if err != nil || hits[0].Memory.ID != ids[i] || hits[0].Memory.Metadata["n"] != fmt.Sprint(i) {
			t.Fatalf("document %d: %+v %v", i, hits, err)
		}
	}
}

func TestOptionsAndMisuse(t *testing.T) {
	ctx := context.Background()
	es := openStore(t)
	vs, err := New(es) // no embedder: calls must bring one
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vs.AddDocuments(ctx, notes); err == nil || !strings.Contains(err.Error(), "no embedder") {
		t.Fatalf("no embedder: %v", err)
	}
	f := newFake()
	if _, err := vs.AddDocuments(ctx, notes, vectorstores.WithEmbedder(f)); err != nil {
		t.Fatal(err)
	}
	if docs, err := vs.SimilaritySearch(ctx, "tea", 1, vectorstores.WithEmbedder(f)); err != nil || len(docs) != 1 {
		t.Fatalf("%v %v", docs, err)
	}
	if _, err := vs.AddDocuments(ctx, notes, vectorstores.WithEmbedder(f), vectorstores.WithScoreThreshold(0.5)); err == nil {
		t.Fatal("threshold on add accepted")
	}
	if _, err := vs.AddDocuments(ctx, notes, vectorstores.WithEmbedder(f), vectorstores.WithFilters(map[string]any{})); err == nil {
		t.Fatal("filters on add accepted")
	}
	// Deduplicater: skipped documents get "" and are not embedded.
	before := f.texts.Load()
	ids, err := vs.AddDocuments(ctx, notes, vectorstores.WithEmbedder(f), vectorstores.WithDeduplicater(func(_ context.Context, d schema.Document) bool {
		return d.Metadata["author"] == "bob"
	}))
	if err != nil || ids[0] == "" || ids[1] != "" || ids[2] == "" || ids[3] != "" || f.texts.Load()-before != 2 {
		t.Fatalf("dedup: %v %v (%d texts embedded)", ids, err, f.texts.Load()-before)
	}
	for name, o := range map[string]Option{"nil embedder": WithEmbedder(nil), "batch 0": WithBatchSize(0), "reserved id key": WithIDKey(TypesKey)} {
		if _, err := New(es, o); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if _, err := New(nil); err == nil {
		t.Error("nil store accepted")
	}
	// Empty input: nothing to do.
	if ids, err := vs.AddDocuments(ctx, nil, vectorstores.WithEmbedder(f)); err != nil || len(ids) != 0 {
		t.Fatalf("empty: %v %v", ids, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := vs.AddDocuments(cctx, notes, vectorstores.WithEmbedder(f)); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled add: %v", err)
	}
	if _, err := vs.SimilaritySearch(cctx, "tea", 1, vectorstores.WithEmbedder(f)); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled search: %v", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	vs, _, _ := newStore(t, WithBatchSize(8))
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 4 {
		wg.Go(func() {
			for r := range 5 {
				docs := make([]schema.Document, 20)
				for i := range docs {
					docs[i] = schema.Document{PageContent: fmt.Sprintf("writer %d round %d doc %d", g, r, i), Metadata: map[string]any{"g": g}}
				}
				if _, err := vs.AddDocuments(ctx, docs, vectorstores.WithNameSpace(fmt.Sprintf("w%d", g%2))); err != nil {
					errs <- err
					return
				}
				if _, err := vs.SimilaritySearch(ctx, "writer round", 5, vectorstores.WithNameSpace(fmt.Sprintf("w%d", g%2)),
					vectorstores.WithFilters(map[string]any{"g": g})); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	docs, err := vs.SimilaritySearch(ctx, "writer 1", 1000, vectorstores.WithNameSpace("w1"))
	if err != nil || len(docs) != 200 {
		t.Fatalf("%d documents in w1, want 200: %v", len(docs), err)
	}
}
