// Package callhooks is the dispatcher's engine for scheduler-call hooks, in
// the manner of Aurora's client hooks: it follows the hooks directory with
// the loader of package hookfile (hook files and the job opt-in files under
// jobs/), rescanning when they change and keeping a broken file's previous
// version (a file naming an unknown method is broken); it answers call.pre
// requests (NATS and POST /v1/calls/{method}/pre) by denying a method
// outside its list of known methods (call_methods) and otherwise running
// every matching pre hook, centrally or on agents (sending each agent an
// events/call.AgentRequest that names the hook, never what it runs: each
// agent runs its own call_hooks: entry), allowing the call only if all of
// them allow; the caller's identity is the pre subject's last token, and
// with RequireCaller (--auth) a call without one, or skipping hooks off the
// skip subject, is refused; it consumes call.post and call.err events and runs the matching
// post and err hooks for their effects, recording each run as an outcome;
// it records call.hooks_skipped audit events and publishes its own state
// for herald status.
//
// It hands the handlers: lists of the same files to the central outcome
// handlers (package handlers) without knowing how they run. It does not
// know how hook files are parsed (package hookfile), how the dispatcher
// runs NATS or HTTP beyond the source.Env and the ServeMux it is given, nor
// how the wrapped command runs (herald call).
package callhooks
