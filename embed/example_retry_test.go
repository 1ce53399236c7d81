package embed_test

import (
	"context"
	"fmt"
	"time"

	"github.com/engram-go/engram/embed"
)

// IsRetryable tells a caller whether repeating an embedding call may succeed: rate
// limits, server errors and dropped connections may; a rejected text, a bad key, or
// the caller's own context ending may not. It sees through wrapping.
func ExampleIsRetryable() {
	for _, err := range []error{
		&embed.Error{Embedder: "openai", Status: 429, Retryable: true, Msg: "rate limited"},
		fmt.Errorf("remember: %w", &embed.Error{Embedder: "ollama", Status: 503, Retryable: true}),
		&embed.Error{Embedder: "openai", Status: 401, Msg: "bad API key"},
		context.DeadlineExceeded,
		nil,
	} {
		fmt.Println(embed.IsRetryable(err))
	}
	// Output:
	// true
	// true
	// false
	// false
	// false
}

// RetryAfterOf extracts the server's Retry-After hint so a retry loop waits as long
// as the server asked instead of guessing; 0 means no hint (use your own backoff).
func ExampleRetryAfterOf() {
	err := fmt.Errorf("batch 3: %w", &embed.Error{
		Embedder: "openai", Status: 429, Retryable: true, RetryAfter: 1500 * time.Millisecond,
	})
	wait := embed.RetryAfterOf(err)
	if wait == 0 {
		wait = 100 * time.Millisecond // our own backoff
	}
	fmt.Println(wait)
	fmt.Println(embed.RetryAfterOf(&embed.Error{Embedder: "openai", Status: 500, Retryable: true}))
	// Output:
	// 1.5s
	// 0s
}
