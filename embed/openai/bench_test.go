package openai

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/engram-go/engram/embed/internal/remote"
)

// BenchmarkDecodeResponse compares the two encoding formats on an answer of 256 vectors of
// 1,536 dimensions (text-embedding-3-small): bytes on the wire and time to decode. The
// "float-stdlib" row is the baseline the float decoder is measured against: the same answer
// decoded by encoding/json into [][]float64.
func BenchmarkDecodeResponse(b *testing.B) {
	const n, dim = 256, 1536
	r := rand.New(rand.NewPCG(1, 1))
	vecs := make([][]float32, n)
	for i := range vecs {
		vecs[i] = make([]float32, dim)
		for j := range vecs[i] {
			vecs[i][j] = float32(r.NormFloat64() / 40) // the scale of unit vectors' components
		}
	}
	for _, b64 := range []bool{false, true} {
		var sb strings.Builder
		sb.WriteString(`{"object":"list","data":[`)
		for i, v := range vecs {
			if i > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, `{"object":"embedding","index":%d,"embedding":%s}`, i, encode(v, b64))
		}
		sb.WriteString(`],"model":"text-embedding-3-small","usage":{"prompt_tokens":1,"total_tokens":1}}`)
		body := []byte(sb.String())
		name := "float"
		if b64 {
			name = "base64"
		}
		if !b64 {
			b.Run("float-stdlib", func(b *testing.B) {
				b.SetBytes(int64(len(body)))
				for b.Loop() {
					var r struct {
						Data []struct {
							Index     int       `json:"index"`
							Embedding []float64 `json:"embedding"`
						} `json:"data"`
					}
					if err := json.Unmarshal(body, &r); err != nil || len(r.Data) != n {
						b.Fatal(err)
					}
					for _, d := range r.Data {
						if _, why := remote.Float32s(d.Embedding); why != "" {
							b.Fatal(why)
						}
					}
				}
				b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "vectors/s")
			})
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, why := decodeResponse(body, n); why != "" {
					b.Fatal(why)
				}
			}
			b.ReportMetric(float64(len(body))/n, "bytes/vector")
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "vectors/s")
		})
	}
}
