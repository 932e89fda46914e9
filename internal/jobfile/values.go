package jobfile

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Values are what one stage of a job file resolves to: the job key's parts,
// the build, the githash and the merged config. They are what templates
// see (.job .cluster .role .stage .build .githash .config).
type Values struct {
	Job, Cluster, Role, Stage string
	Build, Githash            string
	// Config is the job's config with the stage's deep-merged over it,
	// then every --set.
	Config map[string]any
}

// Key is the job key CLUSTER/ROLE/STAGE/JOB.
func (v *Values) Key() string { return v.Cluster + "/" + v.Role + "/" + v.Stage + "/" + v.Job }

// Data is what templates are executed over. build and githash are absent
// when empty, so that a template naming them fails rather than rendering
// an empty argument.
func (v *Values) Data() map[string]any {
	d := map[string]any{"job": v.Job, "cluster": v.Cluster, "role": v.Role, "stage": v.Stage, "config": v.Config}
	if v.Build != "" {
		d["build"] = v.Build
	}
	if v.Githash != "" {
		d["githash"] = v.Githash
	}
	return d
}

// Args are the call arguments of these values: githash (when set) and
// each top-level scalar of the config, as text. Nested values reach hooks
// in the call's config only.
func (v *Values) Args() map[string]string {
	args := map[string]string{}
	for k, x := range v.Config {
		if s, ok := Scalar(x); ok {
			args[k] = s
		}
	}
	if v.Githash != "" {
		args["githash"] = v.Githash
	}
	return args
}

// Scalar is the text of a scalar config value (string, number, bool); ok
// is false for a map, a list or null.
func Scalar(x any) (string, bool) {
	switch t := x.(type) {
	case string:
		return t, true
	case bool:
		return strconv.FormatBool(t), true
	case int:
		return strconv.Itoa(t), true
	case int64:
		return strconv.FormatInt(t, 10), true
	case uint64:
		return strconv.FormatUint(t, 10), true
	case float64:
		return strconv.FormatFloat(t, 'g', -1, 64), true
	}
	return "", false
}

// Setting is one --set KEY=VALUE: a dotted path into config and a value.
type Setting struct {
	Path  []string
	Value any
}

// ParseSetting parses KEY=VALUE. KEY is a dotted path into config
// (taskargs.workers); VALUE is read as a YAML value (2 is a number, true
// a boolean, [a, b] a list, {k: v} a mapping that merges), or taken as
// text when it is not one; empty is the empty string.
func ParseSetting(s string) (Setting, error) {
	k, raw, ok := strings.Cut(s, "=")
	if !ok {
		return Setting{}, errors.New("want KEY=VALUE (KEY a dotted path into config, such as taskargs.workers)")
	}
	path := strings.Split(k, ".")
	for _, p := range path {
		if p == "" {
			return Setting{}, fmt.Errorf("key %q: empty part (want a dotted path such as taskargs.workers)", k)
		}
	}
	if !configKeyRe.MatchString(path[0]) {
		return Setting{}, fmt.Errorf("key %q: a top-level config key must be letters, digits and '_', not starting with a digit", k)
	}
	var v any = raw
	if raw != "" {
		var decoded any
		if err := yaml.Unmarshal([]byte(raw), &decoded); err == nil && decoded != nil {
			if _, bad := decoded.(map[any]any); !bad {
				v = decoded
			}
		}
	}
	return Setting{Path: path, Value: v}, nil
}

// Values resolves stage: the job's config, the stage's deep-merged over
// it, then each setting in order; githash is the stage's unless githash is
// given. An empty stage is default_stage; a stage the file does not define
// is an error when it defines any.
func (f *File) Values(stage string, sets []Setting, githash string) (*Values, error) {
	if stage == "" {
		stage = f.DefaultStage
	}
	st, ok := f.Stages[stage]
	if !ok && len(f.Stages) > 0 && stage != "" {
		return nil, fmt.Errorf("%s: no stage %q (stages: %s)", f.Path, stage, strings.Join(f.StageNames(), ", "))
	}
	cfg := Merge(nil, f.Config)
	cfg = Merge(cfg, st.Config)
	for _, s := range sets {
		cfg = Merge(cfg, nest(s.Path, s.Value))
	}
	v := &Values{Job: f.Name, Cluster: f.Cluster, Role: f.Role, Stage: stage, Build: f.Build, Githash: st.Githash, Config: cfg}
	if githash != "" {
		v.Githash = githash
	}
	return v, nil
}

func nest(path []string, v any) map[string]any {
	m := map[string]any{path[len(path)-1]: v}
	for i := len(path) - 2; i >= 0; i-- {
		m = map[string]any{path[i]: m}
	}
	return m
}

// Merge deep-merges src over a copy of dst and returns it: a mapping in
// both merges key by key; anything else (scalar, list, a mapping over a
// scalar) replaces. Neither argument is changed.
func Merge(dst, src map[string]any) map[string]any {
	out := make(map[string]any, len(dst)+len(src))
	for k, v := range dst {
		out[k] = deepCopy(v)
	}
	for k, sv := range src {
		sm, sIsMap := sv.(map[string]any)
		dm, dIsMap := out[k].(map[string]any)
		if sIsMap && dIsMap {
			out[k] = Merge(dm, sm)
			continue
		}
		out[k] = deepCopy(sv)
	}
	return out
}

func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = deepCopy(x)
		}
		return m
	case []any:
		l := make([]any, len(t))
		for i, x := range t {
			l[i] = deepCopy(x)
		}
		return l
	}
	return v
}
