package hash_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"

	"github.com/engram-go/engram/embed"
	"github.com/engram-go/engram/embed/hash"
)

// embedTwo embeds a and b with e and returns their cosine similarity.
func embedTwo(e *hash.Embedder, a, b string) float32 {
	v, err := e.Embed(context.Background(), []string{a, b})
	if err != nil {
		log.Fatal(err)
	}
	return cosine(v[0], v[1])
}

// Character n-grams make inflections and typos land near each other; without them
// "running" and "runing" share no feature at all.
func ExampleWithCharNGrams() {
	with, _ := hash.New() // default 3..5
	without, err := hash.New(hash.WithCharNGrams(0, 0))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%.2f\n", embedTwo(with, "running", "runing"))
	fmt.Printf("%.2f\n", embedTwo(without, "running", "runing"))
	fmt.Println(without.Name())

	_, err = hash.New(hash.WithCharNGrams(5, 3)) // min above max
	fmt.Println(errors.Is(err, embed.ErrInvalidOption))
	// Output:
	// 0.30
	// 0.00
	// hash:v1;dim=384;words=1-2;chars=none;seed=0
	// true
}

// WithDimension trades memory (4 bytes per dimension per stored memory) for fewer
// hash collisions. It must match the space's dimension.
func ExampleWithDimension() {
	e, err := hash.New(hash.WithDimension(64))
	if err != nil {
		log.Fatal(err)
	}
	v, _ := e.Embed(context.Background(), []string{"a short note"})
	fmt.Println(e.Dimension(), len(v[0]))

	_, err = hash.New(hash.WithDimension(1 << 20))
	fmt.Println(err)
	// Output:
	// 64 64
	// embed hash: invalid option WithDimension: dimension 1048576 is outside 1..65536
}

// WithMaxTextBytes bounds the work one text can cause; a longer text fails alone
// (a permanent error), the rest of the call is embedded.
func ExampleWithMaxTextBytes() {
	e, err := hash.New(hash.WithMaxTextBytes(100))
	if err != nil {
		log.Fatal(err)
	}
	vecs, err := e.Embed(context.Background(), []string{"fits", strings.Repeat("too long ", 20)})
	var failed embed.TextErrors
	if errors.As(err, &failed) {
		fmt.Println(len(failed), embed.IsRetryable(failed[1]))
	}
	fmt.Println(vecs[0] != nil, vecs[1] != nil)
	// Output:
	// 1 false
	// true false
}

// WithSeed changes the hash functions: vectors of different seeds are unrelated, so
// they must never share a space — the seed is part of Name, which the space records.
func ExampleWithSeed() {
	a, _ := hash.New()
	b, err := hash.New(hash.WithSeed(42))
	if err != nil {
		log.Fatal(err)
	}
	va, _ := a.Embed(context.Background(), []string{"Ada prefers tea"})
	vb, _ := b.Embed(context.Background(), []string{"Ada prefers tea"})
	fmt.Println(cosine(va[0], vb[0]) < 0.5)
	fmt.Println(b.Name())
	// Output:
	// true
	// hash:v1;dim=384;words=1-2;chars=3-5;seed=42
}

// Word pairs keep a little word order; with single words only, a text is a bag of
// words and "dog bites man" is "man bites dog".
func ExampleWithWordNGrams() {
	bag, err := hash.New(hash.WithWordNGrams(1))
	if err != nil {
		log.Fatal(err)
	}
	pairs, _ := hash.New() // default 2
	fmt.Printf("%.2f\n", embedTwo(bag, "dog bites man", "man bites dog"))
	fmt.Println(embedTwo(pairs, "dog bites man", "man bites dog") < 0.99)
	fmt.Println(bag.Name())
	// Output:
	// 1.00
	// true
	// hash:v1;dim=384;words=1-1;chars=3-5;seed=0
}

// Dimension is what a space checks against its own before it stores vectors.
func ExampleEmbedder_Dimension() {
	e, _ := hash.New()
	fmt.Println(e.Dimension(), e.Dimension() == hash.DefaultDimension)
	// Output: 384 true
}

// Name changes whenever the vectors would; a space records it and refuses to be
// reopened with an embedder of another name, so vectors of two schemes never mix.
func ExampleEmbedder_Name() {
	a, _ := hash.New()
	b, _ := hash.New(hash.WithDimension(384), hash.WithSeed(0)) // the defaults, spelled out
	c, _ := hash.New(hash.WithCharNGrams(2, 4))
	fmt.Println(a.Name() == b.Name())
	fmt.Println(c.Name())
	// Output:
	// true
	// hash:v1;dim=384;words=1-2;chars=2-4;seed=0
}
