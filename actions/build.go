package actions

import (
	"fmt"
	"syscall"
	"time"
)

// Spec is an action as a watch, a call hook or a handler gives it: the
// kind and the fields of every kind. Build uses only the fields of Kind:
// Argv for exec, URL for http, Dir for hooksdir; http takes Timeout and
// nothing else of the common fields.
type Spec struct {
	// Kind is KindExec, KindHTTP or KindHooksDir; empty means none was
	// given.
	Kind string
	// Argv is the exec kind's program and arguments (ExecConfig.Argv).
	Argv []string
	// URL is the http kind's URL (HTTPConfig.URL).
	URL string
	// Dir is the hooksdir kind's directory (HooksDirConfig.Dir).
	Dir string
	// The rest mean what they mean in ExecConfig.
	PipeStdin    bool
	Env          map[string]string
	Workdir      string
	User, Group  string
	Timeout      time.Duration
	KillGrace    time.Duration
	NotifySignal syscall.Signal
}

// Build turns a spec into its action. One explicit switch over the kinds;
// every error wraps ErrInvalidConfig.
func Build(s Spec) (Action, error) {
	switch s.Kind {
	case KindExec:
		return NewExec(ExecConfig{
			Argv:         s.Argv,
			PipeStdin:    s.PipeStdin,
			Env:          s.Env,
			Workdir:      s.Workdir,
			User:         s.User,
			Group:        s.Group,
			Timeout:      s.Timeout,
			KillGrace:    s.KillGrace,
			NotifySignal: s.NotifySignal,
		})
	case KindHTTP:
		return NewHTTP(HTTPConfig{URL: s.URL, Timeout: s.Timeout})
	case KindHooksDir:
		return NewHooksDir(HooksDirConfig{
			Dir:          s.Dir,
			PipeStdin:    s.PipeStdin,
			Env:          s.Env,
			Workdir:      s.Workdir,
			User:         s.User,
			Group:        s.Group,
			Timeout:      s.Timeout,
			KillGrace:    s.KillGrace,
			NotifySignal: s.NotifySignal,
		})
	case "":
		return nil, fmt.Errorf("%w: no action: want exec, http or hooksdir", ErrInvalidConfig)
	default:
		return nil, fmt.Errorf("%w: unknown action kind %q", ErrInvalidConfig, s.Kind)
	}
}
