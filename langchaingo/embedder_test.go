package engramlc

import (
	"context"
	"errors"
	"math"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/engram-go/engram"
	"github.com/engram-go/engram/embed"
	"github.com/tmc/langchaingo/embeddings"
)

// engramEmbedder is the root package's interface (engram.Embedder), spelled out so this
// module compiles against today's root package too.
type engramEmbedder interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	Dimension() int
	Name() string
}

var _ engramEmbedder = (*Embedder)(nil)

func TestEmbedderAdapter(t *testing.T) {
	ctx := context.Background()
	f := newFake()
	a := NewEmbedder(f, WithName("fake:bow-32"))
	if a.Name() != "fake:bow-32" || a.Dimension() != 0 {
		t.Fatalf("before a call: %q %d", a.Name(), a.Dimension())
	}
	vecs, err := a.Embed(ctx, []string{"green tea", "black coffee"})
	if err != nil || len(vecs) != 2 || !slices.Equal(vecs[0], f.vector("green tea")) {
		t.Fatalf("%v %v", vecs, err)
	}
	if a.Dimension() != 32 {
		t.Fatalf("dimension not learnt: %d", a.Dimension())
	}
	if got, err := a.Embed(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("empty: %v %v", got, err)
	}
	if NewEmbedder(f).Name() != "" {
		t.Fatal("unnamed adapter invented a name")
	}
}

// TestEmbedderAdapterDoesNotModifyTexts: langchaingo's EmbedderImpl strips newlines in the
// caller's slice; the adapter hands it a copy.
func TestEmbedderAdapterDoesNotModifyTexts(t *testing.T) {
	f := newFake()
	impl, err := embeddings.NewEmbedder(embeddings.EmbedderClientFunc(f.EmbedDocuments))
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{"line one\nline two"}
	if _, err := NewEmbedder(impl).Embed(context.Background(), texts); err != nil {
		t.Fatal(err)
	}
	if texts[0] != "line one\nline two" {
		t.Fatalf("caller's text changed to %q", texts[0])
	}
}

type badEmbedder struct {
	vecs [][]float32
	err  error
}

func (b badEmbedder) EmbedDocuments(context.Context, []string) ([][]float32, error) {
	return b.vecs, b.err
}
func (b badEmbedder) EmbedQuery(context.Context, string) ([]float32, error) { return nil, b.err }

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

var _ net.Error = timeoutErr{}

func TestEmbedderAdapterErrors(t *testing.T) {
	ctx := context.Background()
	two := []string{"a", "b"}
	for name, c := range map[string]struct {
		e         badEmbedder
		opts      []EmbedderOption
		msg       string
		retryable bool
	}{
		"call failed":   {e: badEmbedder{err: errors.New("HTTP 401: bad key")}, msg: "bad key"},
		"timeout":       {e: badEmbedder{err: timeoutErr{}}, msg: "i/o timeout", retryable: true},
		"classified":    {e: badEmbedder{err: errors.New("429 too many requests")}, opts: []EmbedderOption{WithRetryable(func(err error) bool { return strings.Contains(err.Error(), "429") })}, msg: "429", retryable: true},
		"count":         {e: badEmbedder{vecs: [][]float32{{1, 2}}}, msg: "1 vectors for 2 texts"},
		"empty vector":  {e: badEmbedder{vecs: [][]float32{{1, 2}, {}}}, msg: "empty vector for text 1"},
		"mixed dims":    {e: badEmbedder{vecs: [][]float32{{1, 2}, {1, 2, 3}}}, msg: "text 1: dimension 3, want 2"},
		"declared dim":  {e: badEmbedder{vecs: [][]float32{{1, 2}, {3, 4}}}, opts: []EmbedderOption{WithDimension(3)}, msg: "text 0: dimension 2, want 3"},
		"NaN component": {e: badEmbedder{vecs: [][]float32{{1, 2}, {float32(math.NaN()), 1}}}, msg: "non-finite"},
	} {
		a := NewEmbedder(c.e, append(c.opts, WithName("bad"))...)
		_, err := a.Embed(ctx, two)
		var ee *embed.Error
		if !errors.As(err, &ee) || ee.Embedder != "bad" {
			t.Errorf("%s: %T %v, want *embed.Error", name, err, err)
			continue
		}
		if !strings.Contains(err.Error(), c.msg) || embed.IsRetryable(err) != c.retryable {
			t.Errorf("%s: %v (retryable %v), want %q retryable %v", name, err, embed.IsRetryable(err), c.msg, c.retryable)
		}
		if c.e.err != nil && !errors.Is(err, c.e.err) {
			t.Errorf("%s: cause not wrapped", name)
		}
	}
	// A learnt dimension holds for later calls.
	f := newFake()
	a := NewEmbedder(f)
	a.Embed(ctx, two)
	f.dim = 16
	if _, err := a.Embed(ctx, two); err == nil || !strings.Contains(err.Error(), "dimension 16, want 32") {
		t.Fatalf("changed dimension: %v", err)
	}
	if d := NewEmbedder(f, WithDimension(16)).Dimension(); d != 16 {
		t.Fatalf("declared dimension %d", d)
	}
	// An ended context is reported as such, not as an embedding failure.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := NewEmbedder(newFake()).Embed(cctx, two); err != context.Canceled {
		t.Fatalf("canceled: %v", err)
	}
}

// The adapter with today's root API: the application embeds, then stores.
func TestEmbedderAdapterWithEngram(t *testing.T) {
	ctx := context.Background()
	es := openStore(t)
	sp, err := es.Space(ctx, "notes")
	if err != nil {
		t.Fatal(err)
	}
	a := NewEmbedder(newFake(), WithName("fake"))
	texts := []string{"green tea in the afternoon", "black coffee in the morning"}
	vecs, err := a.Embed(ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	mems := []engram.Memory{{Content: texts[0], Embedding: vecs[0]}, {Content: texts[1], Embedding: vecs[1]}}
	if res, err := sp.BatchRemember(ctx, mems); err != nil || res.Stored != 2 {
		t.Fatalf("%v %v", res, err)
	}
	q, _ := a.Embed(ctx, []string{"coffee in the morning"})
	hits, err := sp.Recall(ctx, engram.Query{Embedding: q[0], K: 1})
	if err != nil || hits[0].Memory.Content != texts[1] {
		t.Fatalf("%+v %v", hits, err)
	}
}
