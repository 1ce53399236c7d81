package engram

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Code is a stable error code. Codes never change meaning or number once released; their
// names (Code.String) appear in every error message so logs can be grepped for them.
type Code uint16

// Error codes. See the README's table for when each is returned.
const (
	// CodeUnknown is never returned by engram; it is CodeOf's answer for foreign errors.
	CodeUnknown Code = iota
	CodeDimensionMismatch
	CodeInvalidEmbedding
	CodeInvalidConfidence
	CodeContentTooLarge
	CodeMetadataTooLarge
	CodeDuplicateID
	CodeInvalidID
	CodeSpaceNotFound
	CodeInvalidSpaceName
	CodeStorage
	CodeCanceled
	CodeDeadlineExceeded
	CodeClosed
	CodeBackpressure
	CodeInvalidQuery
	CodeLocked
	CodeReadOnly
	CodeNotFound
	CodeEmptyBatch
	CodeBatchTooLarge
	CodeCorrupt
	CodeInvalidOption
	CodeTooManySpaces
	CodeInvalidTimestamp
	CodeInvalidText
	numCodes
)

var codeNames = [numCodes]string{
	CodeUnknown:           "UNKNOWN",
	CodeDimensionMismatch: "DIMENSION_MISMATCH",
	CodeInvalidEmbedding:  "INVALID_EMBEDDING",
	CodeInvalidConfidence: "INVALID_CONFIDENCE",
	CodeContentTooLarge:   "CONTENT_TOO_LARGE",
	CodeMetadataTooLarge:  "METADATA_TOO_LARGE",
	CodeDuplicateID:       "DUPLICATE_ID",
	CodeInvalidID:         "INVALID_ID",
	CodeSpaceNotFound:     "SPACE_NOT_FOUND",
	CodeInvalidSpaceName:  "INVALID_SPACE_NAME",
	CodeStorage:           "STORAGE",
	CodeCanceled:          "CANCELED",
	CodeDeadlineExceeded:  "DEADLINE_EXCEEDED",
	CodeClosed:            "CLOSED",
	CodeBackpressure:      "BACKPRESSURE",
	CodeInvalidQuery:      "INVALID_QUERY",
	CodeLocked:            "LOCKED",
	CodeReadOnly:          "READ_ONLY",
	CodeNotFound:          "NOT_FOUND",
	CodeEmptyBatch:        "EMPTY_BATCH",
	CodeBatchTooLarge:     "BATCH_TOO_LARGE",
	CodeCorrupt:           "CORRUPT",
	CodeInvalidOption:     "INVALID_OPTION",
	CodeTooManySpaces:     "TOO_MANY_SPACES",
	CodeInvalidTimestamp:  "INVALID_TIMESTAMP",
	CodeInvalidText:       "INVALID_TEXT",
}

// String returns the code's stable upper-case name, e.g. "DIMENSION_MISMATCH".
func (c Code) String() string {
	if c < numCodes {
		return codeNames[c]
	}
	return fmt.Sprintf("CODE_%d", uint16(c))
}

// Retryable reports whether the same call may succeed if repeated unchanged: the failure
// was transient (storage, cancellation, a deadline, backpressure, a held lock), not a
// property of the input.
func (c Code) Retryable() bool {
	switch c {
	case CodeStorage, CodeCanceled, CodeDeadlineExceeded, CodeBackpressure, CodeLocked:
		return true
	}
	return false
}

// Error is the error type of every failure engram reports. Match it with errors.Is
// against the Err* sentinels (which compare codes) or errors.As to read its fields.
type Error struct {
	Code  Code
	Op    string // operation, e.g. "remember", "recall", "open"
	Space string // space name, when one is involved
	ID    string // memory ID, when one is involved
	Item  int    // position in a batch, or -1
	Msg   string // human detail
	Err   error  // underlying cause, if any

	// RetryAfter is a hint for CodeBackpressure: how long to wait before retrying.
	RetryAfter time.Duration
}

// Error formats as "engram: CODE: op space=s item=i id="x": msg: cause".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("engram: ")
	b.WriteString(e.Code.String())
	if e.Op != "" {
		b.WriteString(": ")
		b.WriteString(e.Op)
	}
	if e.Space != "" {
		fmt.Fprintf(&b, " space=%s", e.Space)
	}
	if e.Item >= 0 {
		fmt.Fprintf(&b, " item=%d", e.Item)
	}
	if e.ID != "" {
		fmt.Fprintf(&b, " id=%q", e.ID)
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

// Unwrap returns the underlying cause (context.Canceled for CodeCanceled, for instance).
func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrX) true for any *Error with ErrX's code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Op == "" && t.Msg == "" && t.Err == nil
}

// Retryable reports whether the operation may succeed if repeated unchanged.
func (e *Error) Retryable() bool { return e.Code.Retryable() }

// Sentinels, one per code, for errors.Is. They carry only a code; errors returned by engram
// carry the details.
var (
	ErrDimensionMismatch = &Error{Code: CodeDimensionMismatch, Item: -1}
	ErrInvalidEmbedding  = &Error{Code: CodeInvalidEmbedding, Item: -1}
	ErrInvalidConfidence = &Error{Code: CodeInvalidConfidence, Item: -1}
	ErrContentTooLarge   = &Error{Code: CodeContentTooLarge, Item: -1}
	ErrMetadataTooLarge  = &Error{Code: CodeMetadataTooLarge, Item: -1}
	ErrDuplicateID       = &Error{Code: CodeDuplicateID, Item: -1}
	ErrInvalidID         = &Error{Code: CodeInvalidID, Item: -1}
	ErrSpaceNotFound     = &Error{Code: CodeSpaceNotFound, Item: -1}
	ErrInvalidSpaceName  = &Error{Code: CodeInvalidSpaceName, Item: -1}
	ErrStorage           = &Error{Code: CodeStorage, Item: -1}
	ErrCanceled          = &Error{Code: CodeCanceled, Item: -1}
	ErrDeadlineExceeded  = &Error{Code: CodeDeadlineExceeded, Item: -1}
	ErrClosed            = &Error{Code: CodeClosed, Item: -1}
	ErrBackpressure      = &Error{Code: CodeBackpressure, Item: -1}
	ErrInvalidQuery      = &Error{Code: CodeInvalidQuery, Item: -1}
	ErrLocked            = &Error{Code: CodeLocked, Item: -1}
	ErrReadOnly          = &Error{Code: CodeReadOnly, Item: -1}
	ErrNotFound          = &Error{Code: CodeNotFound, Item: -1}
	ErrEmptyBatch        = &Error{Code: CodeEmptyBatch, Item: -1}
	ErrBatchTooLarge     = &Error{Code: CodeBatchTooLarge, Item: -1}
	ErrCorrupt           = &Error{Code: CodeCorrupt, Item: -1}
	ErrInvalidOption     = &Error{Code: CodeInvalidOption, Item: -1}
	ErrTooManySpaces     = &Error{Code: CodeTooManySpaces, Item: -1}
	ErrInvalidTimestamp  = &Error{Code: CodeInvalidTimestamp, Item: -1}
	ErrInvalidText       = &Error{Code: CodeInvalidText, Item: -1}
)

// CodeOf returns the code of err if it is (or wraps) an *Error, else CodeUnknown.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeUnknown
}

// IsRetryable reports whether err is an engram error whose code is retryable.
func IsRetryable(err error) bool { return CodeOf(err).Retryable() }

// newErr builds an error that is not about a batch item.
func newErr(code Code, op, space, msg string, cause error) *Error {
	return &Error{Code: code, Op: op, Space: space, Item: -1, Msg: msg, Err: cause}
}

// ctxErr converts a context's error into CANCELED or DEADLINE_EXCEEDED, keeping the cause
// so errors.Is(err, context.Canceled) also holds.
func ctxErr(op, space string, err error) *Error {
	code := CodeCanceled
	if errors.Is(err, context.DeadlineExceeded) {
		code = CodeDeadlineExceeded
	}
	return newErr(code, op, space, "", err)
}
