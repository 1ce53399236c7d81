package glove

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestReadText(t *testing.T) {
	in := "the 0.1 0.2 -0.3\r\n" +
		", 1e-1 2 3\n" +
		"\n" + // blank lines are skipped
		"new york 0.5 0.5 0.5\n" + // a word with a space (glove.840B has some)
		"the 9 9 9\n" + // a later duplicate is skipped
		"cat 1 0 0 \n" // trailing space
	v, err := ReadText(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if v.Dim != 3 || !slices.Equal(v.Words, []string{"the", ",", "new york", "cat"}) {
		t.Fatalf("dim %d words %q", v.Dim, v.Words)
	}
	if !slices.Equal(v.Data, []float32{0.1, 0.2, -0.3, 0.1, 2, 3, 0.5, 0.5, 0.5, 1, 0, 0}) {
		t.Fatalf("data %v", v.Data)
	}
	// word2vec-style header
	v, err = ReadText(strings.NewReader("2 2\nthe 1 2\ncat 3 4\n"))
	if err != nil || v.Dim != 2 || v.Len() != 2 {
		t.Fatalf("header: %v %v", v, err)
	}
	m, err := New(v)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(m.Name(), "glove-sif-v1:fnv64:") {
		t.Fatalf("name of a text set: %q", m.Name())
	}
}

func TestReadTextErrors(t *testing.T) {
	for name, c := range map[string]struct {
		in   string
		line int
		msg  string
	}{
		"fewer numbers":     {"a 1 2 3\nb 1 2\n", 2, "2 numbers, want 3 (mixed dimensions)"},
		"more numbers":      {"a 1 2\nb 1 2 3\n", 2, "3 numbers, want 2 (mixed dimensions)"},
		"not a number":      {"a 1 2\nb 1 x\n", 2, `component 1: "x" is not a number`},
		"NaN":               {"a 1 NaN\n", 1, "component 1 is NaN (not finite)"},
		"Inf":               {"a 1 2\nb -Inf 2\n", 2, "component 0 is -Inf (not finite)"},
		"beyond float32":    {"a 1 1e39\n", 1, "beyond float32"},
		"no numbers":        {"a\n", 1, "a word without numbers"},
		"no numbers later":  {"a 1 2\nb\n", 2, "a word without numbers"},
		"empty word":        {"a 1 2\n 1 2\n", 2, "empty word"},
		"header mismatch":   {"3 2\na 1 2\nb 1 2\n", 1, "header announces 3 words, the file has 2"},
		"header wrong dim":  {"2 3\na 1 2\nb 1 2\n", 2, "2 numbers, want 3"},
		"binary line":       {strings.Repeat("x", maxLineBytes+10), 1, "longer than"},
		"line after binary": {"a 1\n" + strings.Repeat("x", maxLineBytes+10), 2, "longer than"},
	} {
		_, err := ReadText(strings.NewReader(c.in))
		var pe *ParseError
		if !errors.As(err, &pe) || !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v, want a *ParseError matching ErrFormat", name, err)
			continue
		}
		if pe.Line != c.line || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %q (line %d), want line %d and %q", name, err, pe.Line, c.line, c.msg)
		}
	}
	for name, in := range map[string]string{"empty": "", "blank": "\n\n  \n"} {
		if _, err := ReadText(strings.NewReader(in)); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ReadText(errReader{}); err == nil || errors.Is(err, ErrFormat) {
		t.Errorf("read failure: %v", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestQuantizedRoundTrip(t *testing.T) {
	v := tinyVectors("alpha", "beta", "gamma", "zero")
	copy(v.Data[3*v.Dim:], make([]float32, v.Dim))
	v.VocabSize = 1000
	var buf bytes.Buffer
	if err := v.WriteQuantized(&buf); err != nil {
		t.Fatal(err)
	}
	q, err := ReadQuantized(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(q.Words, v.Words) || q.Dim != v.Dim || q.VocabSize != 1000 || q.Source != v.source()+"+int8" {
		t.Fatalf("header: %q %d %d %q", q.Words, q.Dim, q.VocabSize, q.Source)
	}
	for i := range v.Words {
		var m float64
		for _, x := range v.Vector(i) {
			m = max(m, math.Abs(float64(x)))
		}
		for j, x := range v.Vector(i) {
			if d := math.Abs(float64(q.Vector(i)[j] - x)); d > m/127/2+1e-6 {
				t.Fatalf("word %d component %d: %v vs %v (step %v)", i, j, q.Vector(i)[j], x, m/127)
			}
		}
	}
	// Damage anywhere is caught.
	good := buf.Bytes()
	for name, b := range map[string][]byte{
		"flipped bit": func() []byte { b := slices.Clone(good); b[40] ^= 4; return b }(),
		"truncated":   good[:len(good)-7],
		"bad magic":   append([]byte("XNGGLQ01"), good[8:]...),
		"empty":       nil,
	} {
		if _, err := ReadQuantized(bytes.NewReader(b)); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := (&Vectors{Dim: 1}).WriteQuantized(&buf); !errors.Is(err, ErrFormat) {
		t.Fatalf("invalid vectors written: %v", err)
	}
}

func TestTop(t *testing.T) {
	v := tinyVectors("a", "b", "c")
	top := v.Top(2)
	if top.Len() != 2 || top.VocabSize != 3 || !strings.HasSuffix(top.Source, "/top2") {
		t.Fatalf("%d %d %q", top.Len(), top.VocabSize, top.Source)
	}
	if v.Top(10) != v || v.Top(-1).Len() != 0 {
		t.Fatal("Top bounds")
	}
}

// The committed fixture is what the generator writes: the wink set's top words.
func TestFixtureShape(t *testing.T) {
	v := fixtureVectors(t)
	if v.Len() != fixtureWords || v.Dim != 100 || v.VocabSize != 341479 || v.Source != WinkSource+"/top20000+int8" {
		t.Fatalf("fixture: %d words, dim %d, vocab %d, source %q", v.Len(), v.Dim, v.VocabSize, v.Source)
	}
	if v.Words[0] != "the" || v.Words[1] != "," {
		t.Fatalf("fixture order: %q", v.Words[:2])
	}
}
