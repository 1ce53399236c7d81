package jsonl

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"
)

// Errors in words. encoding/json reports "invalid character 'o' in literal null
// (expecting 'u')" for {"id": nope}, and "cannot unmarshal string into Go value of type
// float32" for an embedding of strings: true, but written for Go programmers and without
// a position. The Reader's errors say where (the column) and what was expected, in terms
// of the file, and still wrap encoding/json's errors for errors.As.

// SyntaxError is a line that is not valid JSON: where, and why in words. It wraps
// encoding/json's *json.SyntaxError.
type SyntaxError struct {
	// Column is where the problem is, counted in characters from 1 (as editors do).
	Column int
	// Msg says what is wrong, e.g. `nope is not a JSON value (text must be in double
	// quotes)`.
	Msg string
	Err *json.SyntaxError
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("column %d: %s", e.Column, e.Msg) }

// Unwrap returns encoding/json's error.
func (e *SyntaxError) Unwrap() error { return e.Err }

// syntaxError explains why line is not valid JSON, or returns nil if it is. The position
// comes from json.Unmarshal's validity scan, which counts the bytes up to and including
// the offending one (json.Decoder's offsets point at the token before it instead).
func syntaxError(line []byte) error {
	var se *json.SyntaxError
	if !errors.As(json.Unmarshal(line, &struct{}{}), &se) || se.Offset < 1 || se.Offset > int64(len(line)) {
		return nil
	}
	at := int(se.Offset) - 1
	c := line[at]
	msg := strings.TrimPrefix(se.Error(), "invalid character "+quoteChar(c)+" ")
	word := func() string { // the bare word around at, moving at to its start
		start, end := at, at+1
		for start > 0 && isWordByte(line[start-1]) {
			start--
		}
		for end < len(line) && isWordByte(line[end]) {
			end++
		}
		at = start
		return shorten(string(line[start:end]))
	}
	var why string
	switch {
	case c == '\'':
		why = "JSON strings need double quotes, not single quotes"
	case strings.HasPrefix(msg, "in literal"), strings.Contains(msg, "numeric literal"),
		msg == "looking for beginning of value" && isWordByte(c):
		why = word() + " is not a JSON value (a number, true, false, null, or text in double quotes)"
	case msg == "looking for beginning of value" && (c == ']' || c == '}'):
		why = fmt.Sprintf("a value is missing before %s (a comma too many?)", quoteChar(c))
	case msg == "looking for beginning of value":
		why = fmt.Sprintf("%s cannot start a JSON value", describeChar(c))
	case msg == "looking for beginning of object key string" && c == '}':
		why = "a field is missing before '}' (a comma too many?)"
	case msg == "looking for beginning of object key string":
		why = fmt.Sprintf("expected a field name in double quotes, found %s", describeChar(c))
	case msg == "after object key":
		why = fmt.Sprintf("expected ':' after the field name, found %s", describeChar(c))
	case msg == "after object key:value pair":
		why = fmt.Sprintf("expected ',' or '}' after a field's value, found %s", describeChar(c))
	case msg == "after array element":
		why = fmt.Sprintf("expected ',' or ']' after an array element, found %s", describeChar(c))
	case msg == "in string literal":
		why = fmt.Sprintf("a control character (%U) inside a string must be escaped (\\n, \\t, \\u0001)", rune(c))
	case msg == "in string escape code":
		why = fmt.Sprintf("\\%c is not an escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX are)", c)
	default:
		why = se.Error()
	}
	return &SyntaxError{Column: utf8.RuneCount(line[:at]) + 1, Msg: why, Err: se}
}

func isWordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '+' || c == '_'
}

func quoteChar(c byte) string {
	if c == '\'' {
		return `'\''`
	}
	if c == '"' {
		return `'"'`
	}
	return fmt.Sprintf("%q", rune(c))
}

// describeChar names the byte at a syntax error for a message.
func describeChar(c byte) string {
	switch {
	case c == '"':
		return `'"'`
	case c < 0x20 || c >= 0x7f:
		return fmt.Sprintf("the byte 0x%02X", c)
	}
	return fmt.Sprintf("'%c'", c)
}

// shorten cuts a word quoted in a message to a readable length.
func shorten(s string) string {
	if len(s) > 40 {
		cut := 40
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return s[:cut] + "..."
	}
	return s
}

// truncatedError is a line that ends inside its JSON object. It unwraps to
// io.ErrUnexpectedEOF.
type truncatedError struct{}

func (truncatedError) Error() string {
	return "the line ends inside its JSON object (cut short?)"
}
func (truncatedError) Unwrap() error { return io.ErrUnexpectedEOF }

// typeError is a value of the wrong type for its field, in words; it unwraps to
// encoding/json's *json.UnmarshalTypeError.
type typeError struct{ err *json.UnmarshalTypeError }

func (e typeError) Error() string {
	t := e.err.Type
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if num, ok := strings.CutPrefix(e.err.Value, "number "); ok {
		switch t.Kind() {
		case reflect.Float32:
			return num + " is beyond float32's range"
		case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			return fmt.Sprintf("%s is not a whole number from 0 to %d", num, uint64(1)<<t.Bits()-1)
		}
		return fmt.Sprintf("expected %s, found %s", typeWords(t), num)
	}
	return fmt.Sprintf("expected %s, found %s", typeWords(t), valueWords(e.err.Value))
}
func (e typeError) Unwrap() error { return e.err }

// timeError is a timestamp that is not RFC 3339; it unwraps to time's error.
type timeError struct{ err *time.ParseError }

func (e timeError) Error() string {
	return fmt.Sprintf("%q is not an RFC 3339 time (like \"2025-03-01T10:00:00Z\")", shorten(e.err.Value))
}
func (e timeError) Unwrap() error { return e.err }

// humanize words encoding/json's type and time errors; others pass unchanged.
func humanize(err error) error {
	var te *json.UnmarshalTypeError
	var pe *time.ParseError
	switch {
	case errors.As(err, &te) && te.Type != nil:
		return typeError{te}
	case errors.As(err, &pe):
		return timeError{pe}
	}
	return err
}

var (
	timeType = reflect.TypeFor[time.Time]()
)

// typeWords names what a Go type takes in JSON, with an article.
func typeWords(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return typeWords(t.Elem())
	case reflect.Slice, reflect.Array:
		return "an array of " + plural(t.Elem())
	case reflect.Map:
		return "an object whose values are " + plural(t.Elem())
	case reflect.Bool:
		return "true or false"
	}
	if t == timeType {
		return "a time as an RFC 3339 string"
	}
	return "a " + strings.TrimSuffix(plural(t), "s")
}

// plural names the JSON values of a Go type, in the plural.
func plural(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Float32, reflect.Float64:
		return "numbers"
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Int, reflect.Int64:
		return "whole numbers"
	case reflect.String:
		return "strings"
	}
	return t.String() + " values"
}

// valueWords names a JSON value as encoding/json's UnmarshalTypeError.Value describes it.
func valueWords(v string) string {
	switch v {
	case "string", "number", "array", "object":
		if v == "array" || v == "object" {
			return "an " + v
		}
		return "a " + v
	case "bool":
		return "true or false"
	}
	return v
}
