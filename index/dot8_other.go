//go:build !amd64

package index

// dot8 returns the dot product of two int8 vectors of equal length.
func dot8(a, b []int8) int32 { return dot8Go(a, b) }

// useAVX2 is false off amd64 (tests report it).
const useAVX2 = false
