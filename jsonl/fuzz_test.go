package jsonl_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/engram-go/engram"
	"github.com/engram-go/engram/jsonl"
	"github.com/engram-go/engram/tier"
)

// FuzzReader feeds arbitrary bytes to a Reader. It must never panic, must report every
// failure as a *LineError on a sensible line (a bytes.Reader never fails; a bad header
// ends reading), and whatever it decodes must
//   - be what encoding/json makes of the same line: the Reader accepts a subset of what
//     json.Unmarshal does (it is stricter), and must agree with it on that subset;
//   - survive the Writer, in both forms (a header, when the input has one, included):
//     re-encoded and read again it is the same memory and header, and encoding that again
//     gives the same bytes.
func FuzzReader(f *testing.F) {
	data, _ := synthJSONL(f, 3, 4)
	f.Add(data)
	f.Add([]byte(`{"id":"m1","content":"tea \u003c\ud83d\ude00","embedding":[0.6,-0.8,1e-45,-0],"confidence":0,` +
		`"created_at":"2025-03-01T10:00:00.5+02:00","last_access":"2025-03-02T10:00:00Z","access_count":3,` +
		`"metadata":{"k":"v","":""},"tags":["a",""]}`))
	f.Add([]byte("\uFEFF{}\r\n\n{\"id\":\n[1]\n{\"id\":null,\"id\":\"x\"}\n{\"embedding\":[1e39]}\n{\"id\":\"\\ud800\"}\n{} {}"))
	f.Add([]byte(`{"\u0069d" : "x" , "embedding" : [ 1 , -0.5e-3 , 2E+2 ] , "tags":[ "a,b", "]" ] , "metadata" : { "k" : "}" } }`))
	f.Add([]byte("{\"content\":\"caf\xe9\"}\n{\"tags\":[[[[\"x\"]]]]}\n{\"metadata\":{\"a\":1}}\n{\"created_at\":\"0000-01-01T00:00:00+23:59\"}"))
	// The lossless form: a header, then memories with their tiers.
	f.Add([]byte(`{"engram_jsonl":1,"space":"notes","dim":2,"settings":{"index":"hnsw","hnsw":{"m":8,"ef_construction":64,"ef_search":40,"threshold":77},` +
		`"confidence_weight":0.3,"tiering":{"hot_capacity":50,"high_watermark":0.95,"low_watermark":0.7,"activation_half_life_seconds":5400,` +
		`"warm_idle_seconds":2,"promote":["recall","get"],"max_per_cycle":300,"batch_size":30,"backpressure":"fail-fast"},` +
		`"decay":{"kind":"power-law","half_life_seconds":3600,"scale_seconds":10800,"exponent":0.7,"floor":0.2,"recency_boost":0.25},"embedder":"hash-2"}}` + "\n" +
		`{"id":"b","embedding":[0,1],"last_access":"2025-03-02T10:00:00Z","access_count":3,"tier":"warm"}` + "\n" +
		`{"id":"c","embedding":[1,0],"tier":"cold"}`))
	f.Add([]byte(`{"engram_jsonl":2}` + "\n" + `{"id":"x","embedding":[1]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		// A small line limit so that the too-long path is reached too.
		r := jsonl.NewReader(bytes.NewReader(data), jsonl.WithMaxLineBytes(512))
		raw := bytes.Split(data, []byte("\n"))
		lines := len(raw)
		h, herr := r.Header()
		if herr != nil {
			var le *jsonl.LineError
			if h != nil || !errors.As(herr, &le) || !errors.Is(herr, jsonl.ErrHeader) || le.Line < 1 || le.Line > lines {
				t.Fatalf("header error %v (%T)", herr, herr)
			}
			if _, err := r.Next(); err != herr {
				t.Fatalf("Next after a bad header: %v", err)
			}
			return
		}
		if h != nil {
			checkHeader(t, *h)
		}
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
			var refTier struct{ Tier *string }
			json.Unmarshal(line, &refTier)
			if refTier.Tier != nil {
				ref.Tier, _ = tier.Parse(*refTier.Tier)
			}
			if d := diff(m, ref); d != "" || m.Tier != ref.Tier {
				t.Fatalf("disagrees with encoding/json: %s (tier %v vs %v)\n%q", d, m.Tier, ref.Tier, line)
			}
			for _, hdr := range []*jsonl.Header{nil, {Space: "s", Settings: fullSettings}} {
				first := encode(t, hdr, m)
				r := jsonl.NewReader(bytes.NewReader(first))
				again, err := r.Next()
				if err != nil {
					t.Fatalf("re-encoded memory does not decode: %v\n%s", err, first)
				}
				if d := diff(m, again); d != "" || (hdr != nil && again.Tier != m.Tier) {
					t.Fatalf("round trip changed the memory: %s (tier %v vs %v)\n%s", d, m.Tier, again.Tier, first)
				}
				if second := encode(t, hdr, again); !bytes.Equal(first, second) {
					t.Fatalf("encoding is not stable:\n%s\n%s", first, second)
				}
			}
		}
	})
}

// encode writes m alone, after hdr when not nil (the lossless form).
func encode(t *testing.T, hdr *jsonl.Header, m engram.Memory) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := jsonl.NewWriter(&buf)
	if hdr != nil {
		if err := w.WriteHeader(*hdr); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Write(m); err != nil {
		t.Fatalf("decoded memory %+v does not encode: %v", m, err)
	}
	w.Flush()
	return buf.Bytes()
}

// checkHeader checks that a header read from the input survives the Writer: written and
// read back it is the same header, and writing that again gives the same bytes.
func checkHeader(t *testing.T, h jsonl.Header) {
	t.Helper()
	var first bytes.Buffer
	w := jsonl.NewWriter(&first)
	if err := w.WriteHeader(h); err != nil {
		t.Fatalf("header %+v read but not written: %v", h, err)
	}
	w.Flush()
	again, err := jsonl.NewReader(bytes.NewReader(first.Bytes())).Header()
	if err != nil || again == nil {
		t.Fatalf("re-encoded header does not decode: %v\n%s", err, first.Bytes())
	}
	if again.Settings != h.Settings || again.Space != h.Space {
		t.Fatalf("header round trip:\n%+v\n%+v", h, *again)
	}
	var second bytes.Buffer
	w = jsonl.NewWriter(&second)
	w.WriteHeader(*again)
	w.Flush()
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Fatalf("header encoding is not stable:\n%s\n%s", first.Bytes(), second.Bytes())
	}
}
