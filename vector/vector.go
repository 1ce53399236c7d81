// Package vector holds the float32 math engram runs on: validation, normalization, dot
// products and an exact top-k scan over a contiguous row-major matrix.
//
// Every kernel goes through github.com/viterin/vek, which dispatches to AVX2/FMA assembly
// when the CPU has it and to plain Go otherwise, so the package is cgo-free and portable.
// Vectors are stored unit-normalized: cosine similarity is then a single dot product,
// which is what the indexes compute in their hot loops.
//
// Length contracts: Dot and Cosine require equal, non-empty lengths and panic otherwise,
// like indexing past a slice would. The store validates dimensions before it calls any
// kernel, so user input never reaches those panics; Validate and Normalize report bad
// input as errors.
package vector

import (
	"errors"
	"fmt"
	"math"

	"github.com/viterin/vek/vek32"
)

// Errors returned by Validate and Normalize. The store maps them to its
// INVALID_EMBEDDING code; they are exported so callers of this package can tell them apart.
var (
	ErrEmpty     = errors.New("vector: empty")
	ErrNonFinite = errors.New("vector: non-finite component")
	ErrZeroNorm  = errors.New("vector: zero norm")
)

// ComponentError tells which component of a vector is bad.
type ComponentError struct {
	Index int
	Value float32
	Err   error // ErrNonFinite
}

func (e *ComponentError) Error() string {
	return fmt.Sprintf("%v at index %d (%v)", e.Err, e.Index, e.Value)
}

func (e *ComponentError) Unwrap() error { return e.Err }

// Dot returns the inner product of a and b (SIMD through vek).
// a and b must have the same non-zero length.
func Dot(a, b []float32) float32 { return vek32.Dot(a, b) }

// Norm returns the Euclidean length of v.
func Norm(v []float32) float32 {
	if len(v) == 0 {
		return 0
	}
	return vek32.Norm(v)
}

// Cosine returns the cosine similarity of a and b, or 0 when either has zero norm.
// a and b must have the same non-zero length.
func Cosine(a, b []float32) float32 {
	na, nb := vek32.Norm(a), vek32.Norm(b)
	if na == 0 || nb == 0 {
		return 0
	}
	return vek32.Dot(a, b) / (na * nb)
}

// Validate reports whether v can be normalized: non-empty, every component finite, and a
// non-zero norm. It does not modify v.
func Validate(v []float32) error {
	if len(v) == 0 {
		return ErrEmpty
	}
	// One SIMD pass decides the common case: a finite, non-zero sum of squares proves every
	// component is finite and at least one is non-zero.
	ss := vek32.Dot(v, v)
	if ss > 0 && !isInf(ss) && !isNaN(ss) {
		return nil
	}
	// Slow path: locate the bad component, or prove the vector is fine but badly scaled
	// (squares that overflow or underflow), which Normalize handles by rescaling.
	nonZero := false
	for i, x := range v {
		if isNaN(x) || isInf(x) {
			return &ComponentError{Index: i, Value: x, Err: ErrNonFinite}
		}
		if x != 0 {
			nonZero = true
		}
	}
	if !nonZero {
		return ErrZeroNorm
	}
	return nil
}

// Normalize scales v in place to unit length and returns its original norm. A vector
// already of unit length within float32 rounding (IsUnit) is left bit for bit, so
// normalizing twice changes nothing. It returns an error, leaving v untouched, when
// Validate would.
func Normalize(v []float32) (float32, error) {
	if err := Validate(v); err != nil {
		return 0, err
	}
	return normalizeValid(v), nil
}

// normalizeValid normalizes a vector Validate accepted.
func normalizeValid(v []float32) float32 {
	ss := vek32.Dot(v, v)
	if ss >= minSafeSumSq && !isInf(ss) {
		n := float32(math.Sqrt(float64(ss)))
		if !IsUnit(ss) { // a unit vector stays bit for bit: normalizing is idempotent
			vek32.MulNumber_Inplace(v, 1/n)
		}
		return n
	}
	return normalizeScaled(v)
}

// normalizeScaled normalizes a vector whose float32 sum of squares overflowed (components
// near MaxFloat32) or underflowed (tiny or subnormal components), in float64: the
// components are divided by the largest magnitude first, so the squares neither overflow
// nor vanish. Rescaling in float32 instead cannot work at the bottom of the range: the
// reciprocal of a subnormal (up to 2^149) overflows float32 to +Inf, and 0·Inf is NaN —
// a vector of 1e-40s came out all NaN. Rare rows only (the batch path sends every
// well-scaled row through the SIMD branch above), so the scalar loops cost nothing that
// matters. Returns the original norm (+Inf when it exceeds float32's range).
func normalizeScaled(v []float32) float32 {
	var scale float64
	for _, x := range v {
		scale = max(scale, math.Abs(float64(x)))
	}
	var ss float64
	for _, x := range v {
		y := float64(x) / scale
		ss += y * y
	}
	n := math.Sqrt(ss) // in [1, sqrt(len(v))]: the largest component became ±1
	for i, x := range v {
		v[i] = float32(float64(x) / scale / n)
	}
	return float32(n * scale)
}

// NormalizeBatch normalizes every row of the row-major matrix m (rows of length dim) in
// place. errs[i] is nil for each row that was normalized and the Validate error for each
// row that was left untouched; norms[i] is the original norm of row i. It returns the
// number of rows that failed. len(m) must be a multiple of dim.
//
// A well-scaled row costs one dot product (its sum of squares, which also proves it finite
// and non-zero) and one scaling, both SIMD; only a row whose sum of squares is not a
// normal positive number takes the slow path of Validate and a rescale. A row already of
// unit length within float32 rounding (IsUnit) is left bit for bit as it is, so a vector
// read back from the store and written again does not drift.
func NormalizeBatch(m []float32, dim int, norms []float32, errs []error) int {
	rows := Rows(m, dim)
	failed := 0
	for i := 0; i < rows; i++ {
		row := m[i*dim : (i+1)*dim]
		var n float32
		var err error
		if ss := vek32.Dot(row, row); ss >= minSafeSumSq && !isInf(ss) {
			n = float32(math.Sqrt(float64(ss)))
			if !IsUnit(ss) {
				vek32.MulNumber_Inplace(row, 1/n)
			}
		} else {
			n, err = Normalize(row)
		}
		if norms != nil {
			norms[i] = n
		}
		if errs != nil {
			errs[i] = err
		}
		if err != nil {
			failed++
		}
	}
	return failed
}

// unitSlack is how far from 1 the sum of squares of a vector that was normalized in
// float32 may lie: a few units of float32 rounding per component add up to well below it
// for any dimension the store takes, and a vector this close to unit length scores within
// 2^-17 of its renormalized self.
const unitSlack = 1.0 / (1 << 16)

// IsUnit reports whether ss, a vector's sum of squares, says the vector is unit length
// within float32 rounding: normalizing it again would only move its last bits.
func IsUnit(ss float32) bool { return ss >= 1-unitSlack && ss <= 1+unitSlack }

// Rows returns how many rows of length dim m holds, panicking on a ragged matrix since
// that is always a caller bug.
func Rows(m []float32, dim int) int {
	if dim <= 0 || len(m)%dim != 0 {
		panic(fmt.Sprintf("vector: matrix of %d floats is not a whole number of %d-dim rows", len(m), dim))
	}
	return len(m) / dim
}

// minSafeSumSq is the smallest sum of squares normalized directly: below it the reciprocal
// of the norm loses precision to subnormals (or overflows), so the vector is rescaled first.
const minSafeSumSq = 1e-30

func isNaN(x float32) bool { return x != x }
func isInf(x float32) bool { return x > math.MaxFloat32 || x < -math.MaxFloat32 }
