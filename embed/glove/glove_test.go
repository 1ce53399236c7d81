package glove

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/engram-go/engram/embed"
)

func norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

func embedOne(t *testing.T, m *Model, text string) []float32 {
	t.Helper()
	out, err := m.Embed(context.Background(), []string{text})
	if err != nil {
		t.Fatalf("Embed(%q): %v", text, err)
	}
	return out[0]
}

func TestEmbedShapeAndNorm(t *testing.T) {
	m := fixtureModel(t)
	if m.Dimension() != 100 {
		t.Fatalf("dimension %d", m.Dimension())
	}
	out, err := m.Embed(context.Background(), []string{"The cat sat on the mat.", "Stocks fell sharply on Monday."})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range out {
		if len(v) != 100 || math.Abs(norm(v)-1) > 1e-5 {
			t.Fatalf("vector %d: len %d norm %v", i, len(v), norm(v))
		}
		if cap(v) != len(v) {
			t.Fatalf("vector %d shares capacity with its neighbour (append would clobber it)", i)
		}
	}
	if got, err := m.Embed(context.Background(), nil); err != nil || len(got) != 0 {
		t.Fatalf("empty batch: %v %v", got, err)
	}
}

// TestDeterministic: a text's vector does not depend on its batch, its position, the batch
// size or the goroutines embedding it, nor on a second model built from the same vectors.
func TestDeterministic(t *testing.T) {
	m := fixtureModel(t)
	texts := make([]string, 2000)
	for i := range texts {
		// Distinct texts: the corpus with a different content word spliced into each copy.
		texts[i] = strings.ReplaceAll(corpus[i%len(corpus)], "|", " "+corpus[(i*7)%len(corpus)][:8]+" ")
	}
	all, err := m.Embed(context.Background(), texts) // parallel path (2000 texts)
	if err != nil {
		t.Fatal(err)
	}
	seq, err := New(fixtureVectors(t), WithConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	if seq.Name() != m.Name() {
		t.Fatalf("concurrency changed the name: %q vs %q", seq.Name(), m.Name())
	}
	one, err := seq.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range texts {
		if !slices.Equal(all[i], one[i]) {
			t.Fatalf("text %d differs between parallel and sequential embedding", i)
		}
	}
	for _, i := range []int{0, 1, 777, 1999} {
		if alone := embedOne(t, m, texts[i]); !slices.Equal(alone, all[i]) {
			t.Fatalf("text %d alone differs from its batch vector", i)
		}
	}
}

func TestUnknownWordsSkipped(t *testing.T) {
	m := fixtureModel(t)
	a := embedOne(t, m, "the farmer sold fresh eggs")
	b := embedOne(t, m, "the farmer zqxjv sold fresh 12345 eggs qwrtzp")
	if !slices.Equal(a, b) {
		t.Fatal("unknown words changed the vector")
	}
	c := embedOne(t, m, "the farmer sold fresh milk")
	if slices.Equal(a, c) {
		t.Fatal("a known word did not change the vector")
	}
	// Case and punctuation do not matter; repetition does (SIF averages every occurrence).
	if d := embedOne(t, m, "THE Farmer, sold... fresh eggs!"); !slices.Equal(a, d) {
		t.Fatal("case or punctuation changed the vector")
	}
	if e := embedOne(t, m, "the farmer sold fresh eggs eggs eggs"); slices.Equal(a, e) {
		t.Fatal("repetition had no effect")
	}
}

// TestNoKnownWordFailsAlone: texts with no known word fail with their own non-retryable
// error; the other texts of the batch get the vectors they get alone.
func TestNoKnownWordFailsAlone(t *testing.T) {
	m := fixtureModel(t)
	texts := []string{"the farmer sold fresh eggs", "", "12345 !!!", "zqxjv qwrtzp", "rain in the mountains"}
	out, err := m.Embed(context.Background(), texts)
	var te embed.TextErrors
	if !errors.As(err, &te) {
		t.Fatalf("want embed.TextErrors, got %T %v", err, err)
	}
	if len(te) != 3 || te[1] == nil || te[2] == nil || te[3] == nil {
		t.Fatalf("failed texts %v, want 1, 2 and 3", te)
	}
	for i, e := range te {
		var ee *embed.Error
		if !errors.As(e, &ee) || ee.Embedder != "glove" || ee.Retryable || embed.IsRetryable(e) {
			t.Fatalf("text %d: %#v is not a non-retryable *embed.Error from glove", i, e)
		}
		if !errors.Is(e, ErrNoKnownWord) {
			t.Fatalf("text %d: %v does not wrap ErrNoKnownWord", i, e)
		}
		if out[i] != nil {
			t.Fatalf("text %d failed but has a vector", i)
		}
	}
	if !strings.Contains(te[2].Error(), `"12345 !!!"`) {
		t.Fatalf("error does not quote the text: %v", te[2])
	}
	for _, i := range []int{0, 4} {
		if !slices.Equal(out[i], embedOne(t, m, texts[i])) {
			t.Fatalf("text %d: vector differs from its vector alone", i)
		}
	}
	// A long failing text is quoted in part, cut on a rune boundary.
	_, err = m.Embed(context.Background(), []string{strings.Repeat("ü", 100)})
	if err == nil || !strings.Contains(err.Error(), `"...`) || strings.Contains(err.Error(), "\\x") {
		t.Fatalf("long text error: %v", err)
	}
}

func TestEmbedCanceled(t *testing.T) {
	m := fixtureModel(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Embed(ctx, []string{"the cat"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v", err)
	}
}

// TestConcurrentEmbed runs many Embed calls on one model at once (meaningful under -race).
func TestConcurrentEmbed(t *testing.T) {
	m := fixtureModel(t)
	want, err := m.Embed(context.Background(), corpus)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := g; i < len(corpus); i += 8 {
				got, err := m.Embed(context.Background(), []string{corpus[i], "zqxjv"})
				if _, ok := err.(embed.TextErrors); !ok || !slices.Equal(got[0], want[i]) {
					errs <- fmt.Errorf("goroutine %d text %d: %v", g, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestSimilarityIsSemantic(t *testing.T) {
	m := fixtureModel(t)
	a := embedOne(t, m, "The doctor treated the patient at the hospital.")
	b := embedOne(t, m, "A nurse cared for the sick man in the clinic.")
	c := embedOne(t, m, "The striker scored a goal in the final match.")
	if ab, ac := dot(a, b), dot(a, c); !(ab > ac+0.2) {
		t.Fatalf("related %.3f, unrelated %.3f", ab, ac)
	}
}

func TestNewValidates(t *testing.T) {
	good := func() *Vectors { return tinyVectors("a", "b", "c") }
	for name, v := range map[string]*Vectors{
		"nil":            nil,
		"no words":       {Dim: 2},
		"zero dimension": {Words: []string{"a"}, Data: []float32{}, Dim: 0},
		"short data":     {Words: []string{"a", "b"}, Data: []float32{1, 2, 3}, Dim: 2},
		"NaN":            {Words: []string{"a"}, Data: []float32{1, float32(math.NaN())}, Dim: 2},
		"Inf":            {Words: []string{"a"}, Data: []float32{float32(math.Inf(-1)), 1}, Dim: 2},
		"empty word":     {Words: []string{""}, Data: []float32{1, 1}, Dim: 2},
		"newline":        {Words: []string{"a\nb"}, Data: []float32{1, 1}, Dim: 2},
		"vocab too small": func() *Vectors {
			v := good()
			v.VocabSize = 2
			return v
		}(),
		"all zero": {Words: []string{"a", "b"}, Data: []float32{0, 0, 0, 0}, Dim: 2},
	} {
		if _, err := New(v); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v, want ErrFormat", name, err)
		}
	}
	for name, o := range map[string]Option{
		"a=0":     WithSmoothing(0),
		"a<0":     WithSmoothing(-1),
		"a NaN":   WithSmoothing(math.NaN()),
		"a Inf":   WithSmoothing(math.Inf(1)),
		"vocab 0": WithVocabulary(0),
		"conc 0":  WithConcurrency(0),
		"logger":  WithLogger(nil),
	} {
		if _, err := New(good(), o); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

func TestDuplicatesAndZeroVectors(t *testing.T) {
	v := tinyVectors("x", "y", "x", "z")
	copy(v.Data[3*v.Dim:], make([]float32, v.Dim)) // z is a zero vector
	m, err := New(v)
	if err != nil {
		t.Fatal(err)
	}
	if m.Vocabulary() != 2 {
		t.Fatalf("vocabulary %d, want 2 (x once, no z)", m.Vocabulary())
	}
	first := tinyVectors("x", "y")
	m2, _ := New(&Vectors{Words: first.Words, Data: first.Data, Dim: first.Dim, VocabSize: 4})
	got, want := embedOne(t, m, "x"), embedOne(t, m2, "x")
	if !slices.Equal(got, want) {
		t.Fatal("the repeated word's later vector was used")
	}
	if _, err := m.Embed(context.Background(), []string{"z"}); err == nil {
		t.Fatal("zero-vector word embedded")
	}
}

func TestOptionsChangeVectorsAndName(t *testing.T) {
	v := fixtureVectors(t)
	base := fixtureModel(t)
	if !strings.HasPrefix(base.Name(), "glove-sif-v1:"+WinkSource+"/top20000+int8:100d:20000w/341479:a=0.001") {
		t.Fatalf("name %q", base.Name())
	}
	text := "the chef roasted a chicken"
	ref := embedOne(t, base, text)
	for _, opts := range [][]Option{{WithSmoothing(1e-2)}, {WithoutComponentRemoval()}, {WithVocabulary(5000)}} {
		m, err := New(v, opts...)
		if err != nil {
			t.Fatal(err)
		}
		if m.Name() == base.Name() {
			t.Errorf("options %v kept the name %q", opts, m.Name())
		}
		if slices.Equal(embedOne(t, m, text), ref) {
			t.Errorf("options %v did not change the vector", opts)
		}
	}
	nopc, _ := New(v, WithoutComponentRemoval())
	if nopc.PrincipalComponent() != nil {
		t.Fatal("component without removal")
	}
	if pc := base.PrincipalComponent(); len(pc) != 100 || math.Abs(norm(pc)-1) > 1e-5 {
		t.Fatalf("component: len %d norm %v", len(pc), norm(pc))
	}
	// The component is removed: every sentence vector is orthogonal to it.
	if d := dot(ref, base.PrincipalComponent()); math.Abs(d) > 1e-5 {
		t.Fatalf("sentence vector has %v along the component", d)
	}
	small, _ := New(v, WithVocabulary(5000))
	if small.Vocabulary() != 5000 {
		t.Fatalf("vocabulary %d", small.Vocabulary())
	}
	rare := v.Words[10000]
	if _, err := small.Embed(context.Background(), []string{rare}); err == nil {
		t.Fatalf("%q (rank 10001) known with a 5000-word vocabulary", rare)
	}
}

func TestZipf(t *testing.T) {
	p := zipf(5, 5)
	var s float64
	for i, x := range p {
		s += x
		if i > 0 && math.Abs(p[0]/x-float64(i+1)) > 1e-9 {
			t.Fatalf("p(1)/p(%d) = %v", i+1, p[0]/x)
		}
	}
	if math.Abs(s-1) > 1e-12 {
		t.Fatalf("sum %v", s)
	}
	// A trimmed set keeps the full set's probabilities.
	if full, top := zipf(341479, 341479), zipf(10, 341479); full[9] != top[9] {
		t.Fatal("trimmed probabilities differ")
	}
}

func TestFirstComponent(t *testing.T) {
	// Rows along (3,4) with small orthogonal noise: the component is ±(0.6, 0.8).
	rows := [][]float32{{3, 4}, {6.1, 7.9}, {-3, -4.1}, {0.4, -0.3}}
	u := firstComponent(2, func(add func(float64, []float32)) {
		for _, r := range rows {
			add(1, r)
		}
	}, 0, nil)
	if math.Abs(math.Abs(float64(u[0]))-0.6) > 0.01 || math.Abs(math.Abs(float64(u[1]))-0.8) > 0.01 {
		t.Fatalf("component %v", u)
	}
	// The extra rank-one term dominates when large.
	u = firstComponent(2, func(add func(float64, []float32)) { add(1, []float32{1, 0}) }, 100, []float64{0, 1})
	if math.Abs(math.Abs(float64(u[1]))-1) > 1e-6 {
		t.Fatalf("component %v", u)
	}
}

// TestSIFBeatsPlainAverageUnderNoise guards what the weighting and the component are for:
// a cue inside a longer text of everyday (Zipf-distributed) words still finds its original
// (TestVariants prints the full table).
func TestSIFBeatsPlainAverageUnderNoise(t *testing.T) {
	ctx := context.Background()
	v := fixtureVectors(t)
	pairs := withNoise(v, reword(t, v), 20)
	sif, _, _, err := rewordScore(ctx, fixtureModel(t), pairs)
	if err != nil {
		t.Fatal(err)
	}
	plainModel, err := New(v, func(c *config) error { c.weighting = weightPlain; return nil })
	if err != nil {
		t.Fatal(err)
	}
	plain, _, _, err := rewordScore(ctx, plainModel, pairs)
	if err != nil {
		t.Fatal(err)
	}
	noPCModel, err := New(v, WithoutComponentRemoval())
	if err != nil {
		t.Fatal(err)
	}
	noPC, _, _, err := rewordScore(ctx, noPCModel, pairs)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rank-1 with 20 noise words: SIF %.3f, SIF without component removal %.3f, plain average %.3f", sif, noPC, plain)
	if sif < 0.95 || plain >= sif || noPC >= sif {
		t.Fatalf("SIF %.3f (want ≥ 0.95), without removal %.3f and plain average %.3f (want both below SIF)", sif, noPC, plain)
	}
}
