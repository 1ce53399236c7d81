// Package metrics holds engram's lock-free counters and histograms: cheap enough to update
// on every call, snapshotted on demand for Stats, expvar and Prometheus.
package metrics

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram counts observations in logarithmic buckets: 8 buckets per power of two, so a
// quantile read from it is within 9% of the true value, over any range of magnitudes, with
// a fixed 2 KiB of counters and one atomic add per observation.
type Histogram struct {
	counts [numBuckets]atomic.Uint64
	sum    atomic.Uint64 // of observed values
	n      atomic.Uint64
	max    atomic.Uint64
}

const (
	subBits    = 3 // 2^3 = 8 sub-buckets per octave
	numBuckets = (64 - subBits + 1) << subBits
)

// bucketOf maps v ≥ 0 to its bucket: octave = position of the top bit, sub-bucket = the
// next subBits bits.
func bucketOf(v uint64) int {
	if v < 1<<subBits {
		return int(v)
	}
	top := 63 - bits.LeadingZeros64(v) // ≥ subBits
	sub := (v >> (top - subBits)) & (1<<subBits - 1)
	return (top-subBits+1)<<subBits | int(sub)
}

// lowerBound is the smallest value of bucket b (MaxUint64 past the last bucket).
func lowerBound(b int) uint64 {
	if b < 1<<subBits {
		return uint64(b)
	}
	if b >= numBuckets {
		return math.MaxUint64
	}
	octave := b>>subBits + subBits - 1
	sub := uint64(b & (1<<subBits - 1))
	return (1<<subBits | sub) << (octave - subBits)
}

// Observe records v.
func (h *Histogram) Observe(v uint64) {
	h.counts[bucketOf(v)].Add(1)
	h.sum.Add(v)
	h.n.Add(1)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// ObserveDuration records d in nanoseconds.
func (h *Histogram) ObserveDuration(d time.Duration) { h.Observe(uint64(max(d, 0))) }

// Summary is a histogram's state at one moment.
type Summary struct {
	Count         uint64
	Sum           uint64
	Max           uint64
	P50, P95, P99 uint64
	// Buckets lists (upper bound, cumulative count) for every non-empty bucket, for
	// exporters that need the distribution (Prometheus).
	Buckets []Bucket
}

// Bucket is one cumulative histogram bucket.
type Bucket struct {
	UpperBound uint64
	Cumulative uint64
}

// Mean is Sum / Count (0 when empty).
func (s Summary) Mean() float64 {
	if s.Count == 0 {
		return 0
	}
	return float64(s.Sum) / float64(s.Count)
}

// Snapshot reads the histogram. Concurrent observations may or may not be included.
func (h *Histogram) Snapshot() Summary {
	var counts [numBuckets]uint64
	var total uint64
	for i := range counts {
		counts[i] = h.counts[i].Load()
		total += counts[i]
	}
	s := Summary{Count: total, Sum: h.sum.Load(), Max: h.max.Load()}
	if total == 0 {
		return s
	}
	quantile := func(q float64) uint64 {
		rank := uint64(math.Ceil(q * float64(total)))
		var seen uint64
		for b, c := range counts {
			seen += c
			if seen >= rank && c > 0 {
				// Middle of the bucket, never above the largest value seen.
				lo, hi := lowerBound(b), lowerBound(b+1)
				return min(lo+(hi-lo)/2, s.Max)
			}
		}
		return s.Max
	}
	s.P50, s.P95, s.P99 = quantile(0.50), quantile(0.95), quantile(0.99)
	var cum uint64
	for b, c := range counts {
		if c == 0 {
			continue
		}
		cum += c
		s.Buckets = append(s.Buckets, Bucket{UpperBound: lowerBound(b+1) - 1, Cumulative: cum})
	}
	return s
}

// Window keeps the last n observations for a moving quantile (the adaptive batch size
// reacts to recent latency, not to the whole history).
type Window struct {
	vals []time.Duration
	next int
	full bool
}

// NewWindow returns a window of n observations.
func NewWindow(n int) *Window { return &Window{vals: make([]time.Duration, n)} }

// Add records d, replacing the oldest observation when full. Not safe for concurrent use.
func (w *Window) Add(d time.Duration) {
	w.vals[w.next] = d
	w.next++
	if w.next == len(w.vals) {
		w.next, w.full = 0, true
	}
}

// Len is the number of observations held.
func (w *Window) Len() int {
	if w.full {
		return len(w.vals)
	}
	return w.next
}

// Quantile returns the q-quantile (nearest rank) of the held observations.
func (w *Window) Quantile(q float64) time.Duration {
	n := w.Len()
	if n == 0 {
		return 0
	}
	tmp := make([]time.Duration, n)
	copy(tmp, w.vals[:n])
	// Insertion sort: windows are small.
	for i := 1; i < n; i++ {
		for j := i; j > 0 && tmp[j] < tmp[j-1]; j-- {
			tmp[j], tmp[j-1] = tmp[j-1], tmp[j]
		}
	}
	rank := int(math.Ceil(q*float64(n))) - 1
	return tmp[max(rank, 0)]
}

// Reset forgets every observation.
func (w *Window) Reset() { w.next, w.full = 0, false }
