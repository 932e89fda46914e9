package handlers

import (
	"github.com/heraldhq/herald/actions"
)

// Environment variables a handler run gets besides the actions' standard
// ones (HERALD_EVENT_ID, HERALD_EVENT_TYPE, HERALD_KEY, HERALD_VERSION,
// HERALD_WATCH, HERALD_HOST, ...). With the http kind they travel as
// Herald-* headers (HERALD_COUNT_OK becomes Herald-Count-Ok).
const (
	// EnvHandler is the handler's name.
	EnvHandler = "HERALD_HANDLER"
	// EnvStatus, EnvExitCode and EnvSignal describe the outcome
	// (per-outcome handlers); EnvExitCode and EnvSignal are set only when
	// the outcome has them.
	EnvStatus   = "HERALD_STATUS"
	EnvExitCode = "HERALD_EXIT_CODE"
	EnvSignal   = "HERALD_SIGNAL"
	// EnvComplete is "true" when every agent reported, "false" when the
	// wait passed first (all_reported handlers).
	EnvComplete = "HERALD_COMPLETE"
	// EnvReported is the number of hosts that reported (all_reported).
	EnvReported = "HERALD_REPORTED"
	// EnvCountPrefix + an upper-case status (HERALD_COUNT_OK,
	// HERALD_COUNT_FAILED, ...) is how many hosts reported that status;
	// every status is set, zeros included (all_reported).
	EnvCountPrefix = "HERALD_COUNT_"
)

// EventSource is the source attribute (HERALD_SOURCE) of the events handed
// to handler actions.
const EventSource = "herald/handlers"

// action builds the handler's action: exec (the handler's JSON on stdin)
// or http.
func action(h *Handler) (actions.Action, error) {
	if h.HTTP != "" {
		return actions.Build(actions.Spec{Kind: actions.KindHTTP, URL: h.HTTP, Timeout: h.RunTimeout()})
	}
	return actions.Build(actions.Spec{
		Kind:      actions.KindExec,
		Argv:      h.Exec.Args(),
		PipeStdin: true,
		Env:       h.Env,
		Workdir:   h.Workdir,
		User:      h.User,
		Group:     h.Group,
		Timeout:   h.RunTimeout(),
	})
}
