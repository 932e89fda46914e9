// Package agent is Herald's per-host agent: Twitcher's daemon, rebuilt on
// JetStream. It loads watch files (and reloads them when they change, as
// package watch's Tree says), follows every event its watches select
// without a consumer on the server (package feed: live on the stream's
// republish, read back with direct gets what the live path lost, its
// position in the state dir), hands each event to the runtime of every
// watch it matches (package watchrun: the run-mode policy, the action, the
// outcome; queue-mode events superseded before they ran are listed in the
// outcome of the run that replaced them). An event counts as decided in
// the feed's position only once every watch it reached has decided it and
// JetStream has stored the outcomes, so nothing is lost when the agent
// stops or crashes, or the outcomes stream is briefly gone. Started with
// --accept-hooks, it also runs the call hooks the dispatcher asks it for by
// name (run: agents), only as its own config's call_hooks: defines them and
// at most max_call_hooks at once (package localhooks), and answers how they
// ended. It records the process group
// of every run in its state dir (package runjournal), so that at the next
// start it kills what the runs of an agent that was killed left running.
//
// It does not know how a process is started (package actions), how events
// reach it (package feed), how run
// modes decide (package runmode), how a watch file is written (package
// watch) or how one watch's events become runs and outcomes (package
// watchrun).
package agent
