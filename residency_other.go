//go:build !linux

package engram

// dropMapping is a no-op outside Linux: the resident set is left to the kernel.
func dropMapping(addr uintptr, size int64) {}
