package localhooks

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/heraldhq/herald/actions"
	"github.com/heraldhq/herald/internal/watch"
	"github.com/heraldhq/herald/internal/yamlfile"
	"gopkg.in/yaml.v3"
)

// ErrUnknownHook is wrapped by Set.Lookup's error: the agent defines no
// call hook of that name.
var ErrUnknownHook = errors.New("no such call hook")

// Hook is one entry of call_hooks: what the agent runs for the hook of that
// name. The call is on its stdin as JSON and in HERALD_* variables, as for
// a central hook.
type Hook struct {
	// Name is the key under call_hooks:, the hook name of the dispatcher's
	// hook file.
	Name string `yaml:"-"`
	// Exec is a string run under /bin/sh -c, or a list run as argv.
	Exec watch.Command `yaml:"exec"`
	// Env adds variables to the hook's environment (HERALD_* are Herald's).
	Env map[string]string `yaml:"env"`
	// Workdir, User and Group mean what they mean in a watch.
	Workdir string `yaml:"workdir"`
	User    string `yaml:"user"`
	Group   string `yaml:"group"`
	// Timeout, when set, bounds a run below what the request asks (the
	// hook file's timeout); a run is bounded by the shorter of the two.
	Timeout     watch.Duration `yaml:"timeout"`
	Description string         `yaml:"description"`
	// Line is where the hook is defined in the config file.
	Line int `yaml:"-"`
}

// Set is the call_hooks: section: hooks by name. A nil Set defines none.
type Set map[string]*Hook

// Names returns the hooks' names, sorted.
func (s Set) Names() []string {
	out := make([]string, 0, len(s))
	for n := range s {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Lookup returns the hook named name or an error wrapping ErrUnknownHook
// that says where to define it.
func (s Set) Lookup(name string) (*Hook, error) {
	if h, ok := s[name]; ok {
		return h, nil
	}
	return nil, fmt.Errorf("%w %q (define it under call_hooks: in the agent's config)", ErrUnknownHook, name)
}

// Action builds the exec action of one run, bounded by timeout (what the
// request allows) or the hook's own timeout when that is shorter.
func (h *Hook) Action(timeout time.Duration) (actions.Action, error) {
	if h.Timeout.D > 0 && h.Timeout.D < timeout {
		timeout = h.Timeout.D
	}
	return actions.Build(actions.Spec{
		Kind: actions.KindExec, Argv: h.Exec.Args(), PipeStdin: true, Env: h.Env,
		Workdir: h.Workdir, User: h.User, Group: h.Group,
		Timeout: timeout, KillGrace: actions.DefaultKillGrace,
	})
}

var hookKeys = yamlfile.Keys(reflect.TypeFor[Hook]())

// UnmarshalYAML decodes call_hooks:, a mapping of hook names to hooks, and
// validates every hook. Its errors are a *yaml.TypeError whose entries are
// "line N: call_hooks.NAME.FIELD: MSG", so that the config file's strict
// decode names the file and line of each; none quotes a value under env:.
func (s *Set) UnmarshalYAML(n *yaml.Node) error {
	p := &yamlfile.Parser{Wrap: func(e *yamlfile.Error) error { return e }}
	out := Set{}
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
	case n.Kind != yaml.MappingNode:
		p.Fail(n.Line, "call_hooks", "want a mapping of hook names to hooks such as {drain-check: {exec: ...}}")
	default:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			field := "call_hooks." + k.Value
			if v.Kind != yaml.MappingNode {
				p.Fail(v.Line, field, "want a mapping with exec (and env, workdir, user, group, timeout)")
				continue
			}
			h := &Hook{Name: k.Value, Line: k.Line}
			lines, ok := p.DecodeFields(v, field+".", hookKeys, h)
			if !ok {
				continue
			}
			before := len(p.Errs)
			h.validate(p.FailField(lines, h.Line, field+"."))
			if len(p.Errs) == before {
				out[h.Name] = h
			}
		}
	}
	if len(p.Errs) > 0 {
		te := &yaml.TypeError{}
		for _, e := range p.Errs {
			ye := e.(*yamlfile.Error)
			te.Errors = append(te.Errors, fmt.Sprintf("line %d: %s: %s", ye.Line, ye.Field, ye.Msg))
		}
		return te
	}
	if len(out) == 0 {
		out = nil
	}
	*s = out
	return nil
}

// validate checks one hook; bad names the field.
func (h *Hook) validate(bad func(field, format string, a ...any)) {
	switch {
	case strings.TrimSpace(h.Name) == "":
		bad("name", "the hook name must not be empty")
	case strings.ContainsAny(h.Name, "\x00\r\n,"):
		bad("name", "the hook name must be one line without ','")
	}
	if h.Exec.IsZero() {
		bad("exec", "required: a string run under /bin/sh -c or a list run as argv")
	} else if args := h.Exec.Args(); len(args) == 0 || args[0] == "" {
		bad("exec", "program is empty")
	}
	for k, v := range h.Env {
		switch msg := actions.EnvNameProblem(k, "Herald"); {
		case msg != "":
			bad("env", "%s", msg)
		case strings.IndexByte(v, 0) >= 0:
			bad("env", "value of %q contains a NUL byte", k)
		}
	}
	if h.Workdir != "" && !filepath.IsAbs(h.Workdir) {
		bad("workdir", "%q must be an absolute path", h.Workdir)
	}
	if h.User != "" || h.Group != "" {
		if field, err := actions.IdentityField(h.User, h.Group); err != nil {
			bad(field, "%v", err)
		}
	}
	if h.Timeout.D < 0 {
		bad("timeout", "must not be negative")
	}
}
