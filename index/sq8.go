package index

import (
	"fmt"
	"iter"
	"math"
	"runtime"
	"sync"
)

// KindSQ8 is the compressed scan index of the warm tier.
const KindSQ8 Kind = 3

// SQ8 keeps vectors scalar-quantized to 8 bits — one int8 per component plus one float32
// scale per vector (v ≈ scale × code), a quarter of float32 — and searches them by a full
// scan with an int8 dot product (AVX2 on amd64). Scores are approximate (a quantization
// error around 1e-3 of a cosine), so SQ8 is a candidate generator: the warm tier asks it
// for a few times k candidates and re-ranks them at full precision from the records.
//
// Each row also carries a stamp, a uint32 the caller owns (the warm tier stores the time
// of last use there, to age memories into the cold tier without a map per memory).
//
// Rows live in fixed blocks of about 1 MiB of codes, each with its rows' scales, keys and
// stamps, so memory follows the row count exactly (no append slack on millions of rows)
// and an emptied block is released. Keys map to rows through a paged array (rows.go).
type SQ8 struct {
	mu       sync.RWMutex
	dim      int
	perBlock int
	blocks   []*sq8Block // row r: blocks[r/perBlock], slot r%perBlock
	n        int
	row      rowIndex
}

type sq8Block struct {
	codes  []int8 // perBlock × dim
	scales []float32
	keys   []uint64
	stamps []uint32
}

// NewSQ8 returns an empty index of dim-length unit vectors.
func NewSQ8(dim int) *SQ8 {
	return &SQ8{dim: dim, perBlock: max(64, (1<<20)/max(dim, 1)), row: newRowIndex()}
}

func (s *SQ8) at(r int) (*sq8Block, int) { return s.blocks[r/s.perBlock], r % s.perBlock }

func (s *SQ8) keyAt(r int) uint64 {
	b, i := s.at(r)
	return b.keys[i]
}

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

func (s *SQ8) code(r int) []int8 {
	b, i := s.at(r)
	return b.codes[i*s.dim : (i+1)*s.dim]
}

// Kind implements Index.
func (s *SQ8) Kind() Kind { return KindSQ8 }

// Dim implements Index.
func (s *SQ8) Dim() int { return s.dim }

// Len implements Index.
func (s *SQ8) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.n
}

// Add implements Index (stamps of new rows are 0).
func (s *SQ8) Add(keys []uint64, vecs []float32) error {
	return s.AddStamped(keys, vecs, nil)
}

// AddStamped adds rows with their stamps (nil: zeros).
func (s *SQ8) AddStamped(keys []uint64, vecs []float32, stamps []uint32) error {
	if len(vecs) != len(keys)*s.dim || (stamps != nil && len(stamps) != len(keys)) {
		return fmt.Errorf("%w: %d floats, %d stamps for %d keys of dim %d", ErrDimension, len(vecs), len(stamps), len(keys), s.dim)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, k := range keys {
		var stamp uint32
		if stamps != nil {
			stamp = stamps[i]
		}
		v := vecs[i*s.dim : (i+1)*s.dim]
		r, ok := s.row.get(k)
		if !ok {
			r = int32(s.n)
			if int(r) == len(s.blocks)*s.perBlock {
				s.blocks = append(s.blocks, &sq8Block{
					codes: make([]int8, s.perBlock*s.dim), scales: make([]float32, s.perBlock),
					keys: make([]uint64, s.perBlock), stamps: make([]uint32, s.perBlock),
				})
			}
			s.n++
			s.row.set(k, r)
		}
		b, j := s.at(int(r))
		b.keys[j], b.stamps[j] = k, stamp
		b.scales[j] = quantize(b.codes[j*s.dim:(j+1)*s.dim], v)
	}
	return nil
}

// Delete implements Index; the last row moves into the hole.
func (s *SQ8) Delete(keys ...uint64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, k := range keys {
		r, ok := s.row.get(k)
		if !ok {
			continue
		}
		n++
		last := s.n - 1
		if int(r) != last {
			b, i := s.at(int(r))
			lb, li := s.at(last)
			copy(s.code(int(r)), s.code(last))
			b.scales[i], b.keys[i], b.stamps[i] = lb.scales[li], lb.keys[li], lb.stamps[li]
			s.row.set(b.keys[i], r)
		}
		s.row.del(k)
		s.n = last
		if last%s.perBlock == 0 { // the last block emptied: release it
			s.blocks[len(s.blocks)-1] = nil
			s.blocks = s.blocks[:len(s.blocks)-1]
		}
	}
	return n
}

// Contains implements Index.
func (s *SQ8) Contains(key uint64) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.row.get(key)
	return ok
}

// Stamp returns key's stamp.
func (s *SQ8) Stamp(key uint64) (uint32, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.row.get(key)
	if !ok {
		return 0, false
	}
	b, i := s.at(int(r))
	return b.stamps[i], true
}

// SetStamp sets key's stamp, reporting whether key is present.
func (s *SQ8) SetStamp(key uint64, v uint32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.row.get(key)
	if ok {
		b, i := s.at(int(r))
		b.stamps[i] = v
	}
	return ok
}

// StampedBefore returns up to n keys whose stamp is below limit.
func (s *SQ8) StampedBefore(limit uint32, n int) []uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []uint64
	for r := 0; r < s.n && len(out) < n; r++ {
		if b, i := s.at(r); b.stamps[i] < limit {
			out = append(out, b.keys[i])
		}
	}
	return out
}

// Keys implements Index.
func (s *SQ8) Keys() iter.Seq[uint64] {
	return func(yield func(uint64) bool) {
		s.mu.RLock()
		keys := s.keysLocked()
		s.mu.RUnlock()
		for _, k := range keys {
			if !yield(k) {
				return
			}
		}
	}
}

func (s *SQ8) keysLocked() []uint64 {
	keys := make([]uint64, s.n)
	for r := range keys {
		keys[r] = s.keyAt(r)
	}
	return keys
}

// MemoryBytes implements Index: the blocks (codes, scales, keys, stamps) and the row index.
func (s *SQ8) MemoryBytes() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return int64(len(s.blocks))*int64(s.perBlock)*int64(s.dim+4+8+4) + s.row.bytes()
}

// parallelRows is the size from which one search is split across cores.
const parallelRows = 50_000

// Search implements Index with approximate similarities: the query is quantized too and
// every row scored by an int8 dot product. The caller re-ranks the candidates at full
// precision, so Search returns up to max(k, Breadth) of them (the warm tier asks for 4k).
//
// Large indexes are scanned by all cores, without the filter: a filter reads the caller's
// state (a bbolt transaction, which is not for concurrent use, and where a damaged page
// must fail in the caller's goroutine), so the workers keep extra candidates and the
// filter runs here on the merged list. If it rejects so many that fewer than wanted
// remain, a filtered scan on this goroutine gives the exact answer.
func (s *SQ8) Search(q []float32, k int, opt SearchOptions) ([]Result, error) {
	if len(q) != s.dim {
		return nil, fmt.Errorf("%w: query of dim %d, index dim %d", ErrDimension, len(q), s.dim)
	}
	if k <= 0 {
		return nil, nil
	}
	keep := max(k, opt.Breadth)
	sc := s.scorer(q, opt.MinSimilarity)
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := s.n
	parts := 1
	if n >= parallelRows {
		parts = min(runtime.GOMAXPROCS(0), n/(parallelRows/2))
	}
	if parts <= 1 {
		return s.scan(sc, keep, opt.Filter, 0, n), nil
	}
	wide := keep
	if opt.Filter != nil {
		wide = min(n, 4*keep)
	}
	results := make([][]Result, parts)
	var wg sync.WaitGroup
	for p := range parts {
		wg.Go(func() { results[p] = s.scan(sc, wide, nil, p*n/parts, (p+1)*n/parts) })
	}
	wg.Wait()
	var all []Result
	exhausted := true // every part returned all its passing rows
	for _, r := range results {
		all = append(all, r...)
		exhausted = exhausted && len(r) < wide
	}
	sortTies(all)
	if opt.Filter == nil {
		return all[:min(len(all), keep)], nil
	}
	out := all[:0]
	for _, r := range all {
		if len(out) == keep {
			return out, nil
		}
		if opt.Filter(r.Key) {
			out = append(out, r)
		}
	}
	if len(out) == keep || exhausted {
		return out, nil
	}
	return s.scan(sc, keep, opt.Filter, 0, n), nil
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

func (s *SQ8) scorer(q []float32, minSim float32) scorer {
	sc := scorer{qc: make([]int8, s.dim), rootD: float32(math.Sqrt(float64(s.dim))), dim: float32(s.dim), minSim: minSim}
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

// scan scores rows [from, to) and keeps the best keep (a min-heap on similarity) that pass
// filter (nil: all).
func (s *SQ8) scan(sc scorer, keep int, filter func(uint64) bool, from, to int) []Result {
	h := make(minQueue, 0, keep)
	for r := from; r < to; r++ {
		b, i := s.at(r)
		sv := b.scales[i]
		sim := sc.qs * sv * float32(dot8(sc.qc, b.codes[i*s.dim:(i+1)*s.dim]))
		if !(sim+sc.errBound(sv) >= sc.minSim) { // NaN: a row coded from a non-finite vector
			continue
		}
		if len(h) == keep && sim <= h[0].sim {
			continue
		}
		if filter != nil && !filter(b.keys[i]) {
			continue
		}
		if len(h) < keep {
			h.push(cand{sim, uint32(r)})
		} else {
			h.replaceTop(cand{sim, uint32(r)})
		}
	}
	out := make([]Result, len(h))
	for i, c := range h {
		out[i] = Result{Key: s.keyAt(int(c.id)), Similarity: c.sim}
	}
	sortTies(out)
	return out
}

// MarshalBinary implements Index. The warm tier is rebuilt from records at Open, so the
// snapshot form exists only to satisfy the interface: it is the flat form of the
// dequantized vectors.
func (s *SQ8) MarshalBinary() ([]byte, error) {
	s.mu.RLock()
	keys := s.keysLocked()
	vecs := make([]float32, 0, len(keys)*s.dim)
	for r := range keys {
		b, i := s.at(r)
		for _, c := range s.code(r) {
			vecs = append(vecs, b.scales[i]*float32(c))
		}
	}
	s.mu.RUnlock()
	f := NewFlat(s.dim)
	if err := f.Add(keys, vecs); err != nil {
		return nil, err
	}
	return f.MarshalBinary()
}
