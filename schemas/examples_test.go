package schemas_test

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/actions"
	"github.com/heraldhq/herald/internal/agent"
	"github.com/heraldhq/herald/internal/dispatcher"
	"github.com/heraldhq/herald/internal/hookfile"
	"github.com/heraldhq/herald/internal/watch"
	"github.com/heraldhq/herald/schemas"
)

// exampleKind is what a file of deploy/examples is: its schema and the real
// parser that reads it.
type exampleKind struct {
	schema string
	parse  func(path string) error
}

// exampleKindOf says what an example is by where it is; ok is false for a
// file this test does not know (add it here when adding a file kind).
func exampleKindOf(p string) (exampleKind, bool) {
	examples := filepath.Join("..", "deploy", "examples")
	switch dir, base := filepath.Dir(p), filepath.Base(p); {
	case p == filepath.Join(examples, "dispatcher.yaml"):
		return exampleKind{schemas.Dispatcher, func(p string) error {
			c := dispatcher.DefaultConfig()
			if err := c.LoadConfigFile(p); err != nil {
				return err
			}
			return c.Validate()
		}}, true
	case p == filepath.Join(examples, "agent.yaml"):
		return exampleKind{schemas.Agent, func(p string) error {
			c := agent.DefaultConfig()
			if err := c.LoadConfigFile(p); err != nil {
				return err
			}
			return c.Validate()
		}}, true
	case dir == examples && base == "watches.yaml":
		return exampleKind{schemas.Watches, func(p string) error { _, err := watch.ParseFile(p); return err }}, true
	case dir == hooksExampleDir:
		return exampleKind{schemas.Hooks, func(p string) error {
			data, err := os.ReadFile(p)
			if err == nil {
				_, err = hookfile.Parse(p, data)
			}
			return err
		}}, true
	case dir == filepath.Join(hooksExampleDir, hookfile.JobsDir), dir == filepath.Join(examples, "jobs"):
		return exampleKind{schemas.Jobs, func(p string) error {
			data, err := os.ReadFile(p)
			if err == nil {
				_, err = hookfile.ParseJobFile(p, data)
			}
			return err
		}}, true
	}
	return exampleKind{}, false
}

// Every file in deploy/examples parses with the real parser of its kind
// and validates against its schema.
func TestExamples_ParseAndMatchTheirSchema(t *testing.T) {
	cleanEnv(t)
	paths := exampleFiles(t)
	if len(paths) < 5 {
		t.Fatalf("deploy/examples: %v", paths)
	}
	for _, p := range paths {
		t.Run(p, func(t *testing.T) {
			k, ok := exampleKindOf(p)
			if !ok {
				t.Fatalf("%s is of no known kind: add it to exampleKindOf", p)
			}
			if err := k.parse(p); err != nil {
				t.Errorf("real parser: %v", err)
			}
			mustValid(t, k.schema, toJSONValue(t, must(os.ReadFile(p))))
		})
	}
}

// yamlKeys lists the keys of a config struct as dotted paths, descending
// into nested structs (nats.url, streams.replicas, zk.servers, ...).
func yamlKeys(typ reflect.Type, prefix string) []string {
	var out []string
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		name := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if name == "" || name == "-" {
			continue
		}
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Duration]() {
			out = append(out, yamlKeys(f.Type, prefix+name+".")...)
			continue
		}
		out = append(out, prefix+name)
	}
	return out
}

// commentedKey is a commented-out key line: "  # user: herald".
var commentedKey = regexp.MustCompile(`(?m)^([ \t]*)# ?([ \t]*[a-z_]+:([ \t].*)?)$`)

// The daemon samples show every key of their config: set, or commented out
// with a realistic value where setting it would change the defaults the
// sample holds (TestConfigSchemas_Samples).
func TestExamples_ConfigsShowEveryKey(t *testing.T) {
	for _, tc := range []struct {
		sample string
		typ    reflect.Type
	}{
		{"dispatcher.yaml", reflect.TypeFor[dispatcher.Config]()},
		{"agent.yaml", reflect.TypeFor[agent.Config]()},
	} {
		t.Run(tc.sample, func(t *testing.T) {
			p := filepath.Join("..", "deploy", "examples", tc.sample)
			uncommented := commentedKey.ReplaceAll(must(os.ReadFile(p)), []byte("$1$2"))
			doc := toJSONValue(t, uncommented).(map[string]any)
			for _, key := range yamlKeys(tc.typ, "") {
				var v any = doc
				for _, part := range strings.Split(key, ".") {
					m, _ := v.(map[string]any)
					v = m[part]
					if _, ok := m[part]; !ok {
						v = nil
						t.Errorf("%s shows no %q (neither set nor as a commented-out \"# %s: ...\")", p, key, part)
						break
					}
				}
			}
		})
	}
}

// The kill grace default is actions.DefaultKillGrace (5s) wherever it is
// written down: the README's watch table, hook example and herald
// call/op usage, the watch schema and the samples.
func TestExamples_KillGraceDefault(t *testing.T) {
	d := actions.DefaultKillGrace.String()
	if d != "5s" {
		t.Fatalf("actions.DefaultKillGrace = %s, want 5s (issue 7)", d)
	}
	for _, tc := range []struct{ file, want string }{
		{filepath.Join("..", "README.md"), "| `kill_grace` | `" + d + "` |"},
		{filepath.Join("..", "README.md"), "SIGTERM, SIGKILL " + d + " later"},
		{filepath.Join("..", "README.md"), "[--kill-grace " + d + "]"},
		{filepath.Join("..", "README.md"), "[--hook-kill-grace " + d + "]"},
		{filepath.Join("..", "README.md"), "`--hook-kill-grace` (default " + d + ")"},
		{"watches.schema.json", "Time between SIGTERM and SIGKILL. Absent or 0: " + d + "."},
		{filepath.Join("..", "deploy", "examples", "watches.yaml"), "(default " + d + ")"},
		{hooksExample, "SIGTERM, SIGKILL " + d + " later"},
	} {
		if !strings.Contains(string(must(os.ReadFile(tc.file))), tc.want) {
			t.Errorf("%s does not say %q", tc.file, tc.want)
		}
	}
	// No other default is written next to a kill: "SIGKILL 2s later".
	other := regexp.MustCompile(`SIGKILL ([0-9]+(ms|s|m)) later|kill[_-]grace[^|\n]*default ([0-9]+(ms|s|m))`)
	for _, f := range append([]string{filepath.Join("..", "README.md")}, exampleFiles(t)...) {
		for _, m := range other.FindAllStringSubmatch(string(must(os.ReadFile(f))), -1) {
			if got := m[1] + m[3]; got != d {
				t.Errorf("%s: %q gives the kill grace default as %s, not %s", f, m[0], got, d)
			}
		}
	}
}
