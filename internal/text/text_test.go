package text

import "testing"

func TestInvalidField(t *testing.T) {
	for _, c := range []struct {
		content string
		meta    map[string]string
		tags    []string
		want    string
	}{
		{"café", map[string]string{"k": "v"}, []string{"t"}, ""},
		{"", nil, nil, ""},
		{"caf\xe9", nil, nil, "content"},
		{"ok", map[string]string{"\xff": "v"}, nil, "metadata"},
		{"ok", map[string]string{"k": "\xed\xa0\x80"}, nil, "metadata"}, // an encoded surrogate
		{"ok", nil, []string{"fine", "\xc3"}, "tags"},
		{"\xff", map[string]string{"\xff": ""}, []string{"\xff"}, "content"}, // the first one found
	} {
		if got := InvalidField(c.content, c.meta, c.tags); got != c.want {
			t.Errorf("InvalidField(%q, %q, %q) = %q, want %q", c.content, c.meta, c.tags, got, c.want)
		}
	}
}
