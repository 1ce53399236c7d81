package hash

import (
	"unicode"
	"unicode/utf8"
)

// The hash function is 64-bit FNV-1a over the feature's bytes, started from a per-kind basis
// derived from the seed, then passed through MurmurHash3's 64-bit finalizer so that every
// bit of the key is well mixed: the high 32 bits pick the dimension (Lemire's multiply-shift
// range reduction), the low bit the sign. Everything is integer arithmetic on fixed
// constants, so keys are the same on every platform and in every run.
const (
	fnvPrime = 1099511628211
	golden   = 0x9e3779b97f4a7c15
)

func fnv1a(h uint64, b []byte) uint64 {
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return h
}

func fmix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// Feature kinds, each hashed from its own basis so that a word and an equal character
// n-gram are different features.
const (
	kindWord = iota
	kindPair
	kindChar
	numKinds
)

func bases(seed uint64) [numKinds]uint64 {
	var b [numKinds]uint64
	for k := range b {
		b[k] = fmix64(seed + uint64(k+1)*golden)
	}
	return b
}

// slot is one distinct word or word pair of a text with its count. Words keep their
// lower-cased bytes (arena[off:off+n]) for their character n-grams; n == 0 marks a pair.
type slot struct {
	key   uint64
	count uint32
	off   uint32
	n     uint32
	at    uint32 // position in table.pos, so that reset clears only what was used
}

// table counts distinct features by key (open addressing, linear probing). Keys are 64-bit
// hashes: two distinct words share one with probability ~2^-64, which is ignored.
type table struct {
	pos  []int32 // slot index + 1, 0 when empty; len is a power of two
	used []slot  // in first-seen order, which fixes the summation order
}

func (t *table) find(key uint64) (*slot, bool) {
	if len(t.used)*2 >= len(t.pos) {
		t.grow()
	}
	mask := uint64(len(t.pos) - 1)
	i := key & mask
	for t.pos[i] != 0 {
		s := &t.used[t.pos[i]-1]
		if s.key == key {
			return s, true
		}
		i = (i + 1) & mask
	}
	t.used = append(t.used, slot{key: key, at: uint32(i)})
	t.pos[i] = int32(len(t.used))
	return &t.used[len(t.used)-1], false
}

func (t *table) grow() {
	n := 64
	if len(t.pos) > 0 {
		n = 2 * len(t.pos)
	}
	t.pos = make([]int32, n)
	mask := uint64(n - 1)
	for j := range t.used {
		i := t.used[j].key & mask
		for t.pos[i] != 0 {
			i = (i + 1) & mask
		}
		t.pos[i] = int32(j + 1)
		t.used[j].at = uint32(i)
	}
}

// reset empties the table in time proportional to what the last text used; a table grown
// by a very long text is dropped rather than kept in the pool.
func (t *table) reset() {
	if len(t.pos) > 1<<16 {
		t.pos, t.used = nil, nil
		return
	}
	for _, s := range t.used {
		t.pos[s.at] = 0
	}
	t.used = t.used[:0]
}

// scratch is the working memory of one text, reused through a sync.Pool so that embedding
// allocates only the returned vectors.
type scratch struct {
	tok   []byte  // the current word, lower-cased
	arena []byte  // the text's distinct words
	pad   []byte  // "<word>" for character n-grams
	offs  []int32 // rune boundaries of pad
	tab   table
}

func (s *scratch) reset() {
	s.tab.reset()
	s.arena = s.arena[:0]
	if cap(s.arena) > 1<<20 {
		s.arena = nil
	}
}

// collect tokenizes text into s.tab: words are maximal runs of letters, combining marks and
// digits (Unicode categories L, M and Nd), lower-cased rune by rune with unicode.ToLower;
// everything else separates words. With pairs, each word also forms a pair with the word
// before it. It returns the number of words.
func (e *Embedder) collect(text string, s *scratch) int {
	tok := s.tok[:0]
	words := 0
	var prev uint64
	flush := func() {
		key := fmix64(fnv1a(e.basis[kindWord], tok))
		w, seen := s.tab.find(key)
		if !seen {
			w.off, w.n = uint32(len(s.arena)), uint32(len(tok))
			s.arena = append(s.arena, tok...)
		}
		w.count++
		if e.cfg.wordN == 2 && words > 0 {
			p, _ := s.tab.find(fmix64(prev*golden ^ (key<<31 | key>>33) ^ e.basis[kindPair]))
			p.count++
		}
		prev = key
		words++
		tok = tok[:0]
	}
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
				tok = append(tok, c)
			case 'A' <= c && c <= 'Z':
				tok = append(tok, c+('a'-'A'))
			case len(tok) > 0:
				flush()
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		i += size
		if unicode.IsLetter(r) || unicode.IsMark(r) || unicode.IsDigit(r) {
			tok = utf8.AppendRune(tok, unicode.ToLower(r))
		} else if len(tok) > 0 {
			flush()
		}
	}
	if len(tok) > 0 {
		flush()
	}
	s.tok = tok
	return words
}

// charGrams adds the character n-grams of "<word>" (lengths charMin..charMax, counted in
// runes) to row, sharing weight among them.
func (e *Embedder) charGrams(word []byte, s *scratch, row []float32, weight float64, signed bool) {
	s.pad = append(append(append(s.pad[:0], '<'), word...), '>')
	s.offs = s.offs[:0]
	for i := 0; i < len(s.pad); {
		s.offs = append(s.offs, int32(i))
		if s.pad[i] < utf8.RuneSelf {
			i++
		} else {
			_, size := utf8.DecodeRune(s.pad[i:])
			i += size
		}
	}
	s.offs = append(s.offs, int32(len(s.pad)))
	runes := len(s.offs) - 1
	grams := 0
	for n := e.cfg.charMin; n <= e.cfg.charMax && n <= runes; n++ {
		grams += runes - n + 1
	}
	if grams == 0 {
		return
	}
	// Each word's n-grams share its weight (1/sqrt(grams) each), so that a long word does
	// not outweigh a short one just by having more n-grams.
	v := float32(weight / sqrtInt(grams))
	base := e.basis[kindChar]
	for n := e.cfg.charMin; n <= e.cfg.charMax && n <= runes; n++ {
		for i := 0; i+n <= runes; i++ {
			key := fmix64(fnv1a(base, s.pad[s.offs[i]:s.offs[i+n]]))
			add(row, key, v, signed)
		}
	}
}

// add puts v into the dimension key selects, with the sign key's low bit selects: signed
// hashing makes the inner product of two texts' vectors an unbiased estimate of the inner
// product of their feature vectors, collisions cancelling in expectation.
func add(row []float32, key uint64, v float32, signed bool) {
	i := (key >> 32) * uint64(len(row)) >> 32
	if signed && key&1 == 1 {
		row[i] -= v
	} else {
		row[i] += v
	}
}
