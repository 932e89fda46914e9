// Package actions holds Herald's action kinds: what runs for one event on
// one host, and how that run ended. Each kind lives in its own file behind
// the small Action interface: exec.go (a program run directly, or a shell
// string the caller wraps as /bin/sh -c), hooksdir.go (every executable of a
// hooks.d directory, in name order, as TKLBAM ran them) and http.go (POST
// the event to a URL); Build (build.go) turns a Spec, the fields a watch, a
// call hook or a handler gives, into one of them. Around them: a run's HERALD_* environment (env.go),
// the user and group it switches to, which CheckIdentity also looks up when
// a config is loaded (cred.go), and the bounded tails of its output
// (tail.go). Beside them, RunForeground runs the COMMAND of herald call and
// herald op with the caller's stdio, with one shell-style exit status
// (foreground.go).
//
// The package knows nothing about NATS, watch files, run modes, retries or
// how outcomes are published: the caller decides when to run, how often and
// what to do with the Result. Event data and keys reach an action only
// through its environment, its stdin or a request body, never through argv
// or a shell command line.
package actions
