package index

import "golang.org/x/sys/cpu"

// useAVX2 gates the assembly kernel: the loop below serves every other CPU.
var useAVX2 = cpu.X86.HasAVX2

//go:noescape
func dot8AVX2(a, b *int8, n int) int32

// dot8 returns the dot product of two int8 vectors of equal length.
func dot8(a, b []int8) int32 {
	n := len(a) &^ 15
	var s int32
	if useAVX2 && n > 0 {
		s = dot8AVX2(&a[0], &b[0], n)
	} else {
		n = 0
	}
	return s + dot8Go(a[n:], b[n:len(a)])
}
