package engram

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// The text form of filters: what Filter.String writes and ParseFilter reads (and what the
// CLI's --where takes).
//
//	filter  = or
//	or      = and { "or" and }
//	and     = unary { "and" unary }
//	unary   = "not" unary | "(" or ")" | "true" | "false" | test
//	test    = key ( "=" value | "!=" value | "in" "(" value { "," value } ")"
//	              | ( ">=" | "<=" | ">" | "<" ) number | "between" number "and" number )
//	        | "tag" ( "=" value | "!=" value | "in" "(" value { "," value } ")" )
//	        | "content" "contains" value
//	        | "created" ( ( ">=" | "<=" | ">" | "<" ) time | "between" time "and" time )
//
// A key or value is a bare word — letters, digits and _ . : + - / @ — or a double-quoted
// Go string literal ("a \"quoted\" value", "tab\there"). Keywords (and, or, not, in,
// between, contains, true, false) and the fields tag, content and created are
// case-insensitive; a metadata key spelled like one must be quoted ("tag" = x is the
// metadata key tag). Numbers are what strconv.ParseFloat reads (-Inf and +Inf open a
// range); times are RFC 3339 ("2024-05-01T00:00:00Z", fractions of a second allowed).
// "between" includes both ends; > and < exclude theirs. != is Not of =, so memories
// without the key match it. "not" binds tighter than "and", which binds tighter than "or".

// ParseFilter reads a filter in the text form above, the form Filter.String writes:
//
//	cat = news and (tag = urgent or priority >= 3) and not content contains "draft"
//
// A malformed or invalid filter fails with INVALID_QUERY, naming the byte offset of the
// problem.
func ParseFilter(s string) (Filter, error) {
	p := &filterParser{src: s}
	p.next()
	f := p.or(0)
	if p.err == nil && p.tok.kind != tokEOF {
		p.fail("expected and, or or the end, found %s", p.tok)
	}
	if p.err != nil {
		return nil, p.err
	}
	if _, err := compileFilter(f, nil, nil); err != nil {
		return nil, newErr(CodeInvalidQuery, opNone, "", fmt.Sprintf("filter %q: %v", s, err), nil)
	}
	return f, nil
}

// String implements Filter.
func (e *expr) String() string {
	var b strings.Builder
	e.write(&b)
	return b.String()
}

func (e *expr) write(b *strings.Builder) {
	switch e.op {
	case opEq:
		b.WriteString(quoteKey(e.key))
		b.WriteString(" = ")
		b.WriteString(strconv.Quote(e.vals[0]))
	case opIn:
		b.WriteString(quoteKey(e.key))
		b.WriteString(" in (")
		for i, v := range e.vals {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(strconv.Quote(v))
		}
		b.WriteString(")")
	case opTag:
		b.WriteString("tag = ")
		b.WriteString(strconv.Quote(e.key))
	case opContains:
		b.WriteString("content contains ")
		b.WriteString(strconv.Quote(e.key))
	case opRange:
		writeRange(b, quoteKey(e.key), formatNumber(e.lo), formatNumber(e.hi), math.IsInf(e.lo, -1), math.IsInf(e.hi, 1))
	case opCreated:
		writeRange(b, "created", formatTime(e.from), formatTime(e.to), e.from.IsZero(), e.to.IsZero())
	case opNot:
		k, ok := unwrap(e.kids[0]).(*expr)
		switch {
		case ok && k.op == opEq:
			b.WriteString(quoteKey(k.key))
			b.WriteString(" != ")
			b.WriteString(strconv.Quote(k.vals[0]))
		case ok && k.op == opTag:
			b.WriteString("tag != ")
			b.WriteString(strconv.Quote(k.key))
		default:
			b.WriteString("not ")
			writeOperand(b, e.kids[0])
		}
	case opAnd, opOr:
		switch {
		case len(e.kids) == 0 && e.op == opAnd:
			b.WriteString("true")
			return
		case len(e.kids) == 0:
			b.WriteString("or()") // invalid, as the filter is (ParseFilter's false is not(true))
			return
		case len(e.kids) == 1:
			writeFilter(b, e.kids[0])
			return
		}
		sep := " and "
		if e.op == opOr {
			sep = " or "
		}
		for i, k := range e.kids {
			if i > 0 {
				b.WriteString(sep)
			}
			writeOperand(b, k)
		}
	}
}

func writeRange(b *strings.Builder, key, lo, hi string, openLo, openHi bool) {
	b.WriteString(key)
	switch {
	case openHi && !openLo:
		b.WriteString(" >= ")
		b.WriteString(lo)
	case openLo && !openHi:
		b.WriteString(" <= ")
		b.WriteString(hi)
	default:
		b.WriteString(" between ")
		b.WriteString(lo)
		b.WriteString(" and ")
		b.WriteString(hi)
	}
}

// writeFilter writes f; nil (invalid inside a filter) as "nil", which does not parse.
func writeFilter(b *strings.Builder, f Filter) {
	switch f := f.(type) {
	case nil:
		b.WriteString("nil")
	case *expr:
		f.write(b)
	default:
		b.WriteString(f.String())
	}
}

// writeOperand writes f as an operand of and, or or not: in parentheses when it is itself
// an and or an or of several filters.
func writeOperand(b *strings.Builder, f Filter) {
	f = unwrap(f)
	if e, ok := f.(*expr); ok && (e.op == opAnd || e.op == opOr) && len(e.kids) > 1 {
		b.WriteString("(")
		e.write(b)
		b.WriteString(")")
		return
	}
	writeFilter(b, f)
}

// unwrap returns f without enclosing ands and ors of one filter, which are written as
// that filter.
func unwrap(f Filter) Filter {
	for {
		e, ok := f.(*expr)
		if !ok || (e.op != opAnd && e.op != opOr) || len(e.kids) != 1 {
			return f
		}
		f = e.kids[0]
	}
}

func formatNumber(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

func formatTime(t time.Time) string {
	if t.IsZero() {
		return strconv.Quote(time.Time{}.Format(time.RFC3339Nano))
	}
	return strconv.Quote(t.UTC().Format(time.RFC3339Nano))
}

// quoteKey writes a metadata key bare when it reads back as the same key, else quoted.
func quoteKey(k string) string {
	if k == "" || reserved(k) {
		return strconv.Quote(k)
	}
	for i := 0; i < len(k); i++ {
		if !wordByte(k[i]) {
			return strconv.Quote(k)
		}
	}
	return k
}

func wordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '.' || c == ':' || c == '+' || c == '-' || c == '/' || c == '@'
}

// reserved reports whether a bare word is a keyword or field name.
func reserved(w string) bool {
	switch strings.ToLower(w) {
	case "and", "or", "not", "in", "between", "contains", "true", "false", "tag", "content", "created":
		return true
	}
	return false
}

type tokKind uint8

const (
	tokEOF tokKind = iota
	tokWord
	tokString
	tokOp // = != >= <= > < ( ) ,
	tokBad
)

type token struct {
	kind tokKind
	text string // the word, the unquoted string, or the operator
	off  int
}

func (t token) String() string {
	switch t.kind {
	case tokEOF:
		return "the end"
	case tokString:
		return strconv.Quote(t.text)
	}
	return fmt.Sprintf("%q", t.text)
}

// is reports whether t is the keyword or operator w.
func (t token) is(w string) bool {
	switch t.kind {
	case tokWord:
		return strings.EqualFold(t.text, w)
	case tokOp:
		return t.text == w
	}
	return false
}

type filterParser struct {
	src string
	pos int
	tok token
	err error
}

func (p *filterParser) fail(format string, args ...any) {
	if p.err == nil {
		p.err = newErr(CodeInvalidQuery, opNone, "", fmt.Sprintf("filter %q: at offset %d: %s", p.src, p.tok.off, fmt.Sprintf(format, args...)), nil)
	}
	p.tok = token{kind: tokEOF, off: len(p.src)} // stop: every production ends at EOF
}

// next reads the next token into p.tok.
func (p *filterParser) next() {
	if p.err != nil {
		return
	}
	s := p.src
	for p.pos < len(s) && (s[p.pos] == ' ' || s[p.pos] == '\t' || s[p.pos] == '\n' || s[p.pos] == '\r') {
		p.pos++
	}
	start := p.pos
	if p.pos == len(s) {
		p.tok = token{kind: tokEOF, off: start}
		return
	}
	switch c := s[p.pos]; {
	case c == '"':
		end := p.pos + 1
		for end < len(s) && s[end] != '"' {
			if s[end] == '\\' {
				end++
			}
			end++
		}
		if end >= len(s) {
			p.tok = token{kind: tokBad, off: start}
			p.fail("unterminated string")
			return
		}
		v, err := strconv.Unquote(s[p.pos : end+1])
		if err != nil {
			p.tok = token{kind: tokBad, off: start}
			p.fail("bad string literal %s", s[p.pos:end+1])
			return
		}
		p.pos = end + 1
		p.tok = token{kind: tokString, text: v, off: start}
	case wordByte(c):
		for p.pos < len(s) && wordByte(s[p.pos]) {
			p.pos++
		}
		p.tok = token{kind: tokWord, text: s[start:p.pos], off: start}
	case c == '!' || c == '>' || c == '<' || c == '=':
		p.pos++
		if p.pos < len(s) && s[p.pos] == '=' {
			p.pos++
		}
		op := s[start:p.pos]
		if op == "!" {
			p.tok = token{kind: tokBad, off: start}
			p.fail("'!' is not an operator (use != or not)")
			return
		}
		if op == "==" {
			op = "="
		}
		p.tok = token{kind: tokOp, text: op, off: start}
	case c == '(' || c == ')' || c == ',':
		p.pos++
		p.tok = token{kind: tokOp, text: s[start:p.pos], off: start}
	default:
		p.tok = token{kind: tokBad, off: start}
		p.fail("unexpected character %q", rune(c))
	}
}

func (p *filterParser) or(depth int) Filter {
	var fs []Filter
	for {
		fs = append(fs, p.and(depth))
		if !p.tok.is("or") {
			break
		}
		p.next()
	}
	if len(fs) == 1 {
		return fs[0]
	}
	return Or(fs...)
}

func (p *filterParser) and(depth int) Filter {
	var fs []Filter
	for {
		fs = append(fs, p.unary(depth))
		if !p.tok.is("and") {
			break
		}
		p.next()
	}
	if len(fs) == 1 {
		return fs[0]
	}
	return And(fs...)
}

func (p *filterParser) unary(depth int) Filter {
	if depth > MaxFilterDepth {
		p.fail("filter nested deeper than %d", MaxFilterDepth)
		return nil
	}
	switch {
	case p.tok.is("not"):
		p.next()
		return Not(p.unary(depth + 1))
	case p.tok.is("("):
		p.next()
		f := p.or(depth + 1)
		p.expect(")")
		return f
	case p.tok.is("true"):
		p.next()
		return And()
	case p.tok.is("false"):
		p.next()
		return Not(And())
	case p.tok.is("tag"):
		p.next()
		return p.tagTest()
	case p.tok.is("content"):
		p.next()
		if !p.tok.is("contains") {
			p.fail("expected contains after content, found %s", p.tok)
			return nil
		}
		p.next()
		return ContentContains(p.value())
	case p.tok.is("created"):
		p.next()
		return p.createdTest()
	case p.tok.kind == tokString || (p.tok.kind == tokWord && !reserved(p.tok.text)):
		key := p.tok.text
		p.next()
		return p.keyTest(key)
	}
	p.fail("expected a test, not, or (, found %s", p.tok)
	return nil
}

func (p *filterParser) expect(op string) {
	if !p.tok.is(op) {
		p.fail("expected %q, found %s", op, p.tok)
		return
	}
	p.next()
}

// value reads a string or a bare word.
func (p *filterParser) value() string {
	if p.tok.kind != tokString && p.tok.kind != tokWord {
		p.fail("expected a value, found %s", p.tok)
		return ""
	}
	v := p.tok.text
	p.next()
	return v
}

// list reads ( value, ... ).
func (p *filterParser) list() []string {
	p.expect("(")
	var vs []string
	for p.err == nil {
		vs = append(vs, p.value())
		if !p.tok.is(",") {
			break
		}
		p.next()
	}
	p.expect(")")
	return vs
}

func (p *filterParser) tagTest() Filter {
	switch {
	case p.tok.is("="):
		p.next()
		return HasTag(p.value())
	case p.tok.is("!="):
		p.next()
		return Not(HasTag(p.value()))
	case p.tok.is("in"):
		p.next()
		var fs []Filter
		for _, t := range p.list() {
			fs = append(fs, HasTag(t))
		}
		return Or(fs...)
	}
	p.fail("expected =, != or in after tag, found %s", p.tok)
	return nil
}

func (p *filterParser) keyTest(key string) Filter {
	switch {
	case p.tok.is("="):
		p.next()
		return Eq(key, p.value())
	case p.tok.is("!="):
		p.next()
		return Not(Eq(key, p.value()))
	case p.tok.is("in"):
		p.next()
		return In(key, p.list()...)
	case p.tok.is("between"):
		p.next()
		lo := p.number()
		if !p.tok.is("and") {
			p.fail("expected and in between, found %s", p.tok)
			return nil
		}
		p.next()
		return Range(key, lo, p.number())
	case p.tok.is(">="):
		p.next()
		return Range(key, p.number(), math.Inf(1))
	case p.tok.is(">"):
		p.next()
		return Range(key, math.Nextafter(p.number(), math.Inf(1)), math.Inf(1))
	case p.tok.is("<="):
		p.next()
		return Range(key, math.Inf(-1), p.number())
	case p.tok.is("<"):
		p.next()
		return Range(key, math.Inf(-1), math.Nextafter(p.number(), math.Inf(-1)))
	}
	p.fail("expected =, !=, in, between, >=, <=, > or < after key %q, found %s", key, p.tok)
	return nil
}

func (p *filterParser) number() float64 {
	tok := p.tok
	v := p.value()
	if p.err != nil {
		return 0
	}
	x, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(x) {
		p.tok = tok
		p.fail("%s is not a number", tok)
		return 0
	}
	return x
}

func (p *filterParser) time() time.Time {
	tok := p.tok
	v := p.value()
	if p.err != nil {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		p.tok = tok
		p.fail("%s is not an RFC 3339 time", tok)
		return time.Time{}
	}
	return t
}

func (p *filterParser) createdTest() Filter {
	var zero time.Time
	switch {
	case p.tok.is("between"):
		p.next()
		from := p.time()
		if !p.tok.is("and") {
			p.fail("expected and in between, found %s", p.tok)
			return nil
		}
		p.next()
		return CreatedBetween(from, p.time())
	case p.tok.is(">="):
		p.next()
		return CreatedBetween(p.time(), zero)
	case p.tok.is(">"):
		p.next()
		return CreatedBetween(p.time().Add(time.Nanosecond), zero)
	case p.tok.is("<="):
		p.next()
		return CreatedBetween(zero, p.time())
	case p.tok.is("<"):
		p.next()
		return CreatedBetween(zero, p.time().Add(-time.Nanosecond))
	}
	p.fail("expected between, >=, <=, > or < after created, found %s", p.tok)
	return nil
}
