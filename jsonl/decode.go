package jsonl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/engram-go/engram"
	"github.com/engram-go/engram/tier"
)

// decode parses one non-blank line into a memory.
//
// A syntactically valid line (json.Valid) is walked member by member — instead of
// json.Unmarshal into the struct — so that names match exactly and a repeated name is
// seen; each value is decoded by encoding/json into its field's own type, except the
// embedding, which has a fast path (it is most of the line and most of the time). A line
// that is not valid JSON goes to explain, which finds out where and why.
func decode(line []byte) (engram.Memory, error) {
	var m engram.Memory
	if !utf8.Valid(line) {
		return m, ErrInvalidUTF8
	}
	if err := checkSurrogates(line); err != nil {
		return m, err
	}
	if !json.Valid(line) {
		return m, explain(line)
	}
	// From here on the line is one valid JSON value, which the index arithmetic relies on.
	i := skipSpace(line, 0)
	if line[i] != '{' {
		return m, ErrNotObject
	}
	var seen uint16
	for i = skipSpace(line, i+1); line[i] != '}'; i = skipSpace(line, i+1) { // i+1 skips ','
		end := skipString(line, i)
		key, err := unquote(line[i : end+1])
		if err != nil {
			return m, err
		}
		i = skipSpace(line, skipSpace(line, end+1)+1) // past ':'
		vend := skipValue(line, i)
		bit, target := field(&m, key)
		switch {
		case target == nil:
			return m, fmt.Errorf("%w %s", ErrUnknownField, quote(key))
		case seen&bit != 0:
			return m, fmt.Errorf("%w %s", ErrDuplicateField, quote(key))
		}
		seen |= bit
		if err := decodeValue(line[i:vend], target); err != nil {
			return m, fmt.Errorf("field %s: %w", quote(key), err)
		}
		if i = skipSpace(line, vend); line[i] == '}' {
			break
		}
	}
	return m, nil // json.Valid saw to it that only spaces follow
}

// decodeValue decodes one valid JSON value into target.
func decodeValue(v []byte, target any) error {
	if e, ok := target.(*[]float32); ok {
		if vec, ok := parseFloats(v); ok {
			*e = vec
			return nil
		}
	}
	if len(v) > 0 && v[0] != 'n' && hasNull(v) {
		return ErrNestedNull
	}
	return humanize(json.Unmarshal(v, target))
}

// hasNull reports whether the valid JSON value v holds a null. Outside strings, the only
// JSON token with an 'n' in it is null.
func hasNull(v []byte) bool {
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '"':
			i = skipString(v, i)
		case 'n':
			return true
		}
	}
	return false
}

// parseFloats is the fast path for an embedding: a valid JSON array of numbers, parsed
// exactly as encoding/json does (strconv.ParseFloat with 32 bits). It declines, leaving
// the value to encoding/json, on anything else (null, an element that is not a number,
// a number beyond float32's range), so errors keep encoding/json's types and wording.
//
// Splitting at commas is sound even when an element is a string or an array holding
// commas: elements are split correctly up to the first one that is not a number, and
// that one's first piece starts with a character no number starts with.
func parseFloats(v []byte) ([]float32, bool) {
	if len(v) < 2 || v[0] != '[' {
		return nil, false
	}
	body := bytes.TrimSpace(v[1 : len(v)-1])
	if len(body) == 0 {
		return []float32{}, true
	}
	// One string for the whole array, so that parsing an element does not allocate.
	s := string(body)
	out := make([]float32, 0, bytes.Count(body, []byte(","))+1)
	for len(s) > 0 {
		elem := s
		if j := indexComma(s); j >= 0 {
			elem, s = s[:j], s[j+1:]
		} else {
			s = ""
		}
		elem = trimSpace(elem)
		if elem == "" || !(elem[0] == '-' || '0' <= elem[0] && elem[0] <= '9') {
			return nil, false
		}
		f, err := strconv.ParseFloat(elem, 32)
		if err != nil {
			return nil, false
		}
		out = append(out, float32(f))
	}
	return out, true
}

func indexComma(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == ',' {
			return i
		}
	}
	return -1
}

func trimSpace(s string) string {
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// skipSpace returns the index of the first non-space byte of b at or after i.
func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// skipString returns the index of the closing quote of the string whose opening quote is
// at b[i].
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++ // the escaped byte cannot end the string
		case '"':
			return i
		}
	}
	return len(b)
}

// skipValue returns the index just past the valid JSON value starting at b[i].
func skipValue(b []byte, i int) int {
	depth := 0
	for ; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			i = skipString(b, i)
			if depth == 0 {
				return i + 1
			}
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			if depth == 0 {
				return i // the end of the enclosing object after a number or literal
			}
			if depth--; depth == 0 {
				return i + 1
			}
		case (c == ',' || isSpace(c)) && depth == 0:
			return i // the end of a number or literal
		}
	}
	return i
}

// unquote returns the string a valid JSON string literal denotes. Names are almost always
// plain; one with escapes ("\u0069d" is "id") goes through encoding/json.
func unquote(lit []byte) (string, error) {
	inner := lit[1 : len(lit)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner), nil
	}
	var s string
	err := json.Unmarshal(lit, &s)
	return s, err
}

// field returns the bit and the decoding target of the memory field named key, or a nil
// target for an unknown name. The names are engram.Memory's JSON tags.
func field(m *engram.Memory, key string) (uint16, any) {
	switch key {
	case "id":
		return 1 << 0, &m.ID
	case "content":
		return 1 << 1, &m.Content
	case "embedding":
		return 1 << 2, &m.Embedding
	case "confidence":
		return 1 << 3, &m.Confidence
	case "created_at":
		return 1 << 4, &m.CreatedAt
	case "last_access":
		return 1 << 5, &m.LastAccess
	case "access_count":
		return 1 << 6, &m.AccessCount
	case "metadata":
		return 1 << 7, &m.Metadata
	case "tags":
		return 1 << 8, &m.Tags
	case "tier":
		return 1 << 9, (*tierValue)(&m.Tier)
	case "expires_at":
		return 1 << 10, &m.ExpiresAt
	}
	return 0, nil
}

// tierValue decodes a memory's "tier": exactly "hot", "warm" or "cold".
type tierValue engram.Tier

func (t *tierValue) UnmarshalJSON(b []byte) error {
	if string(b) == "null" { // absent, as for every field
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New(`expected "hot", "warm" or "cold"`)
	}
	for _, x := range tier.Tiers {
		if s == x.String() {
			*t = tierValue(x)
			return nil
		}
	}
	return fmt.Errorf(`%s is not a tier ("hot", "warm" or "cold")`, quote(s))
}

// explain returns why a line that is not valid JSON cannot be decoded. It reads the line
// with json.Decoder token by token, so the error names the field it happened in and tells
// a line cut short (io.ErrUnexpectedEOF) from garbage after a complete object
// (ErrTrailingData). Errors about fields (unknown, repeated, wrong type) found before the
// syntax error are reported instead of it: they are just as true.
func explain(line []byte) error {
	err := explainJSON(line)
	var se *json.SyntaxError
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return truncatedError{}
	case errors.As(err, &se):
		if e := syntaxError(line); e != nil {
			return e // its column says where; the field it was in adds little
		}
	}
	return err
}

// explainJSON is explain before its syntax errors are put in words.
func explainJSON(line []byte) error {
	var m engram.Memory
	dec := json.NewDecoder(bytes.NewReader(line))
	tok, err := dec.Token()
	if err != nil {
		return truncated(err)
	}
	if tok != json.Delim('{') {
		return ErrNotObject
	}
	var seen uint16
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return truncated(err)
		}
		key, ok := tok.(string) // in key position Token yields a string or fails
		if !ok {
			return ErrNotObject
		}
		bit, target := field(&m, key)
		switch {
		case target == nil:
			return fmt.Errorf("%w %s", ErrUnknownField, quote(key))
		case seen&bit != 0:
			return fmt.Errorf("%w %s", ErrDuplicateField, quote(key))
		}
		seen |= bit
		if err := dec.Decode(target); err != nil {
			return fmt.Errorf("field %s: %w", quote(key), humanize(truncated(err)))
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return truncated(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return ErrTrailingData
	}
	// json.Valid and json.Decoder disagree; should never happen, but must not pass.
	return errors.New("invalid JSON")
}

// truncated turns the io.EOF encoding/json reports for a line that ends mid-object into
// io.ErrUnexpectedEOF: a bare io.EOF would read as "end of input" to a caller's errors.Is.
func truncated(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// quote renders a field name for an error message, shortened so that a forged
// megabyte-long key does not make a megabyte-long message.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return fmt.Sprintf("%q...", s[:cut])
	}
	return fmt.Sprintf("%q", s)
}

// checkSurrogates rejects \u escapes that encode half of a UTF-16 surrogate pair without
// the other half. It relies on the line being otherwise valid JSON for its answer to
// matter: outside strings a backslash is a syntax error the decoder reports anyway.
func checkSurrogates(line []byte) error {
	for i := 0; i < len(line); i++ {
		if line[i] != '\\' {
			continue
		}
		i++ // the escaped character; for "\\" this skips the second backslash
		if i >= len(line) || line[i] != 'u' {
			continue
		}
		r, ok := hex4(line[i+1:])
		if !ok {
			continue // a syntax error
		}
		i += 4
		if !utf16.IsSurrogate(r) {
			continue
		}
		if r < 0xDC00 && i+6 < len(line) && line[i+1] == '\\' && line[i+2] == 'u' {
			if lo, ok := hex4(line[i+3:]); ok && lo >= 0xDC00 && lo <= 0xDFFF {
				i += 6
				continue
			}
		}
		return fmt.Errorf("%w: lone surrogate escape \\u%04X", ErrInvalidUTF8, r)
	}
	return nil
}

// hex4 decodes the four hex digits at the start of b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
