package jsonl_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/engram-go/engram"
	"github.com/engram-go/engram/jsonl"
	"github.com/engram-go/engram/synth"
	"github.com/engram-go/engram/tier"
)

// fullSettings sets every field of the settings to a value other than its default.
var fullSettings = engram.SpaceSettings{
	Dim: 3, Index: engram.IndexHNSW, M: 8, EfConstruction: 64, EfSearch: 40, HNSWThreshold: 77, ConfidenceWeight: 0.3,
	Tiering: tier.Policy{HotCapacity: 50, HighWatermark: float64(float32(0.95)), LowWatermark: float64(float32(0.7)),
		ActivationHalfLife: 90 * time.Minute, WarmIdle: 2 * time.Second, Promote: tier.PromoteOnRecall | tier.PromoteOnGet,
		MaxPerCycle: 300, BatchSize: 30, Backpressure: tier.FailFast},
	Decay:    tier.Decay{Kind: tier.PowerLaw, HalfLife: time.Hour, Scale: 3 * time.Hour, Exponent: float64(float32(0.7)), Floor: 0.2, RecencyBoost: 0.25},
	Embedder: "hash-3",
}

// TestHeaderRoundTrip: a header and tiered memories written by the Writer come back from
// the Reader as they were, for settings with and without tiering and decay; the header
// line is exactly the documented form.
func TestHeaderRoundTrip(t *testing.T) {
	plain := fullSettings
	plain.Tiering, plain.Decay, plain.Dim, plain.Embedder = tier.Policy{}, tier.Decay{}, 0, ""
	never := fullSettings
	never.Tiering.Promote = tier.PromoteNever
	for _, set := range []engram.SpaceSettings{fullSettings, plain, never} {
		var buf bytes.Buffer
		w := jsonl.NewWriter(&buf)
		if err := w.WriteHeader(jsonl.Header{Space: "notes", Settings: set}); err != nil {
			t.Fatal(err)
		}
		mems := []engram.Memory{
			{ID: "a", Embedding: []float32{1, 0, 0}, Tier: engram.Hot, AccessCount: 3, LastAccess: time.Unix(1_700_000_000, 0).UTC()},
			{ID: "b", Embedding: []float32{0, 1, 0}, Tier: engram.Warm},
			{ID: "c", Embedding: []float32{0, 0, 1}, Tier: engram.Cold},
		}
		for _, m := range mems {
			if err := w.Write(m); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.WriteHeader(jsonl.Header{}); err == nil {
			t.Fatal("a second header was written")
		}
		w.Flush()
		r := jsonl.NewReader(bytes.NewReader(buf.Bytes()))
		h, err := r.Header()
		if err != nil || h == nil {
			t.Fatalf("header: %v %v\n%s", h, err, buf.Bytes())
		}
		if h.Version != jsonl.FormatVersion || h.Space != "notes" || h.Settings != set {
			t.Fatalf("header\n%+v, want settings\n%+v", *h, set)
		}
		var i int
		for m, err := range r.All() {
			if err != nil {
				t.Fatal(err)
			}
			if d := diff(m, mems[i]); d != "" || m.Tier != mems[i].Tier {
				t.Fatalf("memory %d: %s, tier %v want %v", i, d, m.Tier, mems[i].Tier)
			}
			i++
		}
		if i != len(mems) {
			t.Fatalf("%d memories read back", i)
		}
	}
	var buf bytes.Buffer
	w := jsonl.NewWriter(&buf)
	w.WriteHeader(jsonl.Header{Space: "notes", Settings: fullSettings})
	w.Write(engram.Memory{ID: "b", Embedding: []float32{0, 1, 0}, Tier: engram.Warm})
	w.Flush()
	want := `{"engram_jsonl":1,"space":"notes","dim":3,"settings":{"index":"hnsw","hnsw":{"m":8,"ef_construction":64,"ef_search":40,"threshold":77},` +
		`"confidence_weight":0.3,"tiering":{"hot_capacity":50,"high_watermark":0.95,"low_watermark":0.7,"activation_half_life_seconds":5400,` +
		`"warm_idle_seconds":2,"promote":["recall","get"],"max_per_cycle":300,"batch_size":30,"backpressure":"fail-fast"},` +
		`"decay":{"kind":"power-law","half_life_seconds":3600,"scale_seconds":10800,"exponent":0.7,"floor":0.2,"recency_boost":0.25},"embedder":"hash-3"}}` + "\n" +
		`{"id":"b","embedding":[0,1,0],"tier":"warm"}` + "\n"
	if buf.String() != want {
		t.Fatalf("lossless form\n%s\nwant\n%s", buf.String(), want)
	}
}

// TestPlainInputHasNoHeader: plain JSON Lines read as before, Header is nil, and the first
// memory (even after blank lines, a byte order mark, or as an over-long line) is not lost
// to the look for a header; a memory whose content mentions the header's key is a memory.
func TestPlainInputHasNoHeader(t *testing.T) {
	for _, in := range []string{
		"\uFEFF\n\n" + `{"id":"x","content":"about \"engram_jsonl\"","embedding":[1]}` + "\n" + good,
		`{"id":"x","embedding":[1]}` + "\n" + good, // no newline at the end
		`{"id":"x","embedding":[1]}`,
	} {
		r := jsonl.NewReader(strings.NewReader(in))
		if h, err := r.Header(); h != nil || err != nil {
			t.Fatalf("header %v %v for %q", h, err, in)
		}
		m, err := r.Next()
		if err != nil || m.ID != "x" {
			t.Fatalf("first memory %+v %v of %q", m, err, in)
		}
	}
	r := jsonl.NewReader(strings.NewReader(strings.Repeat("x", 100)+"\n"+good), jsonl.WithMaxLineBytes(64))
	if h, err := r.Header(); h != nil || err != nil {
		t.Fatal(h, err)
	}
	if _, err := r.Next(); !errors.Is(err, jsonl.ErrLineTooLong) || r.Line() != 1 {
		t.Fatalf("over-long first line: %v at %d", err, r.Line())
	}
	if m, err := r.Next(); err != nil || m.ID != "ok" {
		t.Fatal(m, err)
	}
	// Next without Header skips the header all the same.
	r = jsonl.NewReader(strings.NewReader(`{"engram_jsonl":1,"space":"s","dim":1,"settings":{"index":"flat","hnsw":{"m":16,"ef_construction":200,"ef_search":128,"threshold":10000},"confidence_weight":0.5}}` + "\n" + good))
	if m, err := r.Next(); err != nil || m.ID != "ok" || r.Line() != 2 {
		t.Fatal(m, err, r.Line())
	}
	if h, _ := r.Header(); h == nil || h.Settings.Index != engram.IndexFlat {
		t.Fatalf("header %+v", h)
	}
}

// TestBadHeaders: a header that cannot be used ends reading with ErrHeader on its line.
func TestBadHeaders(t *testing.T) {
	base := `"space":"s","dim":3,"settings":{"index":"auto","hnsw":{"m":16,"ef_construction":200,"ef_search":128,"threshold":10000},"confidence_weight":0.5`
	for name, line := range map[string]string{
		"newer version":      `{"engram_jsonl":2,` + base + `}}`,
		"version zero":       `{"engram_jsonl":0,` + base + `}}`,
		"version string":     `{"engram_jsonl":"1",` + base + `}}`,
		"unknown field":      `{"engram_jsonl":1,"extra":true,` + base + `}}`,
		"unknown index":      `{"engram_jsonl":1,` + strings.Replace(base, `"auto"`, `"ivf"`, 1) + `}}`,
		"negative dim":       `{"engram_jsonl":1,` + strings.Replace(base, `"dim":3`, `"dim":-3`, 1) + `}}`,
		"zero M":             `{"engram_jsonl":1,` + strings.Replace(base, `"m":16`, `"m":0`, 1) + `}}`,
		"unknown decay":      `{"engram_jsonl":1,` + base + `,"decay":{"kind":"linear"}}}`,
		"huge half-life":     `{"engram_jsonl":1,` + base + `,"decay":{"kind":"exponential","half_life_seconds":99999999999}}}`,
		"unknown promotion":  `{"engram_jsonl":1,` + base + `,"tiering":{"hot_capacity":5,"promote":["always"],"backpressure":"block"}}}`,
		"promote missing":    `{"engram_jsonl":1,` + base + `,"tiering":{"hot_capacity":5,"backpressure":"block"}}}`,
		"zero hot capacity":  `{"engram_jsonl":1,` + base + `,"tiering":{"hot_capacity":0,"promote":[],"backpressure":"block"}}}`,
		"bad backpressure":   `{"engram_jsonl":1,` + base + `,"tiering":{"hot_capacity":5,"promote":[],"backpressure":"drop"}}}`,
		"settings as string": `{"engram_jsonl":1,"space":"s","dim":3,"settings":"x"}`,
		"truncated":          `{"engram_jsonl":1,` + base,
		"long embedder name": `{"engram_jsonl":1,` + base + `,"embedder":"` + strings.Repeat("x", 1025) + `"}}`,
	} {
		r := jsonl.NewReader(strings.NewReader("\n" + line + "\n" + good + "\n"))
		h, err := r.Header()
		var le *jsonl.LineError
		if h != nil || !errors.As(err, &le) || le.Line != 2 || !errors.Is(err, jsonl.ErrHeader) {
			if name == "truncated" && h == nil && err == nil {
				continue // not a JSON object, so not a header: its line fails as a memory
			}
			t.Fatalf("%s: header %v, error %v", name, h, err)
		}
		for i := 0; i < 2; i++ { // final: Next and All report it and stop
			if _, err2 := r.Next(); err2 != err {
				t.Fatalf("%s: Next after a bad header: %v", name, err2)
			}
		}
		n := 0
		for _, err := range jsonl.NewReader(strings.NewReader(line + "\n" + good)).All() {
			if !errors.Is(err, jsonl.ErrHeader) {
				t.Fatalf("%s: All yielded %v", name, err)
			}
			n++
		}
		if n != 1 {
			t.Fatalf("%s: All yielded %d errors", name, n)
		}
	}
}

// TestTierField: "tier" is read exactly; anything else is a line error.
func TestTierField(t *testing.T) {
	r := jsonl.NewReader(strings.NewReader(`{"id":"a","embedding":[1],"tier":"cold"}
{"id":"b","embedding":[1],"tier":"Cold"}
{"id":"c","embedding":[1],"tier":2}
{"id":"d","embedding":[1],"tier":null}
{"id":"e","embedding":[1],"tier":"warm","tier":"hot"}
`))
	want := []string{"cold", "error", "error", "hot", "error"}
	for i, w := range want {
		m, err := r.Next()
		got := m.Tier.String()
		if err != nil {
			got = "error"
		}
		if got != w {
			t.Fatalf("line %d: %s (%v), want %s", i+1, got, err, w)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatal(err)
	}
}

// TestErrorsInWords: malformed lines are reported with their line and column and what
// was expected, not encoding/json's wording.
func TestErrorsInWords(t *testing.T) {
	for line, want := range map[string]string{
		`{"id": nope}`:                        `line 1, column 8: nope is not a JSON value`,
		`{"id":"a" "content":"b"}`:            `line 1, column 11: expected ',' or '}' after a field's value, found '"'`,
		`{"id":"a",}`:                         `line 1, column 11: a field is missing before '}'`,
		`{'id':'a'}`:                          `line 1, column 2: JSON strings need double quotes`,
		`{"embedding":[NaN,1]}`:               `line 1, column 15: NaN is not a JSON value`,
		`{"embedding":[1,2,]}`:                `line 1, column 19: a value is missing before ']'`,
		`{"embedding":[1 2]}`:                 `line 1, column 17: expected ',' or ']' after an array element, found '2'`,
		`{"confidence":0.5.5}`:                `line 1, column 18: expected ',' or '}'`,
		`{"content":"é` + "\x01" + `"}`:       `line 1, column 14: a control character (U+0001) inside a string must be escaped`,
		`{"content":"\q"}`:                    `line 1, column 14: \q is not an escape`,
		`{"id":"a"`:                           `line 1: the line ends inside its JSON object`,
		`{"embedding":["0.5"]}`:               `line 1: field "embedding": expected a number, found a string`,
		`{"embedding":[1e39]}`:                `line 1: field "embedding": 1e39 is beyond float32's range`,
		`{"access_count":1.5}`:                `line 1: field "access_count": 1.5 is not a whole number from 0 to 4294967295`,
		`{"tags":"a"}`:                        `line 1: field "tags": expected an array of strings, found a string`,
		`{"metadata":{"a":1}}`:                `line 1: field "metadata": expected a string, found a number`,
		`{"created_at":"yesterday"}`:          `line 1: field "created_at": "yesterday" is not an RFC 3339 time`,
		`{"id": x, "confidence":"high"}`:      `line 1, column 8: x is not a JSON value`,
		`{"id":"a","embedding":"1,2", "x": }`: `line 1: field "embedding": expected an array of numbers, found a string`,
	} {
		_, err := jsonl.NewReader(strings.NewReader(line)).Next()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s:\n got %v\nwant %s", line, err, want)
		}
	}
}

// exportLossless writes sp in the lossless form, times in UTC (as `engram export` does).
func exportLossless(t *testing.T, sp *engram.Space) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := jsonl.NewWriter(&buf)
	if err := w.WriteHeader(jsonl.HeaderOf(sp)); err != nil {
		t.Fatal(err)
	}
	for m, err := range sp.All(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		m.CreatedAt = m.CreatedAt.UTC()
		if !m.LastAccess.IsZero() {
			m.LastAccess = m.LastAccess.UTC()
		}
		if err := w.Write(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestLosslessRoundTrip: export → (fresh store) settings from the header + Restore →
// export gives the same bytes, with all three tiers, archived memories, access
// statistics, decay and tiering settings in play.
func TestLosslessRoundTrip(t *testing.T) {
	ctx := context.Background()
	src, err := engram.Open(filepath.Join(t.TempDir(), "src.db"), engram.WithMigrateInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	sp, err := src.Space(ctx, "notes", engram.WithTiering(tier.Policy{HotCapacity: 30, BatchSize: 10}),
		engram.WithDecay(tier.Decay{Kind: tier.Exponential, HalfLife: time.Hour, RecencyBoost: 0.5}), engram.WithConfidenceWeight(0.4))
	if err != nil {
		t.Fatal(err)
	}
	g := synth.New(synth.Config{Seed: 3, Dim: 24, Topics: 4, IDPrefix: "m"})
	if res, err := sp.BatchRemember(ctx, g.Batch(60)); err != nil || res.Failed > 0 {
		t.Fatal(err, res.Err())
	}
	if res, err := sp.Archive(ctx, g.Batch(10)); err != nil || res.Failed > 0 {
		t.Fatal(err, res.Err())
	}
	cue, _ := g.Cue()
	if _, err := sp.Recall(ctx, engram.Query{Embedding: cue, K: 5}); err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Migrate(ctx); err != nil { // 60 hot over a capacity of 30: demotions
		t.Fatal(err)
	}
	if st := sp.Stats(); st.Tiers[engram.Hot] == 0 || st.Tiers[engram.Warm] == 0 || st.Tiers[engram.Cold] == 0 {
		t.Fatalf("tiers %v: the test wants all three", st.Tiers)
	}
	first := exportLossless(t, sp)
	if !bytes.Contains(first, []byte(`"access_count":1`)) {
		t.Fatal("no access statistics in the export")
	}

	dst, err := engram.Open(filepath.Join(t.TempDir(), "dst.db"), engram.WithMigrateInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	r := jsonl.NewReader(bytes.NewReader(first))
	h, err := r.Header()
	if err != nil || h == nil {
		t.Fatal(h, err)
	}
	sp2, err := dst.Space(ctx, h.Space, h.Settings.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	var mems []engram.Memory
	for m, err := range r.All() {
		if err != nil {
			t.Fatal(err)
		}
		mems = append(mems, m)
	}
	if res, err := sp2.Restore(ctx, mems); err != nil || res.Failed > 0 {
		t.Fatal(err, res.Err())
	}
	if second := exportLossless(t, sp2); !bytes.Equal(first, second) {
		a, b := strings.Split(string(first), "\n"), strings.Split(string(second), "\n")
		for i := range min(len(a), len(b)) {
			if a[i] != b[i] {
				t.Fatalf("line %d differs:\n%s\n%s", i+1, a[i], b[i])
			}
		}
		t.Fatalf("%d lines, then %d", len(a), len(b))
	}
	if sp2.Stats().Tiers != sp.Stats().Tiers {
		t.Fatalf("tiers %v, source %v", sp2.Stats().Tiers, sp.Stats().Tiers)
	}
}
