package ophooks

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/heraldhq/herald/actions"
	"github.com/heraldhq/herald/events"
)

// Phase is one state's hooks of a hooks.d directory, run on their own by a
// caller that puts its own steps between them (herald call's local hooks:
// pre before the dispatcher is asked, post or err after COMMAND). Each
// hook runs as in an operation: in name order (actions.ListHooks), its
// own process group, never through a shell, under Timeout.
type Phase struct {
	// Dir is the hooks.d directory; relative paths are made absolute.
	Dir string
	// MissingDirOK makes a missing Dir mean "no hooks" (see
	// Config.MissingDirOK).
	MissingDirOK bool
	// Args follow the hook's path on its command line (herald call:
	// METHOD PHASE). They must not carry event data.
	Args []string
	// Event is what each hook gets: its data on stdin, its id, type and key
	// in HERALD_EVENT_ID, HERALD_EVENT_TYPE and HERALD_KEY.
	Event events.Event
	// Env adds HERALD_* variables to each hook's environment (as
	// actions.Request.Env; HERALD_HOOK is set to the hook's file name).
	Env map[string]string
	// State is recorded in each HookRun.
	State string
	// StopAtFailure stops at the first hook that fails (a pre phase); else
	// every hook runs.
	StopAtFailure bool
	// Timeout bounds each hook; 0 means DefaultTimeout. KillGrace: 0 means
	// actions.DefaultKillGrace.
	Timeout, KillGrace time.Duration
	// Host names this machine (HERALD_HOST).
	Host string
}

// RunPhase runs the hooks of p.Dir and returns how each ended, in order
// (with StopAtFailure, the failing one last). The error is for a directory
// that cannot be listed, or is missing without MissingDirOK; no hook ran
// then.
func RunPhase(ctx context.Context, p Phase) ([]HookRun, error) {
	dir, err := filepath.Abs(p.Dir)
	if err != nil {
		return nil, fmt.Errorf("hooks dir: %w", err)
	}
	hooks, err := actions.ListHooks(dir)
	if err != nil {
		if p.MissingDirOK && errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("hooks dir %s: %w", dir, err)
	}
	if p.Timeout == 0 {
		p.Timeout = DefaultTimeout
	}
	if p.KillGrace == 0 {
		p.KillGrace = actions.DefaultKillGrace
	}
	var runs []HookRun
	for _, h := range hooks {
		hr := runOne(ctx, h, hookSpec{
			argv: append([]string{h.Path}, p.Args...), pipeStdin: true,
			timeout: p.Timeout, killGrace: p.KillGrace, state: p.State,
			event: p.Event, host: p.Host, env: p.Env,
		})
		runs = append(runs, hr)
		if p.StopAtFailure && !hr.OK() {
			break
		}
	}
	return runs, nil
}

// hookSpec is one hook run, of an operation or a phase.
type hookSpec struct {
	argv               []string
	pipeStdin          bool
	timeout, killGrace time.Duration
	state              string
	event              events.Event
	host               string
	env                map[string]string // HERALD_HOOK is added
}

// runOne runs one hook and says how it ended.
func runOne(ctx context.Context, h actions.Hook, s hookSpec) HookRun {
	hr := HookRun{Name: h.Name, State: s.state}
	x, err := actions.NewExec(actions.ExecConfig{
		Argv:      s.argv,
		PipeStdin: s.pipeStdin,
		Timeout:   s.timeout,
		KillGrace: s.killGrace,
	})
	if err != nil {
		hr.Status, hr.Err = events.StatusError, err
		return hr
	}
	env := map[string]string{actions.EnvHook: h.Name}
	for k, v := range s.env {
		env[k] = v
	}
	res := x.Run(ctx, actions.Request{Event: s.event, Host: s.host, Attempt: 1, Env: env})
	hr.Status, hr.ExitCode, hr.Signal = res.Status, res.ExitCode, res.Signal
	hr.Duration, hr.Stdout, hr.Stderr = res.Duration, res.Stdout, res.Stderr
	hr.Err = actions.HookCause(res)
	return hr
}
