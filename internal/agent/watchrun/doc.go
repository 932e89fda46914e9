// Package watchrun holds the runtime of one loaded watch in the agent: it
// offers each event to the watch's run-mode policy and carries out the
// decision, runs the action through its attempts and retries, folds the
// queue-mode events a newer one superseded into the outcome of the run
// that replaced them, stops the watch after a failed run (on_failure:
// stop), swaps in a changed version of the watch, and publishes the
// outcome of every decided event before letting it go.
//
// It gets from the agent only what Env holds: the host name, a logger,
// its metrics, a store for outcomes, a release for events and a starter
// for runs. It does not know how events are consumed or acknowledged, how
// watch files are found and reloaded, how outcomes reach JetStream, how a
// process is started (package actions) or how run modes decide (package
// runmode).
package watchrun
