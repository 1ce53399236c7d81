package engram

import (
	"math"
	"strings"
	"testing"
	"time"
)

// TestFilterText: the text form of each constructor, and what ParseFilter makes of the
// shorthands (>, <, !=, in for tags, true, false, case-insensitive keywords, quoting).
func TestFilterText(t *testing.T) {
	for _, c := range []struct {
		f    Filter
		text string
	}{
		{Eq("cat", "news"), `cat = "news"`},
		{Eq("tag", "x"), `"tag" = "x"`},
		{Eq("a b", "c\"d"), `"a b" = "c\"d"`},
		{Eq("", ""), `"" = ""`},
		{In("cat", "a", "b"), `cat in ("a", "b")`},
		{HasTag("urgent"), `tag = "urgent"`},
		{Not(HasTag("urgent")), `tag != "urgent"`},
		{Not(Eq("cat", "news")), `cat != "news"`},
		{Range("score", 1, 2), `score between 1 and 2`},
		{Range("score", 1, math.Inf(1)), `score >= 1`},
		{Range("score", math.Inf(-1), 2), `score <= 2`},
		{Range("score", math.Inf(-1), math.Inf(1)), `score between -Inf and +Inf`},
		{Range("score", 1e-7, 1e21), `score between 1e-07 and 1e+21`},
		{CreatedBetween(day(0), day(1)), `created between "2024-01-01T00:00:00Z" and "2024-01-02T00:00:00Z"`},
		{CreatedBetween(day(0), time.Time{}), `created >= "2024-01-01T00:00:00Z"`},
		{CreatedBetween(time.Time{}, day(0).Add(time.Nanosecond)), `created <= "2024-01-01T00:00:00.000000001Z"`},
		{ContentContains(`say "hi"`), `content contains "say \"hi\""`},
		{And(), `true`},
		{Or(), `or()`},
		{And(Eq("a", "1"), Or(HasTag("x"), HasTag("y"))), `a = "1" and (tag = "x" or tag = "y")`},
		{Or(And(Eq("a", "1"), Eq("b", "2")), Eq("c", "3")), `(a = "1" and b = "2") or c = "3"`},
		{Not(And(Eq("a", "1"), Eq("b", "2"))), `not (a = "1" and b = "2")`},
		{Not(Not(Eq("a", "1"))), `not a != "1"`},
		{And(Or(Eq("a", "1"))), `a = "1"`},
		{FilterFunc(func(Memory) bool { return true }), `func`},
		{And(HasTag("a"), nil), `tag = "a" and nil`},
	} {
		if got := c.f.String(); got != c.text {
			t.Errorf("String() = %s, want %s", got, c.text)
		}
	}
	for _, c := range []struct{ in, want string }{
		{`cat = news`, `cat = "news"`},
		{`cat == news`, `cat = "news"`},
		{`CAT = News AND Tag = X`, `CAT = "News" and tag = "X"`},
		{`tag in (a, "b c")`, `tag = "a" or tag = "b c"`},
		{`score > 1`, `score >= 1.0000000000000002`},
		{`score < 1`, `score <= 0.9999999999999999`},
		{`score >= -inf`, `score between -Inf and +Inf`},
		{`created > 2024-01-01T00:00:00Z`, `created >= "2024-01-01T00:00:00.000000001Z"`},
		{`created < "2024-01-01T00:00:00+01:00"`, `created <= "2023-12-31T22:59:59.999999999Z"`},
		{`false`, `not true`},
		{`not false`, `not not true`},
		{`a = 1 or b = 2 and c = 3`, `a = "1" or (b = "2" and c = "3")`},
		{`(a = 1 or b = 2) and c = 3`, `(a = "1" or b = "2") and c = "3"`},
		{`not a = 1 and b = 2`, `a != "1" and b = "2"`},
		{"\tx.y:z/w@v+1-2 = 2024-01-01T00:00:00Z\n", `x.y:z/w@v+1-2 = "2024-01-01T00:00:00Z"`},
		{`content contains alpha`, `content contains "alpha"`},
		{`"created" = "in"`, `"created" = "in"`},
		{`k = and`, `k = "and"`},
	} {
		f, err := ParseFilter(c.in)
		if err != nil {
			t.Errorf("ParseFilter(%q): %v", c.in, err)
			continue
		}
		if f.String() != c.want {
			t.Errorf("ParseFilter(%q) = %s, want %s", c.in, f, c.want)
		}
	}
}

// TestParseFilterErrors: malformed text fails with INVALID_QUERY naming where.
func TestParseFilterErrors(t *testing.T) {
	for _, c := range []struct{ in, msg string }{
		{``, "at offset 0: expected a test"},
		{`cat`, "at offset 3: expected =, !=, in"},
		{`cat =`, "at offset 5: expected a value"},
		{`cat = news and`, "offset 14: expected a test"},
		{`cat = news news`, "offset 11: expected and, or or the end"},
		{`(cat = news`, `offset 11: expected ")"`},
		{`cat = "news`, "unterminated string"},
		{`cat = "\q"`, "bad string literal"},
		{`cat ! news`, "'!' is not an operator"},
		{`cat = news;`, "unexpected character ';'"},
		{`score > abc`, `"abc" is not a number`},
		{`score > NaN`, `"NaN" is not a number`},
		{`score between 1 2`, "expected and in between"},
		{`score between 2 and 1`, "lo > hi"},
		{`created >= yesterday`, "is not an RFC 3339 time"},
		{`created = 2024-01-01T00:00:00Z`, "expected between"},
		{`content = x`, "expected contains"},
		{`tag > x`, "expected =, != or in after tag"},
		{`cat in ()`, "expected a value"},
		{`cat in (a,)`, "expected a value"},
		{`and = x`, "expected a test"},
		{strings.Repeat("(", MaxFilterDepth+2) + "a = b" + strings.Repeat(")", MaxFilterDepth+2), "nested deeper"},
		{strings.Repeat("not ", MaxFilterDepth+2) + "a = b", "nested deeper"},
	} {
		_, err := ParseFilter(c.in)
		if CodeOf(err) != CodeInvalidQuery || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("ParseFilter(%q) = %v, want INVALID_QUERY with %q", c.in, err, c.msg)
		}
	}
}

// FuzzParseFilter: ParseFilter never panics; what it accepts compiles, and prints as text
// that parses back to the same text.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{
		`cat = news and (tag = urgent or priority >= 3) and not content contains "draft"`,
		`created between 2024-01-01T00:00:00Z and "2025-01-01T00:00:00.5+02:00"`,
		`"tag" in (a, "b\u00e9")`, `x between -Inf and +Inf`, `true or false`, `((a = b))`, `a != b`,
		`score > 0x1p-2`, `k = 1_000`, `not not not a = b`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := ParseFilter(s)
		if err != nil {
			if CodeOf(err) != CodeInvalidQuery {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		if _, err := compileFilter(flt, nil, nil); err != nil {
			t.Fatalf("%q parsed but does not compile: %v", s, err)
		}
		text := flt.String()
		back, err := ParseFilter(text)
		if err != nil {
			t.Fatalf("%q prints as %q, which does not parse: %v", s, text, err)
		}
		if back.String() != text {
			t.Fatalf("%q prints as %q, which prints as %q", s, text, back)
		}
	})
}
