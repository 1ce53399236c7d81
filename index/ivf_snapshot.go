package index

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
)

// IVF snapshot v1 — the partition without the codes (the store holds every vector in its
// records, and re-quantizing is cheap; assigning every row to its list again is not):
//
//	"EGIV" u8 version, 3 reserved
//	u32 dim, u32 lists, u64 rows
//	per list: dim × f32 centroid, u32 count, count × uvarint key delta (keys ascending;
//	          the first delta is from 0)
//	u32 CRC-32C of everything before it
//
// Decoding checks the structure completely (dimension, counts within bounds, keys unique
// and ascending, centroids finite), so that a damaged snapshot is rejected, never loaded.
const (
	ivfMagic   = "EGIV"
	ivfVersion = 1
	ivfHeader  = 4 + 4 + 4 + 4 + 8
)

// unfilled marks, in a loading index's row index, a key of the snapshot whose vector has
// not arrived: no row can sit at this position (a list holds fewer rows).
const unfilled = maxListRows

// MarshalBinary implements Index: the snapshot above. Searches and stamp updates continue
// meanwhile; inserts and deletes wait.
func (x *IVF) MarshalBinary() ([]byte, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	size := ivfHeader + 4 + len(x.lists)*(4*x.dim+4) + 3*x.n
	b := make([]byte, 0, size)
	b = append(b, ivfMagic...)
	b = append(b, ivfVersion, 0, 0, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(x.dim))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(x.lists)))
	b = binary.LittleEndian.AppendUint64(b, uint64(x.n))
	var keys []uint64
	for li, l := range x.lists {
		for _, f := range x.cent.vec(li) {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(l.len()))
		keys = append(keys[:0], l.keys...)
		slices.Sort(keys)
		prev := uint64(0)
		for _, k := range keys {
			b = binary.AppendUvarint(b, k-prev)
			prev = k
		}
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli)), nil
}

// IVFLoader is a decoded snapshot waiting for its rows: Fill each key's vector, then
// Finish. Keys whose vector never arrives (the memory left the warm tier after the
// snapshot) are dropped; rows the snapshot does not know are the caller's to Add after
// Finish.
type IVFLoader struct {
	x    *IVF
	keys [][]uint64 // each list's keys in the snapshot, to find those never filled
	done bool
}

// DecodeIVF checks and decodes a snapshot of an index of dim-dimensional vectors. Any
// damage, or a snapshot of another dimension, is an ErrSnapshot error.
func DecodeIVF(b []byte, dim int, cfg IVFConfig) (*IVFLoader, error) {
	bad := func(format string, args ...any) (*IVFLoader, error) {
		return nil, fmt.Errorf("%w: IVF: %s", ErrSnapshot, fmt.Sprintf(format, args...))
	}
	if len(b) < ivfHeader+4 || string(b[:4]) != ivfMagic {
		return bad("not an IVF snapshot")
	}
	if b[4] != ivfVersion {
		return bad("version %d", b[4])
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return bad("checksum mismatch")
	}
	sdim, lists := int(binary.LittleEndian.Uint32(body[8:])), int(binary.LittleEndian.Uint32(body[12:]))
	rows := binary.LittleEndian.Uint64(body[16:])
	if sdim != dim || dim <= 0 {
		return bad("dim %d, want %d", sdim, dim)
	}
	// Each list takes at least its centroid and count, each row at least a byte: this
	// bounds what a forged header can make the decoder allocate.
	if lists > maxLists || lists*(4*dim+4) > len(body)-ivfHeader || rows > uint64(len(body)) {
		return bad("%d lists and %d rows do not fit %d bytes", lists, rows, len(body))
	}
	x := NewIVF(dim, cfg)
	ld := &IVFLoader{x: x, keys: make([][]uint64, lists)}
	off := ivfHeader
	c := make([]float32, dim)
	total := uint64(0)
	for li := 0; li < lists; li++ {
		if off+4*dim+4 > len(body) {
			return bad("truncated at list %d", li)
		}
		for j := range c {
			c[j] = math.Float32frombits(binary.LittleEndian.Uint32(body[off:]))
			off += 4
		}
		if n := vectorNorm(c); !(math.Abs(n-1) < 1e-3) {
			return bad("list %d: centroid of norm %v", li, n)
		}
		count := int(binary.LittleEndian.Uint32(body[off:]))
		off += 4
		if count > maxListRows || uint64(count) > rows-total {
			return bad("list %d: %d rows", li, count)
		}
		total += uint64(count)
		keys := make([]uint64, count)
		prev := uint64(0)
		for i := range keys {
			d, n := binary.Uvarint(body[off:])
			if n <= 0 || (i > 0 && d == 0) || prev+d < prev {
				return bad("list %d: bad key %d", li, i)
			}
			off += n
			prev += d
			keys[i] = prev
			if _, dup := x.row.get(prev); dup {
				return bad("key %d in two lists", prev)
			}
			x.row.set(prev, loc(li, unfilled))
		}
		ld.keys[li] = keys
		x.lists = append(x.lists, &ivfList{})
		x.lists[li].grow(dim, count)
		x.cent.add(c)
	}
	if off != len(body) || total != rows {
		return bad("%d trailing bytes, %d of %d rows", len(body)-off, total, rows)
	}
	return ld, nil
}

func vectorNorm(v []float32) float64 {
	var s float64
	for _, f := range v {
		s += float64(f) * float64(f)
	}
	return math.Sqrt(s)
}

// Fill gives key its vector (unit length, Dim floats) and stamp, placing it in the list
// the snapshot had it in. It reports false when the snapshot does not know key (or it was
// filled already, or Finish ran): Add it after Finish.
func (ld *IVFLoader) Fill(key uint64, vec []float32, stamp uint32) bool {
	x := ld.x
	if ld.done || len(vec) != x.dim {
		return false
	}
	r, ok := x.row.get(key)
	if !ok {
		return false
	}
	li, pos := unloc(r)
	if pos != unfilled {
		return false
	}
	code := make([]int8, x.dim)
	scale := quantize(code, vec)
	x.row.set(key, loc(li, x.lists[li].push(x.dim, code, scale, key, stamp)))
	x.n++
	return true
}

// Finish returns the index: keys of the snapshot that got no vector are dropped, and lists
// left empty removed. It also reports how many keys were dropped. Calling it again returns
// the same index and 0.
func (ld *IVFLoader) Finish() (*IVF, int) {
	x := ld.x
	if ld.done {
		return x, 0
	}
	ld.done = true
	missing := 0
	for _, keys := range ld.keys {
		for _, k := range keys {
			if r, _ := x.row.get(k); r&(1<<locPosBits-1) == unfilled {
				x.row.del(k)
				missing++
			}
		}
	}
	ld.keys = nil
	for li := len(x.lists) - 1; li >= 0; li-- {
		if x.lists[li].len() == 0 {
			x.removeListLocked(li)
		}
	}
	x.changes.Store(0)
	return x, missing
}
