package index

import (
	"fmt"
	"iter"
	"math"
	"runtime"
	"slices"
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
type SQ8 struct {
	mu       sync.RWMutex
	dim      int
	perBlock int
	codes    [][]int8 // row r: codes[r/perBlock][(r%perBlock)*dim:][:dim]
	scales   []float32
	keys     []uint64
	stamps   []uint32
	row      map[uint64]int32
}

// NewSQ8 returns an empty index of dim-length unit vectors.
func NewSQ8(dim int) *SQ8 {
	return &SQ8{dim: dim, perBlock: max(64, (1<<20)/max(dim, 1)), row: make(map[uint64]int32)}
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
	off := (r % s.perBlock) * s.dim
	return s.codes[r/s.perBlock][off : off+s.dim]
}

// Kind implements Index.
func (s *SQ8) Kind() Kind { return KindSQ8 }

// Dim implements Index.
func (s *SQ8) Dim() int { return s.dim }

// Len implements Index.
func (s *SQ8) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.keys)
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
		if r, ok := s.row[k]; ok {
			s.scales[r] = quantize(s.code(int(r)), v)
			s.stamps[r] = stamp
			continue
		}
		r := len(s.keys)
		if r%s.perBlock == 0 && r/s.perBlock == len(s.codes) {
			s.codes = append(s.codes, make([]int8, s.perBlock*s.dim))
		}
		s.row[k] = int32(r)
		s.keys = append(s.keys, k)
		s.scales = append(s.scales, quantize(s.code(r), v))
		s.stamps = append(s.stamps, stamp)
	}
	return nil
}

// Delete implements Index; the last row moves into the hole.
func (s *SQ8) Delete(keys ...uint64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, k := range keys {
		r, ok := s.row[k]
		if !ok {
			continue
		}
		n++
		last := len(s.keys) - 1
		if int(r) != last {
			copy(s.code(int(r)), s.code(last))
			s.scales[r], s.keys[r], s.stamps[r] = s.scales[last], s.keys[last], s.stamps[last]
			s.row[s.keys[r]] = r
		}
		s.keys, s.scales, s.stamps = s.keys[:last], s.scales[:last], s.stamps[:last]
		if last%s.perBlock == 0 { // the last block emptied: release it
			s.codes[len(s.codes)-1] = nil
			s.codes = s.codes[:len(s.codes)-1]
		}
		delete(s.row, k)
	}
	return n
}

// Contains implements Index.
func (s *SQ8) Contains(key uint64) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.row[key]
	return ok
}

// Stamp returns key's stamp.
func (s *SQ8) Stamp(key uint64) (uint32, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.row[key]
	if !ok {
		return 0, false
	}
	return s.stamps[r], true
}

// SetStamp sets key's stamp, reporting whether key is present.
func (s *SQ8) SetStamp(key uint64, v uint32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.row[key]
	if ok {
		s.stamps[r] = v
	}
	return ok
}

// StampedBefore returns up to n keys whose stamp is below limit.
func (s *SQ8) StampedBefore(limit uint32, n int) []uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []uint64
	for r, st := range s.stamps {
		if st < limit {
			out = append(out, s.keys[r])
			if len(out) == n {
				break
			}
		}
	}
	return out
}

// Keys implements Index.
func (s *SQ8) Keys() iter.Seq[uint64] {
	return func(yield func(uint64) bool) {
		s.mu.RLock()
		keys := slices.Clone(s.keys)
		s.mu.RUnlock()
		for _, k := range keys {
			if !yield(k) {
				return
			}
		}
	}
}

// MemoryBytes implements Index: codes, scales, keys, stamps and the key map (about 24
// bytes an entry).
func (s *SQ8) MemoryBytes() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return int64(len(s.codes))*int64(s.perBlock*s.dim) + int64(cap(s.scales))*4 + int64(cap(s.keys))*8 +
		int64(cap(s.stamps))*4 + int64(len(s.row))*24
}

// parallelRows is the size from which one search is split across cores.
const parallelRows = 50_000

// Search implements Index with approximate similarities: the query is quantized too and
// every row scored by an int8 dot product. Large indexes are scanned by all cores. The
// caller re-ranks the candidates at full precision (Breadth sets how many are kept, at
// least k; the warm tier asks for 4k).
func (s *SQ8) Search(q []float32, k int, opt SearchOptions) ([]Result, error) {
	if len(q) != s.dim {
		return nil, fmt.Errorf("%w: query of dim %d, index dim %d", ErrDimension, len(q), s.dim)
	}
	if k <= 0 {
		return nil, nil
	}
	keep := max(k, opt.Breadth)
	qc := make([]int8, s.dim)
	qs := quantize(qc, q)
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := len(s.keys)
	parts := 1
	if n >= parallelRows {
		parts = min(runtime.GOMAXPROCS(0), n/(parallelRows/2))
	}
	results := make([][]Result, parts)
	var wg sync.WaitGroup
	for p := 0; p < parts; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[p] = s.scan(qc, qs, keep, opt, p*n/parts, (p+1)*n/parts)
		}()
	}
	wg.Wait()
	var all []Result
	for _, r := range results {
		all = append(all, r...)
	}
	sortTies(all)
	if len(all) > keep {
		all = all[:keep]
	}
	return all, nil
}

// scan scores rows [from, to) and keeps the best keep, a min-heap on similarity.
func (s *SQ8) scan(qc []int8, qs float32, keep int, opt SearchOptions, from, to int) []Result {
	h := make(minQueue, 0, keep)
	for r := from; r < to; r++ {
		sim := qs * s.scales[r] * float32(dot8(qc, s.code(r)))
		if sim < opt.MinSimilarity-0.01 { // approximate: leave a margin for the re-rank
			continue
		}
		if len(h) == keep && sim <= h[0].sim {
			continue
		}
		if opt.Filter != nil && !opt.Filter(s.keys[r]) {
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
		out[i] = Result{Key: s.keys[c.id], Similarity: c.sim}
	}
	return out
}

// MarshalBinary implements Index. The warm tier is rebuilt from records at Open, so the
// snapshot form exists only to satisfy the interface: it is the flat form of the
// dequantized vectors.
func (s *SQ8) MarshalBinary() ([]byte, error) {
	s.mu.RLock()
	keys := slices.Clone(s.keys)
	vecs := make([]float32, 0, len(keys)*s.dim)
	for r := range keys {
		for _, c := range s.code(r) {
			vecs = append(vecs, s.scales[r]*float32(c))
		}
	}
	s.mu.RUnlock()
	f := NewFlat(s.dim)
	if err := f.Add(keys, vecs); err != nil {
		return nil, err
	}
	return f.MarshalBinary()
}
