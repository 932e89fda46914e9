// Package agent is Herald's per-host agent: Twitcher's daemon, rebuilt on
// JetStream. It loads watch files (and reloads them when they change, as
// package watch's Tree says), holds one durable consumer for every event
// its watches select (package durable), hands each event to the runtime of
// every watch it matches (package watchrun: the run-mode policy, the
// action, the outcome; queue-mode events superseded before they ran are
// listed in the outcome of the run that replaced them). An event is
// acknowledged only once every watch it reached has decided it and
// JetStream has stored the outcomes, so nothing is lost when the agent
// stops or crashes, or the outcomes stream is briefly gone. Started with
// --accept-hooks, it also runs the call hooks the dispatcher sends it
// (run: agents) and answers how they ended. It records the process group
// of every run in its state dir (package runjournal), so that at the next
// start it kills what the runs of an agent that was killed left running.
//
// It does not know how a process is started (package actions), how run
// modes decide (package runmode), how a watch file is written (package
// watch) or how one watch's events become runs and outcomes (package
// watchrun).
package agent
