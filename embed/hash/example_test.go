package hash_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/engram-go/engram/embed"
	"github.com/engram-go/engram/embed/hash"
)

func cosine(a, b []float32) float32 {
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s // the vectors are unit length
}

func ExampleNew() {
	e, err := hash.New(hash.WithDimension(256))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(e.Dimension())
	fmt.Println(e.Name())

	_, err = hash.New(hash.WithDimension(0))
	fmt.Println(errors.Is(err, embed.ErrInvalidOption))
	// Output:
	// 256
	// hash:v1;dim=256;words=1-2;chars=3-5;seed=0
	// true
}

func ExampleEmbedder_Embed() {
	e, err := hash.New()
	if err != nil {
		log.Fatal(err)
	}
	vecs, err := e.Embed(context.Background(), []string{
		"Ada prefers tea in the afternoon",
		"In the afternoon, Ada likes a cup of tea",
		"The build failed on the ARM runner",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(vecs), len(vecs[0]))
	fmt.Println(cosine(vecs[0], vecs[1]) > cosine(vecs[0], vecs[2]))
	// Output:
	// 3 384
	// true
}

// A text that cannot be embedded fails alone; the others get their vectors.
func ExampleEmbedder_Embed_textErrors() {
	e, err := hash.New()
	if err != nil {
		log.Fatal(err)
	}
	vecs, err := e.Embed(context.Background(), []string{"a good text", "?!", "another one"})
	var failed embed.TextErrors
	if errors.As(err, &failed) {
		for i, why := range failed {
			fmt.Printf("text %d: %v (retryable: %v)\n", i, why, embed.IsRetryable(why))
		}
	}
	fmt.Println(vecs[0] != nil, vecs[1] != nil, vecs[2] != nil)
	// Output:
	// text 1: embed hash: text has no letters or digits to embed (retryable: false)
	// true false true
}
