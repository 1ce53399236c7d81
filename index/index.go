// Package index holds engram's vector indexes behind one interface: the exact flat scan
// (Flat), the HNSW graph of the hot tier (HNSW) and the warm tier's graph over 8-bit codes
// (Graph8).
//
// An index maps caller keys (uint64; the store uses a record's sequence number) to
// unit-normalized vectors and answers k-nearest-neighbour queries by cosine similarity,
// which on unit vectors is the dot product. It knows nothing of storage: the store feeds it
// after each commit and rebuilds it from records (or a snapshot) at Open.
package index

import (
	"errors"
	"fmt"
	"iter"
)

// Kind names an index implementation; it is persisted in space configs and snapshots.
type Kind uint8

// Index kinds.
const (
	KindFlat Kind = 1
)

func (k Kind) String() string {
	switch k {
	case KindFlat:
		return "flat"
	case KindHNSW:
		return "hnsw"
	case KindGraph8:
		return "graph8"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Errors returned by indexes.
var (
	ErrDimension = errors.New("index: vector dimension mismatch")
	ErrSnapshot  = errors.New("index: bad snapshot")
)

// Result is one neighbour.
type Result struct {
	Key        uint64
	Similarity float32
}

// SearchOptions tune one query.
type SearchOptions struct {
	// Breadth is the candidate-list size of approximate indexes (HNSW's ef); 0 picks the
	// index's default. Exact indexes ignore it.
	Breadth int
	// MinSimilarity drops neighbours below it; use -1 to keep everything.
	MinSimilarity float32
	// Filter, when non-nil, must return true for a key to be returned. Indexes call it only
	// for keys that would otherwise make the result, so it may be moderately expensive.
	Filter func(key uint64) bool
	// Exact asks an approximate index for an exhaustive scan; exact indexes ignore it.
	Exact bool
	// FellBack, when non-nil, is set to true when a filtered approximate search gave up
	// on the graph and scanned exhaustively instead (see HNSW.Search), so a caller can
	// tell how its query was answered.
	FellBack *bool
}

// Index is what a space needs from a vector index. Implementations are safe for
// concurrent use: searches run in parallel with each other and with Add/Delete.
type Index interface {
	Kind() Kind
	// Dim is the vector length the index holds.
	Dim() int
	// Len is the number of keys present.
	Len() int
	// Add inserts len(keys) rows of vecs (row-major, Dim floats each, unit-normalized).
	// A key already present is replaced; within one call the last row for a key wins.
	Add(keys []uint64, vecs []float32) error
	// Delete removes keys and returns how many were present.
	Delete(keys ...uint64) int
	// Contains reports whether key is present.
	Contains(key uint64) bool
	// Search returns up to k neighbours of the unit vector q, most similar first (ties by
	// lower key).
	Search(q []float32, k int, opt SearchOptions) ([]Result, error)
	// Keys iterates over the present keys in no particular order. The index must not be
	// modified by the loop body.
	Keys() iter.Seq[uint64]
	// MemoryBytes estimates the heap bytes the index holds.
	MemoryBytes() int64
	// MarshalBinary encodes a snapshot of the index: UnmarshalFlat restores a Flat one
	// (vectors included); DecodeHNSW reads an HNSW one, which holds links only — the
	// caller fills the vectors back from its records (HNSWLoader).
	MarshalBinary() ([]byte, error)
}
