// Package fielderr holds the one error type of config validation: a bad
// field, its message and the sentinel of the package that validates
// (actions.ErrInvalidConfig, handlerspec.ErrInvalidHandler, ...), which
// errors.Is finds. It knows nothing of the configs themselves and imports
// nothing of Herald, so every package may use it; errors located by file
// and line are yamlfile.Error.
package fielderr

import (
	"errors"
	"fmt"
)

// Error is one bad field. Its text is "SENTINEL: FIELD: MSG".
type Error struct {
	Err   error  // the sentinel, returned by Unwrap
	Field string // e.g. argv, nats_listen, -scenarios
	Msg   string
}

// New is the field error for field with the message format, a... .
func New(sentinel error, field, format string, a ...any) *Error {
	return &Error{Err: sentinel, Field: field, Msg: fmt.Sprintf(format, a...)}
}

func (e *Error) Error() string { return e.Err.Error() + ": " + e.Field + ": " + e.Msg }

// Unwrap makes errors.Is(err, sentinel) hold.
func (e *Error) Unwrap() error { return e.Err }

// List collects the field errors of one validation that reports every bad
// field, not just the first.
type List struct {
	Sentinel error
	errs     []error
}

// Add records a field error (New with l.Sentinel).
func (l *List) Add(field, format string, a ...any) {
	l.errs = append(l.errs, New(l.Sentinel, field, format, a...))
}

// Err is the errors added, joined, or nil when there are none.
func (l *List) Err() error { return errors.Join(l.errs...) }
