package jsonl_test

import (
	"errors"
	"fmt"
	"io"
	"log"
	"strings"

	"github.com/engram-go/engram/jsonl"
)

func ExampleReader_Next() {
	input := `{"id":"a","embedding":[1,0]}
{"id":"b","id":"c","embedding":[0,1]}
{"id":"d","embedding":[0.5,0.5],"tags":["x"]}
`
	r := jsonl.NewReader(strings.NewReader(input))
	for {
		m, err := r.Next()
		if err == io.EOF {
			break
		}
		var bad *jsonl.LineError
		if errors.As(err, &bad) {
			fmt.Println("line", bad.Line, errors.Is(err, jsonl.ErrDuplicateField))
			continue // the next call goes on with the following line
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("line", r.Line(), m.ID, m.Embedding)
	}
	// Output:
	// line 1 a [1 0]
	// line 2 true
	// line 3 d [0.5 0.5]
}

func ExampleWithMaxLineBytes() {
	input := `{"id":"short","embedding":[1]}
{"id":"long","content":"` + strings.Repeat("x", 100) + `","embedding":[1]}
{"id":"short-too","embedding":[1]}
`
	r := jsonl.NewReader(strings.NewReader(input), jsonl.WithMaxLineBytes(64))
	for m, err := range r.All() {
		if err != nil {
			fmt.Println(err, errors.Is(err, jsonl.ErrLineTooLong))
			continue
		}
		fmt.Println(m.ID)
	}
	// Output:
	// short
	// jsonl: line 2: line too long: more than 64 bytes true
	// short-too
}

func ExampleSyntaxError() {
	input := `{"id":"a","embedding":[1,0]}
{"id": nope, "embedding":[0,1]}
`
	r := jsonl.NewReader(strings.NewReader(input))
	for _, err := range r.All() {
		var se *jsonl.SyntaxError
		if errors.As(err, &se) {
			fmt.Println(err)
			fmt.Println("column", se.Column)
		}
	}
	// Output:
	// jsonl: line 2, column 8: nope is not a JSON value (a number, true, false, null, or text in double quotes)
	// column 8
}
