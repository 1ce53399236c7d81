package embed_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/engram-go/engram/embed"
)

// What a caller does with an Embed call's error.
func ExampleTextErrors() {
	// Say an Embed call of three texts returned this:
	var err error = embed.TextErrors{
		1: &embed.Error{Embedder: "openai", Status: 400, Msg: "input too long"},
		2: &embed.Error{Embedder: "openai", Status: 503, Retryable: true, RetryAfter: 2 * time.Second, Msg: "overloaded"},
	}
	var failed embed.TextErrors
	if errors.As(err, &failed) {
		for _, i := range []int{0, 1, 2} {
			why, bad := failed[i]
			switch {
			case !bad:
				fmt.Printf("text %d: embedded\n", i)
			case embed.IsRetryable(why):
				fmt.Printf("text %d: retry in %v\n", i, embed.RetryAfterOf(why))
			default:
				fmt.Printf("text %d: give up: %v\n", i, why)
			}
		}
	}
	// Output:
	// text 0: embedded
	// text 1: give up: embed openai: HTTP 400: input too long
	// text 2: retry in 2s
}

func ExampleOptionError() {
	var err error = &embed.OptionError{Embedder: "hash", Option: "WithDimension", Reason: "dimension 0 is outside 1..65536"}
	fmt.Println(errors.Is(err, embed.ErrInvalidOption))
	fmt.Println(err)
	// Output:
	// true
	// embed hash: invalid option WithDimension: dimension 0 is outside 1..65536
}
