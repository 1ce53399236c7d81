package vector_test

import (
	"errors"
	"fmt"
	"math"

	"github.com/engram-go/engram/vector"
)

func ExampleDot() {
	fmt.Println(vector.Dot([]float32{1, 2, 3}, []float32{4, 5, 6}))
	// On unit vectors the dot product is the cosine similarity.
	fmt.Println(vector.Dot([]float32{0.6, 0.8}, []float32{1, 0}))
	// Output:
	// 32
	// 0.6
}

func ExampleCosine() {
	// Cosine ignores length: only the angle counts.
	fmt.Printf("%.3f\n", vector.Cosine([]float32{3, 4}, []float32{6, 8}))
	fmt.Printf("%.3f\n", vector.Cosine([]float32{3, 4}, []float32{4, -3}))
	fmt.Printf("%.3f\n", vector.Cosine([]float32{1, 1}, []float32{-2, -2}))
	fmt.Println(vector.Cosine([]float32{1, 1}, []float32{0, 0})) // zero norm: 0
	// Output:
	// 1.000
	// 0.000
	// -1.000
	// 0
}

func ExampleNorm() {
	fmt.Println(vector.Norm([]float32{3, 4}), vector.Norm(nil))
	// Output: 5 0
}

func ExampleValidate() {
	fmt.Println(vector.Validate([]float32{1e-30, 0})) // tiny but normalizable
	fmt.Println(vector.Validate(nil))
	fmt.Println(vector.Validate([]float32{0, 0}))
	err := vector.Validate([]float32{1, float32(math.NaN())})
	var ce *vector.ComponentError
	fmt.Println(errors.Is(err, vector.ErrNonFinite), errors.As(err, &ce) && ce.Index == 1)
	// Output:
	// <nil>
	// vector: empty
	// vector: zero norm
	// true true
}

func ExampleRows() {
	fmt.Println(vector.Rows(make([]float32, 12), 3))
	// Output: 4
}

func ExampleNewTopKAcc() {
	// A matrix kept in two blocks of unit rows, scanned one block at a time.
	block0 := []float32{1, 0, 0, 1}
	block1 := []float32{0.6, 0.8, 0.8, 0.6}
	acc := vector.NewTopKAcc(2, 0, nil)
	acc.Scan(block0, 2, []float32{1, 0}, 0, nil)
	acc.Scan(block1, 2, []float32{1, 0}, 2, nil) // rows 2 and 3
	for _, s := range acc.Result() {
		fmt.Println(s.Row, s.Score)
	}
	// Output:
	// 0 1
	// 3 0.8
}
