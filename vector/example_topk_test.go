package vector_test

import (
	"fmt"

	"github.com/engram-go/engram/vector"
)

// IsUnit decides from a sum of squares (a dot product of the vector with itself)
// whether a vector is already unit length within float32 rounding, so a caller can
// skip re-normalizing a stored vector and keep it bit for bit.
func ExampleIsUnit() {
	v := []float32{0.6, 0.8}
	fmt.Println(vector.IsUnit(vector.Dot(v, v)))
	w := []float32{3, 4}
	fmt.Println(vector.IsUnit(vector.Dot(w, w)))
	vector.Normalize(w)
	fmt.Println(vector.IsUnit(vector.Dot(w, w)), w)
	// Output:
	// true
	// false
	// true [0.6 0.8]
}

// Offer feeds an accumulator rows whose scores the caller computed itself, e.g. the
// live nodes of a graph, which are not one contiguous matrix. The filter runs only
// for rows that would enter the current top k.
func ExampleTopKAcc_Offer() {
	acc := vector.NewTopKAcc(2, 0.1, nil) // the best 2 scoring at least 0.1
	skip := func(row int) bool { return row != 7 }
	for row, score := range map[int]float32{3: 0.5, 7: 0.9, 9: 0.05, 12: 0.7, 15: 0.2} {
		acc.Offer(row, score, skip)
	}
	for _, s := range acc.Result() {
		fmt.Println(s.Row, s.Score)
	}
	// Output:
	// 12 0.7
	// 3 0.5
}

// Scan and Result: a matrix stored in blocks is scanned block by block, each with
// the row number its first row has, and Result gives the best rows over all of them.
// Scan and Offer mix freely.
func ExampleTopKAcc_Scan() {
	q := []float32{1, 0}
	blocks := [][]float32{
		{0, 1, 0.6, 0.8}, // rows 0, 1
		{0.8, 0.6, 1, 0}, // rows 2, 3
	}
	acc := vector.NewTopKAcc(3, -1, make([]vector.Scored, 0, 3))
	for i, b := range blocks {
		acc.Scan(b, 2, q, 2*i, nil)
	}
	acc.Offer(4, 0.7, nil) // a row scored elsewhere
	for _, s := range acc.Result() {
		fmt.Println(s.Row, s.Score)
	}
	// Output:
	// 3 1
	// 2 0.8
	// 4 0.7
}
