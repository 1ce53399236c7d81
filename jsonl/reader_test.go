package jsonl_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/engram-go/engram"
	"github.com/engram-go/engram/jsonl"
)

// good is a valid line; every malformed case is followed by it to check that reading
// continues after the bad line.
const good = `{"id":"ok","content":"fine","embedding":[0.6,0.8]}`

func TestReaderMalformedLines(t *testing.T) {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	isSyntax := func(err error) bool { return errors.As(err, &syntax) }
	isType := func(err error) bool { return errors.As(err, &typ) }
	is := func(target error) func(error) bool { return func(err error) bool { return errors.Is(err, target) } }
	for _, tc := range []struct {
		name string
		line string
		want func(error) bool
	}{
		{"truncated object", `{"id":"a","embedding":[1,2`, is(io.ErrUnexpectedEOF)},
		{"truncated after colon", `{"id":`, is(io.ErrUnexpectedEOF)},
		{"truncated after brace", `{`, is(io.ErrUnexpectedEOF)},
		{"truncated string", `{"content":"abc`, is(io.ErrUnexpectedEOF)},
		{"not json", `hello`, isSyntax},
		{"missing comma", `{"id":"a" "content":"b"}`, isSyntax},
		{"trailing comma", `{"id":"a",}`, isSyntax},
		{"single quotes", `{'id':'a'}`, isSyntax},
		{"array", `[1,2]`, is(jsonl.ErrNotObject)},
		{"string", `"memory"`, is(jsonl.ErrNotObject)},
		{"null", `null`, is(jsonl.ErrNotObject)},
		{"number", `42`, is(jsonl.ErrNotObject)},
		{"two objects", `{} {}`, is(jsonl.ErrTrailingData)},
		{"garbage after object", `{"id":"a"} x`, is(jsonl.ErrTrailingData)},
		{"embedding of strings", `{"embedding":["0.5","0.5"]}`, isType},
		{"NaN as string", `{"embedding":["NaN",1]}`, isType},
		{"Infinity as string", `{"embedding":[1,"Infinity"]}`, isType},
		{"bare NaN", `{"embedding":[NaN,1]}`, isSyntax},
		{"embedding not an array", `{"embedding":"0.1,0.2"}`, isType},
		{"embedding of arrays", `{"embedding":[[1],[2]]}`, isType},
		{"embedding with a string holding commas", `{"embedding":[1,"2,3"]}`, isType},
		{"null component", `{"embedding":[1,null]}`, is(jsonl.ErrNestedNull)},
		{"null tag", `{"tags":["a",null]}`, is(jsonl.ErrNestedNull)},
		{"null metadata value", `{"metadata":{"k":null}}`, is(jsonl.ErrNestedNull)},
		{"embedding with a bool", `{"embedding":[true]}`, isType},
		{"escaped unknown field name", `{"\u0049D":"a"}`, is(jsonl.ErrUnknownField)},
		{"escaped duplicate", `{"id":"a","\u0069d":"b"}`, is(jsonl.ErrDuplicateField)},
		{"component beyond float32", `{"embedding":[1e39,1]}`, isType},
		{"component beyond float64", `{"embedding":[1e999]}`, isType},
		{"huge confidence", `{"confidence":1e40}`, isType},
		{"confidence as string", `{"confidence":"0.5"}`, isType},
		{"access_count negative", `{"access_count":-1}`, isType},
		{"access_count fractional", `{"access_count":1.5}`, isType},
		{"access_count beyond uint32", `{"access_count":4294967296}`, isType},
		{"id as number", `{"id":12}`, isType},
		{"tags as string", `{"tags":"a,b"}`, isType},
		{"metadata value number", `{"metadata":{"a":1}}`, isType},
		{"metadata as array", `{"metadata":["a"]}`, isType},
		{"created_at not RFC 3339", `{"created_at":"yesterday"}`, func(err error) bool { return err != nil }},
		{"created_at as number", `{"created_at":1700000000}`, func(err error) bool { return err != nil }},
		{"deep nesting", `{"tags":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, func(err error) bool { return err != nil }},
		{"unknown field", `{"id":"a","score":0.5}`, is(jsonl.ErrUnknownField)},
		{"field name in other case", `{"ID":"a"}`, is(jsonl.ErrUnknownField)},
		{"tier is not a field", `{"Tier":1}`, is(jsonl.ErrUnknownField)},
		{"duplicate id", `{"id":"a","id":"b"}`, is(jsonl.ErrDuplicateField)},
		{"duplicate after null", `{"embedding":null,"embedding":[1]}`, is(jsonl.ErrDuplicateField)},
		{"invalid UTF-8 in content", "{\"content\":\"caf\xe9\"}", is(jsonl.ErrInvalidUTF8)},
		{"invalid UTF-8 in key", "{\"\xff\":1}", is(jsonl.ErrInvalidUTF8)},
		{"UTF-8 encoded surrogate", "{\"id\":\"\xed\xa0\x80\"}", is(jsonl.ErrInvalidUTF8)},
		{"lone high surrogate escape", `{"id":"\ud800"}`, is(jsonl.ErrInvalidUTF8)},
		{"lone low surrogate escape", `{"id":"\uDC00x"}`, is(jsonl.ErrInvalidUTF8)},
		{"high surrogate then non-surrogate", `{"id":"\ud800\u0041"}`, is(jsonl.ErrInvalidUTF8)},
		{"high surrogate at end of line", `{"id":"\ud800`, is(jsonl.ErrInvalidUTF8)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := jsonl.NewReader(strings.NewReader(tc.line + "\n" + good + "\n"))
			m, err := r.Next()
			var le *jsonl.LineError
			if !errors.As(err, &le) {
				t.Fatalf("got %+v, %v; want a *LineError", m, err)
			}
			if le.Line != 1 || r.Line() != 1 {
				t.Errorf("line %d, Line() %d; want 1", le.Line, r.Line())
			}
			if !tc.want(err) {
				t.Errorf("unexpected error %v", err)
			}
			if errors.Is(err, io.EOF) {
				t.Errorf("a bad line must not look like the end of input: %v", err)
			}
			if len(err.Error()) > 300 {
				t.Errorf("error message of %d bytes", len(err.Error()))
			}
			m, err = r.Next()
			if err != nil || m.ID != "ok" || r.Line() != 2 {
				t.Fatalf("after the bad line: %+v, %v, line %d", m, err, r.Line())
			}
			if _, err := r.Next(); err != io.EOF {
				t.Fatalf("want io.EOF, got %v", err)
			}
		})
	}
}

func TestReaderAcceptedLines(t *testing.T) {
	created := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		line string
		want engram.Memory
	}{
		{"full", `{"id":"m1","content":"tea","embedding":[0.6,-0.8],"confidence":0.25,"created_at":"2025-03-01T10:00:00Z",` +
			`"last_access":"2025-03-02T10:00:00Z","access_count":3,"metadata":{"k":"v"},"tags":["a","b"]}`,
			engram.Memory{ID: "m1", Content: "tea", Embedding: []float32{0.6, -0.8}, Confidence: engram.Confidence(0.25),
				CreatedAt: created, LastAccess: created.Add(24 * time.Hour), AccessCount: 3, Metadata: map[string]string{"k": "v"}, Tags: []string{"a", "b"}}},
		{"empty object", `{}`, engram.Memory{}},
		{"nulls mean absent", `{"id":null,"content":null,"embedding":null,"confidence":null,"created_at":null,"metadata":null,"tags":null}`, engram.Memory{}},
		{"zero confidence is set", `{"confidence":0}`, engram.Memory{Confidence: engram.Confidence(0)}},
		{"whitespace and CR", " \t{ \"id\" : \"x\" }\t\r", engram.Memory{ID: "x"}},
		{"n in strings is not null", `{"id":"null","tags":["n","nn"],"metadata":{"null":"none"}}`,
			engram.Memory{ID: "null", Tags: []string{"n", "nn"}, Metadata: map[string]string{"null": "none"}}},
		{"escapes", `{"content":"\u003ca\u003e \"q\" \\ud800 \ud83d\ude00 \u00e9"}`, engram.Memory{Content: `<a> "q" \ud800 😀 é`}},
		{"exponents and tiny numbers", `{"embedding":[1e-3,-2.5E+2,1e-50,-0]}`, engram.Memory{Embedding: []float32{0.001, -250, 0, float32(math.Copysign(0, -1))}}},
		{"time with offset", `{"created_at":"2025-03-01T12:00:00+02:00"}`, engram.Memory{CreatedAt: created}},
		{"escaped field names", `{"\u0069d":"x","con\u0074ent":"y"}`, engram.Memory{ID: "x", Content: "y"}},
		{"spaces everywhere", " { \"embedding\" : [ 1 , 2\t] , \"tags\" : [ \"a,b\" , \"]\" ] , \"metadata\" : { \"k\" : \"}\" } } ",
			engram.Memory{Embedding: []float32{1, 2}, Tags: []string{"a,b", "]"}, Metadata: map[string]string{"k": "}"}}},
		{"empty embedding", `{"embedding":[ ]}`, engram.Memory{Embedding: []float32{}}},
		{"float32 rounding", `{"embedding":[0.1,3.4028235e38,1e-46,16777217]}`, engram.Memory{Embedding: []float32{0.1, 3.4028235e38, 0, 16777216}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := jsonl.NewReader(strings.NewReader(tc.line))
			m, err := r.Next()
			if err != nil {
				t.Fatal(err)
			}
			if d := diff(m, tc.want); d != "" {
				t.Fatal(d)
			}
			if _, err := r.Next(); err != io.EOF {
				t.Fatalf("want io.EOF, got %v", err)
			}
		})
	}
}

// TestReaderLines checks line counting across blank lines, CRLF, a byte order mark and a
// last line without newline, and that All keeps going after bad lines.
func TestReaderLines(t *testing.T) {
	input := "\uFEFF" + `{"id":"a"}` + "\r\n\r\n   \n" + `{"id":` + "\n\t\n" + `{"id":"b"}` + "\n" + `{"id":"c"}`
	var got []string
	r := jsonl.NewReader(strings.NewReader(input))
	for m, err := range r.All() {
		if err != nil {
			var le *jsonl.LineError
			if !errors.As(err, &le) {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprintf("error@%d", le.Line))
			continue
		}
		got = append(got, fmt.Sprintf("%s@%d", m.ID, r.Line()))
	}
	if want := "a@1 error@4 b@6 c@7"; strings.Join(got, " ") != want {
		t.Fatalf("got %v, want %s", got, want)
	}
	for _, in := range []string{"", "\n\n", " \r\n"} {
		if _, err := jsonl.NewReader(strings.NewReader(in)).Next(); err != io.EOF {
			t.Errorf("%q: want io.EOF, got %v", in, err)
		}
	}
	// A byte order mark anywhere but at the start is not whitespace.
	r = jsonl.NewReader(strings.NewReader("{}\n\uFEFF{}"))
	r.Next()
	if _, err := r.Next(); err == nil {
		t.Error("byte order mark on line 2 accepted")
	}
}

func TestReaderLineTooLong(t *testing.T) {
	const max = 100
	line := func(n int) string { // a valid line of exactly n bytes
		return `{"content":"` + strings.Repeat("x", n-len(`{"content":""}`)) + `"}`
	}
	input := line(max) + "\n" + line(max+1) + "\n" + line(max) + "\r\n" + line(5*max) + "\n" + strings.Repeat(" ", 10*max) + "\n" + line(max)
	// One byte at a time makes the line assembly cross every chunk boundary.
	r := jsonl.NewReader(iotest.OneByteReader(strings.NewReader(input)), jsonl.WithMaxLineBytes(max))
	var got []string
	for m, err := range r.All() {
		switch {
		case errors.Is(err, jsonl.ErrLineTooLong):
			got = append(got, fmt.Sprintf("long@%d", r.Line()))
		case err != nil:
			t.Fatalf("line %d: %v", r.Line(), err)
		default:
			got = append(got, fmt.Sprintf("%d@%d", len(m.Content), r.Line()))
		}
	}
	// The CRLF line is max+1 bytes: the carriage return counts, only the newline does not.
	if want := "86@1 long@2 long@3 long@4 long@5 86@6"; strings.Join(got, " ") != want {
		t.Fatalf("got %v, want %s", got, want)
	}
}

// TestReaderLargeMemory reads the largest memory the store accepts by default, in its most
// expanded JSON form, under the default line limit.
func TestReaderLargeMemory(t *testing.T) {
	m := engram.Memory{
		ID:        "big",
		Content:   strings.Repeat("<", engram.DefaultLimits.MaxContentBytes), // 6 bytes each: \u003c
		Embedding: make([]float32, engram.DefaultLimits.MaxDimension),
		Metadata:  map[string]string{"k": strings.Repeat("&", engram.DefaultLimits.MaxMetadataBytes-1)},
	}
	for i := range m.Embedding {
		m.Embedding[i] = -1.2345678e-30 // 15 bytes, the longest a float32 encodes to
	}
	var buf bytes.Buffer
	w := jsonl.NewWriter(&buf)
	if err := w.Write(m); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	if buf.Len() > jsonl.DefaultMaxLineBytes {
		t.Fatalf("line of %d bytes is over the default limit", buf.Len())
	}
	got, err := jsonl.NewReader(&buf).Next()
	if err != nil {
		t.Fatal(err)
	}
	if d := diff(got, m); d != "" {
		t.Fatal(d)
	}
}

func TestReaderUnderlyingError(t *testing.T) {
	boom := errors.New("disk on fire")
	r := jsonl.NewReader(io.MultiReader(strings.NewReader(good+"\n"+`{"id":"b`), iotest.ErrReader(boom)))
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	var n int
	var last error
	for _, err := range r.All() {
		n++
		last = err
	}
	var le *jsonl.LineError
	if n != 1 || !errors.Is(last, boom) || errors.As(last, &le) {
		t.Fatalf("%d yields, last %v", n, last)
	}
	if _, err := r.Next(); !errors.Is(err, boom) {
		t.Fatalf("error not sticky: %v", err)
	}
}

// TestReaderAllocationBounded feeds forged lines built to make the decoder allocate much
// per input byte, and checks that allocation stays within a small multiple of the line.
// The worst shape is a long list of empty strings: 16 bytes of string header per 3 input
// bytes, allocated about five times over while encoding/json grows the slice (append
// grows large slices by 1.25×), about 35 bytes per input byte in all.
func TestReaderAllocationBounded(t *testing.T) {
	const n = 100_000
	var keys strings.Builder
	for i := range n {
		if i > 0 {
			keys.WriteByte(',')
		}
		fmt.Fprintf(&keys, `"%x":""`, i)
	}
	for name, line := range map[string]string{
		"empty tags":           `{"tags":[` + strings.Repeat(`"",`, n) + `""]}`,
		"zero components":      `{"embedding":[` + strings.Repeat(`0,`, n) + `0]}`,
		"small metadata":       `{"metadata":{` + keys.String() + `}}`,
		"escape-heavy content": `{"content":"` + strings.Repeat(`\u00e9`, n) + `"}`,
	} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := jsonl.NewReader(strings.NewReader(line)).Next()
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 48*uint64(len(line)) {
			t.Errorf("%s: %d bytes allocated for a line of %d", name, alloc, len(line))
		} else {
			t.Logf("%s: %.1f bytes allocated per input byte", name, float64(alloc)/float64(len(line)))
		}
	}
}

func TestReaderParsesSynthOutput(t *testing.T) {
	data, want := synthJSONL(t, 200, 48)
	r := jsonl.NewReader(bytes.NewReader(data))
	i := 0
	for m, err := range r.All() {
		if err != nil {
			t.Fatal(err)
		}
		if d := diff(m, want[i]); d != "" {
			t.Fatalf("memory %d: %s", i, d)
		}
		i++
	}
	if i != len(want) {
		t.Fatalf("%d memories, want %d", i, len(want))
	}
}
