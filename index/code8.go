package index

import "math"

// 8-bit scalar quantization, the warm tier's code: one int8 per component and one float32
// scale per vector (v ≈ scale × code), a quarter of float32. Similarities of two codes are
// an int8 dot product (dot8: AVX2 on amd64) times both scales, within about 1e-3 of the
// exact cosine for unit vectors of a few hundred dimensions; errBound gives a guaranteed
// bound for the pre-filters that must never drop a true match.

// quantize writes v's codes into dst and returns the scale: the largest magnitude maps to
// ±127, so the rounding error of each component is at most scale/2.
func quantize(dst []int8, v []float32) float32 {
	var m float32
	for _, x := range v {
		m = max(m, float32(math.Abs(float64(x))))
	}
	if m == 0 {
		clear(dst)
		return 0
	}
	inv := 127 / m
	for i, x := range v {
		dst[i] = int8(math.Round(float64(x * inv)))
	}
	return m / 127
}

// scorer holds a quantized query and what the similarity pre-filter needs.
type scorer struct {
	qc     []int8
	qs     float32 // the query's scale
	qL1    float32 // the query's L1 norm
	rootD  float32
	dim    float32
	minSim float32
}

// newScorer quantizes the query q for an int8 scan and prepares the MinSimilarity
// pre-filter (see scorer.errBound).
func newScorer(dim int, q []float32, minSim float32) scorer {
	sc := scorer{qc: make([]int8, dim), rootD: float32(math.Sqrt(float64(dim))), dim: float32(dim), minSim: minSim}
	sc.qs = quantize(sc.qc, q)
	for _, x := range q {
		sc.qL1 += float32(math.Abs(float64(x)))
	}
	return sc
}

// errBound bounds |q·v − estimate| for a row of scale sv: each component of either vector
// is off by at most half its scale, so the error is at most sv/2·‖q‖₁ + qs/2·‖v‖₁ +
// d·qs·sv/4, with ‖v‖₁ ≤ √d for a unit vector. The MinSimilarity pre-filter drops a row only
// when even its bound cannot reach the threshold, so the full-precision re-rank decides.
func (sc *scorer) errBound(sv float32) float32 {
	return sv/2*sc.qL1 + sc.qs/2*sc.rootD + sc.dim*sc.qs*sv/4
}
