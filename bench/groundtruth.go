package main

// Exact nearest neighbours by inner product on the normalized vectors.
// Ground truth is computed once per split and cached, because every system
// in a run (and every later run) is scored against the same answers and a
// brute-force pass over 100k x 1000 pairs costs seconds.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"sync"
)

// groundTruth holds the k best base rows for each query, best first.
type groundTruth struct {
	K      int
	IDs    []uint32  // queries*K
	Scores []float32 // queries*K, inner products, descending
}

func (g *groundTruth) row(q int) ([]uint32, []float32) {
	return g.IDs[q*g.K : (q+1)*g.K], g.Scores[q*g.K : (q+1)*g.K]
}

// dot is unrolled into four independent accumulators so the CPU can overlap
// the multiply-adds; the Go compiler does not vectorize this loop itself.
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// topK keeps the k best (score, id) pairs seen so far as a binary min-heap
// on score, so the worst kept candidate is at the root. Ties break towards
// the lower id, which makes results independent of scan order.
type topK struct {
	k      int
	ids    []uint32
	scores []float32
}

func newTopK(k int) *topK {
	return &topK{k: k, ids: make([]uint32, 0, k), scores: make([]float32, 0, k)}
}

func (t *topK) reset() { t.ids, t.scores = t.ids[:0], t.scores[:0] }

// worse reports whether entry i ranks below entry j.
func (t *topK) worse(i, j int) bool {
	if t.scores[i] != t.scores[j] {
		return t.scores[i] < t.scores[j]
	}
	return t.ids[i] > t.ids[j]
}

func (t *topK) push(id uint32, s float32) {
	if len(t.ids) < t.k {
		t.ids = append(t.ids, id)
		t.scores = append(t.scores, s)
		for i := len(t.ids) - 1; i > 0; {
			p := (i - 1) / 2
			if !t.worse(i, p) {
				break
			}
			t.swap(i, p)
			i = p
		}
		return
	}
	if s < t.scores[0] || (s == t.scores[0] && id > t.ids[0]) {
		return
	}
	t.ids[0], t.scores[0] = id, s
	t.siftDown()
}

func (t *topK) siftDown() {
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < len(t.ids) && t.worse(l, m) {
			m = l
		}
		if r := l + 1; r < len(t.ids) && t.worse(r, m) {
			m = r
		}
		if m == i {
			return
		}
		t.swap(i, m)
		i = m
	}
}

func (t *topK) swap(i, j int) {
	t.ids[i], t.ids[j] = t.ids[j], t.ids[i]
	t.scores[i], t.scores[j] = t.scores[j], t.scores[i]
}

// sorted drains the heap into best-first order (ids and scores must have
// room for len(t.ids) entries).
func (t *topK) sorted(ids []uint32, scores []float32) {
	for n := len(t.ids); n > 0; n-- {
		ids[n-1], scores[n-1] = t.ids[0], t.scores[0]
		t.swap(0, n-1)
		t.ids, t.scores = t.ids[:n-1], t.scores[:n-1]
		t.siftDown()
	}
}

// scan is the exact search for one query.
func scan(base []float32, dim int, q []float32, t *topK) {
	t.reset()
	n := len(base) / dim
	for i := 0; i < n; i++ {
		t.push(uint32(i), dot(q, base[i*dim:(i+1)*dim]))
	}
}

// exactTopK computes ground truth with one goroutine per core, each taking
// queries from a shared counter so uneven progress on a noisy machine does
// not leave a core idle.
func exactTopK(base, queries []float32, dim, k int) *groundTruth {
	nq := len(queries) / dim
	gt := &groundTruth{K: k, IDs: make([]uint32, nq*k), Scores: make([]float32, nq*k)}
	var (
		mu   sync.Mutex
		next int
		wg   sync.WaitGroup
	)
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := newTopK(k)
			for {
				mu.Lock()
				qi := next
				next++
				mu.Unlock()
				if qi >= nq {
					return
				}
				scan(base, dim, queries[qi*dim:(qi+1)*dim], t)
				ids, scores := gt.row(qi)
				t.sorted(ids, scores)
			}
		}()
	}
	wg.Wait()
	return gt
}

// fingerprint identifies the exact vectors a cached ground truth belongs to,
// so a changed split or data set can never be scored against stale answers.
func fingerprint(base, queries []float32) uint32 {
	var buf bytes.Buffer
	putF32s(&buf, base)
	putF32s(&buf, queries)
	return crc32.ChecksumIEEE(buf.Bytes())
}

// loadOrComputeGT returns cached ground truth for (n, queries, seed, k) or
// computes and caches it. File format, little-endian:
//
//	magic "ENGRGT01", nq uint32, k uint32, fingerprint uint32,
//	ids [nq*k]uint32, scores [nq*k]float32, crc uint32 (IEEE, all before)
func loadOrComputeGT(cacheDir string, base, queries []float32, dim, k int, seed uint64) (*groundTruth, bool, error) {
	return loadOrComputeGTLabel(cacheDir, base, queries, dim, k, fmt.Sprint(seed))
}

// loadOrComputeGTLabel is loadOrComputeGT with the file name's seed part spelled out
// (gtSeedLabel: the seed, plus the insertion order when it is not the random one).
func loadOrComputeGTLabel(cacheDir string, base, queries []float32, dim, k int, label string) (*groundTruth, bool, error) {
	nq := len(queries) / dim
	name := fmt.Sprintf("gt-n%d-q%d-seed%s-k%d.bin", len(base)/dim, nq, label, k)
	path := filepath.Join(cacheDir, name)
	fp := fingerprint(base, queries)
	if b, err := os.ReadFile(path); err == nil {
		if gt, err := decodeGT(b, nq, k, fp); err == nil {
			return gt, true, nil
		}
		fmt.Fprintf(os.Stderr, "ignoring stale ground truth %s\n", path)
	}
	gt := exactTopK(base, queries, dim, k)
	var buf bytes.Buffer
	buf.WriteString("ENGRGT01")
	putU32(&buf, uint32(nq))
	putU32(&buf, uint32(k))
	putU32(&buf, fp)
	putU32s(&buf, gt.IDs)
	putF32s(&buf, gt.Scores)
	putU32(&buf, crc32.ChecksumIEEE(buf.Bytes()))
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, false, err
	}
	return gt, false, writeFileAtomic(path, buf.Bytes())
}

func decodeGT(b []byte, nq, k int, fp uint32) (*groundTruth, error) {
	want := 8 + 12 + nq*k*8 + 4
	if len(b) != want || string(b[:8]) != "ENGRGT01" {
		return nil, fmt.Errorf("bad ground truth file")
	}
	if crc32.ChecksumIEEE(b[:len(b)-4]) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, fmt.Errorf("ground truth checksum mismatch")
	}
	if int(binary.LittleEndian.Uint32(b[8:])) != nq || int(binary.LittleEndian.Uint32(b[12:])) != k ||
		binary.LittleEndian.Uint32(b[16:]) != fp {
		return nil, fmt.Errorf("ground truth is for other vectors")
	}
	off := 20
	return &groundTruth{
		K:      k,
		IDs:    getU32s(b[off:], nq*k),
		Scores: getF32s(b[off+nq*k*4:], nq*k),
	}, nil
}
