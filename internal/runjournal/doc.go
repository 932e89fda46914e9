// Package runjournal holds the agent's journal of the process groups of
// its runs, STATE/runs.log: a line when a run's group starts and one when
// it is gone, under the boot it was written in. At start it kills what the
// runs of an agent that died (SIGKILL, OOM) left running, telling a
// leftover from a process that reused its pid by the start times in /proc.
//
// It knows process groups, /proc and its file; it does not know how runs
// are started (package actions records through its GroupRecorder), what a
// watch or an event is, or NATS.
package runjournal
