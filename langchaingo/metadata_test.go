package engramlc

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestStringify(t *testing.T) {
	for _, c := range []struct {
		in   any
		want string
	}{
		{"text", "text"}, {"", ""}, {true, "true"}, {false, "false"},
		{42, "42"}, {int8(-7), "-7"}, {int64(math.MaxInt64), "9223372036854775807"},
		{uint64(math.MaxUint64), "18446744073709551615"}, {uint8(255), "255"},
		{2024.0, "2024"}, {0.1, "0.1"}, {float32(0.1), "0.1"}, {1e21, "1e+21"}, {-0.5, "-0.5"},
		{json.Number("12.50"), "12.50"},
		{time.Date(2024, 5, 1, 14, 0, 0, 5, time.FixedZone("X", 7200)), "2024-05-01T12:00:00.000000005Z"},
		{nil, "null"},
		{[]string{"a", "b"}, `["a","b"]`},
		{map[string]any{"z": 1, "a": []int{2}}, `{"a":[2],"z":1}`},
		{struct {
			A int `json:"a"`
		}{3}, `{"a":3}`},
	} {
		got, err := Stringify(c.in)
		if err != nil || got != c.want {
			t.Errorf("Stringify(%#v) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []any{math.NaN(), math.Inf(1), float32(math.Inf(-1)), func() {}, make(chan int), map[string]any{"x": math.NaN()}} {
		if _, err := Stringify(bad); err == nil {
			t.Errorf("Stringify(%T) accepted", bad)
		}
	}
}

func TestMetadataRoundTrip(t *testing.T) {
	in := map[string]any{
		"author": "ada", "numeric string": "2024", "year": 2024, "score": 0.5, "pinned": true,
		"none": nil, "tags": []string{"a", "b"}, "nested": map[string]any{"k": "v"},
		"when": time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC),
	}
	md, err := toEngram(in)
	if err != nil {
		t.Fatal(err)
	}
	if md["year"] != "2024" || md["numeric string"] != "2024" || md["tags"] != `["a","b"]` {
		t.Fatalf("stored %v", md)
	}
	if md[TypesKey] != `["nested","none","pinned","score","tags","when","year"]` {
		t.Fatalf("types %q", md[TypesKey])
	}
	out := fromEngram(md)
	want := map[string]any{
		"author": "ada", "numeric string": "2024", "year": 2024.0, "score": 0.5, "pinned": true,
		"none": nil, "tags": []any{"a", "b"}, "nested": map[string]any{"k": "v"},
		// a time stays its RFC 3339 string (not valid JSON on its own)
		"when": "2024-05-01T00:00:00Z",
	}
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("restored %#v\nwant %#v", out, want)
	}
	// Only strings: no types key.
	md, _ = toEngram(map[string]any{"a": "b"})
	if _, ok := md[TypesKey]; ok || len(md) != 1 {
		t.Fatalf("%v", md)
	}
	if md, err := toEngram(nil); md != nil || err != nil {
		t.Fatal("nil metadata")
	}
	if _, err := toEngram(map[string]any{TypesKey: "x"}); err == nil || !strings.Contains(err.Error(), "reserved") {
		t.Fatalf("reserved key: %v", err)
	}
	// Metadata written by someone else (no or a broken types key) comes back as strings.
	if got := fromEngram(map[string]string{"n": "1", TypesKey: "not json"}); got["n"] != "1" || len(got) != 1 {
		t.Fatalf("%v", got)
	}
}
