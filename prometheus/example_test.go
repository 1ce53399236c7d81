package engramprom_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/engram-go/engram"
	engramprom "github.com/engram-go/engram/prometheus"
	"github.com/prometheus/client_golang/prometheus"
)

func ExampleNew() {
	dir, _ := os.MkdirTemp("", "engram-example")
	defer os.RemoveAll(dir)
	s, err := engram.Open(filepath.Join(dir, "memories.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	notes, _ := s.Space(ctx, "notes")
	notes.BatchRemember(ctx, []engram.Memory{{Embedding: []float32{1, 0}}, {Embedding: []float32{0, 1}}})

	// Register the collector; an HTTP handler (promhttp.HandlerFor(reg, ...)) would serve it.
	reg := prometheus.NewRegistry()
	reg.MustRegister(engramprom.New(s))

	families, err := reg.Gather() // sorted by name
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "engram_memories" {
			for _, m := range f.GetMetric() {
				var labels []string
				for _, l := range m.GetLabel() {
					labels = append(labels, l.GetName()+"="+l.GetValue())
				}
				fmt.Printf("%s{%s} %v\n", f.GetName(), strings.Join(labels, ","), m.GetGauge().GetValue())
			}
		}
	}
	for _, f := range families {
		if strings.HasPrefix(f.GetName(), "engram_operation") || strings.HasPrefix(f.GetName(), "engram_batch") {
			fmt.Println(f.GetName(), f.GetType())
		}
	}
	// Output:
	// engram_memories{space=notes,tier=cold} 0
	// engram_memories{space=notes,tier=hot} 2
	// engram_memories{space=notes,tier=warm} 0
	// engram_batch_size HISTOGRAM
	// engram_operation_duration_seconds HISTOGRAM
	// engram_operations_total COUNTER
}
