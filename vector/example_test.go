package vector_test

import (
	"fmt"

	"github.com/engram-go/engram/vector"
)

func ExampleNormalize() {
	v := []float32{3, 4}
	norm, err := vector.Normalize(v)
	fmt.Println(v, norm, err)
	_, err = vector.Normalize([]float32{0, 0})
	fmt.Println(err)
	// Output:
	// [0.6 0.8] 5 <nil>
	// vector: zero norm
}

func ExampleTopK() {
	m := []float32{ // three unit rows of dimension 2
		1, 0,
		0, 1,
		0.6, 0.8,
	}
	for _, s := range vector.TopK(m, 2, []float32{0, 1}, 2, -1, nil, nil) {
		fmt.Println(s.Row, s.Score)
	}
	// Output:
	// 1 1
	// 2 0.8
}

func ExampleNormalizeBatch() {
	m := []float32{3, 4, 0, 0}
	errs := make([]error, 2)
	failed := vector.NormalizeBatch(m, 2, nil, errs)
	fmt.Println(m, failed, errs[1])
	// Output: [0.6 0.8 0 0] 1 vector: zero norm
}
