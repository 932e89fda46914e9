package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/ophooks"
)

// EnvLocalHooks names the environment variable read when --local-hooks is
// absent.
const EnvLocalHooks = "HERALD_LOCAL_HOOKS"

// DefaultLocalHooksDir is the local hooks directory under the caller's
// home when neither --local-hooks nor $HERALD_LOCAL_HOOKS is given; a
// missing one means no local hooks.
const DefaultLocalHooksDir = ".config/herald/call-hooks.d"

// DefaultLocalHookTimeout bounds each local hook.
const DefaultLocalHookTimeout = ophooks.DefaultTimeout

// DefaultHooksTimeout bounds --wait-hooks.
const DefaultHooksTimeout = 2 * time.Minute

const clientSideHelp = `On the caller's machine:

  Local hooks: the executables of --local-hooks DIR (else $` + EnvLocalHooks + `,
  else ~/` + DefaultLocalHooksDir + `, where a missing directory means none) run in
  name order, never through a shell, each under --local-hook-timeout, with
  argv METHOD PHASE and the call as JSON on stdin. A local pre hook that
  fails denies the call (exit 3) before the dispatcher is asked; the local
  post or err hooks run after COMMAND and their failures are printed.

  Confirmations: the question of a dispatcher's confirm: pre hook is asked
  on the terminal (/dev/tty); only yes lets the call run. Without a
  terminal the call is denied unless --yes. The answers are stored in a
  call.confirm audit event.

  --wait-hooks waits (up to --hooks-timeout) until the dispatcher's post or
  err hooks of the call have reported and prints one line each: hook,
  status, reason. The exit status stays COMMAND's.`

// clientSide are the flags of what a call does on the caller's machine
// besides COMMAND: its local hooks and waiting for the dispatcher's post
// and err hooks (confirm: questions need no flag but --yes).
type clientSide struct {
	localDir     string
	localDirSet  bool
	localTimeout time.Duration
	waitHooks    bool
	hooksTimeout time.Duration
}

func (c *clientSide) flags(fs *flag.FlagSet) {
	fs.Func("local-hooks", "run the call hooks of `DIR` on this machine (default $"+EnvLocalHooks+", then ~/"+DefaultLocalHooksDir+"; missing default: none)", func(s string) error {
		if s == "" {
			return errors.New("empty directory")
		}
		c.localDir, c.localDirSet = s, true
		return nil
	})
	fs.DurationVar(&c.localTimeout, "local-hook-timeout", DefaultLocalHookTimeout, "kill a local hook that runs longer than this `duration` (it then fails)")
	fs.BoolVar(&c.waitHooks, "wait-hooks", false, "wait until the dispatcher's post or err hooks of the call have reported, and print one line each")
	fs.DurationVar(&c.hooksTimeout, "hooks-timeout", DefaultHooksTimeout, "how long --wait-hooks waits")
}

func (c *clientSide) validate() error {
	if c.localTimeout <= 0 {
		return usageErrorf("--local-hook-timeout must be positive")
	}
	if c.hooksTimeout <= 0 {
		return usageErrorf("--hooks-timeout must be positive")
	}
	return nil
}

// localHooksDir is the directory of the local hooks and whether it was
// named on purpose (then it must exist: a typo must not skip the pre
// hooks); "" when there is none.
func (c *clientSide) localHooksDir() (dir string, named bool) {
	if c.localDirSet {
		return c.localDir, true
	}
	if d := os.Getenv(EnvLocalHooks); d != "" {
		return d, true
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return "", false
	}
	return filepath.Join(home, DefaultLocalHooksDir), false
}

// localPhase runs the local hooks of one phase: argv METHOD PHASE, the call
// JSON on stdin, its HERALD_* variables, in name order, each under
// --local-hook-timeout. A pre phase stops at the first failure.
func (c *clientSide) localPhase(ctx context.Context, cl call.Call, phase string) ([]ophooks.HookRun, error) {
	dir, named := c.localHooksDir()
	if dir == "" {
		return nil, nil
	}
	ev, err := cl.Event(phase)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	return ophooks.RunPhase(ctx, ophooks.Phase{
		Dir: dir, MissingDirOK: !named, Args: []string{cl.Method, phase}, Event: ev, Env: cl.Env(phase),
		State: phase, StopAtFailure: phase == call.PhasePre, Timeout: c.localTimeout, Host: host,
	})
}

// localPre runs the local pre hooks; one that fails denies the call
// (exit 3) before the dispatcher is asked.
func (c *callCmd) localPre(ctx context.Context, s stdio, cl call.Call) error {
	runs, err := c.client.localPhase(ctx, cl, call.PhasePre)
	if err != nil {
		fmt.Fprintf(s.errOut, "herald call: %s %s denied: local hooks: %v; the command did not run\n", cl.Method, cl.Job, err)
		return reported(&ExitStatus{Code: ExitCallDenied, Msg: "local hooks: " + err.Error()})
	}
	if n := len(runs); n > 0 && !runs[n-1].OK() {
		h := runs[n-1]
		fmt.Fprintf(s.errOut, "herald call: %s %s denied by the local pre hook %s (%s); the command did not run:\n  %s\n", cl.Method, cl.Job, h.Name, h.Status, hookReason(h))
		return reported(&ExitStatus{Code: ExitCallDenied, Msg: "denied by local pre hook " + h.Name})
	}
	return nil
}

// localAfter runs the local post or err hooks (cl.Phase) after COMMAND,
// whatever ctx says; their failures are printed and change no exit status.
func (c *callCmd) localAfter(ctx context.Context, s stdio, cl call.Call) {
	runs, err := c.client.localPhase(context.WithoutCancel(ctx), cl, cl.Phase)
	if err != nil {
		fmt.Fprintf(s.errOut, "herald call: local %s hooks not run: %v\n", cl.Phase, err)
	}
	for _, h := range runs {
		if !h.OK() {
			fmt.Fprintf(s.errOut, "herald call: local %s hook %s failed (%s): %s\n", cl.Phase, h.Name, h.Status, hookReason(h))
		}
	}
}

// hookReason is one line on why a local hook failed: its stdout, else
// what went wrong.
func hookReason(h ophooks.HookRun) string {
	r := strings.TrimSpace(h.Stdout)
	if r == "" && h.Err != nil {
		r = h.Err.Error()
	}
	if r == "" {
		r = "(no reason given)"
	}
	return strings.ReplaceAll(r, "\n", "\n    ")
}
