package jobfile

import (
	"fmt"
	"regexp"
	"strings"
)

// RenderError is a command that does not render: its argv element (Field,
// commands.METHOD[I]) and why, such as "no value for .config.file".
type RenderError struct {
	File  string
	Field string
	Msg   string
}

func (e *RenderError) Error() string { return fmt.Sprintf("%s: %s: %s", e.File, e.Field, e.Msg) }

// Render renders the argv of method for v: each template is one argv
// element, whatever it renders to (spaces, quotes and all); nothing goes
// through a shell. A template naming a value v does not have is an error
// naming that value.
func (f *File) Render(method string, v *Values) ([]string, error) {
	ts, ok := f.tmpl[method]
	if !ok {
		return nil, fmt.Errorf("%s: no command for method %q (commands: %s)", f.Path, method, strings.Join(f.Methods(), ", "))
	}
	data := v.Data()
	argv := make([]string, 0, len(ts))
	for _, t := range ts {
		var b strings.Builder
		if err := t.Execute(&b, data); err != nil {
			return nil, &RenderError{File: f.Path, Field: t.Name(), Msg: templateErrMsg(err, t.Name())}
		}
		if strings.Contains(b.String(), "map[") {
			// A mapping or list printed with Go's syntax is never what a
			// command wants.
			if bad := compositeRef(t.Root.String(), data); bad != "" {
				return nil, &RenderError{File: f.Path, Field: t.Name(), Msg: fmt.Sprintf("%s is a mapping: an argument takes one value (name a key under it)", bad)}
			}
		}
		argv = append(argv, b.String())
	}
	return argv, nil
}

var (
	missingKeyRe = regexp.MustCompile(`at <(\.[^>]*)>: map has no entry for key "([^"]*)"`)
	notMapRe     = regexp.MustCompile(`at <(\.[^>]*)>: can't evaluate field ([^ ]*) in type`)
	execAtRe     = regexp.MustCompile(`^template: [^:]*:\d+:\d+: executing "[^"]*" at <([^>]*)>: (.*)$`)
	parseAtRe    = regexp.MustCompile(`^template: [^:]*:(\d+:)?(\d+:)? ?(.*)$`)
)

// templateErrMsg turns a text/template error into a short message naming
// the missing value ("no value for .config.file").
func templateErrMsg(err error, name string) string {
	s := err.Error()
	if m := missingKeyRe.FindStringSubmatch(s); m != nil {
		ref := m[1]
		// <.config.file> names the whole chain; the missing key may be
		// one in its middle (.config.taskargs.workers with no taskargs).
		if i := strings.Index(ref, "."+m[2]); i >= 0 {
			ref = ref[:i+1+len(m[2])]
		}
		return fmt.Sprintf("no value for %s (values: .job .cluster .role .stage .build .githash .config.KEY)", ref)
	}
	if m := notMapRe.FindStringSubmatch(s); m != nil {
		ref := m[1]
		if i := strings.LastIndex(ref, "."+m[2]); i > 0 {
			return fmt.Sprintf("no value for %s: %s is not a mapping", ref, ref[:i])
		}
	}
	if m := execAtRe.FindStringSubmatch(s); m != nil {
		return fmt.Sprintf("%s: %s", m[1], m[2])
	}
	if m := parseAtRe.FindStringSubmatch(s); m != nil {
		return strings.TrimPrefix(m[3], name+": ")
	}
	return s
}

// fieldRefRe is a field chain in a template: .config.taskargs
var fieldRefRe = regexp.MustCompile(`\.[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*`)

// compositeRef returns the first field chain of the template text that
// names a mapping or list in data, or "".
func compositeRef(text string, data map[string]any) string {
	for _, ref := range fieldRefRe.FindAllString(text, -1) {
		var cur any = data
		for _, part := range strings.Split(strings.TrimPrefix(ref, "."), ".") {
			m, ok := cur.(map[string]any)
			if !ok {
				cur = nil
				break
			}
			cur = m[part]
		}
		switch cur.(type) {
		case map[string]any, []any:
			return ref
		}
	}
	return ""
}
