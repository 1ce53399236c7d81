package postgres

// Decoders and encoders, checked against pgx's own binary encoders (an independent
// implementation of the same formats), without a server.

import (
	"encoding/binary"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/engram-go/engram"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

var tm = pgtype.NewMap()

func pgxEncode(t testing.TB, oid uint32, v any) []byte {
	t.Helper()
	b, err := tm.Encode(oid, pgtype.BinaryFormatCode, v, nil)
	if err != nil {
		t.Fatalf("pgx encode %T: %v", v, err)
	}
	return b
}

func TestDecodeFloatArrays(t *testing.T) {
	v := []float32{1, -2.5, 3e-8, float32(math.Pi)}
	got, err := decodeFloatArray(pgxEncode(t, pgtype.Float4ArrayOID, v), 4)
	if err != nil || !slices.Equal(got, v) {
		t.Errorf("real[]: %v %v", got, err)
	}
	d := []float64{1, -2.5, 3e-8, math.Pi}
	got, err = decodeFloatArray(pgxEncode(t, pgtype.Float8ArrayOID, d), 8)
	if err != nil || !slices.Equal(got, []float32{1, -2.5, 3e-8, float32(math.Pi)}) {
		t.Errorf("double precision[]: %v %v", got, err)
	}
	if got, err := decodeFloatArray(pgxEncode(t, pgtype.Float4ArrayOID, []float32{}), 4); err != nil || got != nil {
		t.Errorf("empty: %v %v", got, err)
	}
	withNull := pgxEncode(t, pgtype.Float4ArrayOID, []*float32{new(float32), nil})
	if _, err := decodeFloatArray(withNull, 4); err == nil || !strings.Contains(err.Error(), "NULL") {
		t.Errorf("NULL element: %v", err)
	}
	twoDim := pgxEncode(t, pgtype.Float4ArrayOID, pgtype.Array[float32]{Elements: []float32{1, 2, 3, 4},
		Dims: []pgtype.ArrayDimension{{Length: 2, LowerBound: 1}, {Length: 2, LowerBound: 1}}, Valid: true})
	if _, err := decodeFloatArray(twoDim, 4); err == nil || !strings.Contains(err.Error(), "2 dimensions") {
		t.Errorf("2-D: %v", err)
	}
	full := pgxEncode(t, pgtype.Float4ArrayOID, v)
	for n := range len(full) {
		if _, err := decodeFloatArray(full[:n], 4); err == nil {
			t.Fatalf("truncated to %d bytes: no error", n)
		}
	}
}

func TestDecodeVector(t *testing.T) {
	b := binary.BigEndian.AppendUint16(nil, 3)
	b = binary.BigEndian.AppendUint16(b, 0)
	for _, f := range []float32{1, -0.5, 2} {
		b = binary.BigEndian.AppendUint32(b, math.Float32bits(f))
	}
	if got, err := decodeVector(b, false); err != nil || !slices.Equal(got, []float32{1, -0.5, 2}) {
		t.Errorf("vector: %v %v", got, err)
	}
	if _, err := decodeVector(b[:len(b)-1], false); err == nil {
		t.Error("short vector: no error")
	}
	// halfvec: 1, -2, 65504 (max), 2^-24 (smallest subnormal), 0, -0, +Inf.
	h := binary.BigEndian.AppendUint16(nil, 7)
	h = binary.BigEndian.AppendUint16(h, 0)
	for _, u := range []uint16{0x3c00, 0xc000, 0x7bff, 0x0001, 0x0000, 0x8000, 0x7c00} {
		h = binary.BigEndian.AppendUint16(h, u)
	}
	got, err := decodeVector(h, true)
	want := []float32{1, -2, 65504, float32(math.Ldexp(1, -24)), 0, float32(math.Copysign(0, -1)), float32(math.Inf(1))}
	if err != nil || len(got) != 7 {
		t.Fatalf("halfvec: %v %v", got, err)
	}
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Errorf("halfvec[%d] = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestParseNumberArray(t *testing.T) {
	for in, want := range map[string][]float32{
		"[1,2,3]":               {1, 2, 3},
		" [ -1.5 , 2e-3,4E2 ] ": {-1.5, 2e-3, 400},
		"[]":                    nil,
	} {
		got, err := parseNumberArray([]byte(in))
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	for _, in := range []string{"", "[", "[1,", "[1,]", "[1 2]", "[1] x", `["1"]`, "{1}", "[1e99]", "[nan]"} {
		if got, err := parseNumberArray([]byte(in)); err == nil {
			t.Errorf("%q: no error (%v)", in, got)
		}
	}
}

func TestDecodeMetadataAndTags(t *testing.T) {
	m, err := decodeJSONObject([]byte(`{"s":"x","n":1.50,"b":false,"o":{"a": [1, 2]},"z":null,"e":""}`))
	want := map[string]string{"s": "x", "n": "1.50", "b": "false", "o": `{"a":[1,2]}`, "e": ""}
	if err != nil || len(m) != len(want) {
		t.Fatalf("%v %v", m, err)
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %q, want %q", k, m[k], v)
		}
	}
	for in, frag := range map[string]string{`[1]`: "array", `"s"`: "string", `1`: "number", `{`: "not valid JSON"} {
		if _, err := decodeJSONObject([]byte(in)); err == nil || !strings.Contains(err.Error(), frag) {
			t.Errorf("%s: %v", in, err)
		}
	}
	tags, err := decodeTextArray(pgxEncode(t, pgtype.TextArrayOID, []*string{ptr("a"), nil, ptr("")}))
	if err != nil || !slices.Equal(tags, []string{"a", ""}) {
		t.Errorf("text[]: %q %v", tags, err)
	}
	if tags, err := decodeJSONStrings([]byte(`["x", null, "y"]`)); err != nil || !slices.Equal(tags, []string{"x", "y"}) {
		t.Errorf("json tags: %q %v", tags, err)
	}
	if _, err := decodeJSONStrings([]byte(`[1]`)); err == nil {
		t.Error("numeric tags: no error")
	}
	// hstore binary: 2 pairs, one NULL value.
	var h []byte
	h = binary.BigEndian.AppendUint32(h, 2)
	for _, kv := range [][2]*string{{ptr("k"), ptr("v")}, {ptr("n"), nil}} {
		h = binary.BigEndian.AppendUint32(h, uint32(len(*kv[0])))
		h = append(h, *kv[0]...)
		if kv[1] == nil {
			h = binary.BigEndian.AppendUint32(h, math.MaxUint32)
		} else {
			h = binary.BigEndian.AppendUint32(h, uint32(len(*kv[1])))
			h = append(h, *kv[1]...)
		}
	}
	if hm, err := decodeHstore(h); err != nil || len(hm) != 1 || hm["k"] != "v" {
		t.Errorf("hstore: %v %v", hm, err)
	}
	if _, err := decodeHstore(h[:len(h)-2]); err == nil {
		t.Error("truncated hstore: no error")
	}
}

func ptr(s string) *string { return &s }

func TestDecodeTimestamps(t *testing.T) {
	for _, ts := range []time.Time{
		time.Date(2024, 3, 1, 10, 34, 56, 789012000, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC),
		time.Date(1800, 1, 1, 0, 0, 0, 1000, time.UTC),
	} {
		got, err := decodeTimestamp(pgxEncode(t, pgtype.TimestamptzOID, ts), false)
		if err != nil || !got.Equal(ts) {
			t.Errorf("%v: %v %v", ts, got, err)
		}
		// micros is the inverse, for the encoder.
		if us := micros(ts); !pgEpoch.Add(time.Duration(us) * time.Microsecond).Equal(ts) {
			t.Errorf("micros(%v) = %d", ts, us)
		}
	}
	if us := micros(time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC)); us != micros(time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC)) {
		t.Error("micros does not round down")
	}
	d, err := decodeTimestamp(pgxEncode(t, pgtype.DateOID, time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC)), true)
	if err != nil || !d.Equal(time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("date: %v %v", d, err)
	}
	inf := pgxEncode(t, pgtype.TimestamptzOID, pgtype.Timestamptz{InfinityModifier: pgtype.Infinity, Valid: true})
	if _, err := decodeTimestamp(inf, false); err == nil {
		t.Error("infinity: no error")
	}
}

// TestCopyParser feeds a binary COPY stream (as the encoder writes it) in pieces of every
// size: rows split across writes must come out whole and in order.
func TestCopyParser(t *testing.T) {
	cols := []outColumn{{field: fID, kind: oText}, {field: fEmbedding, kind: oFloat4Array}, {field: fTags, kind: oTextArray}}
	enc := copyEncoder{cols: cols}
	enc.header()
	mems := []engram.Memory{
		{ID: "a", Embedding: []float32{1, 2}, Tags: []string{"x"}},
		{ID: "", Embedding: nil, Tags: nil},
		{ID: strings.Repeat("long", 100), Embedding: []float32{3}, Tags: []string{"y", "z"}},
	}
	for i := range mems {
		enc.row(&mems[i], 0)
	}
	enc.trailer()
	stream := enc.buf
	for _, piece := range []int{1, 2, 3, 7, 64, len(stream)} {
		var ids []string
		var tags [][]string
		p := &copyParser{ncols: 3, sink: func(v [][]byte) error {
			ids = append(ids, string(v[0]))
			tg, err := decodeTextArray(v[2])
			tags = append(tags, tg)
			return err
		}}
		for off := 0; off < len(stream); off += piece {
			if _, err := p.Write(stream[off:min(off+piece, len(stream))]); err != nil {
				t.Fatalf("piece %d: %v", piece, err)
			}
		}
		if !p.ended || len(ids) != 3 || ids[0] != "a" || ids[2] != mems[2].ID || !slices.Equal(tags[2], []string{"y", "z"}) || len(p.pend) != 0 {
			t.Errorf("piece %d: ended=%v ids=%d tags=%q pending=%d", piece, p.ended, len(ids), tags, len(p.pend))
		}
	}
	bad := &copyParser{ncols: 2, sink: func([][]byte) error { return nil }}
	if _, err := bad.Write(stream); err == nil || !strings.Contains(err.Error(), "3 columns") {
		t.Errorf("column count mismatch: %v", err)
	}
	if _, err := (&copyParser{ncols: 3}).Write([]byte("NOTCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")); err == nil {
		t.Error("bad signature: no error")
	}
}

func TestQuoteLiteral(t *testing.T) {
	for in, want := range map[string]string{`abc`: `E'abc'`, `it's`: `E'it\'s'`, `a\b`: `E'a\\b'`} {
		if got, err := quoteLiteral(in); err != nil || got != want {
			t.Errorf("%q: %q %v", in, got, err)
		}
	}
	if _, err := quoteLiteral("a\x00"); err == nil {
		t.Error("NUL: no error")
	}
}

func TestParseTableName(t *testing.T) {
	for in, want := range map[string]pgx.Identifier{
		"Memories":             {"memories"},
		"app.Memories":         {"app", "memories"},
		`"Notes"`:              {"Notes"},
		`app."my ""odd"" one"`: {"app", `my "odd" one`},
		"db.app.t":             {"db", "app", "t"},
	} {
		got, err := parseTableName(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: %q %v", in, got, err)
		}
	}
	for _, in := range []string{"", "a b", "a;drop table x", `"unterminated`, `""`, "a.", ".a", "a.b.c.d", `"a"b`} {
		if got, err := parseTableName(in); err == nil {
			t.Errorf("%q: no error (%q)", in, got)
		}
	}
}

func TestRowHash(t *testing.T) {
	base := engram.Memory{ID: "x", Content: "c", Embedding: []float32{1, 0}, Confidence: engram.Confidence(0.5),
		CreatedAt: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), Metadata: map[string]string{"a": "1", "b": "2"}, Tags: []string{"t"}}
	h := rowHash(&base)
	same := base
	same.Metadata = map[string]string{"b": "2", "a": "1"}
	same.CreatedAt = base.CreatedAt.Add(999) // below PostgreSQL's precision
	same.LastAccess, same.AccessCount = time.Now(), 5
	if rowHash(&same) != h {
		t.Error("hash depends on map order, sub-microsecond time or access statistics")
	}
	changes := []func(*engram.Memory){
		func(m *engram.Memory) { m.ID = "y" },
		func(m *engram.Memory) { m.Content = "d" },
		func(m *engram.Memory) { m.Embedding = []float32{1, 1e-30} },
		func(m *engram.Memory) { m.Confidence = engram.Confidence(0.25) },
		func(m *engram.Memory) { m.CreatedAt = m.CreatedAt.Add(time.Microsecond) },
		func(m *engram.Memory) { m.Metadata = map[string]string{"a": "1", "b": "3"} },
		func(m *engram.Memory) { m.Metadata = map[string]string{"a": "1b", "": "2"} },
		func(m *engram.Memory) { m.Tags = []string{"t", ""} },
		func(m *engram.Memory) { m.Tags = nil; m.Content = "ct" },
	}
	for i, change := range changes {
		m := base
		change(&m)
		if rowHash(&m) == h {
			t.Errorf("change %d does not change the hash", i)
		}
	}
}

func TestMetadataJSON(t *testing.T) {
	if got := string(metadataJSON(map[string]string{"b": "<&>", "a": "\"q\""})); got != `{"a":"\"q\"","b":"<&>"}` {
		t.Errorf("%s", got)
	}
	if got := string(metadataJSON(nil)); got != "{}" {
		t.Errorf("nil: %s", got)
	}
}

// BenchmarkDecodeFloat4Array compares the hand-written decoder of a 384-element real[]
// with pgx's generic scan into []float32 (the figure the comment in decode.go quotes).
func BenchmarkDecodeFloat4Array(b *testing.B) {
	v := make([]float32, 384)
	for i := range v {
		v[i] = float32(i) / 384
	}
	enc := pgxEncode(b, pgtype.Float4ArrayOID, v)
	b.Run("hand", func(b *testing.B) {
		for b.Loop() {
			if _, err := decodeFloatArray(enc, 4); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pgtype", func(b *testing.B) {
		for b.Loop() {
			var out []float32
			if err := tm.Scan(pgtype.Float4ArrayOID, pgtype.BinaryFormatCode, enc, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
}
