package wink

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func testDoc() *document {
	return &document{
		L2NormIndex: 2, WordIndex: 3, Size: 3, Dimensions: 2,
		Words: []string{"a", "zero", "b"},
		Vectors: map[string][]float32{
			"a":    {3, 4, 5, 0},
			"zero": {0, 0, 0, 1},
			"b":    {1, 0, 1, 2},
		},
	}
}

func TestCacheRoundTripAndValidation(t *testing.T) {
	doc := testDoc()
	words, vecs, dim, skipped, err := flatten(doc)
	if err != nil {
		t.Fatal(err)
	}
	if skipped != 1 || !slices.Equal(words, []string{"a", "b"}) || !slices.Equal(vecs, []float32{3, 4, 1, 0}) {
		t.Fatalf("got %v %v skipped=%d", words, vecs, skipped)
	}
	path := filepath.Join(t.TempDir(), "g.bin")
	if err := WriteCache(path, words, vecs, dim); err != nil {
		t.Fatal(err)
	}
	w2, v2, d2, err := ReadCache(path)
	if err != nil || d2 != dim || !slices.Equal(w2, words) || !slices.Equal(v2, vecs) {
		t.Fatalf("cache round-trip: %v %v %v %v", w2, v2, d2, err)
	}
	doc.Vectors["b"] = []float32{1, 0, 7, 2} // wrong stored norm
	if _, _, _, _, err := flatten(doc); err == nil {
		t.Fatal("wrong norm accepted")
	}
	doc = testDoc()
	doc.Vectors["b"] = []float32{1, 0, 1, 1} // wrong index
	if _, _, _, _, err := flatten(doc); err == nil || !strings.Contains(err.Error(), "index") {
		t.Fatalf("wrong index: %v", err)
	}
	doc = testDoc()
	doc.Vectors["b"] = []float32{1, 0, 1}
	if _, _, _, _, err := flatten(doc); err == nil {
		t.Fatal("short vector accepted")
	}
	doc = testDoc()
	doc.WordIndex = 2
	if _, _, _, _, err := flatten(doc); err == nil {
		t.Fatal("bad layout accepted")
	}
}

func TestReadCacheRejectsDamage(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "g.bin")
	if err := WriteCache(path, []string{"x", "y"}, []float32{1, 2, 3, 4}, 2); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(path)
	for name, mutate := range map[string]func([]byte) []byte{
		"flipped bit": func(b []byte) []byte { b[22] ^= 1; return b },
		"truncated":   func(b []byte) []byte { return b[:len(b)-5] },
		"bad magic":   func(b []byte) []byte { b[0] = 'X'; return b },
		"tiny":        func(b []byte) []byte { return b[:10] },
	} {
		b := mutate(slices.Clone(good))
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := ReadCache(path); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, _, _, err := ReadCache(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	if err := WriteCache(path, []string{"x\ny"}, []float32{1}, 1); err == nil {
		t.Fatal("word with a newline accepted")
	}
	if err := WriteCache(path, []string{"x"}, []float32{1, 2, 3}, 2); err == nil {
		t.Fatal("value count mismatch accepted")
	}
}

// TestLoadReadsExistingCache: with a cache in place Load never fetches (no network).
func TestLoadReadsExistingCache(t *testing.T) {
	dir := t.TempDir()
	if err := WriteCache(filepath.Join(dir, CacheName), []string{"x", "y"}, []float32{1, 2, 3, 4}, 2); err != nil {
		t.Fatal(err)
	}
	words, vecs, dim, err := Load(context.Background(), dir, nil)
	if err != nil || dim != 2 || !slices.Equal(words, []string{"x", "y"}) || !slices.Equal(vecs, []float32{1, 2, 3, 4}) {
		t.Fatalf("Load: %v %v %d %v", words, vecs, dim, err)
	}
	if _, _, _, err := Load(context.Background(), "", nil); err == nil {
		t.Fatal("empty cache dir accepted")
	}
}

func writeTarball(t *testing.T, name string, body []byte) string {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	if err := tw.WriteHeader(&tar.Header{Name: "package/README.md", Mode: 0o644, Size: 2}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte("hi"))
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body))}); err != nil {
		t.Fatal(err)
	}
	tw.Write(body)
	tw.Close()
	gz.Close()
	path := filepath.Join(t.TempDir(), "p.tgz")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestParseTarball(t *testing.T) {
	body := []byte(`{"precision":8,"l2NormIndex":2,"wordIndex":3,"size":2,"dimensions":2,
		"words":["the","cat"],"vectors":{"the":[3,4,5,0],"cat":[0,2,2,1]},"unkVector":[0,0,-1]}`)
	words, vecs, dim, skipped, err := parseTarball(context.Background(), writeTarball(t, jsonPath, body))
	if err != nil || dim != 2 || skipped != 0 || !slices.Equal(words, []string{"the", "cat"}) || !slices.Equal(vecs, []float32{3, 4, 0, 2}) {
		t.Fatalf("parse: %v %v %d %d %v", words, vecs, dim, skipped, err)
	}
	if _, _, _, _, err := parseTarball(context.Background(), writeTarball(t, "package/other.json", body)); err == nil {
		t.Fatal("tarball without the JSON accepted")
	}
	if _, _, _, _, err := parseTarball(context.Background(), writeTarball(t, jsonPath, body[:40])); err == nil {
		t.Fatal("truncated JSON accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, _, _, err := parseTarball(ctx, writeTarball(t, jsonPath, body)); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled parse: %v", err)
	}
}
