// Package handlers runs central handlers for agent outcomes in the
// dispatcher. A handler (one entry of a hook file's `handlers:` list)
// matches outcomes by watch glob, host glob and status and runs an exec or
// http action for every matching outcome, or once per event and watch when
// every live agent holding the watch has reported (when: all_reported).
//
// Delivery. Every dispatcher consumes the outcomes stream through one
// durable consumer (DefaultDurable), so each outcome is handled by one
// dispatcher. An outcome is acknowledged after every matching handler ran
// and the handlers' own outcomes are stored;
// a dispatcher that stops mid-run leaves it to be handled again, so
// handlers run at least once and should be idempotent. Outcomes are
// handled concurrently (Config.MaxConcurrent), not in stream order.
//
// Handler runs. The action gets the outcome JSON on stdin (the http kind
// POSTs it), the event's HERALD_* variables with HERALD_WATCH and
// HERALD_HOST of the outcome, and HERALD_HANDLER, HERALD_STATUS,
// HERALD_EXIT_CODE, HERALD_SIGNAL. A run never changes anything else: its
// failure is logged and, like every run, recorded as an outcome on
// herald.outcome.<dispatcher>.handler:<name>. Outcomes whose watch starts
// with "handler:" are never handled, so handlers cannot feed themselves.
//
// all_reported. The state of each aggregate lives in a JetStream
// key-value bucket shared by the dispatchers (see aggregate.go): outcomes
// of one event reach different dispatchers, and exactly one of them runs
// the handler. It gets Aggregate as JSON and HERALD_COMPLETE,
// HERALD_REPORTED and HERALD_COUNT_<STATUS>.
//
// The package knows the outcome and announcement formats and the action
// kinds; it does not know how hook files are found or reloaded (package
// hookfile loads them, package callhooks calls Engine.SetHandlers); the
// handlers: section itself, the Handler type and its validation, is package
// handlerspec's, which this package names as Handler, Match and the
// defaults. Nor does it know how the dispatcher runs NATS.
package handlers
