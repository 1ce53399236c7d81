// Package postings holds the sets of record sequence numbers behind engram's filter
// postings: for each metadata key=value pair and each tag of a space, the set of memories
// that carry it.
//
// A Set is a compressed bitmap in the manner of Roaring (Chambi, Lemire et al., "Better
// bitmap performance with Roaring bitmaps", 2016), cut down to what the store needs: the
// 64-bit numbers are split into a high part (x >> 16), which picks a container, and a low
// 16-bit part stored in it — a sorted array of uint16 while the container holds at most
// 4096 numbers (2 bytes each), a 65536-bit bitmap (8 KiB) beyond. Sets of at most
// smallMax numbers, the usual case for a metadata value that few memories share, are a
// plain sorted slice. Membership costs a short binary search over containers and one bit
// test or a binary search of at most 4096 entries; record sequence numbers are dense and
// increasing, so sets mostly grow by appending to their last container.
//
// The library's module may depend on nothing but bbolt, vek and x/sync, so this is not an
// external roaring package.
package postings

import (
	"iter"
	"math/bits"
	"slices"
)

const (
	smallMax  = 8    // numbers kept in a plain sorted slice
	arrayMax  = 4096 // numbers per array container; past it a container is a bitmap
	bitmapLen = 1 << 16 / 64
)

// Set is a set of uint64. The zero value is empty and ready to use. A Set is not safe for
// concurrent use; the store guards its postings with a lock.
type Set struct {
	n     int
	size  int64       // Bytes, kept up to date by every change
	small []uint64    // sorted; used while the set has no containers
	hi    []uint64    // container keys (x >> 16), ascending
	cs    []container // cs[i] holds the numbers whose high part is hi[i]
}

type container struct {
	arr  []uint16 // sorted low parts, while bits is nil
	bits []uint64 // bitmapLen words, once the container is dense
	n    int
}

// Len returns how many numbers the set holds.
func (s *Set) Len() int { return s.n }

// Contains reports whether x is in the set.
func (s *Set) Contains(x uint64) bool {
	if s.cs == nil {
		for _, v := range s.small {
			if v >= x {
				return v == x
			}
		}
		return false
	}
	i, ok := s.find(x >> 16)
	if !ok {
		return false
	}
	return s.cs[i].contains(uint16(x))
}

// find returns the position of the container for high part h, and whether it exists.
func (s *Set) find(h uint64) (int, bool) {
	// The last container first: lookups and inserts cluster at the newest numbers.
	if n := len(s.hi); n > 0 && s.hi[n-1] == h {
		return n - 1, true
	}
	return slices.BinarySearch(s.hi, h)
}

// Add inserts x and reports whether it was absent.
func (s *Set) Add(x uint64) bool {
	if s.cs == nil {
		i, found := slices.BinarySearch(s.small, x)
		if found {
			return false
		}
		if len(s.small) < smallMax {
			s.small = slices.Insert(s.small, i, x)
			s.n++
			s.size += 8
			return true
		}
		s.spill()
	}
	h := x >> 16
	i, ok := s.find(h)
	if !ok {
		s.hi = slices.Insert(s.hi, i, h)
		s.cs = slices.Insert(s.cs, i, container{})
		s.size += containerBytes
	}
	before := s.cs[i].bytes()
	if !s.cs[i].add(uint16(x)) {
		return false
	}
	s.size += s.cs[i].bytes() - before
	s.n++
	return true
}

// spill moves the small slice into containers.
func (s *Set) spill() {
	small := s.small
	s.small, s.n, s.size = nil, 0, 0
	s.hi, s.cs = []uint64{}, []container{}
	for _, v := range small {
		s.Add(v)
	}
}

// Remove deletes x and reports whether it was present.
func (s *Set) Remove(x uint64) bool {
	if s.cs == nil {
		i, found := slices.BinarySearch(s.small, x)
		if !found {
			return false
		}
		s.small = slices.Delete(s.small, i, i+1)
		s.n--
		s.size -= 8
		return true
	}
	i, ok := s.find(x >> 16)
	if !ok {
		return false
	}
	before := s.cs[i].bytes()
	if !s.cs[i].remove(uint16(x)) {
		return false
	}
	s.size += s.cs[i].bytes() - before
	s.n--
	if s.cs[i].n == 0 {
		s.hi = slices.Delete(s.hi, i, i+1)
		s.cs = slices.Delete(s.cs, i, i+1)
		s.size -= containerBytes
	}
	if s.n <= smallMax/2 { // shrink back, with hysteresis against add/remove flapping
		var small []uint64
		for v := range s.All() {
			small = append(small, v)
		}
		s.small, s.hi, s.cs = small, nil, nil
		s.size = 8 * int64(len(small))
	}
	return true
}

// All iterates over the set in ascending order. The set must not change meanwhile.
func (s *Set) All() iter.Seq[uint64] {
	return func(yield func(uint64) bool) {
		if s.cs == nil {
			for _, v := range s.small {
				if !yield(v) {
					return
				}
			}
			return
		}
		for i := range s.cs {
			base := s.hi[i] << 16
			c := &s.cs[i]
			if c.bits == nil {
				for _, lo := range c.arr {
					if !yield(base | uint64(lo)) {
						return
					}
				}
				continue
			}
			for w, word := range c.bits {
				for word != 0 {
					b := bits.TrailingZeros64(word)
					word &= word - 1
					if !yield(base | uint64(w*64+b)) {
						return
					}
				}
			}
		}
	}
}

// AppendTo appends the set's numbers, ascending, to dst.
func (s *Set) AppendTo(dst []uint64) []uint64 {
	dst = slices.Grow(dst, s.n)
	for v := range s.All() {
		dst = append(dst, v)
	}
	return dst
}

// Bytes estimates the heap bytes the set holds beyond its own struct: 8 per number while
// small, then per container its key and header plus 2 bytes a number, or 8 KiB once a
// bitmap. Kept up to date as the set changes, so it costs nothing to read. (Slice capacity
// beyond length is not counted.)
func (s *Set) Bytes() int64 { return s.size }

// containerBytes is a container's fixed cost: its key and its header.
const containerBytes = 8 + 56

func (c *container) bytes() int64 {
	if c.bits != nil {
		return bitmapLen * 8
	}
	return 2 * int64(len(c.arr))
}

func (c *container) contains(lo uint16) bool {
	if c.bits != nil {
		return c.bits[lo>>6]&(1<<(lo&63)) != 0
	}
	_, found := slices.BinarySearch(c.arr, lo)
	return found
}

func (c *container) add(lo uint16) bool {
	if c.bits != nil {
		w, b := lo>>6, uint64(1)<<(lo&63)
		if c.bits[w]&b != 0 {
			return false
		}
		c.bits[w] |= b
		c.n++
		return true
	}
	if n := len(c.arr); n == 0 || c.arr[n-1] < lo { // the common case: appending
		c.arr = append(c.arr, lo)
	} else {
		i, found := slices.BinarySearch(c.arr, lo)
		if found {
			return false
		}
		c.arr = slices.Insert(c.arr, i, lo)
	}
	c.n++
	if c.n > arrayMax {
		c.bits = make([]uint64, bitmapLen)
		for _, v := range c.arr {
			c.bits[v>>6] |= 1 << (v & 63)
		}
		c.arr = nil
	}
	return true
}

func (c *container) remove(lo uint16) bool {
	if c.bits != nil {
		w, b := lo>>6, uint64(1)<<(lo&63)
		if c.bits[w]&b == 0 {
			return false
		}
		c.bits[w] &^= b
		c.n--
		if c.n <= arrayMax/2 { // back to an array, with hysteresis
			arr := make([]uint16, 0, c.n)
			for w, word := range c.bits {
				for word != 0 {
					b := bits.TrailingZeros64(word)
					word &= word - 1
					arr = append(arr, uint16(w*64+b))
				}
			}
			c.arr, c.bits = arr, nil
		}
		return true
	}
	i, found := slices.BinarySearch(c.arr, lo)
	if !found {
		return false
	}
	c.arr = slices.Delete(c.arr, i, i+1)
	c.n--
	return true
}
