package engramlc

import (
	"context"
	"errors"
	"hash/fnv"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"unicode"

	"github.com/engram-go/engram"
)

// fakeEmbedder is a deterministic langchaingo embeddings.Embedder for tests: a bag of
// words hashed into dim buckets (so texts sharing words are similar), plus a small constant
// component so no text embeds to zero. It can be told to fail.
type fakeEmbedder struct {
	dim int

	mu        sync.Mutex
	failCall  int // EmbedDocuments call number (1-based) that fails; 0 = none
	failErr   error
	dropOne   bool // return one vector too few
	calls     atomic.Int64
	texts     atomic.Int64
	lastBatch atomic.Int64
}

func newFake() *fakeEmbedder { return &fakeEmbedder{dim: 32} }

func (f *fakeEmbedder) vector(text string) []float32 {
	v := make([]float32, f.dim)
	v[0] = 0.01
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		h := fnv.New64a()
		h.Write([]byte(w))
		v[1+int(h.Sum64()%uint64(f.dim-1))]++
	}
	return v
}

func (f *fakeEmbedder) EmbedDocuments(ctx context.Context, texts []string) ([][]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n := f.calls.Add(1)
	f.texts.Add(int64(len(texts)))
	f.lastBatch.Store(int64(len(texts)))
	f.mu.Lock()
	failCall, failErr, drop := f.failCall, f.failErr, f.dropOne
	f.mu.Unlock()
	if failCall != 0 && int(n) == failCall {
		if failErr == nil {
			failErr = errors.New("fake: service unavailable")
		}
		return nil, failErr
	}
	out := make([][]float32, len(texts))
	for i, t := range texts {
		out[i] = f.vector(t)
	}
	if drop && len(out) > 0 {
		out = out[:len(out)-1]
	}
	return out, nil
}

func (f *fakeEmbedder) EmbedQuery(ctx context.Context, text string) ([]float32, error) {
	v, err := f.EmbedDocuments(ctx, []string{text})
	if err != nil {
		return nil, err
	}
	return v[0], nil
}

func openStore(t testing.TB) *engram.Store {
	t.Helper()
	s, err := engram.Open(filepath.Join(t.TempDir(), "m.db"), engram.WithNoSync())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
