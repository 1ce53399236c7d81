package glove

import (
	"context"
	"strings"
	"testing"
)

// Benchmarks of what a caller of Embed sees, reported as texts/s and words/s:
//
//	flock /work/wt/bench.lock go test ./embed/glove -run '^$' -bench . -benchtime 2s [-full]
//
// "short" texts are the corpus sentences (about 11 words), "long" ones paragraphs of 8 of
// them (about 90 words); each call embeds a batch of 1,000, on one goroutine ("seq") or
// on GOMAXPROCS ("par", the default). -full adds the full wink set's model.
func BenchmarkEmbed(b *testing.B) {
	m := fixtureModel(b)
	seq, err := New(fixtureVectors(b), WithConcurrency(1))
	if err != nil {
		b.Fatal(err)
	}
	short := make([]string, 1000)
	long := make([]string, 1000)
	for i := range short {
		short[i] = strings.ReplaceAll(corpus[i%len(corpus)], "|", " ")
		var p []string
		for k := range 8 {
			p = append(p, strings.ReplaceAll(corpus[(i*8+k)%len(corpus)], "|", " ")+".")
		}
		long[i] = strings.Join(p, " ")
	}
	type benchCase struct {
		name  string
		m     *Model
		texts []string
	}
	cases := []benchCase{
		{"short/seq", seq, short}, {"short/par", m, short},
		{"long/seq", seq, long}, {"long/par", m, long},
	}
	if *fullWink { // -full: the same on the whole wink set (341,479 words, from the cache)
		full, err := LoadWink(context.Background(), benchCacheDir(b))
		if err != nil {
			b.Fatal(err)
		}
		cases = append(cases, benchCase{"full/short/par", full, short}, benchCase{"full/long/par", full, long})
	}
	for _, c := range cases {
		words := 0
		for _, s := range c.texts {
			words += len(strings.Fields(s))
		}
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := c.m.Embed(context.Background(), c.texts); err != nil {
					b.Fatal(err)
				}
			}
			sec := b.Elapsed().Seconds()
			b.ReportMetric(float64(b.N*len(c.texts))/sec, "texts/s")
			b.ReportMetric(float64(b.N*words)/sec, "words/s")
		})
	}
}

// BenchmarkNew is the one-time cost of building a model from the fixture's 20,000 words
// (weights, component, folded rows); the full 341,479-word set costs about 17 times more.
func BenchmarkNew(b *testing.B) {
	v := fixtureVectors(b)
	for b.Loop() {
		if _, err := New(v); err != nil {
			b.Fatal(err)
		}
	}
}
