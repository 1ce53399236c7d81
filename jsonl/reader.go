// Package jsonl reads and writes engram memories as JSON Lines: one engram.Memory JSON
// object per line, the format `engram synth` and `engram export` write and `engram import`
// reads. A line looks like
//
//	{"id":"mem-000000","content":"...","embedding":[0.1,-0.2],"confidence":0.9,"created_at":"2025-03-01T10:00:00Z","metadata":{"topic":"music"},"tags":["music"]}
//
// The fields are those of engram.Memory's JSON form — id, content, embedding, confidence,
// created_at, expires_at, last_access, access_count, metadata and tags — and tier ("hot",
// "warm" or "cold"), which the lossless form adds. BatchRemember ignores last_access,
// access_count and tier (the store maintains them); engram.Space.Restore keeps them.
// expires_at is kept by both (an imported memory expires when the exported one would
// have).
//
// # The lossless form
//
// An export meant to be imported back as it was (a backup of a space, a move to another
// store) starts with a header line, and each memory line ends with its tier:
//
//	{"engram_jsonl":1,"space":"notes","dim":384,"settings":{...}}
//	{"id":"a","content":"...","embedding":[...],"confidence":0.9,"created_at":"...","last_access":"...","access_count":3,"tier":"warm"}
//
// Header format version 1. The header is the first non-blank line, a JSON object whose
// member "engram_jsonl" is the format version (a positive integer). Its members:
//
//	engram_jsonl       1
//	space              the exported space's name
//	dim                the embedding dimension; 0 if the space had none fixed
//	settings.index     "auto", "flat" or "hnsw"
//	settings.hnsw      {"m", "ef_construction", "ef_search", "threshold"}: the graph's
//	                   parameters and the auto index's switch-over size, positive integers
//	settings.confidence_weight
//	                   confidence's weight in scores, 0 to 1
//	settings.tiering   absent without tiering; else {"hot_capacity" (> 0),
//	                   "high_watermark", "low_watermark" (fractions of the capacity),
//	                   "activation_half_life_seconds", "warm_idle_seconds" (0: never),
//	                   "promote" (a list of "recall" and "get"; [] for never),
//	                   "max_per_cycle", "batch_size", "backpressure" ("block" or
//	                   "fail-fast")}
//	settings.decay     absent without decay; else {"kind" ("exponential" or "power-law"),
//	                   "half_life_seconds", "scale_seconds", "exponent", "floor",
//	                   "recency_boost"}
//	settings.embedder  absent when none is recorded; else the name of the embedder that
//	                   made the vectors (informational: an import cannot attach it)
//
// Durations are whole seconds (0 to 2^32-1), as the store keeps them; the meanings are
// those of engram.SpaceSettings, tier.Policy and tier.Decay. Unknown members are refused:
// a new member or meaning is a new format version, and a reader refuses versions newer
// than its FormatVersion rather than misread them. Writer.WriteHeader writes the header
// (HeaderOf gives a space's); Reader.Header reads it. A file without a header is plain
// JSON Lines, read as ever.
//
// The Reader is meant for files from anywhere, so it is strict where encoding/json is
// lenient, and bounded: see Reader for the rules. It checks the format only; whether a
// memory is acceptable to a space (dimension, limits, finite non-zero embedding) is decided
// by the store, which reports it per item with an engram error code.
package jsonl

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"iter"

	"github.com/engram-go/engram"
)

// DefaultMaxLineBytes is the default bound on a line's length (8 MiB). It fits the largest
// memory the store accepts under its default limits even in its most expanded JSON form:
// 1 MiB of content that encoding/json escapes to six bytes per byte (\u003c for '<', ...)
// is 6 MiB, a 16,384-dimension embedding at up to 16 bytes per component 256 KiB, and
// 64 KiB of metadata, escaped the same way, 384 KiB.
const DefaultMaxLineBytes = 8 << 20

// Errors a *LineError wraps, for errors.Is. JSON syntax and type errors are wrapped as
// encoding/json returns them (*json.SyntaxError, *json.UnmarshalTypeError), and a line
// that ends inside its object wraps io.ErrUnexpectedEOF.
var (
	ErrLineTooLong    = errors.New("line too long")
	ErrInvalidUTF8    = errors.New("invalid UTF-8")
	ErrNotObject      = errors.New("not a JSON object")
	ErrUnknownField   = errors.New("unknown field")
	ErrDuplicateField = errors.New("duplicate field")
	ErrTrailingData   = errors.New("data after the JSON object")
	ErrNestedNull     = errors.New("null inside an array or object")
)

// LineError is the error for one bad line. Reading may continue after it: the next call
// to Reader.Next starts at the following line.
type LineError struct {
	Line int   // 1-based line number in the input
	Err  error // what is wrong with the line
}

func (e *LineError) Error() string {
	if se, ok := e.Err.(*SyntaxError); ok {
		return fmt.Sprintf("jsonl: line %d, column %d: %s", e.Line, se.Column, se.Msg)
	}
	return fmt.Sprintf("jsonl: line %d: %v", e.Line, e.Err)
}

// Unwrap returns the cause, so errors.Is(err, ErrLineTooLong) and friends work.
func (e *LineError) Unwrap() error { return e.Err }

// Option configures a Reader.
type Option func(*Reader)

// WithMaxLineBytes bounds the length of a line, its newline excluded (default
// DefaultMaxLineBytes; n <= 0 keeps the default). A longer line is skipped without being
// buffered and reported as a *LineError wrapping ErrLineTooLong.
func WithMaxLineBytes(n int) Option {
	return func(r *Reader) {
		if n > 0 {
			r.max = n
		}
	}
}

// Reader decodes memories from JSON Lines. Rules, stricter than encoding/json's:
//
//   - Each non-blank line is one JSON object; blank lines (only spaces, tabs and a
//     carriage return) are skipped but counted, so line numbers match an editor's. A
//     UTF-8 byte order mark at the start of the input is ignored.
//   - Field names must match exactly (encoding/json also accepts "ID" or "Content");
//     unknown fields and repeated fields are rejected (ErrUnknownField, ErrDuplicateField),
//     so a typo or a smuggled second "id" never passes silently.
//   - null means "absent" for a whole field, and is rejected inside one
//     (ErrNestedNull): encoding/json would turn [0.5,null] into [0.5,0], a different
//     embedding that still passes the store's checks.
//   - The line must be valid UTF-8 and its strings must not contain lone UTF-16 surrogate
//     escapes (ErrInvalidUTF8): encoding/json would silently turn both into U+FFFD, which
//     can merge distinct IDs.
//   - Numbers must fit their field: an embedding component beyond float32's range or a
//     negative or fractional access_count is a type error, not a rounded value.
//
// Errors say where and what, in the file's terms: a line that is not JSON gives a
// *SyntaxError with its column ("line 3, column 8: nope is not a JSON value"), a value of
// the wrong type names what was expected ("field "embedding": expected a number, found a
// string"), a line cut short wraps io.ErrUnexpectedEOF. encoding/json's own error values
// (*json.SyntaxError, *json.UnmarshalTypeError) stay reachable with errors.As.
//
// Memory use is bounded by the line limit: a line longer than it is discarded as it is
// read, and decoding one line allocates at most a small multiple of its length, whatever
// the input (under 40× in total for the worst forged shape, a long list of empty tags;
// under 2× for an ordinary line). Decoding never panics.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	br   *bufio.Reader
	max  int
	buf  []byte // the current line, reused
	line int    // lines read so far
	err  error  // sticky: io.EOF, the underlying reader's failure, or a bad header

	started bool    // the first non-blank line has been looked at (for a header)
	header  *Header // the input's header, nil if none
	// pending is the first non-blank line when it is not a header: read to look for one,
	// decoded by the next call of Next.
	pending        []byte
	hasPending     bool
	pendingTooLong bool
}

// NewReader returns a Reader decoding r.
func NewReader(r io.Reader, opts ...Option) *Reader {
	rd := &Reader{max: DefaultMaxLineBytes}
	for _, o := range opts {
		o(rd)
	}
	rd.br = bufio.NewReaderSize(r, min(64<<10, rd.max+1))
	return rd
}

// Line returns the number of the line Next last returned a memory or a *LineError for
// (blank lines skipped before it are counted), or of the header once Header read it; 0
// before the first call.
func (r *Reader) Line() int { return r.line }

// Header returns the input's header, or nil when it has none (plain JSON Lines). The
// header is the first non-blank line when that line is a JSON object with an
// "engram_jsonl" member; Header reads up to that line if Next has not, and Next never
// returns it as a memory. A header that cannot be used — not a valid header, or written in
// a newer FormatVersion — is returned as a *LineError wrapping ErrHeader, and ends
// reading: Next returns the same error from then on, since the memories of a file whose
// header is not understood cannot be placed as their export meant.
func (r *Reader) Header() (*Header, error) {
	r.start()
	if r.header == nil && errors.Is(r.err, ErrHeader) {
		return nil, r.err
	}
	return r.header, nil
}

// start reads up to the first non-blank line, once: a header is taken, any other line is
// kept for Next.
func (r *Reader) start() {
	if r.started {
		return
	}
	r.started = true
	for r.err == nil {
		line, tooLong, ok := r.read()
		if !ok {
			return
		}
		if tooLong {
			r.hasPending, r.pendingTooLong = true, true
			return
		}
		if len(bytes.Trim(line, " \t\r")) == 0 {
			continue
		}
		if isHeader(line) {
			h, err := parseHeader(line)
			if err != nil {
				r.err = &LineError{Line: r.line, Err: err}
				return
			}
			r.header = h
			return
		}
		r.pending, r.hasPending = line, true
		return
	}
}

// read reads the next line, counting it and dropping a byte order mark on the first; ok
// is false at the end of the input or on a failure of the underlying reader (then in
// r.err).
func (r *Reader) read() (line []byte, tooLong, ok bool) {
	line, tooLong, err := r.readLine()
	if err != nil {
		if err != io.EOF {
			err = fmt.Errorf("jsonl: reading line %d: %w", r.line+1, err)
		}
		r.err = err
		return nil, false, false
	}
	r.line++
	if r.line == 1 {
		line = bytes.TrimPrefix(line, []byte("\uFEFF"))
	}
	return line, tooLong, true
}

// Next returns the next memory. At the end of the input it returns io.EOF. For a bad line
// it returns a *LineError and the next call continues with the following line. Any other
// error — from the underlying reader, wrapped, or a bad header (see Header) — is final and
// every later call returns it again.
func (r *Reader) Next() (engram.Memory, error) {
	r.start()
	for {
		var line []byte
		var tooLong bool
		if r.hasPending { // the first line, read by start
			line, tooLong = r.pending, r.pendingTooLong
			r.pending, r.hasPending, r.pendingTooLong = nil, false, false
		} else {
			var ok bool
			if r.err != nil {
				return engram.Memory{}, r.err
			}
			if line, tooLong, ok = r.read(); !ok {
				return engram.Memory{}, r.err
			}
		}
		if tooLong {
			return engram.Memory{}, &LineError{Line: r.line, Err: fmt.Errorf("%w: more than %d bytes", ErrLineTooLong, r.max)}
		}
		if len(bytes.Trim(line, " \t\r")) == 0 {
			continue
		}
		m, err := decode(line)
		if err != nil {
			return engram.Memory{}, &LineError{Line: r.line, Err: err}
		}
		return m, nil
	}
}

// All iterates over the remaining memories. A bad line yields a zero Memory with its
// *LineError and iteration continues; an error of the underlying reader, or a bad header,
// is yielded last.
// The end of the input is not an error. Breaking out of the loop stops reading.
func (r *Reader) All() iter.Seq2[engram.Memory, error] {
	return func(yield func(engram.Memory, error) bool) {
		for {
			m, err := r.Next()
			if err == io.EOF {
				return
			}
			if !yield(m, err) {
				return
			}
			var le *LineError
			if err != nil && (!errors.As(err, &le) || errors.Is(err, ErrHeader)) {
				return
			}
		}
	}
}

// readLine returns the next line without its newline. A line longer than the limit is
// consumed up to its newline without being kept, and reported with tooLong. At the end of
// the input it returns io.EOF (after returning a last line that lacks a newline).
func (r *Reader) readLine() (line []byte, tooLong bool, err error) {
	r.buf = r.buf[:0]
	seen := false
	for {
		chunk, err := r.br.ReadSlice('\n')
		seen = seen || len(chunk) > 0
		n := len(chunk)
		if err == nil {
			n-- // the newline is not part of the line
		}
		if !tooLong && len(r.buf)+n > r.max {
			tooLong = true
			r.buf = r.buf[:0]
		}
		if !tooLong {
			r.buf = append(r.buf, chunk[:n]...)
		}
		switch err {
		case nil:
			return r.buf, tooLong, nil
		case bufio.ErrBufferFull:
			continue
		case io.EOF:
			if !seen {
				return nil, false, io.EOF
			}
			// The last line has no newline. Remember the end now rather than asking the
			// underlying reader again: not every reader keeps answering io.EOF.
			r.err = io.EOF
			return r.buf, tooLong, nil
		default:
			return nil, false, err
		}
	}
}
