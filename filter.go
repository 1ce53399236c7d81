package engram

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/engram-go/engram/internal/codec"
	"github.com/engram-go/engram/internal/postings"
)

// Filter selects memories by their fields: Query.Where restricts a recall to the memories
// it matches, and Space.ForgetWhere forgets them. Build filters with the constructors —
// Eq, In, HasTag, Range, CreatedBetween, ContentContains — and combine them with And, Or
// and Not; FilterFunc makes any Go predicate a Filter. A Filter is an immutable value:
// build it once and use it from any number of goroutines.
//
// Metadata and tag tests (Eq, In, HasTag) are answered from the space's in-memory
// postings, so a filter made of them costs a few nanoseconds per memory examined, and a
// selective one is answered by scoring only the memories it matches. The others read each
// examined memory's record (Range, CreatedBetween, ContentContains) or decode the whole
// memory (FilterFunc); in an And they are only consulted for the memories the postings
// tests pass.
//
// A Filter's String is its text form, which ParseFilter reads back (FilterFunc excepted).
//
// A filter that cannot be evaluated — a nil operand of And, Or or Not, an In without
// values, an Or without operands, a Range with a NaN bound or lo > hi, CreatedBetween with
// from after to, a nil FilterFunc, nesting deeper than MaxFilterDepth — fails the call
// that uses it with INVALID_QUERY.
type Filter interface {
	// String returns the filter in the text form ParseFilter reads.
	String() string
	// compile is the sealing method: only this package's types are filters.
	compile(c *compiler, depth int) (*fnode, error)
}

// MaxFilterDepth bounds the nesting of a filter (And, Or and Not inside one another).
const MaxFilterDepth = 64

// Eq matches memories whose metadata holds key with exactly value (byte for byte).
func Eq(key, value string) Filter { return &expr{op: opEq, key: key, vals: []string{value}} }

// In matches memories whose metadata holds key with one of values. At least one value is
// required.
func In(key string, values ...string) Filter {
	return &expr{op: opIn, key: key, vals: append([]string(nil), values...)}
}

// HasTag matches memories carrying tag.
func HasTag(tag string) Filter { return &expr{op: opTag, key: tag} }

// Range matches memories whose metadata value of key is a number x with lo ≤ x ≤ hi.
// The value is parsed with strconv.ParseFloat (64 bits); a memory without the key, or
// whose value is not a number (or is NaN, or overflows a float64), does not match. Use
// math.Inf(-1) or math.Inf(1) for an open end.
func Range(key string, lo, hi float64) Filter { return &expr{op: opRange, key: key, lo: lo, hi: hi} }

// CreatedBetween matches memories created at or after from and at or before to (both
// ends inclusive, to the nanosecond). A zero time leaves its end open.
func CreatedBetween(from, to time.Time) Filter {
	return &expr{op: opCreated, from: from, to: to}
}

// ContentContains matches memories whose content contains s as a substring. The match
// is case-sensitive and byte for byte: no case folding, no Unicode normalization.
// The empty string matches every memory.
func ContentContains(s string) Filter { return &expr{op: opContains, key: s} }

// Not matches the memories f does not match. Not(Eq(k, v)) matches memories without the
// key k too.
func Not(f Filter) Filter { return &expr{op: opNot, kids: []Filter{f}} }

// And matches the memories every filter matches. And() matches every memory, so a list
// of conditions built up at run time may be empty.
func And(fs ...Filter) Filter { return &expr{op: opAnd, kids: append([]Filter(nil), fs...)} }

// Or matches the memories at least one filter matches. At least one filter is required.
func Or(fs ...Filter) Filter { return &expr{op: opOr, kids: append([]Filter(nil), fs...)} }

// FilterFunc is a Go predicate used as a Filter: it receives each examined memory, decoded
// in full (embedding, metadata, access statistics, tier), and returns whether it matches.
// It is the most flexible filter and the slowest — each call decodes a memory — so
// combine it in an And with postings tests (Eq, In, HasTag) where possible: it is then
// called only for the memories those pass. It must be safe for concurrent use and must
// not call the store. Its String is "func", which ParseFilter does not read.
type FilterFunc func(Memory) bool

// String implements Filter.
func (FilterFunc) String() string { return "func" }

func (f FilterFunc) compile(c *compiler, depth int) (*fnode, error) {
	if f == nil {
		return nil, fmt.Errorf("nil FilterFunc")
	}
	c.nodes++
	return &fnode{op: opFunc, fn: f}, nil
}

// filterOp is the kind of a filter node.
type filterOp uint8

const (
	opAnd filterOp = iota
	opOr
	opNot
	opEq
	opIn
	opTag
	opRange
	opCreated
	opContains
	opFunc
)

// expr is every filter but FilterFunc, as its constructor built it.
type expr struct {
	op       filterOp
	key      string   // metadata key; the tag of opTag; the substring of opContains
	vals     []string // opEq (one), opIn
	lo, hi   float64
	from, to time.Time
	kids     []Filter
}

func (e *expr) compile(c *compiler, depth int) (*fnode, error) {
	if depth > MaxFilterDepth {
		return nil, fmt.Errorf("filter nested deeper than %d", MaxFilterDepth)
	}
	c.nodes++
	n := &fnode{op: e.op, key: e.key}
	switch e.op {
	case opEq, opIn:
		if len(e.vals) == 0 {
			return nil, fmt.Errorf("In(%q) without values", e.key)
		}
		n.vals = e.vals
	case opTag:
	case opContains:
		n.sub = []byte(e.key)
	case opRange:
		if math.IsNaN(e.lo) || math.IsNaN(e.hi) {
			return nil, fmt.Errorf("Range(%q, %v, %v) has a NaN bound", e.key, e.lo, e.hi)
		}
		if e.lo > e.hi {
			return nil, fmt.Errorf("Range(%q, %v, %v): lo > hi", e.key, e.lo, e.hi)
		}
		n.lo, n.hi = e.lo, e.hi
	case opCreated:
		n.from, n.to = math.MinInt64, math.MaxInt64
		if !e.from.IsZero() {
			n.from = clampNanos(e.from)
		}
		if !e.to.IsZero() {
			n.to = clampNanos(e.to)
		}
		if n.from > n.to {
			return nil, fmt.Errorf("CreatedBetween(%v, %v): from is after to", e.from, e.to)
		}
	case opNot, opAnd, opOr:
		if e.op == opOr && len(e.kids) == 0 {
			return nil, fmt.Errorf("Or() without operands")
		}
		n.kids = make([]*fnode, len(e.kids))
		for i, k := range e.kids {
			if k == nil {
				return nil, fmt.Errorf("operand %d of %s is nil", i+1, e.opName())
			}
			kn, err := k.compile(c, depth+1)
			if err != nil {
				return nil, err
			}
			n.kids[i] = kn
		}
	default:
		return nil, fmt.Errorf("unknown filter %d", e.op)
	}
	return n, nil
}

func (e *expr) opName() string {
	switch e.op {
	case opNot:
		return "Not"
	case opAnd:
		return "And"
	}
	return "Or"
}

// clampNanos is t in Unix nanoseconds, clamped to what int64 nanoseconds can hold (the
// years 1678 to 2261), so a bound far in the past or future stays a bound.
func clampNanos(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// compiler gathers what compiling one filter found out.
type compiler struct {
	nodes int
}

// fnode is a compiled filter node: validated, with bytes and nanoseconds ready for the
// tests, and — once bound to a space's postings (bind) — the posting sets of its metadata
// and tag tests. A query compiles its own tree, so binding writes into it freely.
type fnode struct {
	op       filterOp
	key      string
	vals     []string
	sub      []byte
	lo, hi   float64
	from, to int64
	kids     []*fnode
	fn       FilterFunc

	sets  []*postings.Set // bound: opEq, opIn (per value), opTag (one); nil entries are empty
	bound bool
}

// compileFilter validates f and compiles it, with the legacy Query.Metadata and Tags
// folded in as an And of Eq and HasTag. It returns nil when nothing filters.
func compileFilter(f Filter, meta map[string]string, tags []string) (*fnode, error) {
	var c compiler
	var kids []*fnode
	if f != nil {
		n, err := f.compile(&c, 0)
		if err != nil {
			return nil, err
		}
		kids = append(kids, n)
	}
	for k, v := range meta {
		kids = append(kids, &fnode{op: opEq, key: k, vals: []string{v}})
	}
	for _, t := range tags {
		kids = append(kids, &fnode{op: opTag, key: t})
	}
	switch len(kids) {
	case 0:
		return nil, nil
	case 1:
		return kids[0], nil
	}
	return &fnode{op: opAnd, kids: kids}, nil
}

// memorySource builds the full memory of a record for FilterFunc tests.
type memorySource func(v *codec.View) Memory

// match reports whether the record v passes the filter. It allocates nothing unless the
// filter holds a FilterFunc (which gets a decoded memory from mem).
func (n *fnode) match(v *codec.View, mem memorySource) bool {
	switch n.op {
	case opAnd:
		for _, k := range n.kids {
			if !k.match(v, mem) {
				return false
			}
		}
		return true
	case opOr:
		for _, k := range n.kids {
			if k.match(v, mem) {
				return true
			}
		}
		return false
	case opNot:
		return !n.kids[0].match(v, mem)
	case opEq, opIn:
		val, ok := v.MetaValue(n.key)
		if !ok {
			return false
		}
		for _, w := range n.vals {
			if string(val) == w {
				return true
			}
		}
		return false
	case opTag:
		return v.HasTag(n.key)
	case opRange:
		val, ok := v.MetaValue(n.key)
		if !ok {
			return false
		}
		x, ok := parseNumber(val)
		return ok && x >= n.lo && x <= n.hi
	case opCreated:
		return v.Created >= n.from && v.Created <= n.to
	case opContains:
		return bytes.Contains(v.ContentBytes(), n.sub)
	case opFunc:
		if mem == nil {
			return false
		}
		return n.fn(mem(v))
	}
	return false
}

// parseNumber parses a metadata value as strconv.ParseFloat does (64 bits); NaN and
// values that overflow do not count as numbers. It allocates nothing: values that are not
// numbers are turned away by a syntax check before ParseFloat could allocate its error,
// and the conversion to string stays on the stack.
func parseNumber(b []byte) (float64, bool) {
	if !decimal(b) && !hexFloat(b) {
		return 0, false
	}
	x, err := strconv.ParseFloat(string(b), 64)
	return x, err == nil && !math.IsNaN(x)
}

// decimal reports whether b is a decimal float or an infinity in ParseFloat's syntax.
func decimal(b []byte) bool {
	i := 0
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		i++
	}
	if r := b[i:]; len(r) == 3 || len(r) == 8 {
		if strings.EqualFold(string(r), "inf") || strings.EqualFold(string(r), "infinity") {
			return true
		}
	}
	// Underscores may separate digits (Go's literal syntax); ParseFloat checks where.
	digits := 0
	for ; i < len(b) && (b[i] >= '0' && b[i] <= '9' || b[i] == '_'); i++ {
		digits++
	}
	if i < len(b) && b[i] == '.' {
		for i++; i < len(b) && (b[i] >= '0' && b[i] <= '9' || b[i] == '_'); i++ {
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		exp := 0
		for ; i < len(b) && (b[i] >= '0' && b[i] <= '9' || b[i] == '_'); i++ {
			exp++
		}
		if exp == 0 {
			return false
		}
	}
	return i == len(b)
}

// hexFloat reports whether b may be a hexadecimal float ("0x1p-2"), which ParseFloat also
// reads; rare enough to leave to it.
func hexFloat(b []byte) bool {
	if len(b) > 0 && (b[0] == '+' || b[0] == '-') {
		b = b[1:]
	}
	return len(b) > 2 && b[0] == '0' && (b[1] == 'x' || b[1] == 'X')
}

// tri is a three-valued answer of the postings about one memory: the Kleene logic of a
// filter some of whose tests the postings cannot answer.
type tri uint8

const (
	triNo tri = iota
	triYes
	triMaybe // the record must decide
)

// pre answers the filter for seq from the bound postings alone: yes or no when its
// metadata and tag tests decide, maybe when a record test (Range, CreatedBetween,
// ContentContains, FilterFunc) matters.
func (n *fnode) pre(seq uint64) tri {
	switch n.op {
	case opAnd:
		out := triYes
		for _, k := range n.kids {
			switch k.pre(seq) {
			case triNo:
				return triNo
			case triMaybe:
				out = triMaybe
			}
		}
		return out
	case opOr:
		out := triNo
		for _, k := range n.kids {
			switch k.pre(seq) {
			case triYes:
				return triYes
			case triMaybe:
				out = triMaybe
			}
		}
		return out
	case opNot:
		switch n.kids[0].pre(seq) {
		case triNo:
			return triYes
		case triYes:
			return triNo
		}
		return triMaybe
	case opEq, opIn, opTag:
		if !n.bound {
			return triMaybe
		}
		for _, s := range n.sets {
			if s != nil && s.Contains(seq) {
				return triYes
			}
		}
		return triNo
	}
	return triMaybe
}

// exact reports whether the postings answer the filter alone (no record tests).
func (n *fnode) exact() bool {
	switch n.op {
	case opEq, opIn, opTag:
		return true
	case opAnd, opOr, opNot:
		for _, k := range n.kids {
			if !k.exact() {
				return false
			}
		}
		return true
	}
	return false
}

// hasFunc reports whether the filter holds a FilterFunc.
func (n *fnode) hasFunc() bool {
	if n.op == opFunc {
		return true
	}
	for _, k := range n.kids {
		if k.hasFunc() {
			return true
		}
	}
	return false
}
