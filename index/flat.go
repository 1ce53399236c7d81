package index

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"iter"
	"math"
	"slices"
	"sync"

	"github.com/engram-go/engram/vector"
)

// Flat is the exact index: vectors in row-major blocks of contiguous memory, searched by
// a full SIMD scan (vector.TopKAcc). It is the right choice while a space is small, the
// reference every approximate index is measured against, and what Query.Exact uses.
//
// Blocks of fixed capacity (about 4 MiB each) instead of one growing slice: appending never
// copies the rows already stored, so inserting a batch costs the same whatever the size of
// the index.
type Flat struct {
	mu       sync.RWMutex
	dim      int
	perBlock int         // rows per block
	blocks   [][]float32 // row r lives in blocks[r/perBlock] at (r%perBlock)*dim
	keys     []uint64    // key of row r
	row      map[uint64]int
	pool     sync.Pool // *[]vector.Scored scratch for searches
}

// blockBytes is the target size of one block of vectors.
const blockBytes = 4 << 20

// NewFlat returns an empty exact index of dim-length vectors.
func NewFlat(dim int) *Flat {
	return &Flat{dim: dim, perBlock: max(16, blockBytes/(4*max(dim, 1))), row: make(map[uint64]int)}
}

// vec returns row r's vector, aliasing the block.
func (f *Flat) vec(r int) []float32 {
	off := (r % f.perBlock) * f.dim
	return f.blocks[r/f.perBlock][off : off+f.dim]
}

// Kind implements Index.
func (f *Flat) Kind() Kind { return KindFlat }

// Dim implements Index.
func (f *Flat) Dim() int { return f.dim }

// Len implements Index.
func (f *Flat) Len() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return len(f.keys)
}

// Add implements Index.
func (f *Flat) Add(keys []uint64, vecs []float32) error {
	if len(vecs) != len(keys)*f.dim {
		return fmt.Errorf("%w: %d floats for %d keys of dim %d", ErrDimension, len(vecs), len(keys), f.dim)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, k := range keys {
		v := vecs[i*f.dim : (i+1)*f.dim]
		if r, ok := f.row[k]; ok {
			copy(f.vec(r), v)
			continue
		}
		r := len(f.keys)
		if r%f.perBlock == 0 && r/f.perBlock == len(f.blocks) {
			f.blocks = append(f.blocks, make([]float32, 0, f.perBlock*f.dim))
		}
		b := &f.blocks[r/f.perBlock]
		*b = append(*b, v...)
		f.row[k] = r
		f.keys = append(f.keys, k)
	}
	return nil
}

// Delete implements Index. The last row moves into the hole, so the rows stay dense and a
// scan never visits dead ones.
func (f *Flat) Delete(keys ...uint64) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, k := range keys {
		r, ok := f.row[k]
		if !ok {
			continue
		}
		n++
		last := len(f.keys) - 1
		if r != last {
			copy(f.vec(r), f.vec(last))
			f.keys[r] = f.keys[last]
			f.row[f.keys[r]] = r
		}
		f.keys = f.keys[:last]
		lb := &f.blocks[last/f.perBlock]
		*lb = (*lb)[:len(*lb)-f.dim]
		if len(*lb) == 0 {
			f.blocks = f.blocks[:len(f.blocks)-1]
		}
		delete(f.row, k)
	}
	return n
}

// Contains implements Index.
func (f *Flat) Contains(key uint64) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	_, ok := f.row[key]
	return ok
}

// Search implements Index.
func (f *Flat) Search(q []float32, k int, opt SearchOptions) ([]Result, error) {
	if len(q) != f.dim {
		return nil, fmt.Errorf("%w: query of dim %d, index dim %d", ErrDimension, len(q), f.dim)
	}
	scratch, _ := f.pool.Get().(*[]vector.Scored)
	if scratch == nil {
		scratch = new([]vector.Scored)
	}
	defer f.pool.Put(scratch)

	f.mu.RLock()
	defer f.mu.RUnlock()
	var filter func(int) bool
	if opt.Filter != nil {
		filter = func(r int) bool { return opt.Filter(f.keys[r]) }
	}
	acc := vector.NewTopKAcc(k, opt.MinSimilarity, *scratch)
	for i, b := range f.blocks {
		acc.Scan(b, f.dim, q, i*f.perBlock, filter)
	}
	*scratch = acc.Result()
	out := make([]Result, len(*scratch))
	for i, s := range *scratch {
		out[i] = Result{Key: f.keys[s.Row], Similarity: s.Score}
	}
	// The scan broke ties by row; the contract breaks them by key.
	sortTies(out)
	return out, nil
}

// Vector copies the vector stored under key into dst (len Dim) and reports whether the key
// is present.
func (f *Flat) Vector(key uint64, dst []float32) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	r, ok := f.row[key]
	if ok {
		copy(dst, f.vec(r))
	}
	return ok
}

// Export copies out every key with its vector (row-major), for moving to another index.
func (f *Flat) Export() ([]uint64, []float32) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	vecs := make([]float32, 0, len(f.keys)*f.dim)
	for _, b := range f.blocks {
		vecs = append(vecs, b...)
	}
	return slices.Clone(f.keys), vecs
}

// Keys implements Index. It holds the read lock for the whole iteration.
func (f *Flat) Keys() iter.Seq[uint64] {
	return func(yield func(uint64) bool) {
		f.mu.RLock()
		defer f.mu.RUnlock()
		for _, k := range f.keys {
			if !yield(k) {
				return
			}
		}
	}
}

// MemoryBytes implements Index: vector blocks, keys, and the key map at about 48 bytes an
// entry (Go's swiss-table overhead included).
func (f *Flat) MemoryBytes() int64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	n := int64(len(f.blocks)) * int64(f.perBlock*f.dim) * 4
	return n + int64(cap(f.keys))*8 + int64(len(f.row))*48
}

// Flat snapshot v1: "EGFL", u8 version, 3 reserved, u32 dim, u64 n, n×u64 keys,
// n×dim×f32 vectors, u32 CRC-32C of everything before it.
const (
	flatMagic   = "EGFL"
	flatVersion = 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// MarshalBinary implements Index.
func (f *Flat) MarshalBinary() ([]byte, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	n := len(f.keys)
	b := make([]byte, 0, 20+n*8+n*f.dim*4+4)
	b = append(b, flatMagic...)
	b = append(b, flatVersion, 0, 0, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(f.dim))
	b = binary.LittleEndian.AppendUint64(b, uint64(n))
	for _, k := range f.keys {
		b = binary.LittleEndian.AppendUint64(b, k)
	}
	for _, blk := range f.blocks {
		for _, x := range blk {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
		}
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli)), nil
}

// UnmarshalFlat restores a snapshot written by Flat.MarshalBinary. Any damage (wrong
// magic or version, bad length, checksum mismatch, duplicate keys) is an ErrSnapshot error.
func UnmarshalFlat(b []byte) (*Flat, error) {
	if len(b) < 24 || string(b[:4]) != flatMagic {
		return nil, fmt.Errorf("%w: not a flat snapshot", ErrSnapshot)
	}
	if b[4] != flatVersion {
		return nil, fmt.Errorf("%w: flat snapshot version %d", ErrSnapshot, b[4])
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrSnapshot)
	}
	dim := uint64(binary.LittleEndian.Uint32(b[8:]))
	n := binary.LittleEndian.Uint64(b[12:])
	if dim == 0 || dim > 1<<20 || n > uint64(len(body)) || (n*8+n*dim*4) != uint64(len(body)-20) {
		return nil, fmt.Errorf("%w: %d keys of dim %d do not fit %d bytes", ErrSnapshot, n, dim, len(b))
	}
	keys := make([]uint64, n)
	seen := make(map[uint64]struct{}, n)
	for i := range keys {
		keys[i] = binary.LittleEndian.Uint64(b[20+8*i:])
		if _, dup := seen[keys[i]]; dup {
			return nil, fmt.Errorf("%w: duplicate key %d", ErrSnapshot, keys[i])
		}
		seen[keys[i]] = struct{}{}
	}
	vecs := make([]float32, n*dim)
	off := 20 + 8*int(n)
	for i := range vecs {
		vecs[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[off+4*i:]))
	}
	f := NewFlat(int(dim))
	if err := f.Add(keys, vecs); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSnapshot, err)
	}
	return f, nil
}
