package engram

import (
	"fmt"
	"slices"
	"sync"

	"github.com/engram-go/engram/internal/codec"
	"github.com/engram-go/engram/internal/postings"
	"github.com/engram-go/engram/tier"
)

// postingIndex is a space's filter postings: for every metadata key=value pair and every
// tag, the set of memories (record sequence numbers, all tiers) that carry it. Filters
// answer their Eq, In and HasTag tests from it without reading records, and the recall
// planner (plan.go) sizes a filter's matches from it.
//
// Like the rest of a space's in-memory state it is derived from the records: Open builds
// it while loading them (load.go), and every committed write changes it in its apply step,
// in commit order (placement.go's applyChange, and BatchUpdate's apply for patched
// metadata). Persisting it would add a write per posting to every commit for what a load
// rebuilds in passing; see the README's filter section for the measured Open cost.
//
// Readers (recalls) hold mu shared while they use the sets; apply steps hold it
// exclusively for the few microseconds a batch's changes take.
type postingIndex struct {
	mu      sync.RWMutex
	meta    map[string]map[string]*postings.Set // key → value → memories
	tags    map[string]*postings.Set
	entries int64 // memberships, over all sets
	pairs   int   // key=value pairs
	bytes   int64 // heap estimate: sets, map entries, term strings
}

// Heap costs of the maps' parts, for PostingStats.Bytes: a map entry (key header, value
// pointer, Go's swiss-table overhead) and a Set's struct.
const mapEntryBytes, setStructBytes = 48, 80

func (p *postingIndex) init() {
	p.meta = make(map[string]map[string]*postings.Set)
	p.tags = make(map[string]*postings.Set)
	p.entries, p.pairs, p.bytes = 0, 0, 0
}

// postingDoc is the metadata and tags of one memory entering or leaving the postings:
// strings from a batch or copied out of a record, or a view of a record read in the
// transaction that applies it (Open's load applies inside its read transaction).
type postingDoc struct {
	seq  uint64
	tags []string
	meta map[string]string
	view codec.View
	// useView says the terms are in view rather than in tags and meta.
	useView bool
}

// docOf copies a record's terms, for a removal applied after its transaction ended.
func docOf(seq uint64, v *codec.View) postingDoc {
	return postingDoc{seq: seq, tags: v.Tags(), meta: v.Meta()}
}

// apply removes the memories of del and adds those of add.
func (p *postingIndex) apply(del, add []postingDoc) {
	if len(del)+len(add) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range del {
		p.doc(&del[i], false)
	}
	for i := range add {
		p.doc(&add[i], true)
	}
}

func (p *postingIndex) doc(d *postingDoc, add bool) {
	if d.useView {
		for t := range d.view.TagBytes() {
			postTag(p, t, d.seq, add)
		}
		for k, v := range d.view.MetaBytes() {
			postPair(p, k, v, d.seq, add)
		}
		return
	}
	for _, t := range d.tags {
		postTag(p, t, d.seq, add)
	}
	for k, v := range d.meta {
		postPair(p, k, v, d.seq, add)
	}
}

// term is a tag, key or value: a string from a batch, or bytes of a record being loaded.
// The map lookups of string(b) do not copy; only a term stored for the first time is.
type term interface{ ~string | ~[]byte }

// postTag and postPair change one membership.
func postTag[T term](p *postingIndex, t T, seq uint64, add bool) {
	s := p.tags[string(t)]
	if add {
		if s == nil {
			s = new(postings.Set)
			p.tags[string(t)] = s
			p.bytes += mapEntryBytes + setStructBytes + int64(len(t))
		}
		p.change(s, seq, true)
		return
	}
	if s != nil && p.change(s, seq, false) && s.Len() == 0 {
		delete(p.tags, string(t))
		p.bytes -= mapEntryBytes + setStructBytes + int64(len(t))
	}
}

func postPair[T term](p *postingIndex, k, v T, seq uint64, add bool) {
	vals := p.meta[string(k)]
	if add {
		if vals == nil {
			vals = make(map[string]*postings.Set)
			p.meta[string(k)] = vals
			p.bytes += mapEntryBytes + int64(len(k))
		}
		s := vals[string(v)]
		if s == nil {
			s = new(postings.Set)
			vals[string(v)] = s
			p.pairs++
			p.bytes += mapEntryBytes + setStructBytes + int64(len(v))
		}
		p.change(s, seq, true)
		return
	}
	s := vals[string(v)]
	if s != nil && p.change(s, seq, false) && s.Len() == 0 {
		delete(vals, string(v))
		p.pairs--
		p.bytes -= mapEntryBytes + setStructBytes + int64(len(v))
		if len(vals) == 0 {
			delete(p.meta, string(k))
			p.bytes -= mapEntryBytes + int64(len(k))
		}
	}
}

// change adds seq to s or removes it, keeping the counts; it reports whether s changed.
func (p *postingIndex) change(s *postings.Set, seq uint64, add bool) bool {
	before := s.Bytes()
	var changed bool
	if add {
		changed = s.Add(seq)
	} else {
		changed = s.Remove(seq)
	}
	if changed {
		p.bytes += s.Bytes() - before
		if add {
			p.entries++
		} else {
			p.entries--
		}
	}
	return changed
}

// bind resolves the posting sets of n's metadata and tag tests. The caller holds p.mu
// (shared) for as long as it uses them.
func (p *postingIndex) bind(n *fnode) {
	switch n.op {
	case opEq, opIn:
		vals := p.meta[n.key]
		n.sets = n.sets[:0]
		for _, v := range n.vals {
			n.sets = append(n.sets, vals[v])
		}
		n.bound = true
	case opTag:
		n.sets = append(n.sets[:0], p.tags[n.key])
		n.bound = true
	}
	for _, k := range n.kids {
		p.bind(k)
	}
}

// PostingStats describes a space's filter postings.
type PostingStats struct {
	// Keys counts the metadata keys, Pairs the key=value pairs and Tags the tags that
	// have postings; Entries counts the memberships (one per metadata entry and tag of
	// every memory).
	Keys, Pairs, Tags int
	Entries           int64
	// Bytes estimates the heap the postings hold (sets, maps and their strings).
	Bytes int64
}

// stats returns the counts, kept by every change (Stats may be scraped often).
func (p *postingIndex) stats() PostingStats {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return PostingStats{Keys: len(p.meta), Pairs: p.pairs, Tags: len(p.tags), Entries: p.entries, Bytes: p.bytes}
}

// reset discards everything (a dropped space).
func (p *postingIndex) reset() {
	p.mu.Lock()
	p.init()
	p.mu.Unlock()
}

// verifyPostings compares the postings with the records of b: every term of every
// readable record is posted for it, and nothing else is. It returns the differences (at
// most limit). The caller keeps writes from applying meanwhile (Space.turn), and a write
// committed but not yet applied shows as a difference, as it does for the indexes.
func (sp *Space) verifyPostings(b spaceTx, limit int) []string {
	var want postingIndex
	want.init()
	sp.eachLoadable(b, func(seq uint64, view codec.View, _ tier.Tier) { want.record(seq, view) })
	return sp.comparePostings(&want, limit)
}

// record posts the terms of one record that Open would load (the postings the records
// say there should be, for comparePostings).
func (p *postingIndex) record(seq uint64, view codec.View) {
	p.doc(&postingDoc{seq: seq, view: view, useView: true}, true)
}

// comparePostings compares the space's postings with want, the postings of every
// readable record (verifyPostings, or Check's single walk over the records), and returns
// the differences (at most limit).
func (sp *Space) comparePostings(want *postingIndex, limit int) []string {
	var problems []string
	report := func(format string, args ...any) {
		if len(problems) < limit {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	p := &sp.postings
	p.mu.RLock()
	defer p.mu.RUnlock()
	diff := func(what string, got, exp *postings.Set) {
		var g, e []uint64
		if got != nil {
			g = got.AppendTo(nil)
		}
		if exp != nil {
			e = exp.AppendTo(nil)
		}
		if !slices.Equal(g, e) {
			report("postings of %s: %d memories, the records say %d", what, len(g), len(e))
		}
	}
	for k, vals := range want.meta {
		for v, s := range vals {
			diff(fmt.Sprintf("%q=%q", k, v), p.meta[k][v], s)
		}
	}
	for k, vals := range p.meta {
		for v, s := range vals {
			if want.meta[k][v] == nil {
				diff(fmt.Sprintf("%q=%q", k, v), s, nil)
			}
		}
	}
	for t, s := range want.tags {
		diff(fmt.Sprintf("tag %q", t), p.tags[t], s)
	}
	for t, s := range p.tags {
		if want.tags[t] == nil {
			diff(fmt.Sprintf("tag %q", t), s, nil)
		}
	}
	// (Bytes is left out: a set's layout depends on its history, not only its content.)
	if p.entries != want.entries || p.pairs != want.pairs {
		report("postings count %d entries, %d pairs; the records %d, %d", p.entries, p.pairs, want.entries, want.pairs)
	}
	return problems
}
