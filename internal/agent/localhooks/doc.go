// Package localhooks is the agent's call_hooks: config section: the call
// hooks an agent runs when a dispatcher asks for one by name (a hook file's
// run: agents hook), each defined on the host itself (exec, env, workdir,
// user, group, timeout), decoded with errors naming the file's line and the
// field but never an env value, and the cap on how many run at once
// (Slots). A request names a hook; it never carries what runs.
//
// It knows nothing of NATS, of the dispatcher's hook files or of how an
// action starts a process (package actions does).
package localhooks
