package engram

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// openTemp opens a fresh store in a test directory and closes it when the test ends.
func openTemp(t testing.TB, opts ...Option) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "engram.db"), opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustSpace(t testing.TB, s *Store, name string, opts ...SpaceOption) *Space {
	t.Helper()
	sp, err := s.Space(context.Background(), name, opts...)
	if err != nil {
		t.Fatalf("Space(%s): %v", name, err)
	}
	return sp
}

// randUnit returns a random unit vector.
func randUnit(r *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	var ss float64
	for i := range v {
		x := r.NormFloat64()
		v[i] = float32(x)
		ss += x * x
	}
	inv := 1 / math.Sqrt(ss)
	for i := range v {
		v[i] = float32(float64(v[i]) * inv)
	}
	return v
}

// synthetic returns n memories with clustered random embeddings and varied fields.
func synthetic(r *rand.Rand, n, dim int, prefix string) []Memory {
	centers := make([][]float32, 8)
	for i := range centers {
		centers[i] = randUnit(r, dim)
	}
	out := make([]Memory, n)
	for i := range out {
		c := centers[r.IntN(len(centers))]
		noise := randUnit(r, dim)
		e := make([]float32, dim)
		for j := range e {
			e[j] = c[j] + 0.6*noise[j]
		}
		conf := float32(r.IntN(101)) / 100
		out[i] = Memory{
			ID:         prefix + string(rune('a'+i%26)) + itoa(i),
			Content:    "memory " + itoa(i),
			Embedding:  e,
			Confidence: &conf,
			CreatedAt:  time.Unix(1_700_000_000+int64(i), 0),
			Metadata:   map[string]string{"parity": []string{"even", "odd"}[i%2], "bucket": itoa(i % 5)},
			Tags:       []string{"t" + itoa(i%3)},
		}
	}
	return out
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func mustStore(t testing.TB, sp *Space, mems []Memory) *BatchResult {
	t.Helper()
	res, err := sp.BatchRemember(context.Background(), mems)
	if err != nil || res.Failed != 0 {
		t.Fatalf("BatchRemember: %v / %v", err, res.Err())
	}
	return res
}

func unit(v ...float32) []float32 { return v }

// boltTx shortens bbolt's transaction type in tests that reach under the store.
type boltTx = bolt.Tx
