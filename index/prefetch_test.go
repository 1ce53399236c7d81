package index

import (
	"testing"
	"unsafe"
)

// TestPrefetchLinesIsHarmless: prefetching any span inside a buffer, ending exactly at its
// last byte, neither faults nor changes the memory.
func TestPrefetchLinesIsHarmless(t *testing.T) {
	b := make([]byte, 1000)
	for i := range b {
		b[i] = byte(i)
	}
	for _, n := range []int{1, 63, 64, 65, 999, 1000} {
		prefetchLines(unsafe.Pointer(&b[len(b)-n]), n)
	}
	for i := range b {
		if b[i] != byte(i) {
			t.Fatalf("byte %d changed to %d", i, b[i])
		}
	}
}
