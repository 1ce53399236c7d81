package synth_test

import (
	"fmt"
	"reflect"

	"github.com/engram-go/engram"
	"github.com/engram-go/engram/synth"
	"github.com/engram-go/engram/vector"
)

// Next hands out one memory at a time, continuing the same deterministic stream that
// Batch and All draw from.
func ExampleGenerator_Next() {
	g := synth.New(synth.Config{Seed: 3, Dim: 8, Topics: 2, IDPrefix: "n"})
	a, b := g.Next(), g.Next()
	fmt.Println(a.ID, b.ID, len(a.Embedding), a.Content != "")

	// Next, Batch and All share one stream: two Nexts then a Batch of one is the
	// same as a Batch of three.
	c := g.Batch(1)[0]
	three := synth.New(synth.Config{Seed: 3, Dim: 8, Topics: 2, IDPrefix: "n"}).Batch(3)
	fmt.Println(c.ID, reflect.DeepEqual(three, []engram.Memory{a, b, c}))
	// Output:
	// n-000000 n-000001 8 true
	// n-000002 true
}

// Batch returns the next n memories as a slice, ready for Space.BatchRemember.
func ExampleGenerator_Batch() {
	g := synth.New(synth.Config{Seed: 1, Dim: 16, IDPrefix: "mem"})
	first := g.Batch(50)
	second := g.Batch(50) // continues where the first batch stopped
	fmt.Println(len(first), first[49].ID, second[0].ID)
	// Output: 50 mem-000049 mem-000050
}

// All streams n memories without holding them all, for datasets too large for one
// slice (`engram synth` writes them out this way).
func ExampleGenerator_All() {
	g := synth.New(synth.Config{Seed: 1, Dim: 16, Topics: 4})
	topics := map[string]int{}
	n := 0
	for m := range g.All(1000) {
		topics[m.Metadata["topic"]]++
		n++
	}
	fmt.Println(n, len(topics))
	// Without an IDPrefix the IDs are left for the store to generate.
	fmt.Printf("%q\n", g.Next().ID)
	// Output:
	// 1000 4
	// ""
}

// Config reports what the generator runs with, defaults filled in: what a benchmark
// should log beside its numbers so a run can be reproduced.
func ExampleGenerator_Config() {
	cfg := synth.New(synth.Config{Dim: 64}).Config()
	fmt.Println(cfg.Seed, cfg.Dim, cfg.Topics, cfg.Spread)
	fmt.Println(cfg.Start.Format("2006-01-02"), cfg.End.Format("2006-01-02"))
	// Output:
	// 1 64 16 0.35
	// 2025-01-01 2026-01-01
}

// Cue makes a query that lands near one topic: recalling with it should return that
// topic's memories, which is what a recall test or benchmark checks.
func ExampleGenerator_Cue() {
	g := synth.New(synth.Config{Seed: 5, Dim: 32, Topics: 4})
	mems := g.Batch(400)
	q, topic := g.Cue()

	// Exact nearest neighbours of the cue among the generated memories.
	m := make([]float32, 0, len(mems)*32)
	for _, mem := range mems {
		m = append(m, mem.Embedding...)
	}
	top := vector.TopK(m, 32, q, 10, -1, nil, nil)
	same := 0
	for _, s := range top {
		if mems[s.Row].Metadata["topic"] == topic {
			same++
		}
	}
	fmt.Printf("norm %.3f, %d of 10 nearest are about the cue's topic\n", vector.Norm(q), same)
	// Output: norm 1.000, 10 of 10 nearest are about the cue's topic
}
