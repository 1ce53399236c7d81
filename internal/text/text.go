// Package text checks that a memory's strings are text (valid UTF-8). The store refuses
// other bytes on write (INVALID_TEXT) and the JSON Lines writer refuses to write them:
// JSON would silently replace them, changing the memory.
package text

import "unicode/utf8"

// InvalidField names the first of content, the metadata (keys and values) and the tags
// that is not valid UTF-8: "content", "metadata" or "tags"; "" when all are.
func InvalidField(content string, meta map[string]string, tags []string) string {
	if !utf8.ValidString(content) {
		return "content"
	}
	for k, v := range meta {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return "metadata"
		}
	}
	for _, t := range tags {
		if !utf8.ValidString(t) {
			return "tags"
		}
	}
	return ""
}
