package actions

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/fielderr"
)

// KindHooksDir is the Kind of a HooksDir action.
const KindHooksDir = "hooksdir"

// EnvHook is set for every hook run from a hooks.d directory (by HooksDir
// and by herald op): the hook's file name.
const EnvHook = "HERALD_HOOK"

// ErrHookFailed is wrapped by Result.Err when a hook of a HooksDir run did
// not succeed; the message names the hook. The hook's own error (ErrTimeout,
// ErrStart, ...) is wrapped too.
var ErrHookFailed = errors.New("hook failed")

// Hook is one executable of a hooks.d directory.
type Hook struct {
	Name string // file name in the directory
	Path string // the directory joined with Name
}

// backupSuffixes mark copies left by editors and package managers. They
// usually keep the execute bit of the hook they copy, and running them
// would run an old version of a hook a second time.
var backupSuffixes = []string{
	"~", ".bak", ".orig", ".swp",
	".dpkg-old", ".dpkg-new", ".dpkg-dist", ".dpkg-tmp", ".dpkg-bak",
	".rpmsave", ".rpmnew", ".rpmorig",
	".ucf-old", ".ucf-new", ".ucf-dist",
}

// IsHookName reports whether a file called name may be a hook. Hidden
// files (a leading "."), Emacs autosaves (#name#) and backups (a name
// ending in "~", .bak, .orig, .swp, .dpkg-old, .dpkg-new, .dpkg-dist,
// .dpkg-tmp, .dpkg-bak, .rpmsave, .rpmnew, .rpmorig, .ucf-old, .ucf-new
// or .ucf-dist) are not. Every other name is, including names with spaces
// and shell metacharacters: hooks are executed directly, never through a
// shell.
func IsHookName(name string) bool {
	if name == "" || strings.HasPrefix(name, ".") {
		return false
	}
	if len(name) > 1 && strings.HasPrefix(name, "#") && strings.HasSuffix(name, "#") {
		return false
	}
	for _, s := range backupSuffixes {
		if strings.HasSuffix(name, s) {
			return false
		}
	}
	return true
}

// ListHooks returns the hooks of dir in the order they run: sorted by name
// in byte order (so "10-a" runs before "9-b": use fixed-width prefixes
// such as 10-, 20-). A hook is an entry with a hook name (see IsHookName)
// that is, or is a symbolic link to, a regular file with at least one
// execute bit set. Directories, other file types and non-executable files
// are skipped: removing the execute bit disables a hook. A symbolic link
// whose target is missing is listed anyway, so that running it fails
// loudly instead of the hook being skipped in silence. The directory is
// read anew at every call.
func ListHooks(dir string) ([]Hook, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list hooks: %w", err)
	}
	var hooks []Hook
	for _, e := range entries { // ReadDir sorts by name
		if !IsHookName(e.Name()) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		mode := e.Type()
		if mode&fs.ModeSymlink != 0 {
			fi, err := os.Stat(p)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				if _, lerr := os.Lstat(p); lerr == nil {
					hooks = append(hooks, Hook{Name: e.Name(), Path: p}) // dangling link
				}
				continue
			case err != nil:
				return nil, fmt.Errorf("list hooks: %w", err)
			}
			mode = fi.Mode()
		} else if mode.IsRegular() {
			fi, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed since ReadDir
			}
			if err != nil {
				return nil, fmt.Errorf("list hooks: %w", err)
			}
			mode = fi.Mode()
		}
		if mode.IsRegular() && mode.Perm()&0o111 != 0 {
			hooks = append(hooks, Hook{Name: e.Name(), Path: p})
		}
	}
	return hooks, nil
}

// HooksDirConfig configures a HooksDir action. Every field but Dir means
// what it means in ExecConfig and applies to each hook.
type HooksDirConfig struct {
	// Dir is the hooks.d directory, an absolute path. It is listed at every
	// run (see ListHooks), so hooks added or removed take effect at the
	// next run without a reload.
	Dir       string
	PipeStdin bool
	Env       map[string]string
	Workdir   string
	User      string
	Group     string
	// Timeout bounds each hook, not the whole run; 0 means none.
	Timeout   time.Duration
	KillGrace time.Duration
	// NotifySignal is sent to the hook running when Request.Notify
	// receives; 0 means none.
	NotifySignal syscall.Signal
}

// Validate checks the config; each error wraps ErrInvalidConfig and names
// the field.
func (c HooksDirConfig) Validate() error {
	var errs []error
	switch {
	case c.Dir == "":
		errs = append(errs, fielderr.New(ErrInvalidConfig, "dir", "is empty"))
	case strings.IndexByte(c.Dir, 0) >= 0:
		errs = append(errs, fielderr.New(ErrInvalidConfig, "dir", "contains a NUL byte"))
	case !filepath.IsAbs(c.Dir):
		errs = append(errs, fielderr.New(ErrInvalidConfig, "dir", "%q must be an absolute path", c.Dir))
	}
	if err := c.exec(Hook{Name: "hook", Path: "/hook"}, "").Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// exec is the ExecConfig of one hook run for an event of type typ.
func (c HooksDirConfig) exec(h Hook, typ string) ExecConfig {
	return ExecConfig{
		Argv:         []string{h.Path, typ},
		PipeStdin:    c.PipeStdin,
		Env:          c.Env,
		Workdir:      c.Workdir,
		User:         c.User,
		Group:        c.Group,
		Timeout:      c.Timeout,
		KillGrace:    c.KillGrace,
		NotifySignal: c.NotifySignal,
	}
}

// HooksDir runs the hooks of a directory, one after another in name order
// (see ListHooks), for each event. It is the agent's side of TKLBAM-style
// hooks.d: a watch with hooksdir: DIR instead of exec.
//
// Each hook runs as an Exec would (own process group, Timeout, SIGTERM
// then SIGKILL after KillGrace, user and group) with:
//   - argv: the hook's path and the event type (HERALD_EVENT_TYPE), nothing
//     else: event data and keys never reach the command line;
//   - stdin: the event data when PipeStdin is set, else /dev/null, for
//     every hook;
//   - the environment of an Exec run (HERALD_EVENT_ID and friends, Env,
//     Request.Env) plus HERALD_HOOK, the hook's file name.
//
// The first hook that does not succeed (non-zero exit, killed, timed out,
// could not start) stops the run, and the Result is that hook's: its
// status, exit code or signal, and Err wrapping ErrHookFailed and naming
// it. Stdout and Stderr hold the tails of the output of the hooks that
// ran, each hook's part headed by a line "==> NAME <==", so they end with
// the failing hook's. A directory with no hooks is a run that succeeds; a
// directory that cannot be read is status "error" (ErrStart).
type HooksDir struct {
	cfg HooksDirConfig
}

var _ Action = (*HooksDir)(nil)

// NewHooksDir validates cfg and returns the action. It keeps its own copy
// of Env.
func NewHooksDir(cfg HooksDirConfig) (*HooksDir, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Env = maps.Clone(cfg.Env)
	return &HooksDir{cfg: cfg}, nil
}

// Kind returns "hooksdir".
func (h *HooksDir) Kind() string { return KindHooksDir }

// Dir returns the hooks directory.
func (h *HooksDir) Dir() string { return h.cfg.Dir }

// Run lists the directory and runs its hooks in order until one fails. It
// returns when the last hook it started is reaped (see Exec.Run).
func (h *HooksDir) Run(ctx context.Context, req Request) Result {
	res := Result{Start: time.Now()}
	fail := func(err error) Result {
		res.Status = events.StatusError
		res.Err = fmt.Errorf("%w: %w", ErrStart, err)
		res.Duration = time.Since(res.Start)
		return res
	}
	if ctx.Err() != nil {
		return fail(context.Cause(ctx))
	}
	hooks, err := ListHooks(h.cfg.Dir)
	if err != nil {
		return fail(err)
	}
	stdout, stderr := NewTailBuffer(events.TailBytes), NewTailBuffer(events.TailBytes)
	res.Status = events.StatusOK
	for _, hk := range hooks {
		x, err := NewExec(h.cfg.exec(hk, req.Event.Type))
		if err != nil {
			return fail(fmt.Errorf("hook %q: %w", hk.Name, err))
		}
		hreq := req
		hreq.Env = maps.Clone(req.Env)
		if hreq.Env == nil {
			hreq.Env = map[string]string{}
		}
		hreq.Env[EnvHook] = hk.Name
		r := x.Run(ctx, hreq)
		if res.Started.IsZero() {
			res.Started = r.Started
		}
		section(stdout, hk.Name, r.Stdout)
		section(stderr, hk.Name, r.Stderr)
		if r.Status != events.StatusOK {
			res.Status, res.ExitCode, res.Signal = r.Status, r.ExitCode, r.Signal
			res.Err = fmt.Errorf("%w: %q: %w", ErrHookFailed, hk.Name, HookCause(r))
			break
		}
	}
	if res.Status == events.StatusOK && len(hooks) > 0 {
		zero := 0
		res.ExitCode = &zero
	}
	res.Stdout, res.Stderr = stdout.String(), stderr.String()
	res.Duration = time.Since(res.Start)
	return res
}

// section appends one hook's output, headed by its name, to a tail.
func section(t *TailBuffer, name, out string) {
	if out == "" {
		return
	}
	fmt.Fprintf(t, "==> %s <==\n%s", name, out)
	if !strings.HasSuffix(out, "\n") {
		t.Write([]byte{'\n'})
	}
}

// HookCause describes why a run did not succeed, for messages about a
// failed hook: its Err when set (wrapping ErrTimeout, ErrStart, ...),
// otherwise its exit status or the signal that killed it. It returns nil
// for a successful run.
func HookCause(r Result) error {
	switch {
	case r.Status == events.StatusOK:
		return nil
	case r.Err != nil:
		return r.Err
	case r.ExitCode != nil:
		return errors.New("exit status " + strconv.Itoa(*r.ExitCode))
	case r.Signal != "":
		return errors.New("killed by " + r.Signal)
	}
	return errors.New(string(r.Status))
}
