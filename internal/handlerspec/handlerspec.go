// Package handlerspec is the handlers: section of hook files: the Handler
// and Match types, their defaults and validation, and the decoding of a
// handlers: list with located errors. The hook-file parser (package
// hookfile) hands it the list's nodes; the dispatcher's handler engine
// (package handlers) runs what it returns. It knows neither how hook files
// are found nor how handlers run, so herald validate checks handlers
// without linking the engine.
package handlerspec

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald/actions"
	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/fielderr"
	"github.com/heraldhq/herald/internal/watch"
	"github.com/heraldhq/herald/internal/yamlfile"
	"gopkg.in/yaml.v3"
)

// MaxWait bounds Handler.Wait; the handler engine keeps all_reported
// state longer (handlers.BucketTTL), so a late outcome finds its fired
// aggregate.
const MaxWait = 12 * time.Hour

// Values of Handler.When.
const (
	// WhenEach runs the handler for every matching outcome.
	WhenEach = ""
	// WhenAllReported runs the handler once per event and watch, when every
	// live agent holding the watch has reported an outcome for the event.
	WhenAllReported = "all_reported"
)

// Defaults.
const (
	// DefaultTimeout bounds a handler run when Handler.Timeout is unset.
	DefaultTimeout = 60 * time.Second
	// DefaultWait is how long an all_reported handler waits for the last
	// agent when Handler.Wait is unset.
	DefaultWait = 10 * time.Minute
)

// ErrInvalidHandler wraps every error of Handler.Validate; the message names
// the field.
var ErrInvalidHandler = errors.New("invalid handler")

// Handler is one entry of a hook file's `handlers:` list: which outcomes it
// matches and what it runs centrally, in the dispatcher.
type Handler struct {
	// Name identifies the handler; its own outcomes are published for the
	// watch "handler:<name>".
	Name  string `yaml:"name"`
	Match Match  `yaml:"match"`
	// When is WhenEach ("": every matching outcome) or WhenAllReported.
	When string `yaml:"when"`
	// Exec runs a command: a string under /bin/sh -c, a list as argv. It
	// gets the outcome (or the aggregate) as JSON on stdin.
	Exec watch.Command `yaml:"exec"`
	// HTTP is a URL to POST the same JSON to, instead of Exec.
	HTTP string `yaml:"http"`
	// Timeout bounds one run; unset means DefaultTimeout.
	Timeout watch.Duration `yaml:"timeout"`
	// Wait bounds how long an all_reported handler waits for every agent;
	// unset means DefaultWait. When it passes, the handler runs once with
	// what was reported and "complete": false.
	Wait watch.Duration `yaml:"wait"`
	// Env adds to the dispatcher's environment for Exec (HERALD_* names are
	// reserved).
	Env map[string]string `yaml:"env"`
	// Workdir, User and Group apply to Exec as in a watch.
	Workdir string `yaml:"workdir"`
	User    string `yaml:"user"`
	Group   string `yaml:"group"`
	// Description is free text.
	Description string `yaml:"description"`

	// File and Line locate the handler; set by the loader, used in logs.
	File string `yaml:"-"`
	Line int    `yaml:"-"`
}

// Match selects outcomes. Empty fields match everything.
type Match struct {
	// Watch is a glob (path.Match syntax) over watch names; "" or "*"
	// matches every watch.
	Watch string `yaml:"watch"`
	// Host is a glob over agent (host) names; "" or "*" matches every host.
	Host string `yaml:"host"`
	// Status lists the statuses that match (events.Statuses); empty matches
	// any. With when: all_reported the handler runs only if at least one
	// reporting host has one of these statuses.
	Status []string `yaml:"status"`
}

// Validate checks the handler; every error wraps ErrInvalidHandler and
// names the field.
func (h *Handler) Validate() error {
	errs := fielderr.List{Sentinel: ErrInvalidHandler}
	switch {
	case strings.TrimSpace(h.Name) == "":
		errs.Add("name", "required")
	case strings.ContainsAny(h.Name, "\n\r\x00"):
		errs.Add("name", "must be one line")
	}
	for field, g := range map[string]string{"match.watch": h.Match.Watch, "match.host": h.Match.Host} {
		if _, err := path.Match(g, ""); err != nil {
			errs.Add(field, "glob %q: %v", g, err)
		}
	}
	for _, s := range h.Match.Status {
		if !slices.Contains(events.Statuses, events.Status(s)) {
			errs.Add("match.status", "unknown status %q (want one of %s)", s, statusList())
		}
	}
	switch h.When {
	case WhenEach, WhenAllReported:
	default:
		errs.Add("when", "unknown value %q (want all_reported or nothing)", h.When)
	}
	switch {
	case h.Exec.IsZero() && h.HTTP == "":
		errs.Add("exec", "one of exec or http is required")
	case !h.Exec.IsZero() && h.HTTP != "":
		errs.Add("exec", "exec and http are exclusive")
	case h.HTTP != "":
		u, err := url.Parse(h.HTTP)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs.Add("http", "%q is not an http or https URL", h.HTTP)
		}
		if h.User != "" || h.Group != "" || h.Workdir != "" || len(h.Env) > 0 {
			errs.Add("http", "user, group, workdir and env apply to exec only")
		}
	default:
		args := h.Exec.Args()
		if len(args) == 0 || args[0] == "" {
			errs.Add("exec", "program is empty")
		} else if h.User != "" || h.Group != "" {
			// The user and group must exist; the exec config says which
			// field is wrong.
			cfg := actions.ExecConfig{Argv: args, User: h.User, Group: h.Group}
			if err := cfg.Validate(); err != nil {
				for _, e := range unjoin(err) {
					if fe := (*fielderr.Error)(nil); errors.As(e, &fe) {
						errs.Add(fe.Field, "%s", fe.Msg)
					} else {
						errs.Add("exec", "%v", e)
					}
				}
			}
		}
	}
	for k := range h.Env {
		if msg := actions.EnvNameProblem(k, "Herald"); msg != "" {
			errs.Add("env", "%s", msg)
		}
	}
	if h.Timeout.D < 0 {
		errs.Add("timeout", "must not be negative")
	}
	if h.Wait.D < 0 {
		errs.Add("wait", "must not be negative")
	}
	if h.Wait.D > MaxWait {
		errs.Add("wait", "at most %v, got %v", MaxWait, h.Wait.D)
	}
	if h.Wait.D != 0 && h.When != WhenAllReported {
		errs.Add("wait", "only applies to when: all_reported")
	}
	return errs.Err()
}

// String names the handler and where it was defined, for logs.
func (h *Handler) String() string {
	if h.File == "" {
		return h.Name
	}
	return fmt.Sprintf("%s (%s:%d)", h.Name, h.File, h.Line)
}

// RunTimeout is Timeout with its default.
func (h *Handler) RunTimeout() time.Duration {
	if h.Timeout.D > 0 {
		return h.Timeout.D
	}
	return DefaultTimeout
}

// WaitOrDefault is Wait with its default.
func (h *Handler) WaitOrDefault() time.Duration {
	if h.Wait.D > 0 {
		return h.Wait.D
	}
	return DefaultWait
}

// GlobMatch reports whether name matches g; "" and "*" match every name
// (path.Match's "*" would not cross a "/").
func GlobMatch(g, name string) bool {
	if g == "" || g == "*" {
		return true
	}
	ok, err := path.Match(g, name)
	return err == nil && ok
}

// MatchesName reports whether the outcome's watch and host match.
func (m Match) MatchesName(watchName, host string) bool {
	return GlobMatch(m.Watch, watchName) && GlobMatch(m.Host, host)
}

// MatchesStatus reports whether st is one of Status (or Status is empty).
func (m Match) MatchesStatus(st events.Status) bool {
	return len(m.Status) == 0 || slices.Contains(m.Status, string(st))
}

// unjoin splits an errors.Join error into its parts.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func statusList() string {
	s := make([]string, len(events.Statuses))
	for i, st := range events.Statuses {
		s[i] = string(st)
	}
	return strings.Join(s, ", ")
}

var (
	handlerKeys = yamlfile.Keys(reflect.TypeFor[Handler]())
	matchKeys   = yamlfile.Keys(reflect.TypeFor[Match]())
)

// Decode decodes the items of a handlers: list into Handler values of
// p.Path and validates each with Validate, reporting every problem to p
// with its line and field (handlers[i].field).
func Decode(p *yamlfile.Parser, items []*yaml.Node) []Handler {
	var out []Handler
	names := map[string]int{}
	for i, item := range items {
		field := fmt.Sprintf("handlers[%d]", i)
		if item.Kind != yaml.MappingNode {
			p.Fail(item.Line, field, "want a mapping")
			continue
		}
		for j := 0; j+1 < len(item.Content); j += 2 {
			k, mv := item.Content[j], item.Content[j+1]
			if k.Value == "match" {
				p.UnknownKeys(mv, field+".match.", matchKeys, "unknown field")
			}
		}
		h := Handler{File: p.Path, Line: item.Line}
		lines, ok := p.DecodeFields(item, field+".", handlerKeys, &h)
		if !ok {
			continue
		}
		if err := h.Validate(); err != nil {
			for _, e := range unjoin(err) {
				msg := strings.TrimPrefix(e.Error(), ErrInvalidHandler.Error()+": ")
				f, rest, found := strings.Cut(msg, ": ")
				if !found {
					f, rest = "", msg
				}
				line := lines[strings.Split(f, ".")[0]]
				if line == 0 {
					line = item.Line
				}
				name := field
				if f != "" {
					name += "." + f
				}
				p.Fail(line, name, "%s", rest)
			}
			continue
		}
		if prev, dup := names[h.Name]; dup {
			p.Fail(lines["name"], field+".name", "duplicate handler name %q (also at line %d)", h.Name, prev)
			continue
		}
		names[h.Name] = lines["name"]
		out = append(out, h)
	}
	return out
}
