package embed

import (
	"errors"
	"fmt"
)

// ErrInvalidOption is matched (errors.Is) by every *OptionError: an embedder's constructor
// was given an option value it cannot work with. The store reports it as INVALID_OPTION.
var ErrInvalidOption = errors.New("embed: invalid option")

// OptionError is a constructor's refusal of one option value (a negative dimension, an
// empty model name, a base URL that is not http or https, ...). Constructors return it
// instead of panicking, and before any network traffic.
type OptionError struct {
	// Embedder names the embedder ("hash", "openai", "ollama", ...).
	Embedder string
	// Option names the option function, e.g. "WithDimension".
	Option string
	// Reason says what is wrong with the value.
	Reason string
}

func (e *OptionError) Error() string {
	return fmt.Sprintf("embed %s: invalid option %s: %s", e.Embedder, e.Option, e.Reason)
}

// Is makes errors.Is(err, ErrInvalidOption) true for every *OptionError.
func (e *OptionError) Is(target error) bool { return target == ErrInvalidOption }
