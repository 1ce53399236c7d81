package index

import (
	"math/rand/v2"
	"testing"
)

func TestDot8MatchesPortableLoop(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 8))
	for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 33, 100, 384, 768, 1000, 4096} {
		a, b := make([]int8, n), make([]int8, n)
		for i := range a {
			a[i], b[i] = int8(r.IntN(256)-128), int8(r.IntN(256)-128)
		}
		if n > 0 {
			a[0], b[0] = -128, -128 // the extreme product
		}
		var want int32
		for i := range a {
			want += int32(a[i]) * int32(b[i])
		}
		if got := dot8(a, b); got != want {
			t.Fatalf("n=%d: dot8 = %d, want %d (avx2=%v)", n, got, want, useAVX2)
		}
		if got := dot8Go(a, b); got != want {
			t.Fatalf("n=%d: dot8Go = %d, want %d", n, got, want)
		}
	}
}

func BenchmarkDot8(b *testing.B) {
	r := rand.New(rand.NewPCG(2, 8))
	a, c := make([]int8, 384), make([]int8, 384)
	for i := range a {
		a[i], c[i] = int8(r.IntN(256)-128), int8(r.IntN(256)-128)
	}
	var s int32
	b.Run("asm/dim=384", func(b *testing.B) {
		for b.Loop() {
			s += dot8(a, c)
		}
	})
	b.Run("go/dim=384", func(b *testing.B) {
		for b.Loop() {
			s += dot8Go(a, c)
		}
	})
	_ = s
}
