package jobfile

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/yamlfile"
	"gopkg.in/yaml.v3"
)

// ErrInvalid wraps every problem found in a job file parsed with Parse.
var ErrInvalid = errors.New("invalid job file")

// FieldError is one problem, located by file, line and field (Field e.g.
// commands.create_job[3]).
type FieldError yamlfile.Error

func (e *FieldError) Error() string { return (*yamlfile.Error)(e).Error() }

func (e *FieldError) Unwrap() error { return ErrInvalid }

// File is one job file:
//
//	job: eightball               # default: the file's name
//	cluster: bb
//	role: cbe
//	build: eightball
//	default_stage: devel
//	config: {file: eightball.aurora, cpu: 0.25, taskargs: {workers: 10}}
//	stages:
//	  prod: {enable_hooks: true, githash: 60a43FOO363b, config: {cpu: 1.5}}
//	  devel: {githash: 60a43BARdbdb}
//	commands:
//	  create_job: ["aurora", "job", "create", "{{.cluster}}/{{.role}}/{{.stage}}/{{.job}}", "{{.config.file}}"]
//
// A file with only enable_hooks and stages.X.enable_hooks is the job
// opt-in file of earlier versions, and still one.
type File struct {
	// Name is the job name: job:, or the file's name without its
	// extension.
	Name string `yaml:"job"`
	// Cluster and Role, when given, are the job key's first two parts;
	// the file's commands need both. The hooks opt-in then applies only
	// in that cluster and role.
	Cluster string `yaml:"cluster"`
	Role    string `yaml:"role"`
	// Build is what build checks look up (.build in templates).
	Build string `yaml:"build"`
	// DefaultStage is the stage used when none is asked for.
	DefaultStage string `yaml:"default_stage"`
	// EnableHooks says whether scope: job hooks run for the job, in every
	// stage that does not override it.
	EnableHooks bool `yaml:"enable_hooks"`
	// Config holds the free values every stage starts from.
	Config map[string]any `yaml:"config"`
	// Stages are per-stage overrides keyed by the ENV part of the job key.
	Stages map[string]Stage `yaml:"stages"`
	// Commands are argv templates per call method.
	Commands    map[string][]string `yaml:"commands"`
	Description string              `yaml:"description"`

	// Path is the file it was read from.
	Path string `yaml:"-"`
	// Lines are the lines of the keys: "commands.create_job[3]",
	// "stages.prod", "default_stage", ...
	Lines map[string]int `yaml:"-"`
	// tmpl are the parsed templates per method, one per argv element.
	tmpl map[string][]*template.Template
}

// Stage overrides a job file's settings for one stage (ENV).
type Stage struct {
	// EnableHooks, when given, replaces the job's enable_hooks for the
	// stage.
	EnableHooks *bool `yaml:"enable_hooks"`
	// Githash is the stage's build revision (.githash); --githash
	// replaces it.
	Githash string `yaml:"githash"`
	// Config deep-merges over the job's config: maps merge, scalars and
	// lists replace.
	Config map[string]any `yaml:"config"`
}

// Enabled reports whether hooks are enabled for the job in env: the
// stage's enable_hooks if it gives one, else the job's.
func (f *File) Enabled(env string) bool {
	if s, ok := f.Stages[env]; ok && s.EnableHooks != nil {
		return *s.EnableHooks
	}
	return f.EnableHooks
}

// Matches reports whether the job key parts cluster, role and name are
// this file's job: the name always, the cluster and the role when the
// file gives them.
func (f *File) Matches(cluster, role, name string) bool {
	return f.Name == name && (f.Cluster == "" || f.Cluster == cluster) && (f.Role == "" || f.Role == role)
}

// StageNames are the stages the file defines, sorted.
func (f *File) StageNames() []string {
	out := make([]string, 0, len(f.Stages))
	for s := range f.Stages {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Methods are the methods the file has commands for, sorted.
func (f *File) Methods() []string {
	out := make([]string, 0, len(f.Commands))
	for m := range f.Commands {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

var (
	fileKeys  = yamlfile.Keys(reflect.TypeFor[File]())
	stageKeys = yamlfile.Keys(reflect.TypeFor[Stage]())
	// partRe is what a job key part from the file may hold.
	partRe = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	// configKeyRe is a top-level config key: it becomes HERALD_ARG_<KEY>.
	configKeyRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Parse parses a job file's content; the job name defaults to the file's
// name without its extension. Every problem is reported, joined, each as a
// *FieldError.
func Parse(path string, data []byte) (*File, error) {
	return ParseWrap(path, data, func(e *yamlfile.Error) error { return (*FieldError)(e) })
}

// ParseWrap is Parse with each located error made by wrap (so that a
// caller's own error type and sentinel wrap it).
func ParseWrap(path string, data []byte, wrap func(*yamlfile.Error) error) (*File, error) {
	p := &yamlfile.Parser{Path: path, Wrap: wrap}
	f := &File{Name: strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)), Path: path, Lines: map[string]int{}}
	root := p.Root(data, "job, cluster, role, config, stages, commands, enable_hooks")
	if root == nil {
		if err := p.Err(); err != nil {
			return nil, err
		}
		return f, nil
	}
	lines, ok := p.DecodeFields(root, "", fileKeys, f)
	for k, l := range lines {
		f.Lines[k] = l
	}
	if ok {
		for i := 0; i+1 < len(root.Content); i += 2 {
			k, v := root.Content[i], root.Content[i+1]
			switch k.Value {
			case "stages":
				parseStages(p, f, v)
			case "commands":
				for c := 0; v.Kind == yaml.MappingNode && c+1 < len(v.Content); c += 2 {
					mk, mv := v.Content[c], v.Content[c+1]
					f.Lines["commands."+mk.Value] = mk.Line
					for a, n := range mv.Content {
						f.Lines[fmt.Sprintf("commands.%s[%d]", mk.Value, a)] = n.Line
					}
				}
			}
		}
		f.validate(p)
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	return f, nil
}

func parseStages(p *yamlfile.Parser, f *File, v *yaml.Node) {
	for s := 0; v.Kind == yaml.MappingNode && s+1 < len(v.Content); s += 2 {
		sk, sv := v.Content[s], v.Content[s+1]
		f.Lines["stages."+sk.Value] = sk.Line
		if sv.Kind != yaml.MappingNode {
			continue
		}
		p.UnknownKeys(sv, "stages."+sk.Value+".", stageKeys, "unknown field (want enable_hooks, githash or config)")
		for r := 0; r+1 < len(sv.Content); r += 2 {
			f.Lines["stages."+sk.Value+"."+sv.Content[r].Value] = sv.Content[r].Line
		}
	}
}

// line is the line of field, or of the nearest field above it.
func (f *File) line(field string) int {
	for field != "" {
		if l := f.Lines[field]; l > 0 {
			return l
		}
		i := strings.LastIndexAny(field, ".[")
		if i < 0 {
			break
		}
		field = field[:i]
	}
	return 0
}

// validate checks what decoding could not: job key parts, config keys,
// default_stage, and that every command renders for every stage.
func (f *File) validate(p *yamlfile.Parser) {
	bad := func(field, format string, a ...any) { p.Fail(f.line(field), field, format, a...) }
	for field, v := range map[string]string{"job": f.Name, "cluster": f.Cluster, "role": f.Role} {
		if v != "" && !partRe.MatchString(v) {
			bad(field, "%q: want letters, digits, '_', '.' or '-' (one part of the job key CLUSTER/ROLE/ENV/NAME)", v)
		}
	}
	if f.Name == "" {
		bad("job", "must not be empty")
	}
	checkConfig(bad, "config", f.Config)
	for _, s := range f.StageNames() {
		if !partRe.MatchString(s) {
			bad("stages."+s, "stage %q: want letters, digits, '_', '.' or '-' (the ENV part of the job key)", s)
		}
		checkConfig(bad, "stages."+s+".config", f.Stages[s].Config)
	}
	if f.DefaultStage != "" {
		if _, ok := f.Stages[f.DefaultStage]; !ok {
			bad("default_stage", "%q is not one of the stages (%s)", f.DefaultStage, strings.Join(f.StageNames(), ", "))
		}
	}
	if len(f.Commands) > 0 {
		// Located at commands:, which needs them.
		if f.Cluster == "" {
			p.Fail(f.Lines["commands"], "cluster", "required with commands: the job key is CLUSTER/ROLE/STAGE/JOB")
		}
		if f.Role == "" {
			p.Fail(f.Lines["commands"], "role", "required with commands: the job key is CLUSTER/ROLE/STAGE/JOB")
		}
	}
	f.tmpl = map[string][]*template.Template{}
	ok := true
	for _, m := range f.Methods() {
		field := "commands." + m
		if err := call.ValidateMethod(m); err != nil {
			bad(field, "%s", strings.TrimPrefix(err.Error(), call.ErrInvalidCall.Error()+": "))
			ok = false
			continue
		}
		argv := f.Commands[m]
		if len(argv) == 0 {
			bad(field, "want a non-empty list: the program and its arguments")
			ok = false
			continue
		}
		for i, a := range argv {
			name := fmt.Sprintf("%s[%d]", field, i)
			t, err := template.New(name).Option("missingkey=error").Parse(a)
			if err != nil {
				bad(name, "template: %s", templateErrMsg(err, name))
				ok = false
				continue
			}
			f.tmpl[m] = append(f.tmpl[m], t)
		}
	}
	if !ok || len(p.Errs) > 0 {
		return
	}
	// Every command renders for every stage (or, with none, for any):
	// a template naming a missing value fails here, not at deploy time.
	// A stage without githash may get one from --githash.
	stages := f.StageNames()
	if len(stages) == 0 {
		stages = []string{""}
	}
	for _, s := range stages {
		v, err := f.Values(s, nil, "")
		if err != nil {
			bad("stages."+s, "%v", err)
			continue
		}
		if v.Githash == "" {
			v.Githash = "GITHASH"
		}
		if s == "" {
			v.Stage = "STAGE"
		}
		for _, m := range f.Methods() {
			if _, err := f.Render(m, v); err != nil {
				var re *RenderError
				if errors.As(err, &re) {
					where := "stage " + s
					if s == "" {
						where = "any stage"
					}
					bad(re.Field, "%s: %s", where, re.Msg)
				} else {
					bad("commands."+m, "%v", err)
				}
			}
		}
	}
}

// checkConfig rejects config keys that are not strings (and, at the top
// level, names that cannot be HERALD_ARG_<KEY>).
func checkConfig(bad func(field, format string, a ...any), field string, m map[string]any) {
	for k, v := range m {
		if field == "config" || strings.HasSuffix(field, ".config") {
			if !configKeyRe.MatchString(k) {
				bad(field+"."+k, "a top-level config key must be letters, digits and '_', not starting with a digit (it becomes HERALD_ARG_%s)", strings.ToUpper(k))
			}
		}
		checkValue(bad, field+"."+k, v)
	}
}

func checkValue(bad func(field, format string, a ...any), field string, v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, sub := range x {
			checkValue(bad, field+"."+k, sub)
		}
	case map[any]any:
		bad(field, "keys must be strings")
	case []any:
		for i, sub := range x {
			checkValue(bad, fmt.Sprintf("%s[%d]", field, i), sub)
		}
	}
}
