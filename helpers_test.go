package engram

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// openTemp opens a fresh store in a test directory and closes it when the test ends.
func openTemp(t testing.TB, opts ...Option) *Store {
	t.Helper()
	return openHooked(t, filepath.Join(t.TempDir(), "engram.db"), opts...)
}

// openHooked opens the store at path (closed at cleanup) with a commit hook that
// setCommitHook can set.
func openHooked(t testing.TB, path string, opts ...Option) *Store {
	t.Helper()
	hook := new(atomic.Pointer[func(members int) error])
	s, err := Open(path, append(opts, withCommitHook(hook))...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	commitHooks.Store(s, hook)
	t.Cleanup(func() { s.Close(); commitHooks.Delete(s) })
	return s
}

// commitHooks holds the hook of each store opened by openHooked.
var commitHooks sync.Map // *Store → *atomic.Pointer[func(int) error]

// setCommitHook makes hook run at the start of every write transaction of s (members: the
// requests sharing it; 1 for writes outside group commit); an error from it fails the
// transaction as a failed commit would. nil removes it. s must come from openHooked.
func setCommitHook(s *Store, hook func(members int) error) {
	p, ok := commitHooks.Load(s)
	if !ok {
		panic("setCommitHook on a store not opened by openHooked")
	}
	if hook == nil {
		p.(*atomic.Pointer[func(int) error]).Store(nil)
		return
	}
	p.(*atomic.Pointer[func(int) error]).Store(&hook)
}

// withCommitHook wraps the store's commit environment so that *hook, when set, runs at the
// start of each write transaction.
func withCommitHook(hook *atomic.Pointer[func(members int) error]) Option {
	return func(o *options) error {
		o.wrapCommit = func(env commitEnv) commitEnv {
			update := env.update
			env.update = func(members int, fn func(*bolt.Tx) error) error {
				return update(members, func(tx *bolt.Tx) error {
					if h := hook.Load(); h != nil {
						if err := (*h)(members); err != nil {
							return err
						}
					}
					return fn(tx)
				})
			}
			return env
		}
		return nil
	}
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
