package postgres

// Decoders of PostgreSQL's binary wire formats, for the types a memory's fields come from.
// pgx's pgtype does all of these generically; the hot ones are hand-decoded here because
// an import decodes a 384-element array per row a million times: pgtype's scan into
// []float32, with its per-element plans, takes about 5.3 µs a row, the loop below about
// 1.5 µs (BenchmarkDecodeFloat4Array in decode_test.go, on the shared 2-core machine).

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// pgEpoch is the origin of PostgreSQL's binary timestamps and dates.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// decodeFloatArray decodes a one-dimensional real[] (width 4) or double precision[]
// (width 8) without NULL elements. An empty array decodes to nil.
func decodeFloatArray(b []byte, width int) ([]float32, error) {
	if len(b) < 12 {
		return nil, fmt.Errorf("array of %d bytes is truncated", len(b))
	}
	ndim := int32(binary.BigEndian.Uint32(b))
	if ndim == 0 {
		return nil, nil
	}
	if ndim != 1 {
		return nil, fmt.Errorf("array has %d dimensions, want 1", ndim)
	}
	if len(b) < 20 {
		return nil, fmt.Errorf("array of %d bytes is truncated", len(b))
	}
	n := int(int32(binary.BigEndian.Uint32(b[12:])))
	p := b[20:]
	if n < 0 || len(p) != n*(4+width) {
		return nil, fmt.Errorf("array of %d elements has %d bytes of data (NULL elements are not allowed)", n, len(p))
	}
	if n == 0 {
		return nil, nil
	}
	out := make([]float32, n)
	for i := range out {
		if l := int32(binary.BigEndian.Uint32(p)); l != int32(width) {
			if l == -1 {
				return nil, fmt.Errorf("element %d is NULL", i+1)
			}
			return nil, fmt.Errorf("element %d has %d bytes", i+1, l)
		}
		if width == 4 {
			out[i] = math.Float32frombits(binary.BigEndian.Uint32(p[4:]))
		} else {
			out[i] = float32(math.Float64frombits(binary.BigEndian.Uint64(p[4:])))
		}
		p = p[4+width:]
	}
	return out, nil
}

// decodeVector decodes pgvector's binary vector (int16 dimension, int16 unused, float4s)
// or halfvec (the same with IEEE half floats) when half.
func decodeVector(b []byte, half bool) ([]float32, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("vector of %d bytes is truncated", len(b))
	}
	n := int(binary.BigEndian.Uint16(b))
	width := 4
	if half {
		width = 2
	}
	p := b[4:]
	if len(p) != n*width {
		return nil, fmt.Errorf("vector of dimension %d has %d bytes", n, len(p))
	}
	if n == 0 {
		return nil, nil
	}
	out := make([]float32, n)
	for i := range out {
		if half {
			out[i] = halfToFloat32(binary.BigEndian.Uint16(p[2*i:]))
		} else {
			out[i] = math.Float32frombits(binary.BigEndian.Uint32(p[4*i:]))
		}
	}
	return out, nil
}

// halfToFloat32 widens an IEEE 754 binary16 value.
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf, NaN
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	case exp != 0:
		return math.Float32frombits(sign | (exp+112)<<23 | frac<<13)
	case frac == 0:
		return math.Float32frombits(sign)
	}
	// Subnormal: normalize.
	e := uint32(113)
	for frac&0x400 == 0 {
		frac <<= 1
		e--
	}
	return math.Float32frombits(sign | e<<23 | (frac&0x3ff)<<13)
}

// decodeLEFloats reads bytea as little-endian float32s, the layout of a []float32 in
// memory on every platform Go targets but big-endian ones.
func decodeLEFloats(b []byte) ([]float32, error) {
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("bytea of %d bytes is not a whole number of float32s", len(b))
	}
	if len(b) == 0 {
		return nil, nil
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out, nil
}

// parseNumberArray parses a JSON array of numbers, which is also pgvector's text form
// ("[1,2.5,-3e-2]"). It is strict: no trailing comma, nothing after the closing bracket.
func parseNumberArray(b []byte) ([]float32, error) {
	p := skipSpace(b)
	if len(p) == 0 || p[0] != '[' {
		return nil, fmt.Errorf("not a JSON array of numbers: %s", clip(b))
	}
	p = skipSpace(p[1:])
	out := make([]float32, 0, 64)
	if len(p) > 0 && p[0] == ']' {
		p = p[1:]
	} else {
		for {
			end := 0
			for end < len(p) && (p[end] == '-' || p[end] == '+' || p[end] == '.' || p[end] == 'e' || p[end] == 'E' || (p[end] >= '0' && p[end] <= '9')) {
				end++
			}
			if end == 0 {
				return nil, fmt.Errorf("element %d is not a number: %s", len(out)+1, clip(p))
			}
			f, err := strconv.ParseFloat(string(p[:end]), 32)
			if err != nil {
				return nil, fmt.Errorf("element %d: %v", len(out)+1, err)
			}
			out = append(out, float32(f))
			p = skipSpace(p[end:])
			if len(p) == 0 {
				return nil, fmt.Errorf("array is not closed")
			}
			if p[0] == ']' {
				p = p[1:]
				break
			}
			if p[0] != ',' {
				return nil, fmt.Errorf("unexpected %q after element %d", p[0], len(out))
			}
			p = skipSpace(p[1:])
		}
	}
	if len(skipSpace(p)) != 0 {
		return nil, fmt.Errorf("text after the array: %s", clip(p))
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func skipSpace(p []byte) []byte {
	for len(p) > 0 && (p[0] == ' ' || p[0] == '\t' || p[0] == '\n' || p[0] == '\r') {
		p = p[1:]
	}
	return p
}

// clip shortens a value quoted in an error message.
func clip(b []byte) string {
	if len(b) > 40 {
		return strconv.Quote(string(b[:40])) + "..."
	}
	return strconv.Quote(string(b))
}

// jsonbText strips jsonb's binary-format version byte.
func jsonbText(b []byte) ([]byte, error) {
	if len(b) == 0 || b[0] != 1 {
		return nil, fmt.Errorf("unknown jsonb binary format version")
	}
	return b[1:], nil
}

// decodeJSONObject turns a JSON object into metadata: strings as they are, other values
// (numbers, booleans, nested objects and arrays) as their compact JSON text; null values
// are left out, as a NULL is an absent value.
func decodeJSONObject(b []byte) (map[string]string, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		if p := skipSpace(b); len(p) > 0 && p[0] != '{' {
			return nil, fmt.Errorf("metadata is a JSON %s, want an object", jsonKind(p[0]))
		}
		return nil, fmt.Errorf("metadata is not valid JSON: %v", err)
	}
	if raw == nil { // the JSON value null
		return nil, nil
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		switch v[0] {
		case 'n':
			continue
		case '"':
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, fmt.Errorf("metadata %q: %v", k, err)
			}
			out[k] = s
		default:
			var c bytes.Buffer
			if err := json.Compact(&c, v); err != nil {
				return nil, fmt.Errorf("metadata %q: %v", k, err)
			}
			out[k] = c.String()
		}
	}
	return out, nil
}

func jsonKind(c byte) string {
	switch c {
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// decodeJSONStrings reads tags from a JSON array of strings (null elements left out).
func decodeJSONStrings(b []byte) ([]string, error) {
	var raw []*string
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("tags are not a JSON array of strings: %v", err)
	}
	out := make([]string, 0, len(raw))
	for _, s := range raw {
		if s != nil {
			out = append(out, *s)
		}
	}
	return out, nil
}

// decodeHstore decodes hstore's binary form: int32 count, then per pair int32 key length,
// key, int32 value length (-1 for NULL), value. NULL values are left out.
func decodeHstore(b []byte) (map[string]string, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("hstore of %d bytes is truncated", len(b))
	}
	n := int(int32(binary.BigEndian.Uint32(b)))
	p := b[4:]
	if n < 0 || n > len(p)/8 {
		return nil, fmt.Errorf("hstore claims %d pairs in %d bytes", n, len(p))
	}
	out := make(map[string]string, n)
	for range n {
		k, rest, ok := lengthPrefixed(p)
		if !ok || k == nil {
			return nil, fmt.Errorf("hstore is truncated")
		}
		v, rest, ok := lengthPrefixed(rest)
		if !ok {
			return nil, fmt.Errorf("hstore is truncated")
		}
		p = rest
		if v != nil {
			out[string(k)] = string(v)
		}
	}
	return out, nil
}

// lengthPrefixed splits an int32-length-prefixed value (nil for length -1) off p.
func lengthPrefixed(p []byte) (v, rest []byte, ok bool) {
	if len(p) < 4 {
		return nil, nil, false
	}
	l := int(int32(binary.BigEndian.Uint32(p)))
	p = p[4:]
	if l == -1 {
		return nil, p, true
	}
	if l < 0 || l > len(p) {
		return nil, nil, false
	}
	return p[:l:l], p[l:], true
}

// decodeTextArray decodes a one-dimensional array of a text-like type (text, varchar,
// bpchar, name), leaving NULL elements out.
func decodeTextArray(b []byte) ([]string, error) {
	if len(b) < 12 {
		return nil, fmt.Errorf("array of %d bytes is truncated", len(b))
	}
	ndim := int32(binary.BigEndian.Uint32(b))
	if ndim == 0 {
		return nil, nil
	}
	if ndim != 1 {
		return nil, fmt.Errorf("array has %d dimensions, want 1", ndim)
	}
	if len(b) < 20 {
		return nil, fmt.Errorf("array is truncated")
	}
	n := int(int32(binary.BigEndian.Uint32(b[12:])))
	p := b[20:]
	if n < 0 || n > len(p)/4 {
		return nil, fmt.Errorf("array claims %d elements in %d bytes", n, len(p))
	}
	out := make([]string, 0, n)
	for range n {
		v, rest, ok := lengthPrefixed(p)
		if !ok {
			return nil, fmt.Errorf("array is truncated")
		}
		p = rest
		if v != nil {
			out = append(out, string(v))
		}
	}
	return out, nil
}

// decodeTimestamp decodes timestamptz and timestamp (microseconds since 2000-01-01; a
// timestamp without time zone is taken as UTC) and date (days since 2000-01-01).
func decodeTimestamp(b []byte, date bool) (time.Time, error) {
	if date {
		if len(b) != 4 {
			return time.Time{}, fmt.Errorf("date of %d bytes", len(b))
		}
		d := int32(binary.BigEndian.Uint32(b))
		if d == math.MaxInt32 || d == math.MinInt32 {
			return time.Time{}, fmt.Errorf("infinite date")
		}
		return pgEpoch.AddDate(0, 0, int(d)), nil
	}
	if len(b) != 8 {
		return time.Time{}, fmt.Errorf("timestamp of %d bytes", len(b))
	}
	us := int64(binary.BigEndian.Uint64(b))
	if us == math.MaxInt64 || us == math.MinInt64 {
		return time.Time{}, fmt.Errorf("infinite timestamp")
	}
	sec, rem := us/1e6, us%1e6
	return time.Unix(pgEpoch.Unix()+sec, rem*1e3).UTC(), nil
}

// decodeNumber decodes real, double precision and the integer types to a float.
func decodeNumber(b []byte, k kind) (float64, error) {
	switch {
	case k == kFloat4 && len(b) == 4:
		return float64(math.Float32frombits(binary.BigEndian.Uint32(b))), nil
	case k == kFloat8 && len(b) == 8:
		return math.Float64frombits(binary.BigEndian.Uint64(b)), nil
	case k == kInt2 && len(b) == 2:
		return float64(int16(binary.BigEndian.Uint16(b))), nil
	case k == kInt4 && len(b) == 4:
		return float64(int32(binary.BigEndian.Uint32(b))), nil
	case k == kInt8 && len(b) == 8:
		return float64(int64(binary.BigEndian.Uint64(b))), nil
	}
	return 0, fmt.Errorf("%d bytes for a number of kind %d", len(b), k)
}
