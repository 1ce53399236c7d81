// Package engramprom exports an engram store's statistics as Prometheus metrics.
//
// It is its own module, so that the library itself does not depend on client_golang:
//
//	reg.MustRegister(engramprom.New(store))
//
// Every scrape reads Store.Stats (a handful of atomic loads per space and operation), so
// the metrics are exact at scrape time and nothing runs in between.
package engramprom

import (
	"github.com/engram-go/engram"
	"github.com/engram-go/engram/tier"
	"github.com/prometheus/client_golang/prometheus"
)

// Collector is a prometheus.Collector for one store.
type Collector struct {
	store *engram.Store

	memories, indexVectors, indexBytes, fileBytes     *prometheus.Desc
	calls, items, failures                            *prometheus.Desc
	latency, batchSize                                *prometheus.Desc
	queueDepth, queueCapacity, rejected, backpressure *prometheus.Desc
	adaptiveSize                                      *prometheus.Desc
}

// New returns a collector of store's metrics, all prefixed "engram_".
func New(store *engram.Store) *Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("engram_"+name, help, labels, nil)
	}
	return &Collector{
		store:         store,
		memories:      d("memories", "Memories per space and tier.", "space", "tier"),
		indexVectors:  d("index_vectors", "Vectors in the space's in-memory index.", "space", "index"),
		indexBytes:    d("index_bytes", "Estimated heap bytes of the space's index.", "space", "index"),
		fileBytes:     d("store_file_bytes", "Size of the store file."),
		calls:         d("operations_total", "Calls per space and operation.", "space", "op"),
		items:         d("items_total", "Items (memories, queries, IDs) handled per space and operation.", "space", "op"),
		failures:      d("failures_total", "Failed items per space, operation and error code.", "space", "op", "code"),
		latency:       d("operation_duration_seconds", "Latency of calls per space and operation.", "space", "op"),
		batchSize:     d("batch_size", "Items per call, per space and operation.", "space", "op"),
		queueDepth:    d("queue_depth", "Memories accepted by batchers and streams and not yet committed.", "space"),
		queueCapacity: d("queue_capacity", "Bound of the space's batcher and stream queues.", "space"),
		rejected:      d("backpressure_rejected_total", "Memories refused with BACKPRESSURE.", "space"),
		backpressure:  d("backpressure_state", "1 for the space's current backpressure state.", "space", "state"),
		adaptiveSize:  d("adaptive_batch_size", "Batch size chosen by adaptive batching (0 when none runs).", "space"),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.memories, c.indexVectors, c.indexBytes, c.fileBytes, c.calls, c.items,
		c.failures, c.latency, c.batchSize, c.queueDepth, c.queueCapacity, c.rejected, c.backpressure, c.adaptiveSize} {
		ch <- d
	}
}

var states = []engram.Pressure{tier.Normal, tier.Warning, tier.Critical, tier.Overloaded}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.store.Stats()
	ch <- prometheus.MustNewConstMetric(c.fileBytes, prometheus.GaugeValue, float64(st.FileBytes))
	for _, sp := range st.Spaces {
		for t, n := range sp.Tiers {
			ch <- prometheus.MustNewConstMetric(c.memories, prometheus.GaugeValue, float64(n), sp.Name, engram.Tier(t).String())
		}
		ch <- prometheus.MustNewConstMetric(c.indexVectors, prometheus.GaugeValue, float64(sp.IndexLen), sp.Name, sp.Index)
		ch <- prometheus.MustNewConstMetric(c.indexBytes, prometheus.GaugeValue, float64(sp.IndexBytes), sp.Name, sp.Index)
		space, err := c.store.LookupSpace(sp.Name)
		for i, op := range sp.Ops {
			ch <- prometheus.MustNewConstMetric(c.calls, prometheus.CounterValue, float64(op.Calls), sp.Name, op.Op)
			ch <- prometheus.MustNewConstMetric(c.items, prometheus.CounterValue, float64(op.Items), sp.Name, op.Op)
			for code, n := range op.FailuresByCode {
				ch <- prometheus.MustNewConstMetric(c.failures, prometheus.CounterValue, float64(n), sp.Name, op.Op, code)
			}
			if err != nil { // dropped between Stats and now
				continue
			}
			lat := space.LatencyHistogram(engram.Op(i))
			ch <- histogram(c.latency, lat, 1e-9, sp.Name, op.Op)
			size := space.BatchSizeHistogram(engram.Op(i))
			ch <- histogram(c.batchSize, size, 1, sp.Name, op.Op)
		}
		q := sp.Queue
		ch <- prometheus.MustNewConstMetric(c.queueDepth, prometheus.GaugeValue, float64(q.Depth), sp.Name)
		ch <- prometheus.MustNewConstMetric(c.queueCapacity, prometheus.GaugeValue, float64(q.Capacity), sp.Name)
		ch <- prometheus.MustNewConstMetric(c.rejected, prometheus.CounterValue, float64(q.Rejected), sp.Name)
		ch <- prometheus.MustNewConstMetric(c.adaptiveSize, prometheus.GaugeValue, float64(q.BatchSize), sp.Name)
		for _, s := range states {
			v := 0.0
			if s == q.State {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(c.backpressure, prometheus.GaugeValue, v, sp.Name, s.String())
		}
	}
}

// histogram converts an engram histogram (cumulative buckets) to a constant Prometheus
// histogram, scaling bounds and sum by unit (1e-9 turns nanoseconds into seconds).
func histogram(d *prometheus.Desc, h engram.Histogram, unit float64, labels ...string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.Buckets))
	for _, b := range h.Buckets {
		buckets[float64(b.UpperBound)*unit] = b.Count
	}
	return prometheus.MustNewConstHistogram(d, h.Count, float64(h.Sum)*unit, buckets, labels...)
}
