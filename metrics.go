package engram

import (
	"encoding/json"
	"errors"
	"expvar"
	"sync/atomic"
	"time"

	"github.com/engram-go/engram/internal/metrics"
	"github.com/engram-go/engram/tier"
)

// opMetrics are the counters of one operation of one space.
type opMetrics struct {
	calls   atomic.Uint64
	items   atomic.Uint64
	failed  [numCodes]atomic.Uint64 // failed items by code
	latency metrics.Histogram       // per call, nanoseconds
	sizes   metrics.Histogram       // items per call
}

// spaceMetrics are a space's counters. Updating them is a handful of atomic adds.
type spaceMetrics struct {
	since time.Time
	ops   [numMeasured]opMetrics

	// Queues feeding the space (batchers, streams) add their depth and capacity here.
	queueDepth atomic.Int64
	queueCap   atomic.Int64
	rejected   atomic.Uint64 // items refused with BACKPRESSURE
	batchSize  atomic.Int64  // current size of the adaptive batcher, 0 if none
}

// observe records one call of op that handled items items, failing those in errs (or the
// whole call with callErr).
func (m *spaceMetrics) observe(op Op, items int, elapsed time.Duration, callErr error, itemErrs []ItemResult) {
	o := &m.ops[op]
	o.calls.Add(1)
	o.items.Add(uint64(items))
	o.latency.ObserveDuration(elapsed)
	o.sizes.Observe(uint64(items))
	for _, it := range itemErrs {
		if it.Err != nil {
			o.failed[codeOrUnknown(it.Err)].Add(1)
		}
	}
	if callErr != nil && itemErrs == nil {
		o.failed[codeOrUnknown(callErr)].Add(uint64(max(items, 1)))
	}
}

func codeOrUnknown(err error) Code {
	var e *Error
	if errors.As(err, &e) && e.Code < numCodes {
		return e.Code
	}
	return CodeUnknown
}

// OpStats are the counters of one operation of a space since it was opened.
type OpStats struct {
	Op     string
	Calls  uint64
	Items  uint64
	Failed uint64
	// FailuresByCode counts failed items by error code name.
	FailuresByCode map[string]uint64 `json:",omitempty"`
	// Latency per call.
	Latency LatencyStats
	// BatchSize is the distribution of items per call.
	BatchSize SizeStats
	// ItemsPerSecond is Items divided by the time since the space was opened.
	ItemsPerSecond float64
}

// LatencyStats summarize a latency distribution (quantiles within 9%).
type LatencyStats struct {
	P50, P95, P99, Max, Mean time.Duration
}

// SizeStats summarize a size distribution.
type SizeStats struct {
	P50, P95, P99, Max uint64
	Mean               float64
}

// QueueStats describe the batchers and streams feeding a space.
type QueueStats struct {
	Depth    int64    // items accepted and not yet committed
	Capacity int64    // sum of the queues' bounds
	State    Pressure // of the fullest queue, or of the hot tier when worse: see BackpressureState
	Rejected uint64   // items refused with BACKPRESSURE
	// BatchSize is the current size chosen by adaptive batching (0 when none runs).
	BatchSize int64
}

// Pressure grades how full a queue or the hot tier is (tier.Pressure): Normal, Warning,
// Critical, Overloaded.
type Pressure = tier.Pressure

// BackpressureState grades how full a queue is: normal below 50%, warning up to 80%,
// critical below 100%, overloaded when full (new items block or are refused).
func BackpressureState(depth, capacity int64) Pressure {
	switch {
	case capacity <= 0 || depth*2 < capacity:
		return tier.Normal
	case depth*5 < capacity*4:
		return tier.Warning
	case depth < capacity:
		return tier.Critical
	}
	return tier.Overloaded
}

func (m *spaceMetrics) snapshot() ([]OpStats, QueueStats) {
	elapsed := time.Since(m.since).Seconds()
	ops := make([]OpStats, 0, numMeasured)
	for op := Op(0); op < numMeasured; op++ {
		o := &m.ops[op]
		st := OpStats{Op: op.String(), Calls: o.calls.Load(), Items: o.items.Load()}
		for c := range o.failed {
			if n := o.failed[c].Load(); n > 0 {
				if st.FailuresByCode == nil {
					st.FailuresByCode = map[string]uint64{}
				}
				st.FailuresByCode[Code(c).String()] = n
				st.Failed += n
			}
		}
		l := o.latency.Snapshot()
		st.Latency = LatencyStats{P50: time.Duration(l.P50), P95: time.Duration(l.P95), P99: time.Duration(l.P99),
			Max: time.Duration(l.Max), Mean: time.Duration(l.Mean())}
		b := o.sizes.Snapshot()
		st.BatchSize = SizeStats{P50: b.P50, P95: b.P95, P99: b.P99, Max: b.Max, Mean: b.Mean()}
		if elapsed > 0 {
			st.ItemsPerSecond = float64(st.Items) / elapsed
		}
		ops = append(ops, st)
	}
	q := QueueStats{
		Depth:     m.queueDepth.Load(),
		Capacity:  m.queueCap.Load(),
		Rejected:  m.rejected.Load(),
		BatchSize: m.batchSize.Load(),
	}
	q.State = BackpressureState(q.Depth, q.Capacity)
	return ops, q
}

// Histogram is a cumulative distribution, for exporters that publish all of it
// (Prometheus). Buckets are cumulative counts by inclusive upper bound, ascending.
type Histogram struct {
	Count   uint64
	Sum     uint64
	Buckets []HistogramBucket
}

// HistogramBucket is one cumulative bucket of a Histogram.
type HistogramBucket struct {
	UpperBound uint64
	Count      uint64
}

func toHistogram(s metrics.Summary) Histogram {
	h := Histogram{Count: s.Count, Sum: s.Sum, Buckets: make([]HistogramBucket, len(s.Buckets))}
	for i, b := range s.Buckets {
		h.Buckets[i] = HistogramBucket{UpperBound: b.UpperBound, Count: b.Cumulative}
	}
	return h
}

// LatencyHistogram returns the distribution of op's call latencies in nanoseconds.
func (sp *Space) LatencyHistogram(op Op) Histogram {
	if op >= numMeasured {
		return Histogram{}
	}
	return toHistogram(sp.metrics.ops[op].latency.Snapshot())
}

// BatchSizeHistogram returns the distribution of op's items per call.
func (sp *Space) BatchSizeHistogram(op Op) Histogram {
	if op >= numMeasured {
		return Histogram{}
	}
	return toHistogram(sp.metrics.ops[op].sizes.Snapshot())
}

// Expvar returns an expvar.Var that renders Store.Stats as JSON, for
// expvar.Publish("engram", store.Expvar()). engram registers nothing globally itself.
func (s *Store) Expvar() expvar.Var {
	return expvar.Func(func() any {
		st := s.Stats()
		// Round-trip through JSON so the value is plain data, detached from the store.
		b, _ := json.Marshal(st)
		var v any
		_ = json.Unmarshal(b, &v)
		return v
	})
}
