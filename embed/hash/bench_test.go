package hash

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// benchTexts returns n texts of the given number of words drawn from a list of common
// English words (with capitals and punctuation, so tokenization does its full job).
func benchTexts(n, words int) []string {
	vocab := strings.Fields(`the of and to in is was for that with as on by at from his her an
		are were this which be or had not but have they one all their there been has when who
		more will would no if out so said what up its about into than them can only other new
		some could time these two may then do first any my now such like our over man me even
		most made after also did many before must through back years where much your way well
		memory store embedding vector recall nearest batch commit durable space query agent
		Ada Turing London Paris 2024 café naïve über straße résumé`)
	r := rand.New(rand.NewPCG(7, 7))
	texts := make([]string, n)
	for i := range texts {
		var b strings.Builder
		for j := range words {
			if j > 0 {
				b.WriteByte(' ')
			}
			w := vocab[r.IntN(len(vocab))]
			if j == 0 {
				r, size := utf8.DecodeRuneInString(w)
				w = string(unicode.ToUpper(r)) + w[size:]
			}
			b.WriteString(w)
			if r.IntN(8) == 0 {
				b.WriteByte(',')
			}
		}
		b.WriteByte('.')
		texts[i] = b.String()
	}
	return texts
}

// BenchmarkEmbed measures what the store calls: Embed on a chunk of 256 texts. texts/s is
// the figure to quote; allocs/op counts the chunk's allocations (the vectors' backing array
// and the slice of rows: 2, independent of the texts).
func BenchmarkEmbed(b *testing.B) {
	for _, c := range []struct {
		name  string
		words int
	}{{"short-10-words", 10}, {"long-200-words", 200}} {
		b.Run(c.name, func(b *testing.B) {
			e := mustNew(b)
			texts := benchTexts(256, c.words)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := e.Embed(ctx, texts); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(texts))/b.Elapsed().Seconds(), "texts/s")
		})
	}
}
