package engramprom

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/engram-go/engram"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestCollectorExportsStats(t *testing.T) {
	ctx := context.Background()
	s, err := engram.Open(filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sp, _ := s.Space(ctx, "notes")
	sp.BatchRemember(ctx, []engram.Memory{{Embedding: []float32{1, 0}}, {Embedding: []float32{0, 1}}, {Embedding: []float32{0}}})
	sp.Recall(ctx, engram.Query{Embedding: []float32{1, 0}, K: 1})

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(New(s))
	want := `
# HELP engram_items_total Items (memories, queries, IDs) handled per space and operation.
# TYPE engram_items_total counter
engram_items_total{op="embed",space="notes"} 0
engram_items_total{op="forget",space="notes"} 0
engram_items_total{op="get",space="notes"} 0
engram_items_total{op="recall",space="notes"} 1
engram_items_total{op="remember",space="notes"} 3
engram_items_total{op="update",space="notes"} 0
# HELP engram_failures_total Failed items per space, operation and error code.
# TYPE engram_failures_total counter
engram_failures_total{code="DIMENSION_MISMATCH",op="remember",space="notes"} 1
# HELP engram_memories Memories per space and tier.
# TYPE engram_memories gauge
engram_memories{space="notes",tier="cold"} 0
engram_memories{space="notes",tier="hot"} 2
engram_memories{space="notes",tier="warm"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "engram_items_total", "engram_failures_total", "engram_memories"); err != nil {
		t.Fatal(err)
	}
	// The latency histogram is exported with its count.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() != "engram_operation_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == "remember" && m.GetHistogram().GetSampleCount() == 1 && m.GetHistogram().GetSampleSum() > 0 {
					found = true
				}
			}
		}
	}
	if !found {
		t.Fatal("remember latency histogram missing")
	}
}
