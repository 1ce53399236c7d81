package remote

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestFloat32s(t *testing.T) {
	v, why := Float32s([]float64{0, -1.5, 3.4e38, 1e-50})
	if why != "" || !slices.Equal(v, []float32{0, -1.5, 3.4e38, 0}) {
		t.Errorf("Float32s = %v, %q", v, why)
	}
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), 1e39, -4e38} {
		if _, why := Float32s([]float64{1, bad}); !strings.Contains(why, "component 1") {
			t.Errorf("Float32s(%v): %q", bad, why)
		}
	}
}

func b64(xs ...float32) string {
	raw := make([]byte, 4*len(xs))
	for i, x := range xs {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
	}
	return base64.StdEncoding.EncodeToString(raw)
}

func TestBase64Float32s(t *testing.T) {
	v, why := Base64Float32s(b64(1, -2.5, 0.125))
	if why != "" || !slices.Equal(v, []float32{1, -2.5, 0.125}) {
		t.Errorf("decoded %v, %q", v, why)
	}
	for _, c := range []struct{ in, want string }{
		{"not base64!", "invalid base64"},
		{"", "empty vector"},
		{base64.StdEncoding.EncodeToString([]byte{1, 2, 3}), "not a whole number"},
		{b64(1, float32(math.NaN())), "component 1"},
		{b64(float32(math.Inf(1))), "component 0"},
	} {
		if _, why := Base64Float32s(c.in); !strings.Contains(why, c.want) {
			t.Errorf("Base64Float32s(%q) = %q, want %q", c.in, why, c.want)
		}
	}
}

func TestMarshalJSONKeepsHTML(t *testing.T) {
	b, err := MarshalJSON(map[string]any{"input": []string{"<a & b>"}})
	if err != nil || string(b) != `{"input":["<a & b>"]}` {
		t.Errorf("MarshalJSON = %s, %v", b, err)
	}
}

func TestParseFloats(t *testing.T) {
	v, why := ParseFloats([]byte(" [ 0.5, -1e-3 ,3.4e38,1e-50, 7 ] "))
	if why != "" || !slices.Equal(v, []float32{0.5, -1e-3, 3.4e38, 0, 7}) {
		t.Errorf("ParseFloats = %v, %q", v, why)
	}
	// Rounded once, directly to float32: 0.1 is float32(0.1).
	if v, _ := ParseFloats([]byte("[0.1]")); v[0] != float32(0.1) {
		t.Errorf("0.1 -> %v", v[0])
	}
	for in, want := range map[string]string{
		"[]":        "empty vector",
		"[ ]":       "empty vector",
		"{}":        "not an array",
		"1":         "not an array",
		"[1,]":      "component 1",
		"[1,,2]":    "component 1",
		`[1,"2"]`:   "component 1",
		"[true]":    "component 0",
		"[inf]":     "component 0",
		"[NaN, 1]":  "component 0",
		"[1, 1e39]": "component 1 is 1e39, beyond float32's range",
		"[-4e38]":   "component 0 is -4e38, beyond float32's range",
		"[1, [2]]":  "component 1",
		`["1,2"]`:   "component 0",
	} {
		if _, why := ParseFloats([]byte(in)); !strings.Contains(why, want) {
			t.Errorf("ParseFloats(%s) = %q, want %q", in, why, want)
		}
	}
}

func FuzzParseFloats(f *testing.F) {
	for _, s := range []string{"[1,2]", "[1e39]", "[]", "[-0.0, 5e-324]", "[inf]"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		v, why := ParseFloats(raw)
		if why != "" {
			if v != nil {
				t.Fatal("vector and reason")
			}
			return
		}
		if len(v) == 0 {
			t.Fatal("empty vector accepted")
		}
		for _, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				t.Fatalf("%v accepted from %q", x, raw)
			}
		}
	})
}
