package watch

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"syscall"

	"github.com/heraldhq/herald/actions"
	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/rollout"
	"github.com/heraldhq/herald/internal/yamlfile"
	"gopkg.in/yaml.v3"
)

// ErrInvalid wraps every problem found in a watch file.
var ErrInvalid = errors.New("invalid watch file")

// FieldError is one problem, located by file, line and field (Field e.g.
// watches[0].run_mode).
type FieldError yamlfile.Error

func (e *FieldError) Error() string { return (*yamlfile.Error)(e).Error() }

func (e *FieldError) Unwrap() error { return ErrInvalid }

// IsWatchFile reports whether name is a file the agent loads: *.yaml or
// *.yml, not hidden.
func IsWatchFile(name string) bool {
	base := filepath.Base(name)
	if strings.HasPrefix(base, ".") {
		return false
	}
	ext := filepath.Ext(base)
	return ext == ".yaml" || ext == ".yml"
}

// ParseFile reads and parses one watch file. A file over
// yamlfile.MaxFileSize is a *FieldError.
func ParseFile(path string) (*File, error) {
	data, err := yamlfile.ReadFile(path)
	if err != nil {
		var ye *yamlfile.Error
		if errors.As(err, &ye) {
			return nil, (*FieldError)(ye)
		}
		return nil, fmt.Errorf("read watch file: %w", err)
	}
	return Parse(path, data)
}

var knownKeys = yamlfile.Keys(reflect.TypeFor[Watch]())

var knownRetryKeys = map[string]bool{"attempts": true, "backoff": true}

var knownRolloutKeys = yamlfile.Keys(reflect.TypeFor[Rollout]())

// Parse parses a watch file's content. Every problem is reported, joined,
// each as a *FieldError.
func Parse(path string, data []byte) (*File, error) {
	p := &yamlfile.Parser{Path: path, Wrap: func(e *yamlfile.Error) error { return (*FieldError)(e) }}
	root := p.Root(data, "a watches: list")
	if root == nil {
		if err := p.Err(); err != nil {
			return nil, err
		}
		return &File{Path: path}, nil
	}
	var list *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Value != "watches" {
			p.Fail(k.Line, k.Value, "unknown key (want watches)")
			continue
		}
		list = v
	}
	f := &File{Path: path}
	if list == nil {
		if err := p.Err(); err != nil {
			return nil, err
		}
		return f, nil
	}
	if list.Kind != yaml.SequenceNode {
		p.Fail(list.Line, "watches", "want a list")
		return nil, p.Err()
	}
	names := map[string]int{}
	for i, item := range list.Content {
		field := fmt.Sprintf("watches[%d]", i)
		if item.Kind != yaml.MappingNode {
			p.Fail(item.Line, field, "want a mapping")
			continue
		}
		w := &Watch{File: path, Line: item.Line, lines: map[string]int{}, rawOrder: i}
		bad, unknown := false, false
		for j := 0; j+1 < len(item.Content); j += 2 {
			k, v := item.Content[j], item.Content[j+1]
			w.lines[k.Value] = k.Line
			if !knownKeys[k.Value] {
				p.Fail(k.Line, field+"."+k.Value, "unknown field")
				unknown = true
				continue
			}
			if k.Value == "retry" && p.UnknownKeys(v, field+".retry.", knownRetryKeys, "unknown field (want attempts, backoff)") {
				unknown = true
			}
			if k.Value == "rollout" && p.UnknownKeys(v, field+".rollout.", knownRolloutKeys,
				"unknown field (want max_hosts, splay, canary, halt_after_failures, order, lease)") {
				unknown = true
			}
			if (k.Value == "retry" || k.Value == "rollout") && v.Kind == yaml.MappingNode {
				for n := 0; n+1 < len(v.Content); n += 2 {
					w.lines[k.Value+"."+v.Content[n].Value] = v.Content[n].Line
				}
			}
			// Decode field by field so a type error names its field.
			if !p.DecodeField(k, v, field+"."+k.Value, w) {
				bad = true
			}
		}
		if bad {
			continue
		}
		if _, given := w.lines["name"]; !given {
			w.Name = DefaultName(path, i, len(list.Content))
		}
		for _, fe := range w.validate() {
			fe.File = path
			fe.Field = field + "." + fe.Field
			if fe.Line == 0 {
				fe.Line = w.Line
			}
			p.Errs = append(p.Errs, fe)
		}
		if w.Name != "" {
			line := w.lines["name"]
			if line == 0 {
				line = w.Line // named after its file
			}
			if prev, dup := names[w.Name]; dup {
				p.Fail(line, field+".name", "duplicate watch name %q (also at line %d)", w.Name, prev)
			}
			names[w.Name] = line
		}
		if !unknown {
			f.Watches = append(f.Watches, w)
		}
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	return f, nil
}

// DefaultName is the name of a watch that has none: the stem of its file
// (the base name without .yaml or .yml) for a file's only watch, and
// stem-N for the N-th (1-based, counting every watch of the file) of
// several.
func DefaultName(path string, index, count int) string {
	base := filepath.Base(path)
	stem := strings.TrimSuffix(strings.TrimSuffix(base, ".yaml"), ".yml")
	if count == 1 {
		return stem
	}
	return fmt.Sprintf("%s-%d", stem, index+1)
}

// validate checks one watch's values; errors carry the field name and, where
// known, the line.
func (w *Watch) validate() []*FieldError {
	var errs []*FieldError
	bad := func(field, format string, a ...any) {
		errs = append(errs, &FieldError{Line: w.lines[field], Field: field, Msg: fmt.Sprintf(format, a...)})
	}
	if w.Name == "" {
		bad("name", "must not be empty (leave name out to name the watch after its file)")
	} else if strings.ContainsAny(w.Name, "\x00\n") {
		bad("name", "must be one line")
	}
	if w.On == "" {
		bad("on", "required (event:<type>, zk:/path or kv:BUCKET/KEY)")
	} else if sel, err := ParseSelector(w.On, w.Key); err != nil {
		field := "on"
		if strings.HasPrefix(err.Error(), "key:") {
			field = "key"
		}
		bad(field, "%v", err)
	} else if _, given := w.lines["types"]; given {
		if sel, err = sel.WithTypes(w.Types); err != nil {
			bad("types", "%v", err)
		} else {
			w.Source = sel
		}
	} else {
		w.Source = sel
	}
	switch {
	case w.Exec.IsZero() && w.HooksDir == "":
		bad("exec", "required (or hooksdir: a hooks.d directory to run instead)")
	case !w.Exec.IsZero() && w.HooksDir != "":
		bad("hooksdir", "exec and hooksdir are exclusive: give one of them")
	case len(w.Exec.Argv) > 0 && w.Exec.Argv[0] == "":
		bad("exec", "first element (the program) is empty")
	}
	if w.HooksDir != "" {
		if strings.IndexByte(w.HooksDir, 0) >= 0 {
			bad("hooksdir", "contains a NUL byte")
		} else if !filepath.IsAbs(w.HooksDir) {
			bad("hooksdir", "%q must be an absolute path", w.HooksDir)
		}
	}
	switch w.RunMode {
	case "":
		w.RunMode = ModeQueue
	case ModeQueue, ModeDiscard, ModeParallel:
	default:
		bad("run_mode", "%q: want queue, discard or parallel", w.RunMode)
	}
	_, givenMax := w.lines["max_parallel"]
	if w.MaxParallel < 0 {
		bad("max_parallel", "must be 0 (no cap) or more")
	} else if w.MaxParallel > 0 && w.RunMode != ModeParallel {
		bad("max_parallel", "only applies to run_mode: parallel")
	}
	if w.RunMode == ModeParallel && !givenMax {
		w.MaxParallel = DefaultMaxParallel // absent: 4; an explicit 0 is no cap
	}
	if w.NotifySignal != "" {
		if _, err := ParseSignal(w.NotifySignal); err != nil {
			bad("notify_signal", "%v", err)
		} else if w.RunMode != ModeQueue {
			bad("notify_signal", "only applies to run_mode: queue")
		}
	}
	if w.Timeout.D < 0 {
		bad("timeout", "must not be negative")
	}
	if w.KillGrace.D < 0 {
		bad("kill_grace", "must not be negative")
	}
	for k := range w.Env {
		if msg := actions.EnvNameProblem(k, "the agent"); msg != "" {
			bad("env", "%s", msg)
		}
	}
	if w.User != "" || w.Group != "" {
		// Looked up now, as a run would, so that a user or group this
		// host lacks is a validate and load error, not a run that fails.
		if field, err := actions.IdentityField(w.User, w.Group); err != nil {
			bad(field, "%v", err)
		}
	}
	if w.Workdir != "" && !filepath.IsAbs(w.Workdir) {
		bad("workdir", "%q must be an absolute path", w.Workdir)
	}
	if w.Retry != nil {
		if _, given := w.lines["retry.attempts"]; !given {
			bad("retry", "attempts: required (how many tries in all)")
		} else if w.Retry.Attempts < 1 || w.Retry.Attempts > MaxRetryAttempts {
			bad("retry.attempts", "%d: want 1 to %d", w.Retry.Attempts, MaxRetryAttempts)
		}
		if _, given := w.lines["retry.backoff"]; !given {
			w.Retry.Backoff.D = DefaultRetryBackoff
		} else if w.Retry.Backoff.D < MinRetryBackoff {
			bad("retry.backoff", "%v: want at least %v", w.Retry.Backoff.D, MinRetryBackoff)
		}
	}
	if r := w.Rollout; r != nil {
		if r.MaxHosts != "" {
			if _, _, err := rollout.ParseMaxHosts(r.MaxHosts); err != nil {
				bad("rollout.max_hosts", "%s", strings.TrimPrefix(err.Error(), rollout.ErrSpec.Error()+": "))
			}
		}
		if r.Splay.D < 0 {
			bad("rollout.splay", "must not be negative")
		}
		if r.Canary < 0 {
			bad("rollout.canary", "must be 0 (none) or more")
		}
		if r.HaltAfterFailures < 0 {
			bad("rollout.halt_after_failures", "must be 0 (never) or more")
		}
		switch r.Order {
		case "":
			r.Order = rollout.OrderName
		case rollout.OrderName, rollout.OrderRandom:
		default:
			bad("rollout.order", "%q: want name or random", r.Order)
		}
		if _, given := w.lines["rollout.lease"]; given && r.Lease.D < rollout.MinLease {
			bad("rollout.lease", "%v: want at least %v", r.Lease.D, rollout.MinLease)
		}
	}
	switch w.OnFailure {
	case "":
		w.OnFailure = FailureKeep
	case FailureKeep, FailureStop:
	default:
		bad("on_failure", "%q: want keep or stop", w.OnFailure)
	}
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
	return errs
}

// ParseSignal accepts "HUP", "SIGHUP" or a number.
func ParseSignal(s string) (syscall.Signal, error) {
	name := strings.ToUpper(strings.TrimPrefix(strings.ToUpper(s), "SIG"))
	if sig, ok := signals[name]; ok {
		return sig, nil
	}
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

var signals = map[string]syscall.Signal{
	"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT, "KILL": syscall.SIGKILL,
	"USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "TERM": syscall.SIGTERM, "ALRM": syscall.SIGALRM,
	"CONT": syscall.SIGCONT, "STOP": syscall.SIGSTOP, "WINCH": syscall.SIGWINCH,
}

// Summary is the watch as announced on the bus.
func (w *Watch) Summary() events.WatchSummary {
	return events.WatchSummary{Name: w.Name, On: w.On, Key: w.Key, Types: w.Types, RunMode: w.RunMode, File: w.File}
}
