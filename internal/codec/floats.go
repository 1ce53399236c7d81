package codec

import (
	"encoding/binary"
	"math"
	"unsafe"
)

// littleEndian is true on machines whose native float layout is the format's: there,
// vectors move between records and float32 slices with one memmove instead of a loop.
var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// appendFloats appends v as little-endian float32s.
func appendFloats(dst []byte, v []float32) []byte {
	if len(v) == 0 {
		return dst
	}
	if littleEndian {
		return append(dst, unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*len(v))...)
	}
	for _, x := range v {
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(x))
	}
	return dst
}

// copyFloats fills dst from the little-endian float32s in src (len(src) == 4*len(dst)).
func copyFloats(dst []float32, src []byte) {
	if len(dst) == 0 {
		return
	}
	if littleEndian {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&dst[0])), 4*len(dst)), src)
		return
	}
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
	}
}
