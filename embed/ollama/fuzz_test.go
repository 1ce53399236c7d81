package ollama

import (
	"math"
	"testing"
)

// FuzzDecodeResponse: any answer body either decodes to exactly n finite vectors, or is
// refused with a reason; it never panics.
func FuzzDecodeResponse(f *testing.F) {
	for _, s := range []string{
		`{"model":"all-minilm","embeddings":[[0.010071029,-0.0017594862],[0.05007221,0.04692972]],"total_duration":14143917}`,
		`{"embeddings":[[1e39,1],[1,2]]}`,
		`{"error":"model not found"}`,
		`{"embeddings":[[],[1]]}`,
		`{"embeddings":[[1,2],`,
		`[]`,
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
		_ = classify(500, nil, body)
	})
}
