package jsonl_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"math"
	"os"
	"strings"

	"github.com/engram-go/engram"
	"github.com/engram-go/engram/jsonl"
	"github.com/engram-go/engram/tier"
)

// HeaderOf captures a space's name and settings for the first line of a lossless
// export, so that an import can recreate the space as it was before restoring into it.
func ExampleHeaderOf() {
	s, done := openStore()
	defer done()
	ctx := context.Background()
	sp, err := s.Space(ctx, "notes", engram.WithDimension(3),
		engram.WithTiering(tier.Policy{HotCapacity: 500}))
	if err != nil {
		log.Fatal(err)
	}
	h := jsonl.HeaderOf(sp)
	fmt.Println(h.Version, h.Space, h.Settings.Dim, h.Settings.Tiering.HotCapacity)

	// Elsewhere: the same settings make an equal space under another name.
	dup, err := s.Space(ctx, "notes-copy", h.Settings.Options()...)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(dup.Settings() == sp.Settings())
	// Output:
	// 1 notes 3 500
	// true
}

// All ranges over the remaining memories with their errors: a bad line comes as a
// *LineError and the loop goes on; breaking out stops reading. Line tells which line
// the current memory came from (blank lines counted, as an editor numbers them).
func ExampleReader_All() {
	input := `{"id":"a","content":"first","embedding":[1,0]}

{"id":"b","content":"second","embedding":[0,1],"colour":"red"}
{"id":"c","content":"third","embedding":[0.6,0.8]}
{"id":"d","content":"never read","embedding":[0.8,0.6]}
`
	r := jsonl.NewReader(strings.NewReader(input))
	for m, err := range r.All() {
		if err != nil {
			fmt.Println("error:", err)
			continue
		}
		fmt.Println(r.Line(), m.ID)
		if m.ID == "c" {
			break
		}
	}
	// Output:
	// 1 a
	// error: jsonl: line 3: unknown field "colour"
	// 4 c
}

// Line numbers the line Next last returned, for reports that point a user at a place
// in the file; a header counts as a line.
func ExampleReader_Line() {
	input := "{\"engram_jsonl\":1,\"space\":\"s\",\"dim\":2,\"settings\":{\"index\":\"flat\",\"hnsw\":{\"m\":16,\"ef_construction\":200,\"ef_search\":128,\"threshold\":10000},\"confidence_weight\":0}}\n" +
		"\n\n" +
		`{"id":"a","content":"x","embedding":[1,0],"tier":"hot"}` + "\n"
	r := jsonl.NewReader(strings.NewReader(input))
	fmt.Println(r.Line())
	if _, err := r.Header(); err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Line())
	m, _ := r.Next()
	fmt.Println(r.Line(), m.ID, m.Tier)
	// Output:
	// 0
	// 1
	// 4 a hot
}

// Write refuses a memory JSON cannot carry faithfully with a *MemoryError naming it,
// writes nothing of it, and goes on with the next one.
func ExampleWriter_Write() {
	w := jsonl.NewWriter(os.Stdout)
	for _, m := range []engram.Memory{
		{ID: "ok", Content: "fine", Embedding: []float32{1, 0}},
		{ID: "nan", Content: "bad vector", Embedding: []float32{float32(math.NaN()), 0}},
		{ID: "utf8", Content: "bad \xff byte", Embedding: []float32{0, 1}},
		{ID: "ok2", Content: "<also fine>", Embedding: []float32{0.6, 0.8}},
	} {
		err := w.Write(m)
		var bad *jsonl.MemoryError
		if errors.As(err, &bad) {
			fmt.Println("refused", bad.ID, errors.Is(err, jsonl.ErrInvalidUTF8))
		}
	}
	w.Flush() // the refusals print first: the Writer buffers its lines until Flush
	// Output:
	// refused nan false
	// refused utf8 true
	// {"id":"ok","content":"fine","embedding":[1,0]}
	// {"id":"ok2","content":"\u003calso fine\u003e","embedding":[0.6,0.8]}
}

// Output is buffered: nothing reaches the underlying writer until Flush (or the
// buffer fills). Flush also reports the underlying writer's error.
func ExampleWriter_Flush() {
	var buf bytes.Buffer
	w := jsonl.NewWriter(&buf)
	if err := w.Write(engram.Memory{ID: "a", Content: "x", Embedding: []float32{1}}); err != nil {
		log.Fatal(err)
	}
	fmt.Println(buf.Len())
	if err := w.Flush(); err != nil {
		log.Fatal(err)
	}
	fmt.Print(buf.String())
	// Output:
	// 0
	// {"id":"a","content":"x","embedding":[1]}
}
