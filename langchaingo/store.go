// Package engramlc connects engram to langchaingo (github.com/tmc/langchaingo), the Go LLM
// framework: Store is a langchaingo vectorstores.VectorStore kept in an engram store, and
// Embedder makes any langchaingo embeddings.Embedder usable as an engram embedder.
//
// It is its own module (github.com/engram-go/engram/langchaingo), so the engram library
// does not depend on langchaingo:
//
//	vs, err := engramlc.New(store, engramlc.WithEmbedder(e))
//	ids, err := vs.AddDocuments(ctx, docs)
//	docs, err := vs.SimilaritySearch(ctx, "what does Ada drink?", 4,
//		vectorstores.WithScoreThreshold(0.5),
//		vectorstores.WithFilters(map[string]any{"author": "ada"}))
//
// Namespaces are engram spaces; a document is a memory whose Content is the page content,
// whose Embedding comes from the langchaingo embedder and whose Metadata is the document's
// metadata, stringified (see Stringify; the types come back on search).
package engramlc

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/engram-go/engram"
	"github.com/tmc/langchaingo/embeddings"
	"github.com/tmc/langchaingo/schema"
	"github.com/tmc/langchaingo/vectorstores"
)

// DefaultSpace is the space of documents added or searched without a namespace.
const DefaultSpace = "langchaingo"

// DefaultBatchSize is how many documents one EmbedDocuments call and one engram batch
// hold: large enough that the fsync of a durable batch is amortized over many documents,
// small enough that embedding the next batch overlaps the commit of this one.
const DefaultBatchSize = 256

// Store is a langchaingo vectorstores.VectorStore over an engram store. It is safe for
// concurrent use.
type Store struct {
	store     *engram.Store
	embedder  embeddings.Embedder
	space     string
	spaceOpts []engram.SpaceOption
	batch     int
	idKey     string
}

var _ vectorstores.VectorStore = (*Store)(nil)

// Option configures New.
type Option func(*Store) error

// WithEmbedder sets the langchaingo embedder of documents and queries. A call's own
// vectorstores.WithEmbedder overrides it; one of the two is required.
func WithEmbedder(e embeddings.Embedder) Option {
	return func(s *Store) error {
		if e == nil {
			return errors.New("engramlc: WithEmbedder(nil)")
		}
		s.embedder = e
		return nil
	}
}

// WithSpace sets the space of calls without vectorstores.WithNameSpace (default
// DefaultSpace). Space names are engram's: 1 to 64 of a-z, 0-9, '_' and '-'.
func WithSpace(name string) Option {
	return func(s *Store) error {
		s.space = name
		return nil
	}
}

// WithSpaceOptions are applied when AddDocuments creates a space (for instance
// engram.WithIndex or engram.WithDimension); for an existing space they must agree with
// its configuration.
func WithSpaceOptions(opts ...engram.SpaceOption) Option {
	return func(s *Store) error {
		s.spaceOpts = append(s.spaceOpts, opts...)
		return nil
	}
}

// WithBatchSize sets how many documents go into one EmbedDocuments call and one
// BatchRemember (default DefaultBatchSize).
func WithBatchSize(n int) Option {
	return func(s *Store) error {
		if n <= 0 {
			return fmt.Errorf("engramlc: WithBatchSize(%d): want at least 1", n)
		}
		s.batch = n
		return nil
	}
}

// WithIDKey names the metadata key that carries a document's ID (default "id", as
// langchaingo's cloudsql and alloydb stores read it). A document whose metadata has it
// is stored under that ID, replacing an earlier memory with the same ID; search results
// always carry their memory's ID under it.
func WithIDKey(key string) Option {
	return func(s *Store) error {
		if key == "" || key == TypesKey {
			return fmt.Errorf("engramlc: WithIDKey(%q): want a non-empty, unreserved key", key)
		}
		s.idKey = key
		return nil
	}
}

// New returns a vector store keeping its documents in store. The store stays the
// caller's: close it when done.
func New(store *engram.Store, opts ...Option) (*Store, error) {
	if store == nil {
		return nil, errors.New("engramlc: nil engram store")
	}
	s := &Store{store: store, space: DefaultSpace, batch: DefaultBatchSize, idKey: "id"}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *Store) options(opts []vectorstores.Option) (vectorstores.Options, embeddings.Embedder, string, error) {
	var o vectorstores.Options
	for _, opt := range opts {
		opt(&o)
	}
	e := s.embedder
	if o.Embedder != nil {
		e = o.Embedder
	}
	if e == nil {
		return o, nil, "", errors.New("engramlc: no embedder (use engramlc.WithEmbedder or vectorstores.WithEmbedder)")
	}
	space := s.space
	if o.NameSpace != "" {
		space = o.NameSpace
	}
	return o, e, space, nil
}

// AddDocuments embeds the documents' page contents with the embedder in batches
// (WithBatchSize), embedding the next batch while the previous one commits, and stores
// each batch with one engram BatchRemember in the namespace's space (created if needed).
// It returns one ID per document, in order: the metadata ID (WithIDKey) when given, else
// a generated one; "" for a document skipped by vectorstores.WithDeduplicater or not
// stored.
//
// A document engram rejects (metadata over its limits, invalid UTF-8, ...) or whose
// metadata cannot be stringified does not stop the others; AddDocuments then returns the
// IDs with an *AddError naming every document not stored and why. A failed EmbedDocuments
// call or a failed commit stops at that batch: earlier batches stay stored, and the error
// names the documents that were not. Score thresholds and filters are search options and
// are refused here.
func (s *Store) AddDocuments(ctx context.Context, docs []schema.Document, options ...vectorstores.Option) ([]string, error) {
	o, e, spaceName, err := s.options(options)
	if err != nil {
		return nil, err
	}
	if o.ScoreThreshold != 0 || o.Filters != nil {
		return nil, errors.New("engramlc: AddDocuments does not take a score threshold or filters")
	}
	ids := make([]string, len(docs))
	pending := make([]int, 0, len(docs)) // positions to store
	failed := map[int]error{}
	mems := make([]engram.Memory, len(docs))
	for i, d := range docs {
		if o.Deduplicater != nil && o.Deduplicater(ctx, d) {
			continue
		}
		md, err := toEngram(d.Metadata)
		if err != nil {
			failed[i] = err
			continue
		}
		mems[i] = engram.Memory{ID: md[s.idKey], Content: d.PageContent, Metadata: md}
		pending = append(pending, i)
	}
	if len(pending) == 0 {
		return ids, addError(failed, 0, len(docs))
	}
	sp, err := s.store.Space(ctx, spaceName, s.spaceOpts...)
	if err != nil {
		return nil, err
	}
	stored := 0
	err = s.pipeline(ctx, e, mems, pending, func(batch []int, res *engram.BatchResult) {
		for j, it := range res.Items {
			if it.Err != nil {
				failed[batch[j]] = it.Err
				continue
			}
			ids[batch[j]] = it.ID
			stored++
		}
	}, sp)
	if err != nil {
		for _, i := range pending {
			if ids[i] == "" && failed[i] == nil {
				failed[i] = err
			}
		}
	}
	return ids, addError(failed, stored, len(docs))
}

// pipeline embeds batch n+1 while batch n is being remembered. done runs on the caller's
// goroutine, in batch order.
func (s *Store) pipeline(ctx context.Context, e embeddings.Embedder, mems []engram.Memory, pending []int,
	done func(batch []int, res *engram.BatchResult), sp *engram.Space) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type embedded struct {
		batch []int
		err   error
	}
	ch := make(chan embedded, 1)
	go func() {
		defer close(ch)
		for lo := 0; lo < len(pending); lo += s.batch {
			batch := pending[lo:min(lo+s.batch, len(pending))]
			texts := make([]string, len(batch))
			for j, i := range batch {
				texts[j] = mems[i].Content
			}
			vecs, err := e.EmbedDocuments(ctx, texts)
			if err == nil && len(vecs) != len(batch) {
				err = fmt.Errorf("embedder returned %d vectors for %d documents", len(vecs), len(batch))
			}
			if err == nil {
				for j, i := range batch {
					mems[i].Embedding = vecs[j]
				}
			} else {
				err = fmt.Errorf("engramlc: embed documents: %w", err)
			}
			select {
			case ch <- embedded{batch, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for b := range ch {
		if b.err != nil {
			return b.err
		}
		batch := make([]engram.Memory, len(b.batch))
		for j, i := range b.batch {
			batch[j] = mems[i]
		}
		res, err := sp.BatchRemember(ctx, batch)
		if err != nil {
			return err
		}
		done(b.batch, res)
	}
	return ctx.Err()
}

// AddError reports the documents of an AddDocuments call that were not stored.
type AddError struct {
	// Failed maps a document's position to why it was not stored: an *engram.Error with
	// the memory's code, a metadata conversion error, or the error that stopped the call.
	Failed map[int]error
	// Stored counts the documents that were stored.
	Stored, Total int
}

func addError(failed map[int]error, stored, total int) error {
	if len(failed) == 0 {
		return nil
	}
	return &AddError{Failed: failed, Stored: stored, Total: total}
}

func (e *AddError) Error() string {
	pos := make([]int, 0, len(e.Failed))
	for i := range e.Failed {
		pos = append(pos, i)
	}
	sort.Ints(pos)
	var b strings.Builder
	fmt.Fprintf(&b, "engramlc: %d of %d documents not stored", len(pos), e.Total)
	for n, i := range pos {
		if n == 5 {
			fmt.Fprintf(&b, "; and %d more", len(pos)-5)
			break
		}
		fmt.Fprintf(&b, "; document %d: %v", i, e.Failed[i])
	}
	return b.String()
}

// Unwrap gives errors.Is and errors.As the documents' errors (errors.Is(err,
// engram.ErrMetadataTooLarge), for instance).
func (e *AddError) Unwrap() []error {
	out := make([]error, 0, len(e.Failed))
	for _, err := range e.Failed {
		out = append(out, err)
	}
	return out
}

// SimilaritySearch embeds query with the embedder (EmbedQuery) and returns up to
// numDocuments documents of the namespace's space, most similar first, with Score the
// cosine similarity and the metadata as added (non-string values JSON-typed, see
// Stringify) plus the memory's ID under the ID key. A namespace that has no space yet has
// no documents.
//
// vectorstores.WithScoreThreshold(t) keeps documents of similarity ≥ t (t in [-1, 1]; 0,
// the option's zero value, keeps all); vectorstores.WithFilters takes a map[string]any
// (or map[string]string) of exact metadata matches, all of which must hold; other filter
// shapes fail with ErrUnsupportedFilter.
func (s *Store) SimilaritySearch(ctx context.Context, query string, numDocuments int, options ...vectorstores.Option) ([]schema.Document, error) {
	o, e, spaceName, err := s.options(options)
	if err != nil {
		return nil, err
	}
	if o.ScoreThreshold < -1 || o.ScoreThreshold > 1 {
		return nil, fmt.Errorf("engramlc: score threshold %v outside [-1, 1]", o.ScoreThreshold)
	}
	filter, err := filterOf(o.Filters)
	if err != nil {
		return nil, err
	}
	if numDocuments < 1 {
		return nil, fmt.Errorf("engramlc: numDocuments %d, want at least 1", numDocuments)
	}
	sp, err := s.store.LookupSpace(spaceName)
	if errors.Is(err, engram.ErrSpaceNotFound) {
		return []schema.Document{}, nil
	}
	if err != nil {
		return nil, err
	}
	vec, err := e.EmbedQuery(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("engramlc: embed query: %w", err)
	}
	minSim := o.ScoreThreshold
	if minSim == 0 {
		minSim = -1
	}
	hits, err := sp.Recall(ctx, engram.Query{
		Embedding: vec, K: numDocuments, MinSimilarity: minSim, Metadata: filter,
		// langchaingo ranks by similarity: engram's confidence has no langchaingo meaning.
		SimilarityOnly: true,
	})
	if err != nil {
		return nil, err
	}
	docs := make([]schema.Document, len(hits))
	for i, h := range hits {
		md := fromEngram(h.Memory.Metadata)
		md[s.idKey] = h.Memory.ID
		docs[i] = schema.Document{PageContent: h.Memory.Content, Metadata: md, Score: h.Similarity}
	}
	return docs, nil
}
