// Package handlers runs central handlers for agent outcomes in the
// dispatcher: each handler matches outcomes by watch, host and status and
// runs an exec (or http) action for every matching outcome, or once per
// event when every live agent holding the watch has reported
// (when: all_reported). It consumes the outcomes stream with one durable
// consumer shared by every dispatcher, so each outcome is handled once, and
// records each handler run as an outcome of its own. It knows the outcome
// and announcement formats and the action interface; it does not know how
// hook files are found, parsed or reloaded (package hooks does that and
// calls SetHandlers) nor how the dispatcher runs NATS.
package handlers
