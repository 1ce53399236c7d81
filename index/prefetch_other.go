//go:build !amd64

package index

import "unsafe"

// havePrefetch is false: warmRecs reads one word per line instead.
const havePrefetch = false

// prefetchLines is a no-op where there is no prefetch kernel.
func prefetchLines(unsafe.Pointer, int) {}
