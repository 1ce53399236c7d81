package vector

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

func randVec(r *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func dotRef(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func TestDotAndCosineMatchReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, dim := range []int{1, 3, 7, 8, 16, 31, 100, 384, 768} {
		a, b := randVec(r, dim), randVec(r, dim)
		if got, want := float64(Dot(a, b)), dotRef(a, b); math.Abs(got-want) > 1e-3*math.Max(1, math.Abs(want)) {
			t.Errorf("dim %d: Dot = %v, want %v", dim, got, want)
		}
		want := dotRef(a, b) / math.Sqrt(dotRef(a, a)*dotRef(b, b))
		if got := float64(Cosine(a, b)); math.Abs(got-want) > 1e-5 {
			t.Errorf("dim %d: Cosine = %v, want %v", dim, got, want)
		}
	}
	if got := Cosine([]float32{0, 0}, []float32{1, 0}); got != 0 {
		t.Errorf("Cosine with zero vector = %v, want 0", got)
	}
	if Norm(nil) != 0 {
		t.Error("Norm(nil) != 0")
	}
}

func TestValidate(t *testing.T) {
	inf := float32(math.Inf(1))
	nan := float32(math.NaN())
	cases := []struct {
		name string
		v    []float32
		want error
		idx  int
	}{
		{"nil", nil, ErrEmpty, -1},
		{"empty", []float32{}, ErrEmpty, -1},
		{"zero", make([]float32, 9), ErrZeroNorm, -1},
		{"nan", []float32{1, nan, 2}, ErrNonFinite, 1},
		{"+inf", []float32{1, 2, inf}, ErrNonFinite, 2},
		{"-inf", []float32{-inf, 2}, ErrNonFinite, 0},
		{"ok", []float32{0, 0, 3}, nil, -1},
		{"huge but finite", []float32{math.MaxFloat32, math.MaxFloat32}, nil, -1},
		{"subnormal", []float32{1e-45, 0}, nil, -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Validate(c.v)
			if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
				t.Fatalf("Validate = %v, want %v", err, c.want)
			}
			var ce *ComponentError
			if c.idx >= 0 && (!errors.As(err, &ce) || ce.Index != c.idx) {
				t.Fatalf("Validate = %v, want component error at %d", err, c.idx)
			}
		})
	}
}

func TestNormalizeUnitLength(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, v := range [][]float32{
		randVec(r, 100),
		{3, 4},
		{math.MaxFloat32, -math.MaxFloat32, 1},
		{1e-45, 2e-45},
		{1e-20, 0, 0},
	} {
		orig := slices.Clone(v)
		n, err := Normalize(v)
		if err != nil {
			t.Fatalf("Normalize(%v): %v", orig, err)
		}
		if l := math.Sqrt(dotRef(v, v)); !(math.Abs(l-1) <= 1e-5) { // NaN fails too
			t.Errorf("Normalize(%v): length %v, want 1", orig, l)
		}
		if want := math.Sqrt(dotRef(orig, orig)); want < math.MaxFloat32 && want > 1e-30 && math.Abs(float64(n)-want) > 1e-4*want {
			t.Errorf("Normalize(%v) norm = %v, want %v", orig, n, want)
		}
	}
	bad := []float32{1, float32(math.NaN())}
	if _, err := Normalize(bad); !errors.Is(err, ErrNonFinite) || bad[0] != 1 {
		t.Fatalf("Normalize(NaN) = %v, vector %v (must be untouched)", err, bad)
	}
}

// TestNormalizeAcrossTheFloat32Range: a vector of any magnitude float32 can hold —
// subnormal, tiny, huge — normalizes to finite components of unit length pointing where
// the float64 normalization of its exact values points, through Normalize and through
// NormalizeBatch (1e-40 used to come out as NaN: the reciprocal of the scale overflowed).
func TestNormalizeAcrossTheFloat32Range(t *testing.T) {
	patterns := [][]float64{{1, 0, 0, 0}, {1, 1, 1, 1}, {1, -2, 3, -4}, {1, 0.5, 0.25, 0}}
	var scales []float64
	for e := -149; e <= 127; e += 4 {
		scales = append(scales, math.Ldexp(1, e))
	}
	scales = append(scales, 1e-40, 1e-45, 3e-39, 1.2e-38, math.MaxFloat32/4)
	for _, sc := range scales {
		for _, p := range patterns {
			v := make([]float32, len(p))
			for i, x := range p {
				v[i] = float32(x * sc)
			}
			if Validate(v) != nil { // the pattern's small parts underflowed to 0 at this scale
				continue
			}
			orig := slices.Clone(v)
			var want [4]float64
			var ss float64
			for _, x := range orig {
				ss += float64(x) * float64(x) / (sc * sc)
			}
			for i, x := range orig {
				want[i] = float64(x) / sc / math.Sqrt(ss)
			}
			batch := slices.Clone(v)
			n, err := Normalize(v)
			if err != nil || !(n > 0) {
				t.Fatalf("Normalize(%v) = %v, %v", orig, n, err)
			}
			norms, errs := make([]float32, 1), make([]error, 1)
			NormalizeBatch(batch, len(batch), norms, errs)
			for _, got := range [][]float32{v, batch} {
				for i := range got {
					if d := math.Abs(float64(got[i]) - want[i]); !(d <= 1e-6) {
						t.Fatalf("normalize %v: %v, want %v", orig, got, want)
					}
				}
			}
		}
	}
}

func TestNormalizeBatchSkipsBadRows(t *testing.T) {
	m := []float32{
		3, 4,
		0, 0,
		float32(math.Inf(-1)), 1,
		0, 2,
	}
	errs := make([]error, 4)
	norms := make([]float32, 4)
	if failed := NormalizeBatch(m, 2, norms, errs); failed != 2 {
		t.Fatalf("failed = %d, want 2", failed)
	}
	if !slices.Equal(m[0:2], []float32{0.6, 0.8}) || !slices.Equal(m[6:8], []float32{0, 1}) {
		t.Errorf("good rows not normalized: %v", m)
	}
	if !errors.Is(errs[1], ErrZeroNorm) || !errors.Is(errs[2], ErrNonFinite) || errs[0] != nil || errs[3] != nil {
		t.Errorf("errs = %v", errs)
	}
	if norms[0] != 5 || norms[3] != 2 {
		t.Errorf("norms = %v", norms)
	}
}

func TestRowsPanicsOnRaggedMatrix(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Rows accepted a ragged matrix")
		}
	}()
	Rows(make([]float32, 5), 2)
}

// bruteTopK is the reference: sort every row by (score desc, row asc).
func bruteTopK(m []float32, dim int, q []float32, k int, minScore float32, keep func(int) bool) []Scored {
	var all []Scored
	for i := 0; i < len(m)/dim; i++ {
		s := Dot(m[i*dim:(i+1)*dim], q)
		if s >= minScore && (keep == nil || keep(i)) {
			all = append(all, Scored{i, s})
		}
	}
	sort.Slice(all, func(a, b int) bool {
		if all[a].Score != all[b].Score {
			return all[a].Score > all[b].Score
		}
		return all[a].Row < all[b].Row
	})
	if len(all) > k {
		all = all[:k]
	}
	return all
}

func TestTopKMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const dim, rows = 24, 3000
	m := make([]float32, 0, dim*rows)
	for i := 0; i < rows; i++ {
		v := randVec(r, dim)
		Normalize(v)
		m = append(m, v...)
	}
	// Duplicate rows force ties, which must break by row.
	copy(m[10*dim:11*dim], m[20*dim:21*dim])
	for trial := 0; trial < 50; trial++ {
		q := randVec(r, dim)
		Normalize(q)
		if trial == 0 {
			copy(q, m[20*dim:21*dim])
		}
		k := 1 + r.IntN(40)
		minScore := float32(-1)
		var keep func(int) bool
		if trial%3 == 1 {
			minScore = 0.2
		}
		calls := 0
		if trial%2 == 1 {
			keep = func(i int) bool { calls++; return i%7 != 0 }
		}
		got := TopK(m, dim, q, k, minScore, keep, nil)
		want := bruteTopK(m, dim, q, k, minScore, func(i int) bool { return keep == nil || i%7 != 0 })
		if !slices.Equal(got, want) {
			t.Fatalf("trial %d k=%d: TopK = %v\nwant %v", trial, k, got, want)
		}
		if keep != nil && calls >= rows/2 {
			t.Errorf("filter called %d times for %d rows: it must run only for top-k candidates", calls, rows)
		}
	}
	if got := TopK(m, dim, m[:dim], 0, -1, nil, nil); len(got) != 0 {
		t.Errorf("k=0 returned %v", got)
	}
	if got := TopK(m, dim, m[:dim-1], 5, -1, nil, nil); len(got) != 0 {
		t.Errorf("wrong-length query returned %v", got)
	}
}
