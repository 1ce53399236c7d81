package glove

import (
	"slices"
	"strings"
	"testing"
)

// tinyVectors is a hand-made vocabulary in "frequency order" with distinct random-ish
// vectors, for tests that need control over which words exist.
func tinyVectors(words ...string) *Vectors {
	const dim = 8
	v := &Vectors{Words: words, Dim: dim, Data: make([]float32, len(words)*dim)}
	for i := range words {
		for j := range dim {
			// deterministic, non-zero, not collinear
			v.Data[i*dim+j] = float32((i*7+j*13)%11) - 5 + float32(i+1)/10
		}
	}
	return v
}

func TestTokens(t *testing.T) {
	m, err := New(tinyVectors("the", "do", "not", "can", "will", "are", "we", "john", "car",
		"cafe", "well-known", "blue", "green", "obrien", "clock", "%", "$", "of", "mid-1990s",
		"h1n1", "strasse", "naive", "anti", "war", "e-mail", "rock", "roll", "it"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		in   string
		want string
	}{
		{"The CAR", "the car"},
		{"Don't", "do not"},
		{"don’t", "do not"},                 // typographic apostrophe
		{"can't won't", "can not will not"}, // irregular negation stems
		{"We're", "we are"},
		{"John's car", "john car"}, // possessive dropped
		{"it's", "it"},
		{"Café", "cafe"},                  // accent folded
		{"cafe\u0301", "cafe"},            // combining accent dropped
		{"Straße naïve", "strasse naive"}, // ß and diaeresis
		{"a well-known car", "well-known car"},
		{"blue-green", "blue green"}, // unknown compound split
		{"O'Brien", "obrien"},        // inner apostrophe joined
		{"o'clock", "clock"},         // joined unknown, so split
		{"50% of $5", "% of $"},      // symbols are tokens, bare numbers unknown
		{"mid-1990s H1N1", "mid-1990s h1n1"},
		{"anti-war", "anti war"},
		{"--the-- car--", "the car"}, // dashes as punctuation
		{"'the' \"car\"", "the car"}, // quotes
		{"E-mail, e-mail; email", "e-mail e-mail"},
		{"rock'n'roll", "rock roll"},
		{"the\tcar\nthe\u00a0car", "the car the car"},
		{"", ""},
		{"12345 !!! ???", ""},
		{"\xff\xfe the", "the"}, // invalid UTF-8 separates
	} {
		got := strings.Join(m.Tokens(c.in), " ")
		if got != c.want {
			t.Errorf("Tokens(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestEachTokenTrimsConnectors(t *testing.T) {
	var got []string
	eachToken("-lead trail- 'quote' it's-- ‘x’ 5€", func(tok []byte) { got = append(got, string(tok)) })
	if want := []string{"lead", "trail", "quote", "it's", "x", "5", "€"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestFoldLeavesASCIIAlone(t *testing.T) {
	if got := fold("plain"); got != "plain" {
		t.Fatal(got)
	}
	if got := fold("ærøskøbing"); got != "aeroskobing" {
		t.Fatalf("fold: %q", got)
	}
	if got := fold("北京"); got != "北京" {
		t.Fatalf("non-Latin changed: %q", got)
	}
}
