package postgres

import (
	"errors"
	"fmt"
	"strings"

	"github.com/engram-go/engram"
)

// Code classifies why one row was not imported: one of the conversion codes below, or the
// name of the engram code the store rejected the memory with ("INVALID_EMBEDDING",
// "CONTENT_TOO_LARGE", ...). Codes are stable strings, written as-is in --errors files.
type Code string

const (
	// CodeBadValue: a column's value does not convert (an embedding array with a NULL or
	// more than one dimension, a metadata value that is not an object, an infinite
	// timestamp, a NaN confidence, ...).
	CodeBadValue Code = "BAD_VALUE"
	// CodeNullKey: the row's key is NULL, so it has no place in the keyset order that makes
	// an import resumable. Such rows are read once, after all the others, and reported.
	CodeNullKey Code = "NULL_KEY"
)

// RowError is one row that was not imported, with where and why. The import reports it
// (Import's OnRowError, the result's Errors) and goes on with the next row.
type RowError struct {
	// Key is the row's key column as text (PostgreSQL's text form), "" without a key.
	Key string `json:"key,omitempty"`
	// Row is the row's position in this run's stream of rows, from 1.
	Row int64 `json:"row"`
	// ID is the memory ID the row would have had, when known.
	ID string `json:"id,omitempty"`
	// Column is the source column at fault: the one that did not convert, or the one the
	// store's code points at (the embedding column for INVALID_EMBEDDING, ...). "" when no
	// single column is to blame.
	Column string `json:"column,omitempty"`
	Code   Code   `json:"code"`
	// Err is the detail: the conversion failure, or the store's *engram.Error (so
	// errors.Is(err, engram.ErrInvalidEmbedding) holds for store rejections).
	Err error `json:"-"`
}

func (e *RowError) Error() string {
	var b strings.Builder
	b.WriteString("postgres: row ")
	if e.Key != "" {
		fmt.Fprintf(&b, "key=%q", e.Key)
	} else {
		fmt.Fprintf(&b, "%d", e.Row)
	}
	if e.Column != "" {
		fmt.Fprintf(&b, " column %q", e.Column)
	}
	fmt.Fprintf(&b, ": %s", e.Code)
	if msg := e.Message(); msg != string(e.Code) {
		b.WriteString(": " + msg)
	}
	return b.String()
}

func (e *RowError) Unwrap() error { return e.Err }

// Message is the detail without the row's coordinates or code, for reports that print
// those apart (the CLI's --errors file).
func (e *RowError) Message() string {
	var ee *engram.Error
	if errors.As(e.Err, &ee) {
		if ee.Msg != "" {
			return ee.Msg
		}
		if ee.Err != nil {
			return ee.Err.Error()
		}
		return ee.Code.String()
	}
	if e.Err == nil {
		return string(e.Code)
	}
	return e.Err.Error()
}

// ColumnError is a mapping that cannot work, found before any row is read: a named column
// that the source does not have, or a column whose type cannot carry its field.
type ColumnError struct {
	Field  string // "id", "content", "embedding", ... (the Mapping field)
	Column string
	Type   string // the column's PostgreSQL type, when it has one
	Msg    string
}

func (e *ColumnError) Error() string {
	if e.Type != "" {
		return fmt.Sprintf("postgres: %s column %q (type %s): %s", e.Field, e.Column, e.Type, e.Msg)
	}
	return fmt.Sprintf("postgres: %s column %q: %s", e.Field, e.Column, e.Msg)
}

// ErrNotUnique is returned (wrapped) when the key column holds the same value twice: a
// keyset walk would skip rows at page boundaries, so the import stops instead.
var ErrNotUnique = errors.New("key column is not unique")
