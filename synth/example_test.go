package synth_test

import (
	"fmt"
	"reflect"

	"github.com/engram-go/engram/synth"
	"github.com/engram-go/engram/vector"
)

func ExampleNew() {
	cfg := synth.Config{Seed: 7, Dim: 32, Topics: 4, IDPrefix: "mem"}
	g := synth.New(cfg)
	mems := g.Batch(100)

	first, last := mems[0], mems[len(mems)-1]
	fmt.Println(len(mems), len(first.Embedding), first.ID, last.ID)
	fmt.Printf("unit norm: %.3f\n", vector.Norm(first.Embedding))
	fmt.Println("tagged with its topic:", first.Tags[0] == first.Metadata["topic"])
	fmt.Println("created in 2025:", first.CreatedAt.Year() == 2025)

	// The same configuration always yields the same memories.
	again := synth.New(cfg).Batch(100)
	fmt.Println("reproducible:", reflect.DeepEqual(mems, again))

	// Zero fields take their defaults.
	fmt.Println(synth.New(synth.Config{}).Config().Dim)
	// Output:
	// 100 32 mem-000000 mem-000099
	// unit norm: 1.000
	// tagged with its topic: true
	// created in 2025: true
	// reproducible: true
	// 384
}
