package hash

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// paraphraseCorpus builds n ten-word sentences over a Zipf-distributed vocabulary of
// made-up words, and for each a reworded copy: three words replaced by other vocabulary words
// and the word order shuffled. Everything comes from a fixed seed.
func paraphraseCorpus(n int) (orig, reworded []string) {
	r := rand.New(rand.NewPCG(1, 2))
	syll := []string{"ka", "lo", "mi", "ren", "to", "sa", "vel", "dor", "ni", "pa", "qu", "es", "tri", "on", "ba", "zu"}
	vocab := make([]string, 5000)
	for i := range vocab {
		var b strings.Builder
		for range 1 + r.IntN(3) {
			b.WriteString(syll[r.IntN(len(syll))])
		}
		vocab[i] = fmt.Sprintf("%s%d", b.String(), i%7) // distinct enough, with shared subwords
	}
	zipf := rand.NewZipf(rand.New(rand.NewPCG(3, 4)), 1.1, 1, uint64(len(vocab)-1))
	for range n {
		words := make([]string, 10)
		for j := range words {
			words[j] = vocab[zipf.Uint64()]
		}
		orig = append(orig, strings.Join(words, " "))
		w2 := slices.Clone(words)
		for range 3 {
			w2[r.IntN(len(w2))] = vocab[r.IntN(len(vocab))]
		}
		r.Shuffle(len(w2), func(a, b int) { w2[a], w2[b] = w2[b], w2[a] })
		reworded = append(reworded, strings.Join(w2, " "))
	}
	return orig, reworded
}

// rank1AndNoise embeds the corpus at dimension dim and returns the share of reworded
// sentences whose nearest original is their own, and the collision noise: the mean
// |cosine at dim - cosine at 65536 dimensions| of pairs of unrelated sentences, how far
// hashing into dim dimensions moves a similarity from its collision-free value.
func rank1AndNoise(t *testing.T, dim int, orig, reworded []string, exact []float64) (rank1, noise float64) {
	t.Helper()
	e, err := New(WithDimension(dim))
	if err != nil {
		t.Fatal(err)
	}
	ov, err := e.Embed(context.Background(), orig)
	if err != nil {
		t.Fatal(err)
	}
	rv, err := e.Embed(context.Background(), reworded)
	if err != nil {
		t.Fatal(err)
	}
	hits := 0
	for i, q := range rv {
		best, bestSim := -1, math.Inf(-1)
		for j, o := range ov {
			if s := dot(q, o); s > bestSim {
				best, bestSim = j, s
			}
		}
		if best == i {
			hits++
		}
		noise += math.Abs(dot(ov[i], ov[(i+1)%len(ov)]) - exact[i])
	}
	return float64(hits) / float64(len(rv)), noise / float64(len(rv))
}

func dot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

// TestDimensionChoice backs DefaultDimension: on a paraphrase task, rank-1 recall at the
// default must be high and the noise between unrelated texts low. With -v it prints the
// curve over dimensions (under -race and -short, where it is slow, it checks the default on
// a quarter of the corpus).
func TestDimensionChoice(t *testing.T) {
	n, dims := 1000, []int{64, 128, 256, 384, 512, 1024}
	if raceEnabled || testing.Short() {
		n, dims = 250, []int{DefaultDimension}
	}
	orig, reworded := paraphraseCorpus(n)
	// The collision-free reference: cosines of neighbouring sentences at 65536 dimensions.
	ref, err := New(WithDimension(maxDimension))
	if err != nil {
		t.Fatal(err)
	}
	exact := make([]float64, len(orig))
	for i := range orig {
		v, err := ref.Embed(context.Background(), []string{orig[i], orig[(i+1)%len(orig)]})
		if err != nil {
			t.Fatal(err)
		}
		exact[i] = dot(v[0], v[1])
	}
	for _, d := range dims {
		r1, noise := rank1AndNoise(t, d, orig, reworded, exact)
		t.Logf("dim %4d: rank-1 %.4f, collision noise %.4f", d, r1, noise)
		if d == DefaultDimension {
			if r1 < 0.98 {
				t.Errorf("rank-1 at the default dimension = %.4f, want >= 0.98", r1)
			}
			if noise > 0.05 {
				t.Errorf("collision noise at the default dimension = %.4f, want <= 0.05", noise)
			}
		}
	}
}
