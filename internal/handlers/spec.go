package handlers

import "github.com/heraldhq/herald/internal/handlerspec"

// The handlers: section of hook files is package handlerspec's; these
// names let the engine and its callers keep speaking of handlers.Handler.
type (
	// Handler is one entry of a hook file's handlers: list.
	Handler = handlerspec.Handler
	// Match selects the outcomes a handler runs for.
	Match = handlerspec.Match
)

// Values of Handler.When and the defaults (see handlerspec).
const (
	WhenEach        = handlerspec.WhenEach
	WhenAllReported = handlerspec.WhenAllReported
	DefaultTimeout  = handlerspec.DefaultTimeout
	DefaultWait     = handlerspec.DefaultWait
	MaxWait         = handlerspec.MaxWait
)

// ErrInvalidHandler wraps every problem Handler.Validate finds.
var ErrInvalidHandler = handlerspec.ErrInvalidHandler
