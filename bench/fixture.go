package main

// The CI fixture: a small slice of the real data set plus its exact answers,
// so the library's recall test runs on real embedding structure without
// network access or the 118 MB download.
//
// File format, all integers and floats little-endian:
//
//	offset  size            field
//	0       8               magic "ENGFIX01"
//	8       4   uint32      version (1)
//	12      4   uint32      dim (100)
//	16      4   uint32      nBase
//	20      4   uint32      nQuery
//	24      4   uint32      k (ground-truth depth, 10)
//	28      4   uint32      flags; bit 0 = vectors are L2-normalized (always set)
//	32      8   uint64      seed of the split that chose the rows
//	40      nBase*dim*4     base vectors, float32, row-major; row i has id i
//	...     nQuery*dim*4    query vectors, float32, row-major (not in base)
//	...     nQuery*k*4      ground-truth ids, uint32, per query best first
//	...     nQuery*k*4      ground-truth scores, float32 inner products, descending
//	end-4   4   uint32      CRC-32 (IEEE, hash/crc32.ChecksumIEEE) of all preceding bytes
//
// Ground truth is exact inner product (= cosine, the vectors being unit
// length), ties broken towards the lower id. A recall test should count a
// returned id as a hit when its inner product with the query is within
// ~1e-5 of the k-th score, so float summation order cannot fail it.
//
// The rows are a uniform random sample of all 341,479 words (see split), so
// neighbourhoods are sparser than in the full set; recall on it is a
// regression signal, not a number to compare with the full benchmark.

import (
	"bytes"
	"flag"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
)

const (
	fixtureMagic   = "ENGFIX01"
	fixtureVersion = 1
)

func cmdFixture(args []string) error {
	fs := flag.NewFlagSet("fixture", flag.ExitOnError)
	out := fs.String("out", "out/glove-fixture.bin", "output file")
	n := fs.Int("n", 5000, "base vectors")
	queries := fs.Int("queries", 200, "held-out query vectors")
	k := fs.Int("k", 10, "ground-truth depth")
	seed := fs.Uint64("seed", 1, "split seed")
	cache := fs.String("cache", defaultCacheDir(), "cache directory (env ENGRAM_BENCH_CACHE)")
	fs.Parse(args)

	base, query, dim, err := loadSplit(*cache, *n, *queries, *seed)
	if err != nil {
		return err
	}
	gt := exactTopK(base, query, dim, *k)
	b := encodeFixture(base, query, dim, gt, *seed)
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	if err := writeFileAtomic(*out, b); err != nil {
		return err
	}
	logf("wrote %s: %d bytes, %d base + %d queries, dim %d, top-%d, crc32 %08x",
		*out, len(b), *n, *queries, dim, *k, crc32.ChecksumIEEE(b[:len(b)-4]))
	return nil
}

func encodeFixture(base, query []float32, dim int, gt *groundTruth, seed uint64) []byte {
	var buf bytes.Buffer
	buf.WriteString(fixtureMagic)
	putU32(&buf, fixtureVersion)
	putU32(&buf, uint32(dim))
	putU32(&buf, uint32(len(base)/dim))
	putU32(&buf, uint32(len(query)/dim))
	putU32(&buf, uint32(gt.K))
	putU32(&buf, 1) // L2-normalized
	putU64(&buf, seed)
	putF32s(&buf, base)
	putF32s(&buf, query)
	putU32s(&buf, gt.IDs)
	putF32s(&buf, gt.Scores)
	putU32(&buf, crc32.ChecksumIEEE(buf.Bytes()))
	return buf.Bytes()
}

// fixture is the decoded form, used by the round-trip test; the library's
// own loader lives in its test code.
type fixture struct {
	dim, k      int
	seed        uint64
	base, query []float32
	gt          *groundTruth
}

func decodeFixture(b []byte) (*fixture, error) {
	const hdr = 40
	if len(b) < hdr+4 || string(b[:8]) != fixtureMagic {
		return nil, fmt.Errorf("not a fixture file")
	}
	if crc32.ChecksumIEEE(b[:len(b)-4]) != le32(b[len(b)-4:]) {
		return nil, fmt.Errorf("fixture checksum mismatch")
	}
	if v := le32(b[8:]); v != fixtureVersion {
		return nil, fmt.Errorf("fixture version %d", v)
	}
	dim, nb, nq, k := int(le32(b[12:])), int(le32(b[16:])), int(le32(b[20:])), int(le32(b[24:]))
	if hdr+(nb+nq)*dim*4+nq*k*8+4 != len(b) {
		return nil, fmt.Errorf("fixture size does not match header")
	}
	f := &fixture{dim: dim, k: k, seed: uint64(le32(b[32:])) | uint64(le32(b[36:]))<<32}
	off := hdr
	f.base = getF32s(b[off:], nb*dim)
	off += nb * dim * 4
	f.query = getF32s(b[off:], nq*dim)
	off += nq * dim * 4
	f.gt = &groundTruth{K: k, IDs: getU32s(b[off:], nq*k), Scores: getF32s(b[off+nq*k*4:], nq*k)}
	return f, nil
}

func le32(b []byte) uint32 { return getU32s(b, 1)[0] }
