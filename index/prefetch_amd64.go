package index

import "unsafe"

// havePrefetch: prefetchLines issues real prefetches (every amd64 CPU has PREFETCHT0).
const havePrefetch = true

// prefetchLines asks the CPU to start loading the n bytes from p into cache, one
// PREFETCHT0 per 64-byte line and the last byte's line too. A prefetch never faults and
// never waits, so the caller goes on computing while the lines arrive; Go has no prefetch
// intrinsic for user code.
//
//go:noescape
func prefetchLines(p unsafe.Pointer, n int)
