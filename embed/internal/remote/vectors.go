package remote

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"sync/atomic"
)

// Dims checks that every vector an embedder returns has the same length: the one asked for
// (Want, when the caller requested or declared a dimension) or else the one the first
// answer had. Safe for concurrent use.
type Dims struct {
	Want    int
	learned atomic.Int64
}

// Get returns the dimension: Want, or the learned one, or 0 before the first answer.
func (d *Dims) Get() int {
	if d.Want > 0 {
		return d.Want
	}
	return int(d.learned.Load())
}

// Check returns a description of what is wrong with vecs' lengths, or "".
func (d *Dims) Check(vecs [][]float32) string {
	n := len(vecs[0])
	for i, v := range vecs {
		if len(v) == 0 {
			return fmt.Sprintf("embedding %d is empty", i)
		}
		if len(v) != n {
			return fmt.Sprintf("embeddings of different lengths in one answer (%d and %d)", n, len(v))
		}
	}
	if d.Want > 0 {
		if n != d.Want {
			return fmt.Sprintf("the server returned %d-dimensional embeddings, want %d", n, d.Want)
		}
		return ""
	}
	if !d.learned.CompareAndSwap(0, int64(n)) {
		if got := d.learned.Load(); got != int64(n) {
			return fmt.Sprintf("the server returned %d-dimensional embeddings, earlier answers had %d", n, got)
		}
	}
	return ""
}

// Float32s converts decoded JSON numbers to float32, describing the first value that is
// not finite or does not fit a float32 (whose magnitude is at most ~3.4e38).
func Float32s(xs []float64) ([]float32, string) {
	out := make([]float32, len(xs))
	for j, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) || math.Abs(x) > math.MaxFloat32 {
			return nil, fmt.Sprintf("component %d is %g, not a finite float32", j, x)
		}
		out[j] = float32(x)
	}
	return out, ""
}

// Base64Float32s decodes the "base64" encoding format of the OpenAI embeddings API: the
// vector's float32 values, little-endian, base64-encoded (standard alphabet, padded).
func Base64Float32s(s string) ([]float32, string) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, "invalid base64: " + err.Error()
	}
	if len(raw)%4 != 0 {
		return nil, fmt.Sprintf("base64 embedding of %d bytes, not a whole number of float32 values", len(raw))
	}
	out := make([]float32, len(raw)/4)
	for j := range out {
		x := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:]))
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, fmt.Sprintf("component %d is %g, not a finite float32", j, x)
		}
		out[j] = x
	}
	return out, ""
}

// MarshalJSON encodes a request body without escaping <, > and & (which JSON does not
// require and which would make texts holding them up to six times larger on the wire).
func MarshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
