package index

import (
	"fmt"
	"math"
	"slices"

	"github.com/viterin/vek/vek32"
)

// centroids are the lists' centres: unit vectors, kept at full precision (for splits and
// snapshots) and as 8-bit codes (for scoring, with the same int8 kernel as the rows).
type centroids struct {
	dim    int
	vecs   []float32 // n × dim
	codes  []int8    // n × dim
	scales []float32
}

func (c *centroids) len() int { return len(c.scales) }

// add appends v, normalized.
func (c *centroids) add(v []float32) {
	c.vecs = append(c.vecs, v...)
	c.codes = append(c.codes, make([]int8, c.dim)...)
	c.scales = append(c.scales, 0)
	c.set(c.len()-1, v)
}

// set makes centroid i the normalization of v (v may alias its slot).
func (c *centroids) set(i int, v []float32) {
	dst := c.vecs[i*c.dim : (i+1)*c.dim]
	copy(dst, v)
	if n := vek32.Norm(dst); n > 0 {
		vek32.DivNumber_Inplace(dst, n)
	}
	c.scales[i] = quantize(c.codes[i*c.dim:(i+1)*c.dim], dst)
}

// move copies centroid from into slot to.
func (c *centroids) move(from, to int) {
	copy(c.vecs[to*c.dim:(to+1)*c.dim], c.vecs[from*c.dim:(from+1)*c.dim])
	copy(c.codes[to*c.dim:(to+1)*c.dim], c.codes[from*c.dim:(from+1)*c.dim])
	c.scales[to] = c.scales[from]
}

func (c *centroids) truncate(n int) {
	c.vecs, c.codes, c.scales = c.vecs[:n*c.dim], c.codes[:n*c.dim], c.scales[:n]
}

func (c *centroids) vec(i int) []float32 { return c.vecs[i*c.dim : (i+1)*c.dim] }

// nearest returns the centroid most similar to the vector with code and scale (0 when
// there is none).
func (c *centroids) nearest(code []int8, _ float32) int {
	best, bestSim := 0, float32(math.Inf(-1))
	for i, s := range c.scales {
		if sim := s * float32(dot8(code, c.codes[i*c.dim:(i+1)*c.dim])); sim > bestSim {
			best, bestSim = i, sim
		}
	}
	return best
}

// top returns the probe centroids most similar to the query code qc, most similar first.
func (c *centroids) top(qc []int8, probe int) []int {
	h := make(minQueue, 0, probe)
	for i, s := range c.scales {
		sim := s * float32(dot8(qc, c.codes[i*c.dim:(i+1)*c.dim]))
		switch {
		case len(h) < probe:
			h.push(cand{sim, uint32(i)})
		case sim > h[0].sim:
			h.replaceTop(cand{sim, uint32(i)})
		}
	}
	out := make([]int, len(h))
	for i := len(h) - 1; i >= 0; i-- {
		out[i] = int(h.pop().id)
	}
	return out
}

// check verifies centroid i: finite, unit length, its code current.
func (c *centroids) check(i int) error {
	v := c.vec(i)
	n := vek32.Norm(v)
	if math.IsNaN(float64(n)) || math.Abs(float64(n)-1) > 1e-3 {
		return fmt.Errorf("centroid %d has norm %v", i, n)
	}
	code := make([]int8, c.dim)
	if quantize(code, v) != c.scales[i] || !slices.Equal(code, c.codes[i*c.dim:(i+1)*c.dim]) {
		return fmt.Errorf("centroid %d: code out of date", i)
	}
	return nil
}

func (c *centroids) bytes() int64 {
	return int64(cap(c.vecs))*4 + int64(cap(c.codes)) + int64(cap(c.scales))*4
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

// Search implements Index with approximate similarities: the query is quantized, scored
// against the centroids, and the rows of the Breadth nearest lists (0: IVFConfig.Probe;
// every list under Exact) are scored by an int8 dot product. It returns the k best, most
// similar first, for the caller to re-rank at full precision. The filter is consulted only
// for rows that would enter the result, as they are met.
func (x *IVF) Search(q []float32, k int, opt SearchOptions) ([]Result, error) {
	if len(q) != x.dim {
		return nil, fmt.Errorf("%w: query of dim %d, index dim %d", ErrDimension, len(q), x.dim)
	}
	if k <= 0 {
		return nil, nil
	}
	sc := newScorer(x.dim, q, opt.MinSimilarity)
	x.mu.RLock()
	defer x.mu.RUnlock()
	probe := opt.Breadth
	if probe <= 0 {
		probe = x.cfg.Probe
	}
	var order []int
	if opt.Exact || probe >= len(x.lists) {
		order = make([]int, len(x.lists))
		for i := range order {
			order[i] = i
		}
	} else {
		order = x.cent.top(sc.qc, probe)
	}
	h := make(minQueue, 0, k)
	for _, li := range order {
		x.scanList(&sc, li, k, &h, opt.Filter)
	}
	out := make([]Result, len(h))
	for i, c := range h {
		li, pos := unloc(int32(c.id))
		out[i] = Result{Key: x.lists[li].keys[pos], Similarity: c.sim}
	}
	sortTies(out)
	return out, nil
}

// scanList scores list li's rows into h (at most keep, least similar at the root).
func (x *IVF) scanList(sc *scorer, li, keep int, h *minQueue, filter func(uint64) bool) {
	l := x.lists[li]
	dim := x.dim
	for i, sv := range l.scales {
		sim := sc.qs * sv * float32(dot8(sc.qc, l.codes[i*dim:(i+1)*dim]))
		if sim+sc.errBound(sv) < sc.minSim {
			continue
		}
		if len(*h) == keep && sim <= (*h)[0].sim {
			continue
		}
		if filter != nil && !filter(l.keys[i]) {
			continue
		}
		c := cand{sim, uint32(loc(li, i))}
		if len(*h) < keep {
			h.push(c)
		} else {
			h.replaceTop(c)
		}
	}
}
