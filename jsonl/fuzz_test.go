package jsonl_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/engram-go/engram"
	"github.com/engram-go/engram/jsonl"
)

// FuzzReader feeds arbitrary bytes to a Reader. It must never panic, must report every
// failure as a *LineError on a sensible line (a bytes.Reader never fails), and whatever it
// decodes must
//   - be what encoding/json makes of the same line: the Reader accepts a subset of what
//     json.Unmarshal does (it is stricter), and must agree with it on that subset;
//   - survive the Writer: re-encoded and read again it is the same memory, and encoding
//     that again gives the same bytes.
func FuzzReader(f *testing.F) {
	data, _ := synthJSONL(f, 3, 4)
	f.Add(data)
	f.Add([]byte(`{"id":"m1","content":"tea \u003c\ud83d\ude00","embedding":[0.6,-0.8,1e-45,-0],"confidence":0,` +
		`"created_at":"2025-03-01T10:00:00.5+02:00","last_access":"2025-03-02T10:00:00Z","access_count":3,` +
		`"metadata":{"k":"v","":""},"tags":["a",""]}`))
	f.Add([]byte("\uFEFF{}\r\n\n{\"id\":\n[1]\n{\"id\":null,\"id\":\"x\"}\n{\"embedding\":[1e39]}\n{\"id\":\"\\ud800\"}\n{} {}"))
	f.Add([]byte(`{"\u0069d" : "x" , "embedding" : [ 1 , -0.5e-3 , 2E+2 ] , "tags":[ "a,b", "]" ] , "metadata" : { "k" : "}" } }`))
	f.Add([]byte("{\"content\":\"caf\xe9\"}\n{\"tags\":[[[[\"x\"]]]]}\n{\"metadata\":{\"a\":1}}\n{\"created_at\":\"0000-01-01T00:00:00+23:59\"}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// A small line limit so that the too-long path is reached too.
		r := jsonl.NewReader(bytes.NewReader(data), jsonl.WithMaxLineBytes(512))
		raw := bytes.Split(data, []byte("\n"))
		lines := len(raw)
		last := 0
		for {
			m, err := r.Next()
			if err == io.EOF {
				break
			}
			if r.Line() <= last || r.Line() > lines {
				t.Fatalf("line %d after line %d, input of %d lines", r.Line(), last, lines)
			}
			last = r.Line()
			if err != nil {
				var le *jsonl.LineError
				if !errors.As(err, &le) || le.Line != r.Line() || errors.Is(err, io.EOF) {
					t.Fatalf("error %v (%T) for line %d", err, err, r.Line())
				}
				continue
			}
			line := raw[r.Line()-1]
			if r.Line() == 1 {
				line = bytes.TrimPrefix(line, []byte("\uFEFF"))
			}
			var ref engram.Memory
			if err := json.Unmarshal(line, &ref); err != nil {
				t.Fatalf("accepted a line encoding/json rejects (%v):\n%q", err, line)
			}
			if d := diff(m, ref); d != "" {
				t.Fatalf("disagrees with encoding/json: %s\n%q", d, line)
			}
			var first bytes.Buffer
			w := jsonl.NewWriter(&first)
			if err := w.Write(m); err != nil {
				t.Fatalf("decoded memory %+v does not encode: %v", m, err)
			}
			w.Flush()
			again, err := jsonl.NewReader(bytes.NewReader(first.Bytes())).Next()
			if err != nil {
				t.Fatalf("re-encoded memory does not decode: %v\n%s", err, first.Bytes())
			}
			if d := diff(m, again); d != "" {
				t.Fatalf("round trip changed the memory: %s\n%s", d, first.Bytes())
			}
			var second bytes.Buffer
			w = jsonl.NewWriter(&second)
			if err := w.Write(again); err != nil {
				t.Fatal(err)
			}
			w.Flush()
			if !bytes.Equal(first.Bytes(), second.Bytes()) {
				t.Fatalf("encoding is not stable:\n%s\n%s", first.Bytes(), second.Bytes())
			}
		}
	})
}
