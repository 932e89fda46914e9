// Package operation is the wire format of operation hooks (herald op): the
// op.pre, op.post and op.err event types and their JSON data, which other
// hosts' watches and the handlers read. It knows nothing about hooks.d
// directories or how an operation runs (package ophooks).
package operation

import "github.com/heraldhq/herald/events"

// Event types, one per state of an operation: "op." + the state.
const (
	TypePre  = "op.pre"
	TypePost = "op.post"
	TypeErr  = "op.err"
)

// HookData is one hook in an op.* event.
type HookData struct {
	Name       string        `json:"name"`
	Status     events.Status `json:"status"`
	ExitCode   *int          `json:"exit_code"` // null when it did not exit
	Signal     string        `json:"signal,omitempty"`
	DurationMS float64       `json:"duration_ms"`
}

// EventData is the JSON data of an op.pre, op.post or op.err event.
type EventData struct {
	Operation string   `json:"operation"`
	State     string   `json:"state"`
	Host      string   `json:"host"`
	Command   []string `json:"command"`
	// ExitCode is the command's exit code: null in op.pre and when it did
	// not exit (killed, not started, not run).
	ExitCode *int   `json:"exit_code"`
	Signal   string `json:"signal,omitempty"`
	// ExitStatus is the operation's exit status (post and err only).
	ExitStatus *int `json:"exit_status,omitempty"`
	// Error says why the command could not start.
	Error string `json:"error,omitempty"`
	// AbortedBy names the pre hook that aborted the operation.
	AbortedBy string `json:"aborted_by,omitempty"`
	// DurationMS: in op.pre, how long the pre hooks took; in op.post and
	// op.err, how long the command ran (0 when it did not).
	DurationMS float64    `json:"duration_ms"`
	Hooks      []HookData `json:"hooks"` // the hooks of this state that ran
}
