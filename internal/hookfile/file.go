package hookfile

import (
	"errors"
	"fmt"
	"github.com/heraldhq/herald/actions"
	"path"
	"reflect"
	"sort"
	"strings"
	"text/template"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/handlerspec"
	"github.com/heraldhq/herald/internal/jobfile"
	"github.com/heraldhq/herald/internal/watch"
	"github.com/heraldhq/herald/internal/yamlfile"
	"gopkg.in/yaml.v3"
)

// ErrInvalid wraps every problem found in a hook file or a job file.
var ErrInvalid = errors.New("invalid hook file")

// FieldError is one problem, located by file, line and field (Field e.g.
// hooks[0].on_timeout), as in watch files.
type FieldError yamlfile.Error

func (e *FieldError) Error() string { return (*yamlfile.Error)(e).Error() }

func (e *FieldError) Unwrap() error { return ErrInvalid }

// Values of Hook.OnTimeout.
const (
	OnTimeoutDeny  = "deny"
	OnTimeoutAllow = "allow"
)

// Values of Hook.Scope.
const (
	// ScopeGlobal hooks run for every job their jobs globs match.
	ScopeGlobal = "global"
	// ScopeJob hooks run only for jobs that enabled hooks in
	// jobs/NAME.yaml.
	ScopeJob = "job"
)

// DefaultTimeout bounds a hook run when timeout is not given.
const DefaultTimeout = 30 * time.Second

// JobsDir is the directory under the hooks directory holding the job
// opt-in files, jobs/NAME.yaml.
const JobsDir = "jobs"

// Hook is one entry of a hook file's hooks: list.
type Hook struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Phase is pre, post, err or generic.
	Phase string `yaml:"phase"`
	// Methods are method names or path.Match globs; "*" is every method.
	Methods []string `yaml:"methods"`
	// Jobs are key globs over CLUSTER/ROLE/ENV/NAME (a segment may be a
	// glob, "**" spans segments); absent or "*" is every job.
	Jobs []string `yaml:"jobs"`
	// Exec is a string run under /bin/sh -c, or a list run as argv. A
	// run: agents hook has none: each agent runs its own call_hooks: entry
	// of the hook's name.
	Exec watch.Command `yaml:"exec"`
	// HTTP is a URL the call is POSTed to instead of Exec.
	HTTP string `yaml:"http"`
	// Confirm, instead of Exec and HTTP on a pre hook, is a question
	// (a text/template over the call: see Question) that herald asks on
	// the caller's terminal; only yes lets the call run.
	Confirm string `yaml:"confirm"`
	// Timeout bounds one run; DefaultTimeout when absent.
	Timeout watch.Duration `yaml:"timeout"`
	// OnTimeout is deny (the default) or allow: what a pre hook that
	// timed out says.
	OnTimeout string `yaml:"on_timeout"`
	// Scope is global (the default) or job.
	Scope string `yaml:"scope"`
	// Run is central (the dispatcher runs it, the default) or
	// {agents: [NAME or glob, ...]}.
	Run Run `yaml:"run"`
	// Env adds variables to Exec's environment (HERALD_* are reserved);
	// central exec hooks only.
	Env map[string]string `yaml:"env"`

	// Set by Parse.
	File  string           `yaml:"-"`
	Line  int              `yaml:"-"`
	globs []events.KeyGlob // nil: every job
	lines map[string]int

	// confirm is Confirm compiled.
	confirm *template.Template
}

// Run says where a hook runs.
type Run struct {
	// Agents, when not empty, are agent names or globs: each live agent
	// that matches runs the hook on its host. Empty means central.
	Agents []string
}

// Central reports whether the dispatcher runs the hook itself.
func (r Run) Central() bool { return len(r.Agents) == 0 }

func (r Run) String() string {
	if r.Central() {
		return "central"
	}
	return "agents: [" + strings.Join(r.Agents, ", ") + "]"
}

// UnmarshalYAML accepts "central" or a mapping {agents: [...]}.
func (r *Run) UnmarshalYAML(n *yaml.Node) error {
	const want = "want central or agents: [NAME or glob, ...]"
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Value == "central" || n.Value == "" {
			r.Agents = nil
			return nil
		}
		return fmt.Errorf("line %d: %q: %s", n.Line, n.Value, want)
	case yaml.MappingNode:
		if len(n.Content) != 2 || n.Content[0].Value != "agents" {
			return fmt.Errorf("line %d: %s", n.Line, want)
		}
		var list []string
		if err := n.Content[1].Decode(&list); err != nil || len(list) == 0 {
			return fmt.Errorf("line %d: agents: want a non-empty list of agent names or globs", n.Line)
		}
		for _, g := range list {
			if _, err := path.Match(g, ""); err != nil || g == "" {
				return fmt.Errorf("line %d: agents: bad glob %q", n.Line, g)
			}
		}
		r.Agents = list
		return nil
	}
	return fmt.Errorf("line %d: %s", n.Line, want)
}

// MarshalYAML writes the Run back as it was written.
func (r Run) MarshalYAML() (any, error) {
	if r.Central() {
		return "central", nil
	}
	return map[string][]string{"agents": r.Agents}, nil
}

// HookTimeout is timeout with its default.
func (h *Hook) HookTimeout() time.Duration {
	if h.Timeout.D > 0 {
		return h.Timeout.D
	}
	return DefaultTimeout
}

// Action builds the action a central hook runs.
func (h *Hook) Action() (actions.Action, error) {
	if h.HTTP != "" {
		return actions.Build(actions.Spec{Kind: actions.KindHTTP, URL: h.HTTP, Timeout: h.HookTimeout()})
	}
	return actions.Build(actions.Spec{
		Kind:      actions.KindExec,
		Argv:      h.Exec.Args(),
		PipeStdin: true,
		Env:       h.Env,
		Timeout:   h.HookTimeout(),
		KillGrace: actions.DefaultKillGrace,
	})
}

// actionErrMsg drops the "invalid action config: " prefix.
func actionErrMsg(err error) string {
	return strings.TrimPrefix(err.Error(), actions.ErrInvalidConfig.Error()+": ")
}

// AllowsOnTimeout reports on_timeout: allow.
func (h *Hook) AllowsOnTimeout() bool { return h.OnTimeout == OnTimeoutAllow }

// MatchesMethod reports whether one of the methods globs matches m.
func (h *Hook) MatchesMethod(m string) bool {
	for _, g := range h.Methods {
		if call.MatchGlob(g, m) {
			return true
		}
	}
	return false
}

// MatchesJob reports whether one of the jobs globs matches the job key.
func (h *Hook) MatchesJob(job string) bool {
	if h.globs == nil {
		return true
	}
	for _, g := range h.globs {
		if g.Match(job) {
			return true
		}
	}
	return false
}

// equal reports whether two hooks have the same configuration.
func (h *Hook) equal(o *Hook) bool {
	x, y := *h, *o
	for _, v := range []*Hook{&x, &y} {
		v.File, v.Line, v.lines, v.globs, v.confirm = "", 0, nil, nil, nil
	}
	return reflect.DeepEqual(x, y)
}

// JobFile is a job file, jobs/NAME.yaml under the hooks directory, in the
// format of package jobfile (the deploy jobs directory holds the same
// files): whether the job enabled scope: job hooks, with per-stage
// overrides keyed by the ENV part of the job key; when the file gives a
// cluster and a role, only in them.
type JobFile = jobfile.File

// Stage overrides a job file's settings for one ENV.
type Stage = jobfile.Stage

// File is one parsed hook file.
type File struct {
	Path     string
	Hooks    []*Hook
	Handlers []handlerspec.Handler
}

// IsHookFile reports whether name is a file the loader reads: *.yaml or
// *.yml, not hidden.
func IsHookFile(name string) bool { return watch.IsWatchFile(name) }

var (
	hookKeys = yamlfile.Keys(reflect.TypeFor[Hook]())
)

// parser collects located errors for one file.
type parser struct{ yamlfile.Parser }

func newParser(file string) *parser {
	return &parser{yamlfile.Parser{Path: file, Wrap: func(e *yamlfile.Error) error { return (*FieldError)(e) }}}
}

// Parse parses a hook file's content: a mapping with a hooks: list and/or
// a handlers: list. Every problem is reported, joined, each as a
// *FieldError.
func Parse(file string, data []byte) (*File, error) {
	p := newParser(file)
	f := &File{Path: file}
	root := p.Root(data, "hooks: and/or handlers: lists")
	if root == nil {
		if err := p.Err(); err != nil {
			return nil, err
		}
		return f, nil
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch k.Value {
		case "hooks":
			f.Hooks = p.hooks(v)
		case "handlers":
			f.Handlers = handlerspec.Decode(&p.Parser, p.list(v, "handlers"))
		default:
			p.Fail(k.Line, k.Value, "unknown key (want hooks or handlers)")
		}
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	return f, nil
}

func (p *parser) list(v *yaml.Node, field string) []*yaml.Node {
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		p.Fail(v.Line, field, "want a list")
		return nil
	}
	return v.Content
}

func (p *parser) hooks(v *yaml.Node) []*Hook {
	var out []*Hook
	names := map[string]int{}
	for i, item := range p.list(v, "hooks") {
		field := fmt.Sprintf("hooks[%d]", i)
		if item.Kind != yaml.MappingNode {
			p.Fail(item.Line, field, "want a mapping")
			continue
		}
		h := &Hook{File: p.Path, Line: item.Line}
		lines, ok := p.DecodeFields(item, field+".", hookKeys, h)
		h.lines = lines
		if !ok {
			continue
		}
		before := len(p.Errs)
		h.validate(p.FailField(lines, h.Line, field+"."))
		if h.Name != "" {
			if prev, dup := names[h.Name]; dup {
				p.Fail(lines["name"], field+".name", "duplicate hook name %q (also at line %d)", h.Name, prev)
			}
			names[h.Name] = lines["name"]
		}
		if len(p.Errs) == before {
			out = append(out, h)
		}
	}
	return out
}

// validate checks one hook and fills its defaults.
func (h *Hook) validate(bad func(field, format string, a ...any)) {
	switch {
	case strings.TrimSpace(h.Name) == "":
		bad("name", "required")
	case strings.ContainsAny(h.Name, "\x00\r\n"):
		bad("name", "must be one line")
	case h.Name == call.SkipAll:
		bad("name", "%q is reserved (--skip-hooks all)", call.SkipAll)
	case strings.Contains(h.Name, ","):
		bad("name", "must not contain ',' (--skip-hooks takes a comma-separated list)")
	}
	switch h.Phase {
	case call.PhasePre, call.PhasePost, call.PhaseErr, call.PhaseGeneric:
	case "":
		bad("phase", "required: pre, post, err or generic")
	default:
		bad("phase", "%q: want pre, post, err or generic", h.Phase)
	}
	if len(h.Methods) == 0 {
		bad("methods", `required: method names or globs, ["*"] for every method`)
	}
	for _, m := range h.Methods {
		if _, err := path.Match(m, ""); err != nil || m == "" {
			bad("methods", "bad method glob %q", m)
		}
	}
	h.globs = nil
	every := len(h.Jobs) == 0
	for _, j := range h.Jobs {
		if j == "*" || j == "**" {
			every = true
			continue
		}
		g, err := events.ParseKeyGlob(j)
		if err != nil {
			bad("jobs", "%v", err)
			continue
		}
		if n := len(strings.Split(j, "/")); n != 4 && !strings.Contains(j, "**") {
			bad("jobs", "%q has %d parts: want a glob over CLUSTER/ROLE/ENV/NAME such as */*/prod/*", j, n)
			continue
		}
		h.globs = append(h.globs, g)
	}
	if every {
		h.globs = nil
	}
	switch {
	case h.Confirm != "":
		h.validateConfirm(bad)
	case !h.Run.Central():
		// The dispatcher sends the agents the hook's name, never what to
		// run: each runs its own call_hooks: entry of that name.
		if !h.Exec.IsZero() {
			bad("exec", "a run: agents hook runs the agents' own call hook of that name: define exec under call_hooks: %s: in each agent's config and remove it here (the dispatcher sends only the name)", h.Name)
		}
		if h.HTTP != "" {
			bad("http", "a run: agents hook runs the agents' own call_hooks: entry of that name; it takes no http")
		}
		if len(h.Env) > 0 {
			bad("env", "a run: agents hook takes no env: define it under call_hooks: %s: in each agent's config", h.Name)
		}
	case h.Exec.IsZero() && h.HTTP == "":
		bad("exec", "one of exec or http is required (or confirm: a question for the caller, on a pre hook; or run: agents: the agents' own call hook of that name)")
	case !h.Exec.IsZero() && h.HTTP != "":
		bad("http", "exec and http are exclusive")
	case h.HTTP != "":
		if len(h.Env) > 0 {
			bad("env", "applies to exec only")
		}
	default:
		if args := h.Exec.Args(); len(args) == 0 || args[0] == "" {
			bad("exec", "program is empty")
		}
	}
	if h.HTTP != "" {
		if _, err := h.Action(); err != nil {
			bad("http", "%s", actionErrMsg(err))
		}
	}
	if h.Timeout.D < 0 {
		bad("timeout", "must not be negative")
	}
	switch h.OnTimeout {
	case "":
		h.OnTimeout = OnTimeoutDeny
	case OnTimeoutDeny, OnTimeoutAllow:
		if h.Phase == call.PhasePost || h.Phase == call.PhaseErr {
			bad("on_timeout", "only applies to pre and generic hooks (post and err hooks never veto)")
		}
	default:
		bad("on_timeout", "%q: want deny or allow", h.OnTimeout)
	}
	switch h.Scope {
	case "":
		h.Scope = ScopeGlobal
	case ScopeGlobal, ScopeJob:
	default:
		bad("scope", "%q: want global or job", h.Scope)
	}
	for k, v := range h.Env {
		switch msg := actions.EnvNameProblem(k, "Herald"); {
		case msg != "":
			bad("env", "%s", msg)
		case strings.IndexByte(v, 0) >= 0:
			bad("env", "value of %q contains a NUL byte", k)
		}
	}
}

// ParseJobFile parses jobs/NAME.yaml (jobfile.Parse); the job name is
// job:, or the file name without its extension. Its errors are
// *FieldError.
func ParseJobFile(file string, data []byte) (*JobFile, error) {
	return jobfile.ParseWrap(file, data, func(e *yamlfile.Error) error { return (*FieldError)(e) })
}

// sortHooks orders hooks by name.
func sortHooks(hs []*Hook) {
	sort.Slice(hs, func(i, j int) bool { return hs[i].Name < hs[j].Name })
}
