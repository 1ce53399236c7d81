package jsonl

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/engram-go/engram"
	"github.com/engram-go/engram/internal/text"
)

// Writer encodes memories as JSON Lines, byte for byte as json.Encoder with its default
// settings writes an engram.Memory (which is what `engram synth` does): one object per
// line, fields in struct order, empty optional fields omitted, "<", ">" and "&" escaped.
// After WriteHeader it writes the lossless form: the header line first, and each memory
// with its "tier" as the last field.
//
// Output is buffered: call Flush when done. A Writer is not safe for concurrent use.
type Writer struct {
	bw       *bufio.Writer
	enc      *json.Encoder
	lossless bool // WriteHeader was called: memories carry their tier
	wrote    bool // a line was written
}

// record is a memory line of the lossless form: the memory's JSON fields, then its tier
// (engram.Memory's Tier is not part of its JSON form).
type record struct {
	engram.Memory
	Tier string `json:"tier"`
}

// NewWriter returns a Writer to w.
func NewWriter(w io.Writer) *Writer {
	bw := bufio.NewWriterSize(w, 64<<10)
	return &Writer{bw: bw, enc: json.NewEncoder(bw)}
}

// MemoryError is the error for a memory the Writer refused. Nothing of it was written, and
// the Writer can go on with the next memory.
type MemoryError struct {
	ID  string // the memory's ID
	Err error  // why: wraps ErrInvalidUTF8, or is encoding/json's error
}

func (e *MemoryError) Error() string { return fmt.Sprintf("jsonl: memory %q: %v", e.ID, e.Err) }

// Unwrap returns the cause.
func (e *MemoryError) Unwrap() error { return e.Err }

// Write appends m as one line. A memory JSON cannot carry faithfully is refused with a
// *MemoryError: strings that are not valid UTF-8 (ErrInvalidUTF8; encoding/json would
// silently replace the bad bytes with U+FFFD, changing the memory and maybe its ID), NaN
// or infinite numbers, and timestamps outside the years 0–9999. Any other error comes
// from the underlying writer; it repeats on every later call.
func (w *Writer) Write(m engram.Memory) error {
	if f := invalidUTF8(&m); f != "" {
		return &MemoryError{ID: m.ID, Err: fmt.Errorf("%w in %s", ErrInvalidUTF8, f)}
	}
	// json.Encoder marshals into its own buffer first, so a value it refuses leaves
	// nothing half-written in the output.
	var err error
	if w.lossless {
		if !m.Tier.Valid() {
			return &MemoryError{ID: m.ID, Err: fmt.Errorf("%v is not a tier", m.Tier)}
		}
		err = w.enc.Encode(record{m, m.Tier.String()})
	} else {
		err = w.enc.Encode(m)
	}
	w.wrote = true
	var unsupported *json.UnsupportedValueError
	var marshaler *json.MarshalerError
	if errors.As(err, &unsupported) || errors.As(err, &marshaler) {
		return &MemoryError{ID: m.ID, Err: err}
	}
	return err
}

// WriteHeader writes h as the first line, in FormatVersion (whatever h.Version says), and
// switches the Writer to the lossless form: every memory written after it carries its
// tier. Call it before the first Write, at most once.
func (w *Writer) WriteHeader(h Header) error {
	if w.wrote || w.lossless {
		return errors.New("jsonl: WriteHeader after the first line")
	}
	line, err := encodeHeader(h)
	if err != nil {
		return err
	}
	w.lossless = true
	line = append(line, '\n')
	_, err = w.bw.Write(line)
	return err
}

// Flush writes any buffered lines to the underlying writer.
func (w *Writer) Flush() error { return w.bw.Flush() }

// invalidUTF8 names the first string field of m that is not valid UTF-8, or returns "".
func invalidUTF8(m *engram.Memory) string {
	if !utf8.ValidString(m.ID) {
		return "id"
	}
	return text.InvalidField(m.Content, m.Metadata, m.Tags)
}
