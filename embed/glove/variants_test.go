package glove

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

var variants = flag.Bool("variants", false, "run TestVariants, the measurement behind the model's defaults")

// TestVariants measures the design choices of the model on the rewording corpus and logs a
// table (go test ./embed/glove -run TestVariants -variants -v; add -full for the full wink
// set). It asserts nothing: TestSIFBeatsPlainAverageUnderNoise guards the conclusions. With
// one replaced word every SIF variant finds every original, so it also scores harder
// rewordings (2 and 3 content words replaced) and the mean margin between the original's
// cosine and the best other original's at 1 replaced word.
func TestVariants(t *testing.T) {
	if !*variants && !*fullWink {
		t.Skip("measurement: run with -variants")
	}
	ctx := context.Background()
	fix := fixtureVectors(t)
	sets := []struct {
		name string
		v    *Vectors
	}{{"fixture", fix}}
	if *fullWink {
		v, err := LoadWinkVectors(ctx, benchCacheDir(t))
		if err != nil {
			t.Fatal(err)
		}
		sets = append(sets, struct {
			name string
			v    *Vectors
		}{"full", v})
	}
	hard := [][]rewording{rewordN(t, fix, 1), rewordN(t, fix, 3), rewordN(t, fix, 5), rewordN(t, fix, 100)}
	noisy := [][]rewording{withNoise(fix, hard[0], 10), withNoise(fix, hard[0], 20), withNoise(fix, hard[0], 40), withNoise(fix, hard[0], 80)}
	variants := []struct {
		name string
		set  func(*config)
	}{
		{"plain average", func(c *config) { c.weighting = weightPlain }},
		{"SIF a=1e-3, no PC", func(c *config) { c.removePC = false }},
		{"SIF a=1e-3, PC expected sentence 20k (default)", func(c *config) {}},
		{"SIF a=1e-3, PC expected sentence 5k", func(c *config) { c.pcWords = 5000 }},
		{"SIF a=1e-3, PC SIF-weighted words 20k", func(c *config) { c.pcSource = pcWeightedWords }},
		{"SIF a=1e-3, PC SIF-weighted words 5k", func(c *config) { c.pcSource, c.pcWords = pcWeightedWords, 5000 }},
		{"SIF a=1e-3, PC raw words 20k", func(c *config) { c.pcSource = pcRawWords }},
		{"SIF a=1e-4", func(c *config) { c.smoothing = 1e-4 }},
		{"SIF a=3e-4", func(c *config) { c.smoothing = 3e-4 }},
		{"SIF a=3e-3", func(c *config) { c.smoothing = 3e-3 }},
		{"SIF a=1e-2", func(c *config) { c.smoothing = 1e-2 }},
		{"SIF a=1e-3, unit word vectors", func(c *config) { c.unitWords = true }},
	}
	for _, s := range sets {
		t.Logf("%s (%d words): rank-1 at 1 / 3 / 5 / all replaced words, MRR at all, mean margin at 1, rank-1 at 1 with 10 / 20 / 40 / 80 Zipf noise words", s.name, s.v.Len())
		for _, vr := range variants {
			m, err := New(s.v, func(c *config) error { vr.set(c); return nil })
			if err != nil {
				t.Fatal(err)
			}
			var line, line2 string
			for _, pairs := range noisy {
				r1, _, _, err := rewordScore(ctx, m, pairs)
				if err != nil {
					t.Fatal(err)
				}
				line2 += fmt.Sprintf(" %.3f", r1)
			}
			var mrr3 float64
			for _, pairs := range hard {
				r1, mrr, _, err := rewordScore(ctx, m, pairs)
				if err != nil {
					t.Fatal(err)
				}
				line += fmt.Sprintf(" %.3f", r1)
				mrr3 = mrr
			}
			t.Logf("  %-48s%s  %.3f  %.3f %s", vr.name, line, mrr3, meanMargin(t, m, hard[0]), line2)
		}
	}
}

// meanMargin is the mean of cos(reworded, own original) − max cos(reworded, other original).
func meanMargin(t *testing.T, m *Model, pairs []rewording) float64 {
	orig := make([]string, len(pairs))
	rew := make([]string, len(pairs))
	for i, p := range pairs {
		orig[i], rew[i] = p.original, p.reworded
	}
	ov, err := m.Embed(context.Background(), orig)
	if err != nil {
		t.Fatal(err)
	}
	rv, err := m.Embed(context.Background(), rew)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for i, q := range rv {
		best := -2.0
		for j, o := range ov {
			if j != i {
				best = max(best, dot(q, o))
			}
		}
		sum += dot(q, ov[i]) - best
	}
	return sum / float64(len(pairs))
}

// withNoise appends n words drawn from the Zipf distribution over the fixture's words
// (seeded, so every variant gets the same ones) to each rewording: the cue now sits in a
// longer text of everyday words, most of them frequent. A model whose weights mute frequent
// words keeps finding the original.
func withNoise(v *Vectors, pairs []rewording, n int) []rewording {
	p := zipf(v.Len(), v.vocabSize())
	cum := make([]float64, len(p))
	var total float64
	for i, x := range p {
		total += x
		cum[i] = total
	}
	out := slices.Clone(pairs)
	for i := range out {
		r := rand.New(rand.NewPCG(uint64(i), 99))
		words := make([]string, n)
		for k := range words {
			j, _ := slices.BinarySearch(cum, r.Float64()*total)
			words[k] = v.Words[min(j, len(v.Words)-1)]
		}
		out[i].reworded += " " + strings.Join(words, " ")
	}
	return out
}
