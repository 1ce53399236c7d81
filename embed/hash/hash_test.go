package hash

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/engram-go/engram/embed"
)

func mustNew(t testing.TB, opts ...Option) *Embedder {
	t.Helper()
	e, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func embedAll(t testing.TB, e *Embedder, texts ...string) [][]float32 {
	t.Helper()
	v, err := e.Embed(context.Background(), texts)
	if err != nil {
		t.Fatalf("Embed(%q): %v", texts, err)
	}
	return v
}

func cos(a, b []float32) float64 { return dot(a, b) } // the vectors are unit length

// fingerprint hashes a vector's exact float32 bits.
func fingerprint(v []float32) string {
	h := sha256.New()
	for _, x := range v {
		binary.Write(h, binary.LittleEndian, math.Float32bits(x))
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// TestGolden pins the exact bits of a few vectors. If it fails, the vectors of existing
// stores changed: bump Version (which changes Name, so spaces made with the old vectors
// refuse the new embedder) and then update the fingerprints.
func TestGolden(t *testing.T) {
	e := mustNew(t)
	for _, c := range []struct{ text, want string }{
		{"The quick brown fox jumps over the lazy dog.", "b732a62edbfa45bf"},
		{"Ada prefers tea in the afternoon", "e8d0308b197ac8f2"},
		{"Größe, Maße und Straßen: ÉCOLE école 東京 2024", "7ae124dd1a7e49ec"},
	} {
		v := embedAll(t, e, c.text)[0]
		if got := fingerprint(v); got != c.want {
			t.Errorf("fingerprint(%q) = %s, want %s", c.text, got, c.want)
		}
	}
}

func TestUnitLengthAndDimension(t *testing.T) {
	for _, dim := range []int{1, 7, 64, DefaultDimension, 1000} {
		e := mustNew(t, WithDimension(dim))
		if e.Dimension() != dim {
			t.Fatalf("Dimension() = %d, want %d", e.Dimension(), dim)
		}
		for _, v := range embedAll(t, e, "a", "hello world", strings.Repeat("lorem ipsum dolor sit amet ", 50)) {
			if len(v) != dim {
				t.Fatalf("len = %d, want %d", len(v), dim)
			}
			if n := math.Sqrt(dot(v, v)); math.Abs(n-1) > 1e-5 {
				t.Errorf("dim %d: norm = %v, want 1", dim, n)
			}
		}
	}
}

func TestTokenization(t *testing.T) {
	e := mustNew(t)
	same := [][2]string{
		{"Hello World", "hello world"},         // case
		{"hello, world!", "  hello   world\n"}, // punctuation and spaces separate words
		{"ÉCOLE Öl", "école öl"},               // Unicode lower-casing
		{"ΣΟΦΙΑ", "σοφια"},                     // Greek
		{"don't", "don t"},                     // an apostrophe separates
	}
	for _, p := range same {
		v := embedAll(t, e, p[0], p[1])
		if fingerprint(v[0]) != fingerprint(v[1]) {
			t.Errorf("%q and %q embed differently (cos %.4f); want identical", p[0], p[1], cos(v[0], v[1]))
		}
	}
	different := [][2]string{
		{"hello world", "helloworld"},
		{"data2024", "data 2024"},
		{"नमस्ते", "नमसत"}, // combining marks (virama) belong to the word
	}
	for _, p := range different {
		v := embedAll(t, e, p[0], p[1])
		if fingerprint(v[0]) == fingerprint(v[1]) {
			t.Errorf("%q and %q embed identically; want different", p[0], p[1])
		}
	}
}

func TestSimilarityOrdering(t *testing.T) {
	e := mustNew(t)
	v := embedAll(t, e,
		"The cat sat on the mat",
		"A cat was sitting on the mat",
		"Quarterly revenue grew by eight percent",
	)
	near, far := cos(v[0], v[1]), cos(v[0], v[2])
	if near <= far+0.2 {
		t.Errorf("cos(paraphrase) = %.3f, cos(unrelated) = %.3f; want the paraphrase clearly nearer", near, far)
	}
	// Inflections share character n-grams.
	w := embedAll(t, e, "running", "runner", "banana")
	if cos(w[0], w[1]) <= cos(w[0], w[2]) {
		t.Errorf("cos(running, runner) = %.3f <= cos(running, banana) = %.3f", cos(w[0], w[1]), cos(w[0], w[2]))
	}
}

func TestWordOrder(t *testing.T) {
	a, b := "dog bites man", "man bites dog"
	pairs := embedAll(t, mustNew(t), a, b)
	if c := cos(pairs[0], pairs[1]); c > 0.99 || c < 0.5 {
		t.Errorf("with word pairs, cos(%q, %q) = %.3f; want similar but not equal", a, b, c)
	}
	words := embedAll(t, mustNew(t, WithWordNGrams(1)), a, b)
	if fingerprint(words[0]) != fingerprint(words[1]) {
		t.Errorf("with single words only, %q and %q differ", a, b)
	}
}

func TestSublinearTF(t *testing.T) {
	// Repeating a word strengthens it less than linearly: "apple apple apple apple pear" is
	// nearer to "pear" than it would be with raw counts (cosine 1/sqrt(17) ~ 0.24 with
	// orthogonal features; sqrt weighting gives 1/sqrt(5) ~ 0.45).
	e := mustNew(t, WithCharNGrams(0, 0), WithWordNGrams(1), WithDimension(4096))
	v := embedAll(t, e, "apple apple apple apple pear", "pear")
	if c := cos(v[0], v[1]); math.Abs(c-1/math.Sqrt(5)) > 0.05 {
		t.Errorf("cos = %.3f, want about %.3f (sqrt term frequency)", c, 1/math.Sqrt(5))
	}
}

func TestSeed(t *testing.T) {
	a := embedAll(t, mustNew(t), "seeded hashing")[0]
	b := embedAll(t, mustNew(t, WithSeed(42)), "seeded hashing")[0]
	if c := cos(a, b); math.Abs(c) > 0.5 {
		t.Errorf("cos across seeds = %.3f; want unrelated vectors", c)
	}
}

func TestName(t *testing.T) {
	if got, want := mustNew(t).Name(), "hash:v1;dim=384;words=1-2;chars=3-5;seed=0"; got != want {
		t.Errorf("default Name() = %q, want %q", got, want)
	}
	if got, want := mustNew(t, WithDimension(64), WithWordNGrams(1), WithCharNGrams(0, 0), WithSeed(7)).Name(),
		"hash:v1;dim=64;words=1-1;chars=none;seed=7"; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
	// Every option that changes vectors changes the name; the text limit does not.
	seen := map[string]bool{}
	for _, opts := range [][]Option{nil, {WithDimension(100)}, {WithWordNGrams(1)}, {WithCharNGrams(2, 4)}, {WithSeed(1)}} {
		n := mustNew(t, opts...).Name()
		if seen[n] {
			t.Errorf("name %q repeats", n)
		}
		seen[n] = true
	}
	if mustNew(t, WithMaxTextBytes(10)).Name() != mustNew(t).Name() {
		t.Error("WithMaxTextBytes changed the name")
	}
}

func TestBadOptions(t *testing.T) {
	for name, o := range map[string]Option{
		"dim 0":         WithDimension(0),
		"dim -1":        WithDimension(-1),
		"dim huge":      WithDimension(1 << 20),
		"words 3":       WithWordNGrams(3),
		"words 0":       WithWordNGrams(0),
		"chars 0..3":    WithCharNGrams(0, 3),
		"chars 4..3":    WithCharNGrams(4, 3),
		"chars 1..17":   WithCharNGrams(1, 17),
		"max bytes 0":   WithMaxTextBytes(0),
		"max bytes -10": WithMaxTextBytes(-10),
	} {
		e, err := New(o)
		var oe *embed.OptionError
		if e != nil || !errors.Is(err, embed.ErrInvalidOption) || !errors.As(err, &oe) || oe.Embedder != "hash" {
			t.Errorf("%s: New = %v, %v; want nil and an *embed.OptionError", name, e, err)
		}
	}
	if _, err := New(nil, WithSeed(1)); err != nil {
		t.Errorf("a nil option: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	e := mustNew(t, WithMaxTextBytes(100))
	for _, texts := range [][]string{nil, {}} {
		v, err := e.Embed(context.Background(), texts)
		var ee *embed.Error
		if v != nil || !errors.As(err, &ee) || embed.IsRetryable(err) {
			t.Errorf("Embed(%#v) = %v, %v; want a permanent *embed.Error", texts, v, err)
		}
	}
	texts := []string{
		"fine",
		"",
		"caf\xe9",
		" ... !!! ",
		strings.Repeat("x", 101),
		"also fine",
		"\u200b\u3000", // zero-width and ideographic spaces only
	}
	v, err := e.Embed(context.Background(), texts)
	var te embed.TextErrors
	if !errors.As(err, &te) {
		t.Fatalf("err = %v, want embed.TextErrors", err)
	}
	want := map[int]string{1: "empty", 2: "UTF-8", 3: "no letters or digits", 4: "exceeds the limit", 6: "no letters or digits"}
	if len(te) != len(want) {
		t.Errorf("failed texts = %v, want positions %v", te, want)
	}
	for i, sub := range want {
		var ee *embed.Error
		if !errors.As(te[i], &ee) || ee.Retryable || !strings.Contains(ee.Msg, sub) || ee.Embedder != "hash" {
			t.Errorf("text %d: error %v, want a permanent *embed.Error mentioning %q", i, te[i], sub)
		}
		if v[i] != nil {
			t.Errorf("text %d failed but has a vector", i)
		}
	}
	for _, i := range []int{0, 5} {
		if len(v[i]) != e.Dimension() {
			t.Errorf("good text %d: vector of length %d", i, len(v[i]))
		}
	}
	if ok := embedAll(t, e, "fine")[0]; fingerprint(ok) != fingerprint(v[0]) {
		t.Error("a good text's vector depends on its bad neighbours")
	}
}

func TestCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	v, err := mustNew(t).Embed(ctx, []string{"a"})
	if v != nil || !errors.Is(err, context.Canceled) {
		t.Errorf("Embed(canceled) = %v, %v; want context.Canceled", v, err)
	}
	// A long call notices cancellation between texts.
	texts := make([]string, 1000)
	for i := range texts {
		texts[i] = "some words to embed"
	}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := mustNew(t).Embed(ctx, texts); !errors.Is(err, context.Canceled) {
		t.Errorf("long Embed(canceled): %v", err)
	}
}

func TestRowsAreIndependent(t *testing.T) {
	v := embedAll(t, mustNew(t), "first text", "second text")
	before := fingerprint(v[1])
	_ = append(v[0], 1, 2, 3)
	if fingerprint(v[1]) != before {
		t.Error("appending to one vector overwrote the next")
	}
}

// TestCancellationFallback: with one dimension, a one-letter word's two features (the word
// and "<a>") cancel whenever their signs differ; the embedder must still return a unit
// vector, by falling back to unsigned hashing.
func TestCancellationFallback(t *testing.T) {
	e := mustNew(t, WithDimension(1), WithCharNGrams(3, 3), WithWordNGrams(1))
	cancelled := 0
	s := new(scratch)
	for c := 'a'; c <= 'z'; c++ {
		e.collect(string(c), s)
		row := make([]float32, 1)
		e.accumulate(row, s, true)
		s.reset()
		if row[0] == 0 {
			cancelled++
		}
		v := embedAll(t, e, string(c))[0]
		if v[0] != 1 && v[0] != -1 {
			t.Errorf("%q: vector %v, want [±1]", c, v)
		}
	}
	if cancelled == 0 {
		t.Fatal("no letter's features cancelled; the test does not reach the fallback")
	}
}

func TestConcurrentUse(t *testing.T) {
	e := mustNew(t)
	texts := []string{"alpha beta", "gamma delta epsilon", "zeta"}
	want := embedAll(t, e, texts...)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				got, err := e.Embed(context.Background(), texts)
				if err != nil {
					t.Error(err)
					return
				}
				for i := range got {
					if fingerprint(got[i]) != fingerprint(want[i]) {
						t.Errorf("text %d differs under concurrency", i)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}

func FuzzEmbed(f *testing.F) {
	for _, s := range []string{"", "hello world", "caf\xe9", "!!!", "東京 2024", "a\u0301b", strings.Repeat("ab ", 100)} {
		f.Add(s)
	}
	e := mustNew(f, WithDimension(32))
	f.Fuzz(func(t *testing.T, text string) {
		v, err := e.Embed(context.Background(), []string{text, "anchor"})
		if len(v) != 2 || len(v[1]) != 32 {
			t.Fatalf("Embed = %v, %v", v, err)
		}
		if err != nil {
			var te embed.TextErrors
			if !errors.As(err, &te) || len(te) != 1 || te[0] == nil || v[0] != nil {
				t.Fatalf("err = %v", err)
			}
			return
		}
		if n := dot(v[0], v[0]); math.IsNaN(n) || math.Abs(n-1) > 1e-4 {
			t.Fatalf("norm² = %v for %q", n, text)
		}
	})
}
