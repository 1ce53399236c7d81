package main

// Insertion order of the base set (`ann --order`). Graph indexes are sensitive to it: the
// data set lists its words by frequency, and inserting them in that order (as real data
// often arrives: common items first, or sorted by source) builds the graph from a core of
// tightly related vectors outwards, with hub nodes that every early insert links to.
//
// Both orders use the same held-out queries (a random sample: the first --queries rows of
// the seeded permutation) and the same base set; only the order in which the base is
// inserted, which is also the row id order, differs:
//
//	random  the base in the seeded permutation's order (the historical default)
//	file    the same base rows sorted by their position in the data set (frequency order)
//
// At --n 0 (all but the queries) the two hold exactly the same vectors.

import (
	"fmt"
	"slices"
)

const (
	orderRandom = "random"
	orderFile   = "file"
)

// orderBase returns base (row numbers of the data set, in the permutation's order) in the
// requested insertion order. It never modifies base.
func orderBase(base []int, order string) ([]int, error) {
	switch order {
	case orderRandom:
		return base, nil
	case orderFile:
		out := slices.Clone(base)
		slices.Sort(out)
		return out, nil
	}
	return nil, fmt.Errorf("unknown order %q (want %s or %s)", order, orderRandom, orderFile)
}

// splitData is one run's input: base and query vectors with the words they belong to.
type splitData struct {
	base, query []float32
	words       []string // words[i] is base row i's word
	dim         int
}

// loadOrderedSplit loads the data set and carves out the held-out queries and the base set
// (n = 0: every row that is not a query) in the requested order.
func loadOrderedSplit(cache string, n, queries int, seed uint64, order string) (*splitData, error) {
	words, vecs, dim, err := loadGlove(cache)
	if err != nil {
		return nil, err
	}
	logf("loaded %d vectors, dim %d", len(words), dim)
	if n <= 0 {
		n = len(words) - queries
	}
	b, q, err := split(len(words), n, queries, seed)
	if err != nil {
		return nil, err
	}
	if b, err = orderBase(b, order); err != nil {
		return nil, err
	}
	d := &splitData{base: gather(vecs, dim, b), query: gather(vecs, dim, q), dim: dim, words: make([]string, len(b))}
	for i, r := range b {
		d.words[i] = words[r]
	}
	return d, nil
}

// gtSeedLabel names a split's ground-truth cache file: the random order keeps the
// historical name (seed only), other orders add theirs, so both stay cached side by side
// (their row ids differ, so their answers do).
func gtSeedLabel(seed uint64, order string) string {
	if order == orderRandom {
		return fmt.Sprint(seed)
	}
	return fmt.Sprintf("%d-%s", seed, order)
}
