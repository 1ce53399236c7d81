#include "textflag.h"

// func prefetchLines(p unsafe.Pointer, n int)
// Prefetches (into all cache levels) the n bytes from p, one PREFETCHT0 per 64-byte line,
// the last byte included. A prefetch never faults and never waits for its line, unlike the
// loads Go code would have to use instead.
TEXT ·prefetchLines(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	LEAQ -1(SI)(CX*1), DX
	PREFETCHT0 (DX)

pfloop:
	CMPQ       CX, $0
	JLE        pfdone
	PREFETCHT0 (SI)
	ADDQ       $64, SI
	SUBQ       $64, CX
	JMP        pfloop

pfdone:
	RET
