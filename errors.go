package engram

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
	"time"

	berrors "go.etcd.io/bbolt/errors"
)

// Code is a stable error code. Codes never change meaning or number once released; their
// names (Code.String) appear in every error message so logs can be grepped for them.
type Code uint16

// Error codes. Numbers are part of the API: new codes are appended, none is renumbered.
// The README's "Errors" table says the same with examples.
const (
	// CodeUnknown is never returned by engram; it is CodeOf's answer for foreign errors.
	CodeUnknown Code = iota
	// CodeDimensionMismatch: an embedding or cue whose length differs from the space's
	// dimension, or a WithDimension that disagrees with a stored space.
	CodeDimensionMismatch
	// CodeInvalidEmbedding: an empty embedding, a NaN or ±Inf component, a zero norm, or
	// more than Limits.MaxDimension components.
	CodeInvalidEmbedding
	// CodeInvalidConfidence: a confidence outside [0,1], or NaN.
	CodeInvalidConfidence
	// CodeContentTooLarge: content over Limits.MaxContentBytes.
	CodeContentTooLarge
	// CodeMetadataTooLarge: metadata and tags over Limits.MaxMetadataBytes or
	// Limits.MaxMetadataItems.
	CodeMetadataTooLarge
	// CodeDuplicateID: an ID repeated within one batch the caller formed (one
	// BatchRemember, Archive or Restore call, or one sub-batch of RememberAll; the first
	// valid occurrence is stored). Batchers and streams never form such a batch: a repeated
	// ID there is an upsert.
	CodeDuplicateID
	// CodeInvalidID: an empty ID where one is needed (Get, Forget, updates), one over
	// Limits.MaxIDBytes, invalid UTF-8, or control characters.
	CodeInvalidID
	// CodeSpaceNotFound: LookupSpace of an unknown space, or any call on a dropped space.
	CodeSpaceNotFound
	// CodeInvalidSpaceName: a space name that is not 1 to 64 of [a-z0-9_-], starting with
	// a letter or digit.
	CodeInvalidSpaceName
	// CodeStorage: the commit or another disk operation failed (a full disk, an I/O error);
	// the call left no trace. Retryable. (Failures that no retry can cure — a missing
	// directory, permission denied, a read-only file system — are CodeAccess.)
	CodeStorage
	// CodeCanceled: the call's ctx was canceled before its commit; it left no trace. Wraps
	// context.Canceled. Retryable.
	CodeCanceled
	// CodeDeadlineExceeded: the call's ctx deadline passed before its commit; it left no
	// trace. Wraps context.DeadlineExceeded. Retryable.
	CodeDeadlineExceeded
	// CodeClosed: a call on a closed Store (or a closed Batcher or Stream).
	CodeClosed
	// CodeBackpressure: a fail-fast stream's queue is full, or the hot tier is overloaded
	// under tier.FailFast. Error.RetryAfter says when to retry. Retryable.
	CodeBackpressure
	// CodeInvalidQuery: K out of range, a threshold outside its range or NaN, a negative or
	// huge Breadth, unknown tiers.
	CodeInvalidQuery
	// CodeLocked: another Store holds the file for writing (after WithLockTimeout).
	// Retryable.
	CodeLocked
	// CodeReadOnly: a write on a store opened WithReadOnly.
	CodeReadOnly
	// CodeNotFound: Get of an ID the space does not hold.
	CodeNotFound
	// CodeEmptyBatch: a batch call with no items.
	CodeEmptyBatch
	// CodeBatchTooLarge: a batch (remember, recall, forget, update) over Limits.MaxBatch.
	CodeBatchTooLarge
	// CodeCorrupt: the file is not an engram store, or a stored value fails its checksum
	// or structure check.
	CodeCorrupt
	// CodeInvalidOption: a bad option value, or a space option that disagrees with the
	// stored space.
	CodeInvalidOption
	// CodeTooManySpaces: creating a space beyond Limits.MaxSpaces.
	CodeTooManySpaces
	// CodeInvalidTimestamp: a CreatedAt outside the years 1678 to 2261 (what the record's
	// nanosecond clock holds).
	CodeInvalidTimestamp
	// CodeInvalidText: content, a metadata key or value, or a tag that is not valid UTF-8.
	CodeInvalidText
	// CodeEmbeddingFailed: the space's Embedder could not embed the item's text (or the
	// query's), or answered with an unusable vector. Retryable when the embedder says so
	// (a rate limit, a server error), with Error.RetryAfter its hint.
	CodeEmbeddingFailed
	// CodeAccess: the store's file cannot be used as things stand, and repeating the call
	// will not change that: the file or its directory does not exist (a read-only Open of
	// a missing file, a missing parent directory), permission is denied, the file system is
	// read-only, or the path is a directory or another file that is not a regular one. Not
	// retryable. Wraps the OS error, so errors.Is(err, fs.ErrNotExist) and errors.Is(err,
	// fs.ErrPermission) still answer.
	CodeAccess
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
	CodeEmbeddingFailed:   "EMBEDDING_FAILED",
	CodeAccess:            "ACCESS",
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
	Op    Op     // the operation that failed
	Space string // space name, when one is involved
	ID    string // memory ID, when one is involved
	Item  int    // position in a batch, or -1
	Msg   string // human detail
	Err   error  // underlying cause, if any

	// RetryAfter is a hint for CodeBackpressure: how long to wait before retrying.
	RetryAfter time.Duration

	sentinel bool      // one of the ErrX values: errors.Is matches it by code
	retry    retryHint // overrides the code's retryability, for codes that go either way
}

// retryHint overrides a code's retryability for one error.
type retryHint uint8

const (
	retryByCode retryHint = iota // Code.Retryable decides
	retryYes
	retryNo
)

// Error formats as "engram: CODE: op space=s item=i id="x": msg: cause".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("engram: ")
	b.WriteString(e.Code.String())
	if e.Op != opNone {
		b.WriteString(": ")
		b.WriteString(e.Op.String())
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
	return ok && t.sentinel && t.Code == e.Code
}

// Retryable reports whether the operation may succeed if repeated unchanged: the code's
// answer (Code.Retryable), except for errors whose cause decides (EMBEDDING_FAILED is
// retryable when the embedder said its failure was).
func (e *Error) Retryable() bool {
	switch e.retry {
	case retryYes:
		return true
	case retryNo:
		return false
	}
	return e.Code.Retryable()
}

// Sentinels, one per code, for errors.Is. They carry only a code; errors returned by engram
// carry the details.
var (
	ErrDimensionMismatch = &Error{Code: CodeDimensionMismatch, Op: opNone, Item: -1, sentinel: true}
	ErrInvalidEmbedding  = &Error{Code: CodeInvalidEmbedding, Op: opNone, Item: -1, sentinel: true}
	ErrInvalidConfidence = &Error{Code: CodeInvalidConfidence, Op: opNone, Item: -1, sentinel: true}
	ErrContentTooLarge   = &Error{Code: CodeContentTooLarge, Op: opNone, Item: -1, sentinel: true}
	ErrMetadataTooLarge  = &Error{Code: CodeMetadataTooLarge, Op: opNone, Item: -1, sentinel: true}
	ErrDuplicateID       = &Error{Code: CodeDuplicateID, Op: opNone, Item: -1, sentinel: true}
	ErrInvalidID         = &Error{Code: CodeInvalidID, Op: opNone, Item: -1, sentinel: true}
	ErrSpaceNotFound     = &Error{Code: CodeSpaceNotFound, Op: opNone, Item: -1, sentinel: true}
	ErrInvalidSpaceName  = &Error{Code: CodeInvalidSpaceName, Op: opNone, Item: -1, sentinel: true}
	ErrStorage           = &Error{Code: CodeStorage, Op: opNone, Item: -1, sentinel: true}
	ErrCanceled          = &Error{Code: CodeCanceled, Op: opNone, Item: -1, sentinel: true}
	ErrDeadlineExceeded  = &Error{Code: CodeDeadlineExceeded, Op: opNone, Item: -1, sentinel: true}
	ErrClosed            = &Error{Code: CodeClosed, Op: opNone, Item: -1, sentinel: true}
	ErrBackpressure      = &Error{Code: CodeBackpressure, Op: opNone, Item: -1, sentinel: true}
	ErrInvalidQuery      = &Error{Code: CodeInvalidQuery, Op: opNone, Item: -1, sentinel: true}
	ErrLocked            = &Error{Code: CodeLocked, Op: opNone, Item: -1, sentinel: true}
	ErrReadOnly          = &Error{Code: CodeReadOnly, Op: opNone, Item: -1, sentinel: true}
	ErrNotFound          = &Error{Code: CodeNotFound, Op: opNone, Item: -1, sentinel: true}
	ErrEmptyBatch        = &Error{Code: CodeEmptyBatch, Op: opNone, Item: -1, sentinel: true}
	ErrBatchTooLarge     = &Error{Code: CodeBatchTooLarge, Op: opNone, Item: -1, sentinel: true}
	ErrCorrupt           = &Error{Code: CodeCorrupt, Op: opNone, Item: -1, sentinel: true}
	ErrInvalidOption     = &Error{Code: CodeInvalidOption, Op: opNone, Item: -1, sentinel: true}
	ErrTooManySpaces     = &Error{Code: CodeTooManySpaces, Op: opNone, Item: -1, sentinel: true}
	ErrInvalidTimestamp  = &Error{Code: CodeInvalidTimestamp, Op: opNone, Item: -1, sentinel: true}
	ErrInvalidText       = &Error{Code: CodeInvalidText, Op: opNone, Item: -1, sentinel: true}
	ErrEmbeddingFailed   = &Error{Code: CodeEmbeddingFailed, Op: opNone, Item: -1, sentinel: true}
	ErrAccess            = &Error{Code: CodeAccess, Op: opNone, Item: -1, sentinel: true}
)

// CodeOf returns the code of err if it is (or wraps) an *Error, else CodeUnknown.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeUnknown
}

// IsRetryable reports whether err is an engram error that may not recur if the call is
// repeated unchanged (Error.Retryable).
func IsRetryable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Retryable()
}

// newErr builds an error that is not about a batch item.
func newErr(code Code, op Op, space, msg string, cause error) *Error {
	return &Error{Code: code, Op: op, Space: space, Item: -1, Msg: msg, Err: cause}
}

// ctxErr converts a context's error into CANCELED or DEADLINE_EXCEEDED, keeping the cause
// so errors.Is(err, context.Canceled) also holds.
func ctxErr(op Op, space string, err error) *Error {
	code := CodeCanceled
	if errors.Is(err, context.DeadlineExceeded) {
		code = CodeDeadlineExceeded
	}
	return newErr(code, op, space, "", err)
}

// openErr classifies a failure to open the file at path: held by another store (LOCKED),
// not a bbolt file or a damaged one (CORRUPT), a permanent OS condition (ACCESS), else
// STORAGE. The OS condition is tested before the file's validity, so a pre-flight read
// refused by the OS is reported as what it is, not as damage.
func openErr(path string, err error) error {
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return newErr(CodeLocked, OpOpen, "", fmt.Sprintf("%s is held by another store", path), err)
	case isAccessErr(err):
		return newErr(CodeAccess, OpOpen, "", "", err)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch),
		errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrInvalidMapping):
		return newErr(CodeCorrupt, OpOpen, "", path+" is not a valid store file", err)
	}
	return newErr(CodeStorage, OpOpen, "", path, err)
}

// errNotRegular is the cause of an Open of a path that is neither a regular file nor
// missing (a device, a socket, a pipe: opening a pipe would block until a writer came).
var errNotRegular = errors.New("not a regular file")

// isAccessErr reports whether err is an OS condition that repeating the call cannot cure:
// a missing file or directory, permission denied, a read-only file system, a directory
// where a file should be (CodeAccess). A full disk (ENOSPC) or an I/O error is not one: space
// can be freed, and I/O errors can be transient.
func isAccessErr(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) ||
		errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EISDIR) ||
		errors.Is(err, syscall.ENOTDIR) || errors.Is(err, errNotRegular)
}

// writeErr classifies the failure of a write request: its ctx ending before the commit,
// an engram error from inside the write, or a failed commit (STORAGE).
func writeErr(ctx context.Context, op Op, space string, err error) *Error {
	if ctxe := ctx.Err(); ctxe != nil && errors.Is(err, ctxe) {
		return ctxErr(op, space, err)
	}
	var e *Error
	if errors.As(storageErr(op, space, err), &e) {
		return e
	}
	return newErr(CodeStorage, op, space, "", err)
}

// storageErr wraps a transaction error: engram errors pass through (taking op and space
// when raised where neither was known, as inside bbolt), bbolt's become STORAGE (READ_ONLY
// for a read-only database).
func storageErr(op Op, space string, err error) error {
	var e *Error
	if errors.As(err, &e) {
		if e.Op == opNone || e.Space == "" {
			c := *e
			if c.Op == opNone {
				c.Op = op
			}
			if c.Space == "" {
				c.Space = space
			}
			return &c
		}
		return e
	}
	if errors.Is(err, berrors.ErrDatabaseReadOnly) || errors.Is(err, berrors.ErrTxNotWritable) {
		return newErr(CodeReadOnly, op, space, "", err)
	}
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return newErr(CodeClosed, op, space, "", err)
	}
	if isAccessErr(err) { // the file system was remounted read-only, say
		return newErr(CodeAccess, op, space, "", err)
	}
	return newErr(CodeStorage, op, space, "", err)
}

// recoverCorrupt turns a panic inside bbolt into a CORRUPT error. bbolt validates page
// headers with panics ("invalid page type", out-of-range page ids) rather than errors, and
// a damaged page id can send it outside the file's mapping (a memory fault, made a panic by
// debug.SetPanicOnFault for the transaction's goroutine). A damaged file must give the
// caller a clear error, not crash the process. bbolt's View and Update roll the transaction
// back in a deferred call, so no lock stays held.
func recoverCorrupt(err *error) {
	if r := recover(); r != nil {
		*err = newErr(CodeCorrupt, opNone, "", fmt.Sprintf("the store file is damaged (bbolt: %v)", r), nil)
	}
}
