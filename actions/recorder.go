package actions

import "context"

// GroupRecorder is told about the process group of every run that Exec (and
// so HooksDir) starts, so that a caller can find what is left of a run after
// it died itself (the agent, killed with SIGKILL: Pdeathsig reaches only the
// leader, not "sleep 300 &" in its group).
type GroupRecorder interface {
	// GroupStarted is called once the leader (pid pgid) is running and
	// before it can be reaped. The returned func is called after the leader
	// was reaped and its group sent SIGKILL.
	GroupStarted(pgid int) (ended func())
}

type recorderKey struct{}

// WithGroupRecorder returns a context under which every Exec run reports
// its process group to r.
func WithGroupRecorder(ctx context.Context, r GroupRecorder) context.Context {
	return context.WithValue(ctx, recorderKey{}, r)
}

// groupStarted reports pgid to the context's GroupRecorder, if any, and
// returns what to call when the group is gone.
func groupStarted(ctx context.Context, pgid int) (ended func()) {
	if r, ok := ctx.Value(recorderKey{}).(GroupRecorder); ok && r != nil {
		if f := r.GroupStarted(pgid); f != nil {
			return f
		}
	}
	return func() {}
}
