package vector

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// The plain-Go loops below are the baselines: each benchmark pair shows what vek's SIMD
// kernels buy on this machine (`go test -bench . ./vector`).

func dotGo(a, b []float32) float32 {
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func normalizeGo(v []float32) {
	var ss float32
	for _, x := range v {
		ss += x * x
	}
	inv := 1 / float32(math.Sqrt(float64(ss)))
	for i := range v {
		v[i] *= inv
	}
}

var sink float32

func BenchmarkDot(b *testing.B) {
	for _, dim := range []int{100, 384, 768} {
		r := rand.New(rand.NewPCG(1, uint64(dim)))
		x, y := randVec(r, dim), randVec(r, dim)
		b.Run(fmt.Sprintf("vek/dim=%d", dim), func(b *testing.B) {
			for b.Loop() {
				sink += Dot(x, y)
			}
		})
		b.Run(fmt.Sprintf("go/dim=%d", dim), func(b *testing.B) {
			for b.Loop() {
				sink += dotGo(x, y)
			}
		})
	}
}

func BenchmarkCosine(b *testing.B) {
	r := rand.New(rand.NewPCG(2, 2))
	x, y := randVec(r, 768), randVec(r, 768)
	b.Run("vek/dim=768", func(b *testing.B) {
		for b.Loop() {
			sink += Cosine(x, y)
		}
	})
	b.Run("go/dim=768", func(b *testing.B) {
		for b.Loop() {
			sink += dotGo(x, y) / float32(math.Sqrt(float64(dotGo(x, x)*dotGo(y, y))))
		}
	})
}

func BenchmarkNormalizeBatch(b *testing.B) {
	for _, dim := range []int{100, 768} {
		const rows = 1000
		r := rand.New(rand.NewPCG(3, uint64(dim)))
		src := make([]float32, 0, rows*dim)
		for i := 0; i < rows; i++ {
			src = append(src, randVec(r, dim)...)
		}
		m := make([]float32, len(src))
		b.Run(fmt.Sprintf("vek/dim=%d", dim), func(b *testing.B) {
			b.SetBytes(int64(len(m) * 4))
			for b.Loop() {
				copy(m, src)
				NormalizeBatch(m, dim, nil, nil)
			}
		})
		b.Run(fmt.Sprintf("go/dim=%d", dim), func(b *testing.B) {
			b.SetBytes(int64(len(m) * 4))
			for b.Loop() {
				copy(m, src)
				for i := 0; i < rows; i++ {
					normalizeGo(m[i*dim : (i+1)*dim])
				}
			}
		})
	}
}

func BenchmarkValidate(b *testing.B) {
	r := rand.New(rand.NewPCG(4, 4))
	v := randVec(r, 768)
	b.Run("vek/dim=768", func(b *testing.B) {
		for b.Loop() {
			if Validate(v) != nil {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("go/dim=768", func(b *testing.B) {
		for b.Loop() {
			for _, x := range v {
				if x != x || math.IsInf(float64(x), 0) {
					b.Fatal("invalid")
				}
			}
		}
	})
}

// BenchmarkTopK is the exact scan of the flat index: 100,000 rows, one query, k=10.
func BenchmarkTopK(b *testing.B) {
	for _, dim := range []int{100, 768} {
		rows := 100_000
		if dim > 100 {
			rows = 20_000
		}
		r := rand.New(rand.NewPCG(5, uint64(dim)))
		m := make([]float32, 0, rows*dim)
		for i := 0; i < rows; i++ {
			v := randVec(r, dim)
			Normalize(v)
			m = append(m, v...)
		}
		q := randVec(r, dim)
		Normalize(q)
		dst := make([]Scored, 0, 10)
		b.Run(fmt.Sprintf("vek/rows=%d/dim=%d", rows, dim), func(b *testing.B) {
			for b.Loop() {
				dst = TopK(m, dim, q, 10, -1, nil, dst)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
		})
		b.Run(fmt.Sprintf("go/rows=%d/dim=%d", rows, dim), func(b *testing.B) {
			for b.Loop() {
				h := topHeap(dst[:0])
				for i := 0; i < rows; i++ {
					s := dotGo(m[i*dim:(i+1)*dim], q)
					if len(h) < 10 || h.beats(s, i, 0) {
						h.offer(Scored{i, s}, 10)
					}
				}
				dst = h.sorted()
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
		})
	}
}
