package metrics

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestBucketsAreMonotoneAndTight(t *testing.T) {
	prev := -1
	for _, v := range []uint64{0, 1, 7, 8, 9, 15, 16, 17, 100, 1000, 1 << 20, 1<<40 + 12345, math.MaxUint64} {
		b := bucketOf(v)
		if b < prev {
			t.Fatalf("bucketOf not monotone at %d", v)
		}
		prev = b
		if lo := lowerBound(b); lo > v || (v != math.MaxUint64 && lowerBound(b+1) <= v) {
			t.Fatalf("v=%d in bucket %d [%d, %d)", v, b, lo, lowerBound(b+1))
		}
	}
}

func TestQuantilesWithinBucketError(t *testing.T) {
	var h Histogram
	r := rand.New(rand.NewPCG(1, 2))
	vals := make([]uint64, 20000)
	for i := range vals {
		vals[i] = uint64(r.ExpFloat64() * 1e6) // ns-scale latencies around 1 ms
		h.Observe(vals[i])
	}
	slices.Sort(vals)
	s := h.Snapshot()
	if s.Count != uint64(len(vals)) || s.Max != vals[len(vals)-1] {
		t.Fatalf("count %d max %d", s.Count, s.Max)
	}
	for _, c := range []struct {
		q   float64
		got uint64
	}{{0.5, s.P50}, {0.95, s.P95}, {0.99, s.P99}} {
		want := vals[int(math.Ceil(c.q*float64(len(vals))))-1]
		if rel := math.Abs(float64(c.got)-float64(want)) / float64(want); rel > 0.1 {
			t.Errorf("p%.0f = %d, exact %d (%.1f%% off)", c.q*100, c.got, want, rel*100)
		}
	}
	if last := s.Buckets[len(s.Buckets)-1]; last.Cumulative != s.Count {
		t.Fatalf("cumulative buckets end at %d", last.Cumulative)
	}
	var empty Histogram
	if e := empty.Snapshot(); e.Count != 0 || e.P99 != 0 || e.Mean() != 0 {
		t.Fatal("empty histogram")
	}
}

func TestHistogramConcurrent(t *testing.T) {
	var h Histogram
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				h.ObserveDuration(time.Duration(i) * time.Microsecond)
			}
		}()
	}
	wg.Wait()
	if s := h.Snapshot(); s.Count != 8000 || s.Max != uint64(999*time.Microsecond) {
		t.Fatalf("%+v", s)
	}
}

func TestWindow(t *testing.T) {
	w := NewWindow(4)
	if w.Quantile(0.99) != 0 {
		t.Fatal("empty window")
	}
	for _, d := range []time.Duration{5, 1, 9, 3, 7} { // 5 falls out
		w.Add(d)
	}
	if w.Len() != 4 || w.Quantile(0.99) != 9 || w.Quantile(0.5) != 3 {
		t.Fatalf("len %d p99 %v p50 %v", w.Len(), w.Quantile(0.99), w.Quantile(0.5))
	}
	w.Reset()
	if w.Len() != 0 {
		t.Fatal("reset")
	}
}
