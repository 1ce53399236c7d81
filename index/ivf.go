package index

import (
	"fmt"
	"iter"
	"math"
	"sync"
	"sync/atomic"
)

// KindIVF is the warm tier's approximate index: an inverted file over 8-bit codes.
const KindIVF Kind = 4

// IVF is an inverted-file index over 8-bit scalar-quantized vectors (one int8 per
// component and one float32 scale per vector, a quarter of float32): the vectors are
// partitioned into lists, each around a centroid, and a search scores the query against the
// centroids, then scans only the codes of the nearest lists with an int8 dot product (AVX2
// on amd64). Scores are approximate (a quantization error around 1e-3 of a cosine), so
// the caller re-ranks the results at full precision.
//
// It is built for the warm tier, which migration changes all the time: an insert costs one
// pass over the centroids (no graph search, no links to repair), a delete is a swap within
// one list. The partition grows with the data instead of being trained up front: there is
// one list at first, and a list that grows past twice its target size is split in two by
// 2-means on its own rows (bisecting k-means, one list at a time), so the lists follow
// the data as it arrives. The target size grows with the index (√n, within bounds), so the
// number of lists does too. A list that empties is removed.
//
// Each row carries a stamp, a uint32 the caller owns (the warm tier keeps the time of last
// use there, to age memories into the cold tier without a map per memory).
//
// Concurrency: searches hold a read lock; inserts choose their lists under the read lock
// and take the write lock only to place the rows, so a batch of migrations does not stall
// recalls for its whole length.
type IVF struct {
	mu    sync.RWMutex
	dim   int
	cfg   IVFConfig
	lists []*ivfList
	cent  centroids
	row   rowIndex // key → loc (list << locPosBits | position)
	n     int
	epoch uint64 // bumped whenever lists are added, removed or renumbered

	changes atomic.Uint64 // bumped by every Add and Delete, for snapshot staleness
}

// IVFConfig tunes an IVF index. Zero fields take the defaults documented on each.
type IVFConfig struct {
	// ListSize is the target rows per list: a list is split when it passes twice the
	// target. 0 (default) grows it with the index: √n, at least MinListSize.
	ListSize int
	// Probe is how many lists a search scans (SearchOptions.Breadth overrides it).
	// Default 48.
	Probe int
}

// Defaults and limits of the IVF. minListSize keeps small indexes as a single scan: below
// 2 × minListSize rows there is one list, which a search reads whole.
const (
	minListSize  = 256
	maxListSize  = 4096
	defaultProbe = 48

	locPosBits  = 14
	maxListRows = 1<<locPosBits - 1      // rows a list may hold (a split keeps lists far below it)
	maxLists    = 1<<(31-locPosBits) - 2 // so that every loc + 1 fits an int32
)

func (c IVFConfig) withDefaults() IVFConfig {
	if c.Probe <= 0 {
		c.Probe = defaultProbe
	}
	if c.ListSize < 0 {
		c.ListSize = 0
	}
	return c
}

// ivfList is one partition: rows stored contiguously, so a scan streams through memory.
type ivfList struct {
	codes  []int8 // len(keys) × dim
	scales []float32
	keys   []uint64
	stamps []uint32 // read and written atomically (SetStamp runs under the read lock)
}

func (l *ivfList) len() int { return len(l.keys) }

// grow makes room for extra more rows. Capacity grows by an eighth (at least 16 rows), not
// by append's doubling: with thousands of lists, doubling would leave a quarter of the
// codes' memory as slack on average.
func (l *ivfList) grow(dim, extra int) {
	n := len(l.keys)
	if n+extra <= cap(l.keys) {
		return
	}
	c := max(n+extra, cap(l.keys)+max(cap(l.keys)/8, 16))
	codes := make([]int8, n*dim, c*dim)
	copy(codes, l.codes)
	scales := make([]float32, n, c)
	copy(scales, l.scales)
	keys := make([]uint64, n, c)
	copy(keys, l.keys)
	stamps := make([]uint32, n, c)
	copy(stamps, l.stamps)
	l.codes, l.scales, l.keys, l.stamps = codes, scales, keys, stamps
}

func (l *ivfList) code(dim, i int) []int8 { return l.codes[i*dim : (i+1)*dim : (i+1)*dim] }

// push appends a row whose code is already computed.
func (l *ivfList) push(dim int, code []int8, scale float32, key uint64, stamp uint32) int {
	l.grow(dim, 1)
	l.codes = append(l.codes, code...)
	l.scales = append(l.scales, scale)
	l.keys = append(l.keys, key)
	l.stamps = append(l.stamps, stamp)
	return len(l.keys) - 1
}

// shrink reallocates the list at its length.
func (l *ivfList) shrink(dim int) {
	n := len(l.keys)
	l.codes = append(make([]int8, 0, n*dim), l.codes...)
	l.scales = append(make([]float32, 0, n), l.scales...)
	l.keys = append(make([]uint64, 0, n), l.keys...)
	l.stamps = append(make([]uint32, 0, n), l.stamps...)
}

func loc(list, pos int) int32  { return int32(list<<locPosBits | pos) }
func unloc(r int32) (int, int) { return int(r) >> locPosBits, int(r) & (1<<locPosBits - 1) }

// NewIVF returns an empty index of dim-length unit vectors.
func NewIVF(dim int, cfg IVFConfig) *IVF {
	x := &IVF{dim: dim, cfg: cfg.withDefaults(), row: newRowIndex()}
	x.cent.dim = dim
	return x
}

// Kind implements Index.
func (x *IVF) Kind() Kind { return KindIVF }

// Dim implements Index.
func (x *IVF) Dim() int { return x.dim }

// Len implements Index.
func (x *IVF) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.n
}

// Lists returns the number of lists.
func (x *IVF) Lists() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.lists)
}

// Changes returns a counter that grows with every Add and Delete.
func (x *IVF) Changes() uint64 { return x.changes.Load() }

// listSize is the target list size for an index of n rows.
func (x *IVF) listSize(n int) int {
	if x.cfg.ListSize > 0 {
		return x.cfg.ListSize
	}
	return min(max(int(math.Sqrt(float64(n))), minListSize), maxListSize)
}

// Add implements Index (stamps of new rows are 0).
func (x *IVF) Add(keys []uint64, vecs []float32) error { return x.AddStamped(keys, vecs, nil) }

// AddStamped adds rows with their stamps (nil: zeros). A key already present is replaced.
func (x *IVF) AddStamped(keys []uint64, vecs []float32, stamps []uint32) error {
	dim := x.dim
	if len(vecs) != len(keys)*dim || (stamps != nil && len(stamps) != len(keys)) {
		return fmt.Errorf("%w: %d floats, %d stamps for %d keys of dim %d", ErrDimension, len(vecs), len(stamps), len(keys), dim)
	}
	if len(keys) == 0 {
		return nil
	}
	codes := make([]int8, len(keys)*dim)
	scales := make([]float32, len(keys))
	for i := range keys {
		scales[i] = quantize(codes[i*dim:(i+1)*dim], vecs[i*dim:(i+1)*dim])
	}
	// Choose each row's list under the read lock: the centroid pass is the expensive part,
	// and searches may run meanwhile.
	x.mu.RLock()
	epoch := x.epoch
	dest := make([]int32, len(keys))
	for i := range keys {
		dest[i] = int32(x.cent.nearest(codes[i*dim:(i+1)*dim], scales[i]))
	}
	x.mu.RUnlock()

	x.mu.Lock()
	defer x.mu.Unlock()
	for i, k := range keys {
		if r, ok := x.row.get(k); ok {
			x.removeLocked(k, r)
		}
		var stamp uint32
		if stamps != nil {
			stamp = stamps[i]
		}
		li := int(dest[i])
		if x.epoch != epoch || li >= len(x.lists) { // lists changed since: choose again
			li = x.cent.nearest(codes[i*dim:(i+1)*dim], scales[i])
		}
		if len(x.lists) == 0 {
			li = x.addListLocked(vecs[i*dim : (i+1)*dim])
		}
		l := x.lists[li]
		pos := l.push(dim, codes[i*dim:(i+1)*dim], scales[i], k, stamp)
		x.row.set(k, loc(li, pos))
		x.n++
		if l.len() > 2*x.listSize(x.n) && len(x.lists) < maxLists {
			x.splitLocked(li)
		} else if l.len() >= maxListRows {
			return fmt.Errorf("index: IVF list of %d rows cannot be split further", l.len())
		}
	}
	x.changes.Add(1)
	return nil
}

// addListLocked appends an empty list around centroid c (normalized here) and returns its
// number.
func (x *IVF) addListLocked(c []float32) int {
	x.lists = append(x.lists, &ivfList{})
	x.cent.add(c)
	x.epoch++
	return len(x.lists) - 1
}

// Delete implements Index: each row is replaced by its list's last one, and a list that
// empties is removed.
func (x *IVF) Delete(keys ...uint64) int {
	x.mu.Lock()
	defer x.mu.Unlock()
	n := 0
	for _, k := range keys {
		if r, ok := x.row.get(k); ok {
			x.removeLocked(k, r)
			n++
		}
	}
	if n > 0 {
		x.changes.Add(1)
	}
	return n
}

// removeLocked removes key k at loc r.
func (x *IVF) removeLocked(k uint64, r int32) {
	li, pos := unloc(r)
	l := x.lists[li]
	last := l.len() - 1
	if pos != last {
		moved := l.keys[last]
		copy(l.code(x.dim, pos), l.code(x.dim, last))
		l.scales[pos], l.keys[pos] = l.scales[last], moved
		atomic.StoreUint32(&l.stamps[pos], atomic.LoadUint32(&l.stamps[last]))
		x.row.set(moved, loc(li, pos))
	}
	l.codes, l.scales, l.keys, l.stamps = l.codes[:last*x.dim], l.scales[:last], l.keys[:last], l.stamps[:last]
	if cap(l.keys) > 64 && last < cap(l.keys)/2 { // give back what deletions freed
		l.shrink(x.dim)
	}
	x.row.del(k)
	x.n--
	if last == 0 && len(x.lists) > 1 {
		x.removeListLocked(li)
	}
}

// removeListLocked removes the empty list li; the last list takes its number.
func (x *IVF) removeListLocked(li int) {
	end := len(x.lists) - 1
	if li != end {
		x.lists[li] = x.lists[end]
		x.cent.move(end, li)
		for pos, k := range x.lists[li].keys {
			x.row.set(k, loc(li, pos))
		}
	}
	x.lists[end] = nil
	x.lists = x.lists[:end]
	x.cent.truncate(end)
	x.epoch++
}

// Contains implements Index.
func (x *IVF) Contains(key uint64) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	_, ok := x.row.get(key)
	return ok
}

// Stamp returns key's stamp.
func (x *IVF) Stamp(key uint64) (uint32, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	r, ok := x.row.get(key)
	if !ok {
		return 0, false
	}
	li, pos := unloc(r)
	return atomic.LoadUint32(&x.lists[li].stamps[pos]), true
}

// SetStamp sets key's stamp, reporting whether key is present. It takes only the read
// lock: recalls stamp their warm hits, and must not wait behind (or stall) each other.
func (x *IVF) SetStamp(key uint64, v uint32) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	r, ok := x.row.get(key)
	if ok {
		li, pos := unloc(r)
		atomic.StoreUint32(&x.lists[li].stamps[pos], v)
	}
	return ok
}

// StampedBefore returns up to n keys whose stamp is below limit.
func (x *IVF) StampedBefore(limit uint32, n int) []uint64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var out []uint64
	for _, l := range x.lists {
		for i := range l.keys {
			if len(out) == n {
				return out
			}
			if atomic.LoadUint32(&l.stamps[i]) < limit {
				out = append(out, l.keys[i])
			}
		}
	}
	return out
}

// Keys implements Index. It copies the keys first, so the loop body may use the index.
func (x *IVF) Keys() iter.Seq[uint64] {
	return func(yield func(uint64) bool) {
		x.mu.RLock()
		keys := make([]uint64, 0, x.n)
		for _, l := range x.lists {
			keys = append(keys, l.keys...)
		}
		x.mu.RUnlock()
		for _, k := range keys {
			if !yield(k) {
				return
			}
		}
	}
}

// MemoryBytes implements Index: the lists (codes, scales, keys, stamps at capacity), the
// centroids and the row index.
func (x *IVF) MemoryBytes() int64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var b int64
	for _, l := range x.lists {
		b += int64(cap(l.keys))*int64(x.dim+4+8+4) + 4*24 + 8
	}
	return b + x.cent.bytes() + x.row.bytes()
}

// Matches reports whether key is present with the code vec quantizes to (Check uses it to
// compare the codes with the records they were made from).
func (x *IVF) Matches(key uint64, vec []float32) bool {
	if len(vec) != x.dim {
		return false
	}
	code := make([]int8, x.dim)
	scale := quantize(code, vec)
	x.mu.RLock()
	defer x.mu.RUnlock()
	r, ok := x.row.get(key)
	if !ok {
		return false
	}
	li, pos := unloc(r)
	l := x.lists[li]
	if l.scales[pos] != scale {
		return false
	}
	for i, c := range l.code(x.dim, pos) {
		if c != code[i] {
			return false
		}
	}
	return true
}

// Verify checks the index's invariants and reports the first violation: every row is where
// the row index says, keys are unique, counts add up, no list is empty (unless it is the
// only one) or over its limit, and the centroids are finite unit vectors, one per list.
func (x *IVF) Verify() error {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.cent.len() != len(x.lists) {
		return fmt.Errorf("%d centroids for %d lists", x.cent.len(), len(x.lists))
	}
	total := 0
	for li, l := range x.lists {
		n := l.len()
		if len(l.codes) != n*x.dim || len(l.scales) != n || len(l.stamps) != n {
			return fmt.Errorf("list %d: %d keys, %d codes, %d scales, %d stamps", li, n, len(l.codes), len(l.scales), len(l.stamps))
		}
		if n == 0 && len(x.lists) > 1 {
			return fmt.Errorf("list %d is empty", li)
		}
		if n > maxListRows {
			return fmt.Errorf("list %d holds %d rows", li, n)
		}
		for pos, k := range l.keys {
			r, ok := x.row.get(k)
			if !ok {
				return fmt.Errorf("key %d in list %d is not in the row index", k, li)
			}
			if gl, gp := unloc(r); gl != li || gp != pos {
				return fmt.Errorf("key %d is at list %d row %d, the row index says list %d row %d", k, li, pos, gl, gp)
			}
		}
		if err := x.cent.check(li); err != nil {
			return err
		}
		total += n
	}
	if total != x.n || x.row.len() != x.n {
		return fmt.Errorf("%d rows in lists, count %d, row index %d", total, x.n, x.row.len())
	}
	return nil
}
