package hash

import (
	"context"
	"fmt"
	"math"
	"sync"
	"unicode/utf8"

	"github.com/engram-go/engram/embed"
)

// Version is the feature-hashing scheme's version, part of Name: it changes whenever a
// change to this package would change the vector of some text.
const Version = 1

// Feature weights before normalization: a word counts 1, its character n-grams together
// count as much as the word, a word pair half as much (pairs say "these words were
// adjacent", a weaker statement about meaning than the words themselves).
const (
	wordWeight = 1.0
	pairWeight = 0.5
	charWeight = 1.0
)

// Embedder embeds texts by feature hashing. It is safe for concurrent use and needs no
// network, model or data file; the same text always gets the same vector, on every
// platform, from every Embedder with equal options.
type Embedder struct {
	cfg   config
	basis [numKinds]uint64
	name  string
	pool  sync.Pool // *scratch
}

// New returns an embedder configured by opts; an invalid option gives an
// *embed.OptionError (errors.Is(err, embed.ErrInvalidOption)).
func New(opts ...Option) (*Embedder, error) {
	cfg := defaults()
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	e := &Embedder{cfg: cfg, basis: bases(cfg.seed)}
	chars := "none"
	if cfg.charMax > 0 {
		chars = fmt.Sprintf("%d-%d", cfg.charMin, cfg.charMax)
	}
	e.name = fmt.Sprintf("hash:v%d;dim=%d;words=1-%d;chars=%s;seed=%d", Version, cfg.dim, cfg.wordN, chars, cfg.seed)
	e.pool.New = func() any { return new(scratch) }
	return e, nil
}

// Dimension returns the length of every vector the embedder returns.
func (e *Embedder) Dimension() int { return e.cfg.dim }

// Name identifies the embedder's vectors: "hash:v1;dim=384;words=1-2;chars=3-5;seed=0"
// with the defaults. Two embedders with the same name give the same vector to every text.
func (e *Embedder) Name() string { return e.name }

// Embed returns one L2-normalized vector per text, in order. A text that is empty, not
// valid UTF-8, longer than the text limit, or without a letter or digit gets no vector (a
// nil row) and an entry in the returned embed.TextErrors, a permanent *embed.Error; the
// other texts are embedded. An empty list is an error. The vectors share one backing
// array (each is capped at its own length, so appending to one never overwrites another).
func (e *Embedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if len(texts) == 0 {
		return nil, &embed.Error{Embedder: "hash", Msg: "no texts to embed"}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dim := e.cfg.dim
	backing := make([]float32, len(texts)*dim)
	out := make([][]float32, len(texts))
	var failed embed.TextErrors
	s := e.pool.Get().(*scratch)
	defer e.pool.Put(s)
	for i, text := range texts {
		if i&63 == 63 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		row := backing[i*dim : (i+1)*dim : (i+1)*dim]
		if msg := e.embedOne(text, row, s); msg != "" {
			if failed == nil {
				failed = embed.TextErrors{}
			}
			failed[i] = &embed.Error{Embedder: "hash", Msg: msg}
			continue
		}
		out[i] = row
	}
	if failed != nil {
		return out, failed
	}
	return out, nil
}

// embedOne writes text's vector into row (which is zero), returning why it cannot, or "".
func (e *Embedder) embedOne(text string, row []float32, s *scratch) string {
	switch {
	case text == "":
		return "empty text"
	case len(text) > e.cfg.maxTextBytes:
		return fmt.Sprintf("text of %d bytes exceeds the limit of %d", len(text), e.cfg.maxTextBytes)
	case !utf8.ValidString(text):
		return "text is not valid UTF-8"
	}
	defer s.reset()
	if e.collect(text, s) == 0 {
		return "text has no letters or digits to embed"
	}
	e.accumulate(row, s, true)
	if !normalize(row) {
		// Every feature cancelled against another (possible only for a text with a handful
		// of features, with probability about 1/dim): fall back to unsigned hashing, whose
		// sum of positive weights cannot vanish.
		clear(row)
		e.accumulate(row, s, false)
		normalize(row)
	}
	return ""
}

// accumulate adds the text's features to row: each distinct word and pair weighs
// sqrt(count) (sublinear term frequency: the tenth "the" adds less than the first), times
// its kind's weight; a word's character n-grams share the word's weight.
func (e *Embedder) accumulate(row []float32, s *scratch, signed bool) {
	chars := e.cfg.charMax > 0
	for i := range s.tab.used {
		sl := &s.tab.used[i]
		tf := sqrtInt(int(sl.count))
		if sl.n == 0 {
			add(row, sl.key, float32(pairWeight*tf), signed)
			continue
		}
		add(row, sl.key, float32(wordWeight*tf), signed)
		if chars {
			e.charGrams(s.arena[sl.off:sl.off+sl.n], s, row, charWeight*tf, signed)
		}
	}
}

// normalize scales row to unit length, reporting false when it is all zeros. Products are
// rounded explicitly (float64(...)) so that no platform fuses them into a multiply-add:
// the result is bit-identical everywhere.
func normalize(row []float32) bool {
	var sum float64
	for _, x := range row {
		sum += float64(float64(x) * float64(x))
	}
	if sum == 0 {
		return false
	}
	inv := 1 / math.Sqrt(sum)
	for i, x := range row {
		row[i] = float32(float64(x) * inv)
	}
	return true
}

func sqrtInt(n int) float64 { return math.Sqrt(float64(n)) }
