package postings

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSetAgainstMap: random adds and removes, in every density regime (small slice, array
// containers, bitmaps, and the conversions between them), agree with a map model after
// every step; iteration is ascending and complete.
func TestSetAgainstMap(t *testing.T) {
	for _, c := range []struct {
		name  string
		span  uint64 // numbers are drawn from [0, span)
		steps int
	}{
		{"small", 20, 2000},
		{"sparse", 1 << 40, 3000},
		{"one-container", 1 << 16, 30000},
		{"dense-few-containers", 3 << 16, 60000},
	} {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, uint64(c.steps)))
			var s Set
			model := map[uint64]bool{}
			for step := range c.steps {
				x := rng.Uint64N(c.span)
				// Phases: mostly adding, then mostly removing, so the conversions both ways run.
				add := rng.IntN(10) < 8
				if step > c.steps*2/3 {
					add = rng.IntN(10) < 2
				}
				if add {
					if got, want := s.Add(x), !model[x]; got != want {
						t.Fatalf("step %d: Add(%d) = %v, want %v", step, x, got, want)
					}
					model[x] = true
				} else {
					if got, want := s.Remove(x), model[x]; got != want {
						t.Fatalf("step %d: Remove(%d) = %v, want %v", step, x, got, want)
					}
					delete(model, x)
				}
				if s.Len() != len(model) {
					t.Fatalf("step %d: Len = %d, want %d", step, s.Len(), len(model))
				}
				if y := rng.Uint64N(c.span); s.Contains(y) != model[y] {
					t.Fatalf("step %d: Contains(%d) = %v", step, y, !model[y])
				}
			}
			want := make([]uint64, 0, len(model))
			for x := range model {
				want = append(want, x)
				if !s.Contains(x) {
					t.Fatalf("Contains(%d) = false", x)
				}
			}
			slices.Sort(want)
			if got := s.AppendTo(nil); !slices.Equal(got, want) {
				t.Fatalf("All: %d numbers, want %d (or out of order)", len(got), len(want))
			}
		})
	}
}

// TestSetRegimes: the representation follows the density (and memory with it): a slice
// for a few numbers, arrays while sparse, a bitmap once a container passes 4096.
func TestSetRegimes(t *testing.T) {
	var s Set
	for x := range uint64(smallMax) {
		s.Add(x * 1000)
	}
	if s.cs != nil || len(s.small) != smallMax {
		t.Fatalf("%d numbers not in the small slice", smallMax)
	}
	s.Add(1 << 20)
	if s.cs == nil || len(s.hi) != 2 {
		t.Fatalf("spill: hi = %v", s.hi)
	}
	for x := range uint64(arrayMax + 1) {
		s.Add(x)
	}
	if s.cs[0].bits == nil {
		t.Fatal("container over arrayMax is not a bitmap")
	}
	before := s.Bytes()
	for x := range uint64(arrayMax) {
		s.Remove(x)
	}
	if s.cs[0].bits != nil || s.Bytes() >= before {
		t.Fatalf("container back under arrayMax/2 is still a bitmap (%d bytes, was %d)", s.Bytes(), before)
	}
	for _, x := range s.AppendTo(nil) {
		s.Remove(x)
	}
	if s.Len() != 0 || s.cs != nil || len(s.small) != 0 || s.Contains(0) {
		t.Fatalf("emptied set: %+v", s)
	}
}

func TestSetAllStopsEarly(t *testing.T) {
	var s Set
	for x := range uint64(10000) {
		s.Add(x * 3)
	}
	n := 0
	for range s.All() {
		if n++; n == 5 {
			break
		}
	}
	if n != 5 {
		t.Fatal(n)
	}
}

// BenchmarkContains: membership in a set holding half of 100,000 consecutive numbers (a
// 50% posting of a 100k-memory space), the test a filtered graph search makes per node.
func BenchmarkContains(b *testing.B) {
	for _, frac := range []int{2, 1000} {
		var s Set
		rng := rand.New(rand.NewPCG(1, 2))
		for x := range uint64(100_000) {
			if rng.IntN(frac) == 0 {
				s.Add(x)
			}
		}
		probes := make([]uint64, 4096)
		for i := range probes {
			probes[i] = rng.Uint64N(100_000)
		}
		b.Run(fmt.Sprintf("1-in-%d", frac), func(b *testing.B) {
			n := 0
			for i := range b.N {
				if s.Contains(probes[i&4095]) {
					n++
				}
			}
			_ = n
		})
	}
}

// TestSetBytesIsKeptUpToDate: the incremental size estimate equals one computed from
// scratch after every kind of change.
func TestSetBytesIsKeptUpToDate(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	var s Set
	fresh := func() int64 {
		if s.cs == nil {
			return 8 * int64(len(s.small))
		}
		n := int64(0)
		for i := range s.cs {
			n += containerBytes + s.cs[i].bytes()
		}
		return n
	}
	for step := range 40000 {
		x := rng.Uint64N(3 << 16)
		if step < 20000 || rng.IntN(3) == 0 {
			s.Add(x)
		} else {
			s.Remove(x)
		}
		if step%97 == 0 && s.Bytes() != fresh() {
			t.Fatalf("step %d: Bytes %d, recomputed %d", step, s.Bytes(), fresh())
		}
	}
	for _, x := range s.AppendTo(nil) {
		s.Remove(x)
		if s.Bytes() != fresh() {
			t.Fatalf("emptying: Bytes %d, recomputed %d", s.Bytes(), fresh())
		}
	}
	if s.Bytes() != 0 {
		t.Fatalf("empty set: %d bytes", s.Bytes())
	}
}
