// Package embed holds what engram's embedders share: the error types an embedder returns so
// that the store can fail exactly the texts that failed, with the right retryability. The
// embedders themselves live in subpackages (hash, glove, openai, ollama); the interface they
// satisfy is engram.Embedder:
//
//	Embed(ctx context.Context, texts []string) ([][]float32, error)
//
// and, optionally, Dimension() int and Name() string (a stable name that changes whenever the
// vectors would: model, dimension, version), which a space records so that reopening it with a
// different embedder is refused.
//
// Contract of Embed: on success it returns one vector per text, in order, each of the same
// length. When some texts fail and others do not, it returns the vectors of the good ones
// (nil rows for the failed) and a TextErrors naming the failed positions. Any other error
// fails the whole call. Errors say whether a retry can succeed (an *Error with Retryable, or a
// context error, which the store reports as CANCELED / DEADLINE_EXCEEDED).
package embed

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Error is a failed embedding call, or the failure of one text.
type Error struct {
	// Embedder names the embedder ("hash", "glove", "openai", "ollama", ...).
	Embedder string
	// Status is the HTTP status of a remote embedder's answer, 0 when there was none.
	Status int
	// Retryable says whether repeating the same call may succeed: rate limits (HTTP 429),
	// server errors (5xx), timeouts and dropped connections are; a rejected text, a bad key or
	// a malformed answer are not.
	Retryable bool
	// RetryAfter is the server's hint (Retry-After) for a retryable failure, 0 when none.
	RetryAfter time.Duration
	// Msg is the human detail.
	Msg string
	// Err is the underlying cause, if any.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("embed")
	if e.Embedder != "" {
		b.WriteString(" ")
		b.WriteString(e.Embedder)
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Msg != "" {
		b.WriteString(": ")
		b.WriteString(e.Msg)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// TextErrors reports the texts of one Embed call that failed, by position; the call's
// vectors for every other position are valid.
type TextErrors map[int]error

func (t TextErrors) Error() string {
	pos := make([]int, 0, len(t))
	for i := range t {
		pos = append(pos, i)
	}
	sort.Ints(pos)
	var b strings.Builder
	fmt.Fprintf(&b, "embed: %d text(s) failed", len(pos))
	for n, i := range pos {
		if n == 3 {
			fmt.Fprintf(&b, "; and %d more", len(pos)-3)
			break
		}
		fmt.Fprintf(&b, "; text %d: %v", i, t[i])
	}
	return b.String()
}

// IsRetryable reports whether err is an embedding failure that a retry may fix: an *Error
// marked Retryable. Context errors are not (the caller's context ended).
func IsRetryable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Retryable
}

// RetryAfterOf returns the server's retry hint carried by err, 0 when none.
func RetryAfterOf(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}
