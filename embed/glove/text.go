package glove

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// maxLineBytes bounds one line of a text file: a 300-d vector at full precision is about
// 4 KB, so 1 MB is generous and still stops a binary file from being read as one line.
const maxLineBytes = 1 << 20

// ParseError is a malformed line of a GloVe text file. It matches ErrFormat.
type ParseError struct {
	Line int    // 1-based line number
	Word string // the line's word, when it got that far
	Msg  string
}

func (e *ParseError) Error() string {
	if e.Word != "" {
		return fmt.Sprintf("glove: line %d (%q): %s", e.Line, e.Word, e.Msg)
	}
	return fmt.Sprintf("glove: line %d: %s", e.Line, e.Msg)
}

// Is makes errors.Is(err, ErrFormat) true.
func (e *ParseError) Is(target error) bool { return target == ErrFormat }

// ReadText reads word vectors in GloVe's text format, one word per line followed by its
// components, separated by single spaces, most frequent word first (as Stanford
// distributes them; the order is the frequency the model derives its weights from):
//
//	the 0.418 0.24968 -0.41242 ...
//
// The first line fixes the dimension. A word2vec-style header line ("400000 100") is
// accepted and checked against the file. Words may contain spaces (glove.840B has a few):
// the last Dim fields are the vector, the rest the word. Blank lines and a trailing '\r'
// are ignored; a later duplicate of a word is skipped (the first, more frequent one wins).
//
// A line with fewer or more numbers than the first (mixed dimensions), a number that does
// not parse or is not finite, or a line longer than 1 MB fails the read with a *ParseError
// naming the line.
func ReadText(r io.Reader) (*Vectors, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLineBytes)
	v := &Vectors{}
	seen := make(map[string]bool)
	headerCount := -1
	line, vectorLines := 0, 0
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(text) == "" {
			continue
		}
		fields := strings.Split(strings.TrimRight(text, " "), " ")
		if v.Dim == 0 && headerCount < 0 && len(v.Words) == 0 && len(fields) == 2 {
			if n, d, ok := header(fields); ok {
				headerCount, v.Dim = n, d
				continue
			}
		}
		if v.Dim == 0 {
			v.Dim = len(fields) - 1
			if v.Dim < 1 {
				return nil, &ParseError{Line: line, Msg: "a word without numbers"}
			}
		}
		word, err := parseLine(fields, v.Dim, line, &v.Data)
		if err != nil {
			return nil, err
		}
		vectorLines++
		if seen[word] {
			v.Data = v.Data[:len(v.Data)-v.Dim]
			continue
		}
		seen[word] = true
		v.Words = append(v.Words, word)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, &ParseError{Line: line + 1, Msg: fmt.Sprintf("line longer than %d bytes (not a GloVe text file?)", maxLineBytes)}
		}
		return nil, fmt.Errorf("glove: read: %w", err)
	}
	if len(v.Words) == 0 {
		return nil, fmt.Errorf("%w: no word vectors in the input", ErrFormat)
	}
	if headerCount >= 0 && headerCount != vectorLines {
		return nil, &ParseError{Line: 1, Msg: fmt.Sprintf("header announces %d words, the file has %d", headerCount, vectorLines)}
	}
	return v, nil
}

// header recognizes a word2vec-style "count dim" first line.
func header(fields []string) (count, dim int, ok bool) {
	n, err1 := strconv.Atoi(fields[0])
	d, err2 := strconv.Atoi(fields[1])
	if err1 != nil || err2 != nil || n < 0 || d < 1 {
		return 0, 0, false
	}
	return n, d, true
}

// parseLine appends the line's vector to data and returns its word.
func parseLine(fields []string, dim, line int, data *[]float32) (string, error) {
	if len(fields) < dim+1 {
		word := fields[0]
		if len(fields) == 1 {
			return "", &ParseError{Line: line, Word: word, Msg: "a word without numbers"}
		}
		return "", &ParseError{Line: line, Word: word, Msg: fmt.Sprintf("%d numbers, want %d (mixed dimensions)", len(fields)-1, dim)}
	}
	nw := len(fields) - dim
	// Extra leading fields are part of the word (words with spaces) unless they are
	// numbers, which means the line has more components than the file's dimension.
	for _, f := range fields[1:nw] {
		if _, err := strconv.ParseFloat(f, 32); err == nil {
			return "", &ParseError{Line: line, Word: fields[0], Msg: fmt.Sprintf("%d numbers, want %d (mixed dimensions)", len(fields)-1, dim)}
		}
	}
	word := strings.Join(fields[:nw], " ")
	if word == "" {
		return "", &ParseError{Line: line, Msg: "empty word"}
	}
	for i, f := range fields[nw:] {
		x, err := strconv.ParseFloat(f, 32)
		switch {
		case errors.Is(err, strconv.ErrRange) && x != 0:
			return "", &ParseError{Line: line, Word: word, Msg: fmt.Sprintf("component %d: %s is beyond float32 (not finite)", i, f)}
		case err != nil && !errors.Is(err, strconv.ErrRange):
			return "", &ParseError{Line: line, Word: word, Msg: fmt.Sprintf("component %d: %q is not a number", i, f)}
		case math.IsNaN(x) || math.IsInf(x, 0):
			return "", &ParseError{Line: line, Word: word, Msg: fmt.Sprintf("component %d is %s (not finite)", i, f)}
		}
		*data = append(*data, float32(x))
	}
	return word, nil
}
