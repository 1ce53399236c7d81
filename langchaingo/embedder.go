package engramlc

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"sync/atomic"

	"github.com/engram-go/engram/embed"
	"github.com/tmc/langchaingo/embeddings"
)

// Embedder makes a langchaingo embeddings.Embedder usable as an engram embedder
// (engram.Embedder: Embed, and the optional Dimension and Name). It is safe for concurrent
// use if the wrapped embedder is.
type Embedder struct {
	e         embeddings.Embedder
	name      string
	dim       atomic.Int64 // fixed by WithDimension, else learnt from the first answer
	fixedDim  bool
	retryable func(error) bool
}

// EmbedderOption configures NewEmbedder.
type EmbedderOption func(*Embedder)

// WithName sets the stable name Name returns. Name it after the model and its settings
// ("openai:text-embedding-3-small:1536"): a space records the name and refuses vectors
// from an embedder with another, which is what keeps two models' vectors apart.
func WithName(name string) EmbedderOption { return func(a *Embedder) { a.name = name } }

// WithDimension declares the vectors' dimension: Dimension returns it before any call, and
// Embed fails when the wrapped embedder returns another.
func WithDimension(d int) EmbedderOption {
	return func(a *Embedder) {
		if d > 0 {
			a.dim.Store(int64(d))
			a.fixedDim = true
		}
	}
}

// WithRetryable classifies the wrapped embedder's errors: those for which f returns true
// are reported retryable (rate limits, server errors). langchaingo's errors carry no
// status, so by default only network timeouts are.
func WithRetryable(f func(error) bool) EmbedderOption {
	return func(a *Embedder) { a.retryable = f }
}

// NewEmbedder wraps e.
func NewEmbedder(e embeddings.Embedder, opts ...EmbedderOption) *Embedder {
	a := &Embedder{e: e, retryable: isTimeout}
	for _, o := range opts {
		o(a)
	}
	return a
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Name returns the name set with WithName, "" when none was: the adapter cannot know which
// model the wrapped embedder runs.
func (a *Embedder) Name() string { return a.name }

// Dimension returns the dimension set with WithDimension, else the one of the first
// successful Embed, 0 before it.
func (a *Embedder) Dimension() int { return int(a.dim.Load()) }

// Embed calls EmbedDocuments and checks its answer: one vector per text, all of the same
// (and the declared or learnt) dimension, with finite components. A failed call or a
// malformed answer fails the whole call with an *embed.Error (langchaingo embedders have
// no per-text failures); ctx's end is returned as ctx's error.
func (a *Embedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if len(texts) == 0 {
		return [][]float32{}, nil
	}
	// langchaingo's EmbedderImpl may rewrite the slice it is given (StripNewLines).
	in := append([]string(nil), texts...)
	vecs, err := a.e.EmbedDocuments(ctx, in)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return nil, ctx.Err()
		}
		return nil, &embed.Error{Embedder: a.label(), Retryable: a.retryable(err), Msg: "EmbedDocuments", Err: err}
	}
	if len(vecs) != len(texts) {
		return nil, a.bad("%d vectors for %d texts", len(vecs), len(texts))
	}
	want := int(a.dim.Load())
	for i, v := range vecs {
		if len(v) == 0 {
			return nil, a.bad("empty vector for text %d", i)
		}
		if want == 0 {
			want = len(v)
		}
		if len(v) != want {
			return nil, a.bad("text %d: dimension %d, want %d", i, len(v), want)
		}
		for _, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return nil, a.bad("text %d: non-finite component %v", i, x)
			}
		}
	}
	if !a.fixedDim {
		a.dim.CompareAndSwap(0, int64(want))
	}
	return vecs, nil
}

func (a *Embedder) bad(format string, args ...any) error {
	return &embed.Error{Embedder: a.label(), Msg: "malformed answer: " + fmt.Sprintf(format, args...)}
}

func (a *Embedder) label() string {
	if a.name != "" {
		return a.name
	}
	return "langchaingo"
}
