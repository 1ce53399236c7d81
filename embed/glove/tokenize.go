package glove

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Tokenization follows the words of the sets it serves. The wink set (like GloVe's
// Wikipedia + Gigaword vocabulary it derives from) is lower-case; its words are letters and
// digits joined by hyphens ("well-known", "mid-1990s", "h1n1", "e-mail"), with no
// apostrophes (GloVe's tokenizer split "don't" into "do" + "n't" and "john's" into
// "john" + "'s", and those clitics are not in the set), no bare numbers and no accented
// letters, plus single symbols ("$", "%", "&" among them). So:
//
//   - a token is a run of letters, digits and combining marks, joined by inner hyphens and
//     apostrophes (’ counts as '); it is lower-cased; other characters separate tokens;
//   - "$ % & € £ ¥" are tokens of their own (they carry meaning: "%" is "percent");
//   - a token the set lacks is retried in simpler forms: accents folded ("café" → "cafe");
//     clitics split off as GloVe did and expanded ("don't" → "do not", "can't" → "can not",
//     "we're" → "we are", "john's" → "john"); other apostrophes dropped ("o'brien" →
//     "obrien") or, failing that, split; hyphenated compounds the set lacks split into
//     their parts ("blue-green" → "blue", "green");
//   - whatever is still unknown is skipped.

// eachToken calls fn with each lower-cased token of text, in order. The token slice is
// only valid during the call: tokens are built in one reused buffer, so a text costs no
// allocation (a map lookup with string(tok) does not copy).
func eachToken(text string, fn func(tok []byte)) {
	var stack [64]byte
	b := stack[:0]
	flush := func() {
		for len(b) > 0 && (b[len(b)-1] == '-' || b[len(b)-1] == '\'') {
			b = b[:len(b)-1]
		}
		if len(b) > 0 {
			fn(b)
		}
		b = b[:0]
	}
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case 'a' <= c && c <= 'z' || '0' <= c && c <= '9':
				b = append(b, c)
			case 'A' <= c && c <= 'Z':
				b = append(b, c+'a'-'A')
			case c == '-' || c == '\'':
				// Inner connectors only: one at the start of a token is dropped.
				if len(b) > 0 {
					b = append(b, c)
				}
			case c == '$' || c == '%' || c == '&':
				flush()
				b = append(b, c)
				fn(b)
				b = b[:0]
			default:
				flush()
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		i += size
		switch {
		case r == '’' || r == '‘':
			if len(b) > 0 {
				b = append(b, '\'')
			}
		case r == '€' || r == '£' || r == '¥':
			flush()
			b = utf8.AppendRune(b, r)
			fn(b)
			b = b[:0]
		case unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r):
			b = utf8.AppendRune(b, unicode.ToLower(r))
		default: // punctuation, spaces, symbols and invalid UTF-8 (RuneError) separate
			flush()
		}
	}
	flush()
}

// clitics maps GloVe's split-off endings to the word they stand for ("" = dropped: the
// possessive or "is"/"has" of "'s" is ambiguous, and GloVe's "'s" token is not in the set).
var clitics = []struct{ suffix, word string }{
	{"n't", "not"}, {"'s", ""}, {"'re", "are"}, {"'ve", "have"}, {"'ll", "will"}, {"'d", "would"}, {"'m", "am"},
}

// irregular stems left by splitting "n't".
var negStems = map[string]string{"ca": "can", "wo": "will", "sha": "shall", "ai": "is"}

// lookup calls emit with the vocabulary row of tok, or of the simpler forms it stands for
// (see the tokenization notes above); unknown tokens emit nothing.
func (m *Model) lookup(tok []byte, emit func(row int32)) {
	if r, ok := m.index[string(tok)]; ok { // no allocation
		emit(r)
		return
	}
	m.resolve(string(tok), emit)
}

// resolve is lookup's slow path, for tokens not in the vocabulary as they are.
func (m *Model) resolve(tok string, emit func(row int32)) {
	if r, ok := m.index[tok]; ok {
		emit(r)
		return
	}
	if f := fold(tok); f != tok {
		m.resolve(f, emit)
		return
	}
	if strings.IndexByte(tok, '\'') >= 0 {
		for _, c := range clitics {
			if stem, ok := strings.CutSuffix(tok, c.suffix); ok && stem != "" {
				if c.suffix == "n't" {
					if s, ok := negStems[stem]; ok {
						stem = s
					}
				}
				m.resolve(stem, emit)
				if c.word != "" {
					m.resolve(c.word, emit)
				}
				return
			}
		}
		if r, ok := m.index[strings.ReplaceAll(tok, "'", "")]; ok {
			emit(r)
			return
		}
		for part := range strings.SplitSeq(tok, "'") {
			if part != "" {
				m.resolve(part, emit)
			}
		}
		return
	}
	if strings.IndexByte(tok, '-') >= 0 {
		for part := range strings.SplitSeq(tok, "-") {
			if part != "" {
				m.resolve(part, emit)
			}
		}
	}
}

// fold maps accented Latin letters to their base letter ("café" → "cafe", "straße" →
// "strasse") and drops combining marks; ASCII tokens come back unchanged without copying.
func fold(tok string) string {
	ascii := true
	for i := 0; i < len(tok); i++ {
		if tok[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return tok
	}
	var b strings.Builder
	for _, r := range tok {
		switch {
		case r < utf8.RuneSelf:
			b.WriteRune(r)
		case unicode.Is(unicode.Mn, r):
			// a combining accent: drop it
		default:
			if s, ok := latinFold[r]; ok {
				b.WriteString(s)
			} else {
				b.WriteRune(r)
			}
		}
	}
	return b.String()
}

// latinFold covers the lower-case letters of Latin-1 Supplement and Latin Extended-A
// (tokens are lower-cased before folding).
var latinFold = func() map[rune]string {
	m := make(map[rune]string)
	for base, letters := range map[string]string{
		"a": "àáâãäåāăą", "c": "çćĉċč", "d": "ďđ", "e": "èéêëēĕėęě", "g": "ĝğġģ", "h": "ĥħ",
		"i": "ìíîïĩīĭįı", "j": "ĵ", "k": "ķ", "l": "ĺļľŀł", "n": "ñńņňŉ", "o": "òóôõöøōŏő",
		"r": "ŕŗř", "s": "śŝşš", "t": "ţťŧ", "u": "ùúûüũūŭůűų", "w": "ŵ", "y": "ýÿŷ", "z": "źżž",
		"ss": "ß", "ae": "æ", "oe": "œ", "th": "þ", "dh": "ð",
	} {
		for _, r := range letters {
			m[r] = base
		}
	}
	return m
}()
