package vector

import (
	"slices"

	"github.com/viterin/vek/vek32"
)

// Scored is one row of a matrix with its similarity to a query.
type Scored struct {
	Row   int
	Score float32
}

// TopK scans the row-major matrix m (rows of length dim) and returns the k rows with the
// largest dot product with q, best first (ties broken by lower row), appended to dst[:0].
//
// Rows scoring below minScore are skipped, and so are rows scoring NaN (a row with a
// non-finite component): a NaN in the heap would compare false with everything and never
// leave it, taking a real hit's place. filter, when non-nil, is consulted only for rows
// that would enter the current top k, so an expensive predicate (a metadata lookup, say)
// runs for a small fraction of the rows instead of all of them.
//
// On unit vectors the dot product is the cosine similarity. The scan is single-threaded on
// purpose: callers parallelize across queries (BatchRecall), which scales better than
// splitting one query and keeps the latency of one call predictable.
func TopK(m []float32, dim int, q []float32, k int, minScore float32, filter func(row int) bool, dst []Scored) []Scored {
	acc := NewTopKAcc(k, minScore, dst)
	acc.Scan(m, dim, q, 0, filter)
	return acc.Result()
}

// TopKAcc accumulates the best k rows over several scans, for matrices stored in blocks.
// Create it with NewTopKAcc, Scan every block, then take Result.
type TopKAcc struct {
	h        topHeap
	k        int
	minScore float32
}

// NewTopKAcc returns an accumulator for the best k rows scoring at least minScore; dst
// lends it storage (its contents are overwritten).
func NewTopKAcc(k int, minScore float32, dst []Scored) *TopKAcc {
	return &TopKAcc{h: topHeap(dst[:0]), k: k, minScore: minScore}
}

// Scan offers every row of m (rows of length dim) to the accumulator; row numbers are
// reported as base + the row's index in m, and filter receives those numbers.
func (a *TopKAcc) Scan(m []float32, dim int, q []float32, base int, filter func(row int) bool) {
	if a.k <= 0 || len(q) != dim {
		return
	}
	rows := Rows(m, dim)
	h, k := a.h, a.k
	for i := 0; i < rows; i++ {
		s := vek32.Dot(m[i*dim:(i+1)*dim], q)
		if !(s >= a.minScore) { // a NaN score (a non-finite row) is never a hit
			continue
		}
		row := base + i
		if len(h) == k && !h.beats(s, row, 0) {
			continue
		}
		if filter != nil && !filter(row) {
			continue
		}
		h.offer(Scored{Row: row, Score: s}, k)
	}
	a.h = h
}

// Offer considers one row with its precomputed score, for callers that cannot hand over a
// contiguous matrix (a graph whose rows are not all live). filter is as for Scan.
func (a *TopKAcc) Offer(row int, score float32, filter func(row int) bool) {
	if a.k <= 0 || !(score >= a.minScore) { // NaN included: it would wedge the heap's root
		return
	}
	if len(a.h) == a.k && !a.h.beats(score, row, 0) {
		return
	}
	if filter != nil && !filter(row) {
		return
	}
	a.h.offer(Scored{Row: row, Score: score}, a.k)
}

// Result returns the accumulated rows, best first.
func (a *TopKAcc) Result() []Scored { return a.h.sorted() }

// topHeap is a bounded min-heap on Score: the root is the worst of the best k seen so far,
// so a candidate is admitted by one comparison against h[0]. Hand-rolled rather than
// container/heap to keep the scan free of interface calls and allocations.
type topHeap []Scored

// beats reports whether (score,row) ranks above element j: higher score, then lower row.
func (h topHeap) beats(score float32, row, j int) bool {
	return score > h[j].Score || (score == h[j].Score && row < h[j].Row)
}

// less reports whether element i ranks strictly below element j (i is the worse one).
func (h topHeap) less(i, j int) bool { return h.beats(h[j].Score, h[j].Row, i) }

// offer adds c to a heap bounded at k, evicting the root when full. The caller has
// already checked that c beats the root of a full heap.
func (hp *topHeap) offer(c Scored, k int) {
	h := *hp
	if len(h) < k {
		h = append(h, c)
		// sift up
		i := len(h) - 1
		for i > 0 {
			p := (i - 1) / 2
			if !h.less(i, p) {
				break
			}
			h[i], h[p] = h[p], h[i]
			i = p
		}
		*hp = h
		return
	}
	h[0] = c
	h.down(0)
}

func (h topHeap) down(i int) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h.less(r, l) {
			m = r
		}
		if !h.less(m, i) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// sorted returns the heap's elements best first.
func (h topHeap) sorted() []Scored {
	s := []Scored(h)
	slices.SortFunc(s, func(a, b Scored) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return a.Row - b.Row
	})
	return s
}
