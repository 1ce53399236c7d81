package main

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"

	"github.com/engram-go/engram"
	"github.com/engram-go/engram/jsonl"
)

// The input of an import (and of a restore): gzip'ed or not, and, for JSON Lines, read up
// to its first memory before anything is created, so that the file's header and dimension
// decide what the import does.

// decompress returns r's data, gunzipped when it starts with gzip's magic bytes.
func decompress(r io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, err := br.Peek(2)
	if err != nil && err != io.EOF {
		return nil, err
	}
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, nil
	}
	return br, nil
}

// source is the decoded input: its header, the lines read before the import began (up to
// the first memory, to learn the dimension), and the reader for the rest.
type source struct {
	rd     *jsonl.Reader
	header *jsonl.Header
	ahead  []item // read before the import began
	first  *item  // the first memory, if any
}

// item is one line's outcome.
type item struct {
	m    engram.Memory
	err  error
	line int
}

// newSource reads the input's header and its lines up to the first memory. A bad header
// fails the import before anything is created.
func newSource(r io.Reader) (*source, error) {
	rd := jsonl.NewReader(r)
	h, err := rd.Header()
	if err != nil {
		return nil, err
	}
	s := &source{rd: rd, header: h}
	for {
		m, err := rd.Next()
		if err == io.EOF {
			return s, nil
		}
		s.ahead = append(s.ahead, item{m, err, rd.Line()})
		var le *jsonl.LineError
		if err == nil {
			s.first = &s.ahead[len(s.ahead)-1]
			return s, nil
		}
		if !errors.As(err, &le) {
			return s, nil // the input failed: reported by the import
		}
	}
}

// dim returns the file's dimension — the header's, else the first memory's — and where it
// comes from, or 0 when the file does not say.
func (s *source) dim() (int, string) {
	if s.header != nil && s.header.Settings.Dim > 0 {
		return s.header.Settings.Dim, "its header"
	}
	if s.first != nil {
		return len(s.first.m.Embedding), fmt.Sprintf("its first memory (line %d)", s.first.line)
	}
	return 0, ""
}

// items yields the lines read ahead, then the rest.
func (s *source) items(yield func(item) bool) {
	for _, it := range s.ahead {
		if !yield(it) {
			return
		}
	}
	for m, err := range s.rd.All() {
		if !yield(item{m, err, s.rd.Line()}) {
			return
		}
	}
}
