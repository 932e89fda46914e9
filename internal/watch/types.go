package watch

import (
	"fmt"
	"github.com/heraldhq/herald/internal/rollout"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/actions"
	"gopkg.in/yaml.v3"
)

// Run modes.
const (
	ModeQueue    = "queue"
	ModeDiscard  = "discard"
	ModeParallel = "parallel"
)

// On-failure policies.
const (
	FailureKeep = "keep"
	FailureStop = "stop"
)

// Defaults.
const (
	DefaultMaxParallel = 4
	// DefaultRetryBackoff is retry.backoff when it is left out.
	DefaultRetryBackoff = time.Second
)

// Limits of retry.
const (
	MaxRetryAttempts = 100
	MinRetryBackoff  = 100 * time.Millisecond
)

// File is one parsed watch file.
type File struct {
	Path    string
	Watches []*Watch
}

// Watch is one entry of a watch file.
type Watch struct {
	Name         string            `yaml:"name"`
	On           string            `yaml:"on"`
	Key          string            `yaml:"key"`
	Types        []string          `yaml:"types"` // event types received; nil: the selector's default
	Exec         Command           `yaml:"exec"`
	HooksDir     string            `yaml:"hooksdir"` // instead of exec: run this hooks.d directory
	PipeStdin    *bool             `yaml:"pipe_stdin"`
	RunOnLoad    *bool             `yaml:"run_on_load"`
	RunMode      string            `yaml:"run_mode"`
	MaxParallel  int               `yaml:"max_parallel"` // parallel mode's cap; 0: none (absent: DefaultMaxParallel)
	User         string            `yaml:"user"`
	Group        string            `yaml:"group"`
	NotifySignal string            `yaml:"notify_signal"`
	Timeout      Duration          `yaml:"timeout"`
	KillGrace    Duration          `yaml:"kill_grace"`
	Env          map[string]string `yaml:"env"`
	Workdir      string            `yaml:"workdir"`
	Retry        *Retry            `yaml:"retry"`
	Rollout      *Rollout          `yaml:"rollout"`
	OnFailure    string            `yaml:"on_failure"`
	Description  string            `yaml:"description"`

	// Set by Parse.
	Source   Selector `yaml:"-"`
	File     string   `yaml:"-"`
	Line     int      `yaml:"-"`
	lines    map[string]int
	rawOrder int
}

// Retry re-runs a failed action: Attempts tries in all (1 to
// MaxRetryAttempts), waiting Backoff × the attempt number after each
// failure (at least MinRetryBackoff; absent: DefaultRetryBackoff).
type Retry struct {
	Attempts int      `yaml:"attempts"`
	Backoff  Duration `yaml:"backoff"`
}

// Rollout limits how one event spreads across the hosts holding the
// watch (package rollout coordinates it through NATS).
type Rollout struct {
	// MaxHosts is a number of hosts or a share of them ("10%"); absent:
	// 100%, every host at once (canary and halt_after_failures still
	// apply).
	MaxHosts          string   `yaml:"max_hosts"`
	Splay             Duration `yaml:"splay"`
	Canary            int      `yaml:"canary"`
	HaltAfterFailures int      `yaml:"halt_after_failures"`
	Order             string   `yaml:"order"`
	// Lease is how long a dead host's turn stays held (rollout.DefaultLease
	// when absent).
	Lease Duration `yaml:"lease"`
}

// Spec is the rollout as package rollout takes it; the watch has been
// validated.
func (r *Rollout) Spec() rollout.Spec {
	s := rollout.Spec{MaxPercent: 100, Splay: r.Splay.D, Canary: r.Canary, HaltAfterFailures: r.HaltAfterFailures,
		Order: r.Order, Lease: r.Lease.D}
	if r.MaxHosts != "" {
		s.MaxHosts, s.MaxPercent, _ = rollout.ParseMaxHosts(r.MaxHosts)
	}
	return s
}

// PipesStdin reports pipe_stdin with its default (true).
func (w *Watch) PipesStdin() bool { return w.PipeStdin == nil || *w.PipeStdin }

// RunsOnLoad reports run_on_load with its default (true).
func (w *Watch) RunsOnLoad() bool { return w.RunOnLoad == nil || *w.RunOnLoad }

// Attempts is how many times a failing run is tried in all.
func (w *Watch) Attempts() int {
	if w.Retry == nil || w.Retry.Attempts < 1 {
		return 1
	}
	return w.Retry.Attempts
}

// Grace is kill_grace with its default, actions.DefaultKillGrace.
func (w *Watch) Grace() time.Duration {
	if w.KillGrace.D <= 0 {
		return actions.DefaultKillGrace
	}
	return w.KillGrace.D
}

// Command is what a watch runs: a string runs under /bin/sh -c, a list is
// the argv itself with no shell.
type Command struct {
	Shell string
	Argv  []string
}

// IsZero reports an absent command.
func (c Command) IsZero() bool { return c.Shell == "" && len(c.Argv) == 0 }

// Args returns the argv to execute.
func (c Command) Args() []string {
	if c.Shell != "" {
		return []string{"/bin/sh", "-c", c.Shell}
	}
	return c.Argv
}

func (c Command) String() string {
	if c.Shell != "" {
		return c.Shell
	}
	return strings.Join(c.Argv, " ")
}

// UnmarshalYAML accepts a string or a list of strings.
func (c *Command) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		c.Shell = n.Value
		return nil
	case yaml.SequenceNode:
		var argv []string
		if err := n.Decode(&argv); err != nil {
			return err
		}
		c.Argv = argv
		return nil
	}
	return fmt.Errorf("line %d: exec must be a string or a list of strings", n.Line)
}

// Duration is a YAML duration: "10s", "1m30s", or a number of seconds.
type Duration struct{ D time.Duration }

// UnmarshalYAML parses "10s" or 10.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a duration such as 10s", n.Line)
	}
	if f, err := strconv.ParseFloat(n.Value, 64); err == nil {
		d.D = time.Duration(f * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: duration %q: want a value such as 10s or 1m", n.Line, n.Value)
	}
	d.D = v
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return d.D.String(), nil }

// Equal reports whether two watches have the same configuration, ignoring
// where in which file they were written.
func (w *Watch) Equal(o *Watch) bool {
	x, y := *w, *o
	for _, v := range []*Watch{&x, &y} {
		v.File, v.Line, v.lines, v.rawOrder = "", 0, nil, 0
	}
	return reflect.DeepEqual(x, y)
}
