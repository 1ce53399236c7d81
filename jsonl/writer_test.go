package jsonl_test

import (
	"bytes"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/engram-go/engram"
	"github.com/engram-go/engram/jsonl"
)

// TestWriterMatchesSynth: the Writer's output is byte-identical to `engram synth`'s.
func TestWriterMatchesSynth(t *testing.T) {
	want, mems := synthJSONL(t, 300, 32)
	var buf bytes.Buffer
	w := jsonl.NewWriter(&buf)
	for _, m := range mems {
		if err := w.Write(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatal("Writer output differs from json.Encoder's")
	}
}

func TestRoundTrip(t *testing.T) {
	at := time.Date(2024, 2, 29, 23, 59, 59, 123456789, time.FixedZone("", -7*3600))
	mems := []engram.Memory{
		{ID: "full", Content: "Ada <3 tea & \"cake\"\n\ttab \u2028 é 😀 \x00", Embedding: []float32{0.1, -0.2, 3.4028235e38, 1.4e-45, float32(math.Copysign(0, -1))},
			Confidence: engram.Confidence(0.7), CreatedAt: at, ExpiresAt: at.Add(48 * time.Hour), LastAccess: at.Add(time.Hour), AccessCount: math.MaxUint32,
			Metadata: map[string]string{"k": "v", "": "empty key", "<": ">"}, Tags: []string{"a", "", "b c"}},
		{}, // every field empty: embedding is written as null
		{ID: "zero-confidence", Confidence: engram.Confidence(0), Embedding: []float32{}},
		{ID: "unset-confidence", Embedding: []float32{1}, CreatedAt: time.Date(1678, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	_, synthMems := synthJSONL(t, 50, 16)
	mems = append(mems, synthMems...)

	var buf bytes.Buffer
	w := jsonl.NewWriter(&buf)
	for _, m := range mems {
		if err := w.Write(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(buf.Bytes(), []byte("\n")); n != len(mems) {
		t.Fatalf("%d lines for %d memories", n, len(mems))
	}
	r := jsonl.NewReader(&buf)
	for i, want := range mems {
		got, err := r.Next()
		if err != nil {
			t.Fatalf("memory %d: %v", i, err)
		}
		if d := diff(got, want); d != "" {
			t.Fatalf("memory %d: %s", i, d)
		}
		if r.Line() != i+1 {
			t.Fatalf("memory %d read from line %d", i, r.Line())
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("want io.EOF, got %v", err)
	}
}

// TestWriterRefuses: memories JSON cannot carry are refused whole, and writing goes on.
func TestWriterRefuses(t *testing.T) {
	for name, tc := range map[string]struct {
		m    engram.Memory
		utf8 bool
	}{
		"invalid UTF-8 id":           {engram.Memory{ID: "a\xff"}, true},
		"invalid UTF-8 content":      {engram.Memory{Content: "\xc3"}, true},
		"invalid UTF-8 metadata key": {engram.Memory{Metadata: map[string]string{"\xff": "v"}}, true},
		"invalid UTF-8 metadata":     {engram.Memory{Metadata: map[string]string{"k": "\xff"}}, true},
		"invalid UTF-8 tag":          {engram.Memory{Tags: []string{"ok", "\xed\xa0\x80"}}, true},
		"NaN component":              {engram.Memory{Embedding: []float32{1, float32(math.NaN())}}, false},
		"infinite confidence":        {engram.Memory{Confidence: engram.Confidence(float32(math.Inf(1)))}, false},
		"year 10000":                 {engram.Memory{CreatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, false},
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			w := jsonl.NewWriter(&buf)
			err := w.Write(tc.m)
			if err == nil {
				t.Fatal("written")
			}
			var me *jsonl.MemoryError
			if !errors.As(err, &me) || me.ID != tc.m.ID {
				t.Errorf("%v (%T) is not a *MemoryError for the memory", err, err)
			}
			if got := errors.Is(err, jsonl.ErrInvalidUTF8); got != tc.utf8 {
				t.Errorf("errors.Is(%v, ErrInvalidUTF8) = %v", err, got)
			}
			if err := w.Write(engram.Memory{ID: "next"}); err != nil {
				t.Fatal(err)
			}
			w.Flush()
			if got := buf.String(); got != `{"id":"next","embedding":null}`+"\n" {
				t.Fatalf("output %q", got)
			}
		})
	}
}

type failingWriter struct{ err error }

func (f failingWriter) Write([]byte) (int, error) { return 0, f.err }

func TestWriterUnderlyingError(t *testing.T) {
	boom := errors.New("disk full")
	w := jsonl.NewWriter(failingWriter{boom})
	big := engram.Memory{Content: strings.Repeat("x", 100<<10)} // larger than the buffer
	var me *jsonl.MemoryError
	if err := w.Write(big); !errors.Is(err, boom) || errors.As(err, &me) {
		t.Fatalf("Write: %v", err)
	}
	if err := w.Write(engram.Memory{}); !errors.Is(err, boom) {
		t.Fatalf("Write after failure: %v", err)
	}
	if err := w.Flush(); !errors.Is(err, boom) {
		t.Fatalf("Flush: %v", err)
	}
}
