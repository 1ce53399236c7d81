package engramprom_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/engram-go/engram"
	engramprom "github.com/engram-go/engram/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A Collector is registered once, on the registry an HTTP handler serves
// (promhttp.HandlerFor); every scrape then reads the store's statistics afresh. Here one
// gather shows the metric families it exports, and an exact check of one of them in
// the text exposition format (what a test of a dashboard's query would use).
func ExampleCollector() {
	s, err := engram.OpenTemp() // removed by Close
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	notes, _ := s.Space(ctx, "notes")
	notes.BatchRemember(ctx, []engram.Memory{{Embedding: []float32{1, 0}}, {Embedding: []float32{0, 1}}})

	reg := prometheus.NewRegistry()
	if err := reg.Register(engramprom.New(s)); err != nil {
		log.Fatal(err)
	}
	// A second collector of the same store would export the same series: refused.
	fmt.Println(reg.Register(engramprom.New(s)) != nil)

	families, err := reg.Gather()
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range families {
		fmt.Println(f.GetName(), f.GetType())
	}

	err = testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP engram_memories Memories per space and tier.
# TYPE engram_memories gauge
engram_memories{space="notes",tier="cold"} 0
engram_memories{space="notes",tier="hot"} 2
engram_memories{space="notes",tier="warm"} 0
`), "engram_memories")
	fmt.Println(err)
	// Output:
	// true
	// engram_adaptive_batch_size GAUGE
	// engram_backpressure_rejected_total COUNTER
	// engram_backpressure_state GAUGE
	// engram_batch_size HISTOGRAM
	// engram_index_bytes GAUGE
	// engram_index_vectors GAUGE
	// engram_items_total COUNTER
	// engram_memories GAUGE
	// engram_operation_duration_seconds HISTOGRAM
	// engram_operations_total COUNTER
	// engram_queue_capacity GAUGE
	// engram_queue_depth GAUGE
	// engram_store_file_bytes GAUGE
	// <nil>
}
