package jsonl_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/engram-go/engram"
	"github.com/engram-go/engram/jsonl"
)

func ExampleNewReader() {
	input := `{"id":"tea","content":"Ada prefers tea","embedding":[0.9,0.1],"tags":["ada"]}

{"id":"cat","content":"Ada's cat is Turing","embedding":[0.1,"0.9"]}
{"id":"walk","content":"Ada walks at noon","embedding":[0.5,0.5],"Confidence":1}
{"id":"bike","content":"Ada cycles to work","embedding":[0.7,0.3],"confidence":0.8}
`
	r := jsonl.NewReader(strings.NewReader(input))
	for m, err := range r.All() {
		var bad *jsonl.LineError
		if errors.As(err, &bad) {
			// A bad line fails alone: report it and go on with the next one.
			fmt.Printf("line %d skipped: %v\n", bad.Line, bad.Err)
			continue
		}
		if err != nil {
			log.Fatal(err) // the input itself failed
		}
		fmt.Printf("line %d: %s %q confidence %.1f\n", r.Line(), m.ID, m.Content, m.Conf())
	}
	// Output:
	// line 1: tea "Ada prefers tea" confidence 1.0
	// line 3 skipped: field "embedding": expected a number, found a string
	// line 4 skipped: unknown field "Confidence"
	// line 5: bike "Ada cycles to work" confidence 0.8
}

func ExampleNewWriter() {
	w := jsonl.NewWriter(os.Stdout)
	for _, m := range []engram.Memory{
		{ID: "tea", Content: "Ada prefers tea", Embedding: []float32{0.9, 0.1}, Tags: []string{"ada"}},
		{ID: "cat", Content: "Ada's cat is Turing", Embedding: []float32{0.1, 0.9}, Confidence: engram.Confidence(0.5),
			Metadata: map[string]string{"source": "chat"}},
	} {
		if err := w.Write(m); err != nil {
			log.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// {"id":"tea","content":"Ada prefers tea","embedding":[0.9,0.1],"tags":["ada"]}
	// {"id":"cat","content":"Ada's cat is Turing","embedding":[0.1,0.9],"confidence":0.5,"metadata":{"source":"chat"}}
}
