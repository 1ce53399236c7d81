package openai

import (
	"math"
	"testing"
)

// FuzzDecodeResponse: any answer body either decodes to exactly n finite vectors of one
// length, or is refused with a reason; it never panics.
func FuzzDecodeResponse(f *testing.F) {
	for _, s := range []string{
		`{"object":"list","data":[{"object":"embedding","index":1,"embedding":[0.5,1]},{"object":"embedding","index":0,"embedding":[1,0.5]}],"model":"m"}`,
		`{"data":[{"embedding":"AACAPwAAAEA="},{"embedding":"AAAAAAAAgD8="}]}`,
		`{"data":[{"index":0,"embedding":[1e39]}]}`,
		`{"error":{"message":"x","type":"y","param":null,"code":429}}`,
		`{"data":[{"index":0,"embedding":[1,2]},{"index":0,"embedding":[1,2]}]}`,
		`{"data":[`,
		`null`,
	} {
		f.Add([]byte(s), 2)
	}
	f.Fuzz(func(t *testing.T, body []byte, n int) {
		if n < 1 || n > 64 {
			return
		}
		vecs, why := decodeResponse(body, n)
		if why != "" {
			if vecs != nil {
				t.Fatalf("vectors and a reason %q", why)
			}
			return
		}
		if len(vecs) != n {
			t.Fatalf("%d vectors for %d inputs", len(vecs), n)
		}
		for _, v := range vecs {
			if len(v) == 0 {
				t.Fatal("empty vector accepted")
			}
			for _, x := range v {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					t.Fatalf("non-finite value %v accepted", x)
				}
			}
		}
	})
}

// FuzzDescribeError: any error body renders to a message without panicking.
func FuzzDescribeError(f *testing.F) {
	for _, s := range []string{
		`{"error":{"message":"m","type":"t","param":"p","code":"c"}}`,
		`{"object":"error","message":"m","code":400}`,
		`{"error":"plain"}`, `<html>`, ``, `{"error":{"message":5}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if describeError(body) == "" {
			t.Fatal("empty description")
		}
		_ = classify(429, nil, body)
	})
}
