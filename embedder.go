package engram

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/engram-go/engram/embed"
	"github.com/engram-go/engram/internal/codec"
	"github.com/engram-go/engram/vector"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sync/errgroup"
)

// Embedder turns texts into embeddings: one vector per text, in order, all of one length.
// When some texts fail and others do not, it returns the vectors of the good ones (nil
// rows for the failed) with an embed.TextErrors naming the failed positions; any other
// error fails the whole call. Errors say whether a retry may succeed (embed.Error's
// Retryable). Package embed and its subpackages hold ready embedders (embed/hash,
// embed/glove, embed/openai, embed/ollama); any function of this shape can be one.
type Embedder interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}

// EmbedderInfo is what an Embedder may also tell: the length of its vectors (0 when not
// known before the first answer) and a stable name that changes whenever its vectors
// would (model, dimension, version). A space records the name of the first named
// embedder attached to it and refuses another name later with INVALID_OPTION: vectors of
// two models in one space do not compare. An empty name is neither recorded nor checked.
type EmbedderInfo interface {
	Dimension() int
	Name() string
}

// EmbedderFunc adapts a function to the Embedder interface.
type EmbedderFunc func(ctx context.Context, texts []string) ([][]float32, error)

// Embed calls f.
func (f EmbedderFunc) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	return f(ctx, texts)
}

// Defaults of the embedding options.
const (
	DefaultEmbedChunk     = 256  // texts per Embed call
	DefaultQueryCacheSize = 1024 // query texts whose embeddings Recall keeps
)

// WithEmbedder attaches e to the space, in this process (the embedder is code, not data:
// pass it again whenever the store is opened). In such a space a Memory with no Embedding
// and non-empty Content is embedded inside BatchRemember (and so Remember, Archive,
// Restore, batchers, streams, RememberAll and RememberMixed): one Embed call per chunk of
// texts (WithEmbedChunk), chunks in parallel (WithEmbedParallelism), and an item whose
// text the embedder rejects fails alone with EMBEDDING_FAILED (retryable when the
// embedder says so). Memories that bring their own embedding skip the embedder. Recall
// takes Query.Text. The embedder's name and dimension (EmbedderInfo) are recorded in the
// space; a different name later is refused with INVALID_OPTION, a different dimension
// with DIMENSION_MISMATCH.
func WithEmbedder(e Embedder) SpaceOption {
	return func(o *spaceOptions) error {
		if e == nil {
			return fmt.Errorf("nil embedder")
		}
		o.embedder = e
		return nil
	}
}

// WithEmbedChunk sets how many texts go into one Embed call (default DefaultEmbedChunk).
// Larger chunks amortize a remote embedder's request overhead; smaller ones spread a
// batch over more parallel calls.
func WithEmbedChunk(n int) SpaceOption {
	return func(o *spaceOptions) error {
		if n < 1 {
			return fmt.Errorf("embed chunk must be positive, got %d", n)
		}
		o.embedChunk = n
		return nil
	}
}

// WithEmbedParallelism bounds the Embed calls one batch runs at once (default GOMAXPROCS:
// right for an embedder that computes; raise it for a remote one that waits).
func WithEmbedParallelism(n int) SpaceOption {
	return func(o *spaceOptions) error {
		if n < 1 {
			return fmt.Errorf("embed parallelism must be positive, got %d", n)
		}
		o.embedParallel = n
		return nil
	}
}

// WithQueryCache sets how many query texts Recall keeps the embeddings of (least
// recently used first out; default DefaultQueryCacheSize, 0 turns the cache off).
func WithQueryCache(n int) SpaceOption {
	return func(o *spaceOptions) error {
		if n < 0 {
			return fmt.Errorf("negative query cache size %d", n)
		}
		o.queryCache, o.queryCacheSet = n, true
		return nil
	}
}

// embedding is an embedder attached to a space, with its settings.
type embedding struct {
	e        Embedder
	name     string
	chunk    int
	parallel int
	cache    *queryCache
}

func newEmbedding(so spaceOptions) *embedding {
	em := &embedding{e: so.embedder, chunk: DefaultEmbedChunk, parallel: runtime.GOMAXPROCS(0)}
	if info, ok := so.embedder.(EmbedderInfo); ok {
		em.name = info.Name()
	}
	if so.embedChunk > 0 {
		em.chunk = so.embedChunk
	}
	if so.embedParallel > 0 {
		em.parallel = so.embedParallel
	}
	size := DefaultQueryCacheSize
	if so.queryCacheSet {
		size = so.queryCache
	}
	if size > 0 {
		em.cache = newQueryCache(size)
	}
	return em
}

// embedderDim returns the dimension the attached embedder declares, 0 when unknown.
func embedderDim(e Embedder) int {
	if info, ok := e.(EmbedderInfo); ok {
		return max(info.Dimension(), 0)
	}
	return 0
}

// needsEmbedding reports whether the store embeds m: no embedding, some content.
func needsEmbedding(m *Memory) bool { return len(m.Embedding) == 0 && m.Content != "" }

// embedMemories embeds the memories that need it (needsEmbedding) with the space's
// embedder. It returns the memories to store — mems itself when nothing was embedded,
// else a copy with the new embeddings (the caller's slice is not modified) — and, per
// item, the failure of its embedding (nil when embedded or not needed).
func (sp *Space) embedMemories(ctx context.Context, mems []Memory, op Op) ([]Memory, []*Error) {
	em := sp.embedder.Load()
	if em == nil {
		return mems, nil
	}
	var idx []int
	for i := range mems {
		if needsEmbedding(&mems[i]) {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return mems, nil
	}
	texts := make([]string, len(idx))
	for j, i := range idx {
		texts[j] = mems[i].Content
	}
	vecs, errs := sp.embedTexts(ctx, em, texts, op)
	out := make([]Memory, len(mems))
	copy(out, mems)
	fails := make([]*Error, len(mems))
	for j, i := range idx {
		if errs[j] != nil {
			e := *errs[j]
			e.Item, e.ID = i, mems[i].ID
			fails[i] = &e
			continue
		}
		out[i].Embedding = vecs[j]
	}
	return out, fails
}

// embedTexts embeds texts with em in chunks, up to em.parallel chunks at once, and returns
// per text its vector or its failure. Every vector returned is checked: the space's
// dimension (when fixed), one length across the call, finite and not zero — an embedder's
// bad answer fails its texts with EMBEDDING_FAILED, not the caller's memories with
// INVALID_EMBEDDING.
func (sp *Space) embedTexts(ctx context.Context, em *embedding, texts []string, op Op) ([][]float32, []*Error) {
	vecs := make([][]float32, len(texts))
	errs := make([]*Error, len(texts))
	var g errgroup.Group
	g.SetLimit(em.parallel)
	for off := 0; off < len(texts); off += em.chunk {
		end := min(off+em.chunk, len(texts))
		g.Go(func() error {
			sp.embedChunk(ctx, em, texts[off:end], vecs[off:end], errs[off:end], op)
			return nil
		})
	}
	_ = g.Wait()
	// One length across the whole batch: chunks answered by different model versions (a
	// server redeployed mid-batch) must not mix.
	dim, _, _ := sp.state()
	for i, v := range vecs {
		if v == nil || errs[i] != nil {
			continue
		}
		if dim == 0 {
			dim = len(v)
		}
		if len(v) != dim {
			errs[i] = embedFailed(op, sp.name, fmt.Sprintf("the embedder returned a vector of %d dimensions, the space takes %d", len(v), dim), nil, false, 0)
			vecs[i] = nil
		}
	}
	return vecs, errs
}

// embedChunk runs one Embed call and sorts its outcome into vecs and errs.
func (sp *Space) embedChunk(ctx context.Context, em *embedding, texts []string, vecs [][]float32, errs []*Error, op Op) {
	start := time.Now()
	got, err := em.e.Embed(ctx, texts)
	elapsed := time.Since(start)
	var textErrs embed.TextErrors
	switch {
	case err == nil && len(got) != len(texts):
		err = fmt.Errorf("the embedder returned %d vectors for %d texts", len(got), len(texts))
		fallthrough
	case err != nil && !errors.As(err, &textErrs):
		var e *Error
		if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
			e = ctxErr(op, sp.name, ctx.Err())
		} else {
			e = embedFailed(op, sp.name, "", err, embed.IsRetryable(err), embed.RetryAfterOf(err))
		}
		for i := range errs {
			errs[i] = e
		}
	default:
		if len(got) != len(texts) {
			got = append(got, make([][]float32, len(texts)-min(len(got), len(texts)))...)
		}
		for i := range texts {
			if terr, failed := textErrs[i]; failed {
				errs[i] = embedFailed(op, sp.name, "", terr, embed.IsRetryable(terr), embed.RetryAfterOf(terr))
				continue
			}
			v := got[i]
			if verr := vector.Validate(v); verr != nil {
				errs[i] = embedFailed(op, sp.name, "the embedder returned an unusable vector", verr, false, 0)
				continue
			}
			vecs[i] = v
		}
	}
	failed := make([]ItemResult, 0)
	for _, e := range errs {
		if e != nil {
			failed = append(failed, ItemResult{Err: e})
		}
	}
	sp.metrics.observe(OpEmbed, len(texts), elapsed, nil, failed)
}

// embedFailed builds an EMBEDDING_FAILED error whose retryability is the embedder's say.
func embedFailed(op Op, space, msg string, cause error, retryable bool, after time.Duration) *Error {
	e := newErr(CodeEmbeddingFailed, op, space, msg, cause)
	if retryable {
		e.retry = retryYes
		e.RetryAfter = after
	}
	return e
}

// embedQueries returns the cue vectors of texts, from the query cache where it has them,
// embedding the rest in one call per chunk.
func (sp *Space) embedQueries(ctx context.Context, em *embedding, texts []string) ([][]float32, []*Error) {
	out := make([][]float32, len(texts))
	errs := make([]*Error, len(texts))
	var miss []string
	var at []int
	for i, t := range texts {
		if v, ok := em.cache.get(t); ok {
			out[i] = v
			continue
		}
		miss = append(miss, t)
		at = append(at, i)
	}
	if len(miss) == 0 {
		return out, errs
	}
	vecs, verrs := sp.embedTexts(ctx, em, miss, OpRecall)
	for j, i := range at {
		if verrs[j] != nil {
			errs[i] = verrs[j]
			continue
		}
		out[i] = vecs[j]
		em.cache.put(miss[j], vecs[j])
	}
	return out, errs
}

// queryCache is a small LRU of query texts' embeddings: agents ask the same questions
// again, and a remote embedder's round trip costs more than the recall. Safe for
// concurrent use; a nil cache holds nothing.
type queryCache struct {
	mu    sync.Mutex
	size  int
	order *list.List // front = most recently used; elements hold *cacheEntry
	byKey map[string]*list.Element
	hits  atomic.Uint64
}

type cacheEntry struct {
	text string
	vec  []float32
}

func newQueryCache(size int) *queryCache {
	return &queryCache{size: size, order: list.New(), byKey: make(map[string]*list.Element, size)}
}

func (c *queryCache) get(text string) ([]float32, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[text]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(el)
	c.hits.Add(1)
	return el.Value.(*cacheEntry).vec, true
}

func (c *queryCache) put(text string, vec []float32) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[text]; ok {
		el.Value.(*cacheEntry).vec = vec
		c.order.MoveToFront(el)
		return
	}
	c.byKey[text] = c.order.PushFront(&cacheEntry{text, vec})
	if c.order.Len() > c.size {
		old := c.order.Back()
		c.order.Remove(old)
		delete(c.byKey, old.Value.(*cacheEntry).text)
	}
}

// embedderName returns e's name, "" when it has none.
func embedderName(e Embedder) string {
	if info, ok := e.(EmbedderInfo); ok {
		return info.Name()
	}
	return ""
}

// attachEmbedder attaches the embedder of so to an existing space (checkOptions has
// checked it fits), recording its name and dimension if the space has none recorded yet.
// Called with the store's mutex held, like every Space call.
func (sp *Space) attachEmbedder(ctx context.Context, so spaceOptions) error {
	name, dim := embedderName(so.embedder), embedderDim(so.embedder)
	cfg := sp.config()
	if name != "" && cfg.Ext.EmbedderName == "" && !sp.store.opts.readOnly {
		err := sp.store.update(ctx, func(tx *bolt.Tx) error {
			c, err := codec.DecodeConfig(tx.Bucket(bucketSpaces).Get([]byte(sp.name)))
			if err != nil {
				return newErr(CodeCorrupt, OpSpace, sp.name, "space config", err)
			}
			c.Ext.EmbedderName, c.Ext.EmbedderDim = name, max(c.Dim, dim)
			cfg = c
			return putConfig(tx, sp.name, c)
		})
		if err != nil {
			return storageErr(OpSpace, sp.name, err)
		}
		sp.mu.Lock()
		sp.cfg.Ext = cfg.Ext
		sp.mu.Unlock()
	}
	sp.embedder.Store(newEmbedding(so))
	return nil
}
