package schemas_test

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/handlers"
	"github.com/heraldhq/herald/internal/hookfile"
	"github.com/heraldhq/herald/schemas"
	"gopkg.in/yaml.v3"
)

// ---- 6. hook files and job files ---------------------------------------------

var (
	hooksExampleDir = filepath.Join("..", "deploy", "examples", "call-hooks")
	hooksExample    = filepath.Join(hooksExampleDir, "prod-gate.yaml")
	jobsExample     = filepath.Join(hooksExampleDir, "jobs", "web.yaml")
	// deployExample is the job file of herald deploy (seed 002's eightball).
	deployExample = filepath.Join("..", "deploy", "examples", "jobs", "eightball.yaml")
)

// parseHooks is hookfile.Parse on a file's content, as the dispatcher's loader
// and herald validate call it.
func parseHooks(t *testing.T, p string) error {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	_, err = hookfile.Parse(p, data)
	return err
}

func parseJob(t *testing.T, p string) error {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	_, err = hookfile.ParseJobFile(p, data)
	return err
}

// The samples in deploy/examples/call-hooks load with the real loader (the
// whole directory, as the dispatcher reads it), validate, and show what
// they say they show.
func TestHooksExamples(t *testing.T) {
	set, bad, err := hookfile.LoadDir(hooksExampleDir)
	if err != nil {
		t.Fatalf("LoadDir: %v", err)
	}
	for p, err := range bad {
		t.Errorf("LoadDir: %s: %v", p, err)
	}
	if len(set.Hooks) != 4 || len(set.Handlers) != 2 || len(set.Jobs) != 1 {
		t.Fatalf("LoadDir: %d hooks, %d handlers, %d jobs; want 4, 2 and 1", len(set.Hooks), len(set.Handlers), len(set.Jobs))
	}
	data, _ := os.ReadFile(hooksExample)
	mustValid(t, schemas.Hooks, toJSONValue(t, data))
	data, _ = os.ReadFile(jobsExample)
	mustValid(t, schemas.Jobs, toJSONValue(t, data))

	t.Run("the Chartbeat gate", func(t *testing.T) {
		gate := set.Hook("prod-needs-green-ci")
		if gate == nil || gate.Phase != "pre" || !gate.MatchesMethod("create_job") || !gate.MatchesMethod("update_job") ||
			gate.MatchesMethod("kill_job") || !gate.MatchesJob("west/www-data/prod/hello") || gate.MatchesJob("west/www-data/devel/hello") {
			t.Errorf("prod-needs-green-ci is not a pre hook on create_job and update_job for */*/prod/*: %+v", gate)
		}
		phases := map[string]bool{}
		for _, h := range set.Hooks {
			phases[h.Phase] = true
		}
		if !phases["pre"] || !phases["post"] || !phases["generic"] {
			t.Errorf("phases shown: %v, want pre, post and generic", phases)
		}
	})
	t.Run("the handlers of the issue", func(t *testing.T) {
		var names []string
		for _, h := range set.Handlers {
			names = append(names, h.Name+"/"+h.When)
		}
		if want := []string{"page-on-failure/", "rollout-summary/" + handlers.WhenAllReported}; !slices.Equal(names, want) {
			t.Errorf("handlers %v, want %v", names, want)
		}
	})
	t.Run("the job opt-in", func(t *testing.T) {
		web := set.Jobs["web"]
		if web == nil {
			t.Fatalf("jobs: %v", set.Jobs)
		}
		for env, want := range map[string]bool{"prod": true, "staging": true, "devel": false, "qa": false} {
			if got := web.Enabled(env); got != want {
				t.Errorf("web enabled in %s = %v, want %v", env, got, want)
			}
		}
	})
	t.Run("every field is shown", func(t *testing.T) {
		doc := toJSONValue(t, must(os.ReadFile(hooksExample))).(map[string]any)
		shown := func(list string) map[string]bool {
			m := map[string]bool{}
			for _, item := range doc[list].([]any) {
				for k, v := range item.(map[string]any) {
					m[k] = true
					if sub, ok := v.(map[string]any); ok {
						for k2 := range sub {
							m[k+"."+k2] = true
						}
					}
				}
			}
			return m
		}
		hookFields, _ := goFields(reflect.TypeFor[hookfile.Hook](), "yaml")
		handlerFields, _ := goFields(reflect.TypeFor[handlers.Handler](), "yaml")
		matchFields, _ := goFields(reflect.TypeFor[handlers.Match](), "yaml")
		for _, m := range matchFields {
			handlerFields = append(handlerFields, "match."+m)
		}
		got := shown("hooks")
		for _, k := range append(hookFields, "run.agents") {
			if !got[k] {
				t.Errorf("%s shows no hook field %q", hooksExample, k)
			}
		}
		got = shown("handlers")
		// user and group are commented out (they must exist on the host
		// that loads the file); http is shown on a hook.
		for _, k := range handlerFields {
			if !got[k] && k != "user" && k != "group" && k != "http" {
				t.Errorf("%s shows no handler field %q", hooksExample, k)
			}
		}
		text := string(must(os.ReadFile(hooksExample)))
		for _, k := range []string{"# user:", "# group:"} {
			if !strings.Contains(text, k) {
				t.Errorf("%s does not mention %q", hooksExample, k)
			}
		}
		// The opt-in sample and the deploy sample show every key of a
		// job file between them; the deploy sample every key but
		// nothing of an opt-in-only file.
		job := toJSONValue(t, must(os.ReadFile(jobsExample))).(map[string]any)
		deploy := toJSONValue(t, must(os.ReadFile(deployExample))).(map[string]any)
		jobFields, _ := goFields(reflect.TypeFor[hookfile.JobFile](), "yaml")
		for _, k := range jobFields {
			if _, ok := deploy[k]; !ok {
				t.Errorf("%s shows no %q", deployExample, k)
			}
		}
		for _, k := range []string{"enable_hooks", "stages", "description"} {
			if _, ok := job[k]; !ok {
				t.Errorf("%s shows no %q", jobsExample, k)
			}
		}
		stageFields, _ := goFields(reflect.TypeFor[hookfile.Stage](), "yaml")
		for _, k := range stageFields {
			if _, ok := deploy["stages"].(map[string]any)["prod"].(map[string]any)[k]; !ok {
				t.Errorf("%s: stages.prod shows no %q", deployExample, k)
			}
		}
	})
	t.Run("each file fits the schema of its place", func(t *testing.T) {
		for _, p := range exampleFiles(t) {
			want := ""
			switch filepath.Dir(p) {
			case hooksExampleDir:
				want = schemas.Hooks
			case filepath.Join(hooksExampleDir, hookfile.JobsDir):
				want = schemas.Jobs
			default:
				continue
			}
			mustValid(t, want, toJSONValue(t, must(os.ReadFile(p))))
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// testdata/hooks and testdata/jobs: valid and invalid files that the Go
// parser and the schema both accept or both reject.
func TestHooksSchema_Files(t *testing.T) {
	for _, c := range []struct {
		schema string
		parse  func(t *testing.T, p string) error
		musts  []string
	}{
		{schemas.Hooks, parseHooks, []string{"unknown_key", "unknown_top_level", "bad_phase", "bad_on_timeout", "bad_scope", "bad_run", "exec_and_http", "bad_status", "bad_when", "wait_without_all_reported", "bad_duration", "negative_duration"}},
		{schemas.Jobs, parseJob, []string{"unknown_key", "unknown_stage_key", "wrong_type", "stage_not_a_mapping", "seed_format", "commands_without_role"}},
	} {
		t.Run(c.schema, func(t *testing.T) {
			valid, err := filepath.Glob(filepath.Join("testdata", c.schema, "valid", "*.yaml"))
			if err != nil || len(valid) < 2 {
				t.Fatalf("testdata/%s/valid: %v, %v", c.schema, valid, err)
			}
			invalid, err := filepath.Glob(filepath.Join("testdata", c.schema, "invalid", "*.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range c.musts {
				if !slices.Contains(invalid, filepath.Join("testdata", c.schema, "invalid", m+".yaml")) {
					t.Errorf("testdata/%s/invalid/%s.yaml is missing", c.schema, m)
				}
			}
			for _, p := range valid {
				t.Run("valid/"+filepath.Base(p), func(t *testing.T) {
					if err := c.parse(t, p); err != nil {
						t.Errorf("parser: %v", err)
					}
					mustValid(t, c.schema, toJSONValue(t, must(os.ReadFile(p))))
				})
			}
			for _, p := range invalid {
				t.Run("invalid/"+filepath.Base(p), func(t *testing.T) {
					err := c.parse(t, p)
					var fe *hookfile.FieldError
					if !errors.Is(err, hookfile.ErrInvalid) || !errors.As(err, &fe) || fe.Line == 0 {
						t.Errorf("parser = %v, want located ErrInvalid", err)
					}
					mustInvalid(t, c.schema, toJSONValue(t, must(os.ReadFile(p))))
				})
			}
		})
	}
}

// sampleHooks returns fresh copies of the sample file's hooks and handlers
// as the schema sees them.
func sampleHooks(t *testing.T) (hks, hds []map[string]any) {
	t.Helper()
	doc := toJSONValue(t, must(os.ReadFile(hooksExample))).(map[string]any)
	for _, h := range doc["hooks"].([]any) {
		hks = append(hks, h.(map[string]any))
	}
	for _, h := range doc["handlers"].([]any) {
		hds = append(hds, h.(map[string]any))
	}
	return hks, hds
}

// hookVerdicts writes a file with one hook or one handler and returns what
// hookfile.Parse and the schema say about it.
func hookVerdicts(t *testing.T, list string, item map[string]any) (data []byte, perr, serr error) {
	t.Helper()
	data, err := yaml.Marshal(map[string]any{list: []any{item}})
	if err != nil {
		t.Fatal(err)
	}
	_, perr = hookfile.Parse("h.yaml", data)
	return data, perr, schemas.Validate(schemas.Hooks, toJSONValue(t, data))
}

func checkHookAgree(t *testing.T, list string, item map[string]any) {
	t.Helper()
	data, perr, serr := hookVerdicts(t, list, item)
	if (perr == nil) != (serr == nil) {
		t.Errorf("hookfile.Parse and the schema disagree on\n%s\nParse: %v\nschema: %v", data, perr, serr)
	}
}

// with returns a copy of m with the dotted path set (absent removes it).
func with(m map[string]any, path string, v any) map[string]any {
	c := maps.Clone(m)
	if head, rest, ok := strings.Cut(path, "."); ok {
		sub, _ := c[head].(map[string]any)
		c[head] = with(sub, rest, v)
		return c
	}
	if c == nil {
		c = map[string]any{}
	}
	if v == absent {
		delete(c, path)
	} else {
		c[path] = v
	}
	return c
}

func TestHooksSchema_AgreesWithParse(t *testing.T) {
	hks, hds := sampleHooks(t)
	// Removing any one field of any sample: both accept or both reject.
	// This is what proves the schema's required lists.
	t.Run("each field removed", func(t *testing.T) {
		for list, items := range map[string][]map[string]any{"hooks": hks, "handlers": hds} {
			for _, item := range items {
				for k := range item {
					t.Run(fmt.Sprint(list, "/", item["name"], "/", k), func(t *testing.T) {
						checkHookAgree(t, list, with(item, k, absent))
					})
				}
			}
		}
	})
	pre, post, generic := hks[0], hks[1], hks[2]
	page, summary := hds[0], hds[1]
	if pre["exec"] == nil || post["run"] == nil || generic["http"] == nil || summary["when"] != "all_reported" {
		t.Fatalf("the samples are not pre exec, post run: agents, generic http, all_reported: %v", hks)
	}
	durations := []any{"10s", "1m30s", "1.5h", "250ms", "100us", "100µs", ".5s", "1.s", "0", "0s", "10", "2.5", 10, 2.5, 0,
		"-1s", "-1", -1, "10x", "10 s", "s", "1h30", "ten", true, []any{"1s"}}
	for _, c := range []struct {
		list  string
		base  map[string]any
		field string
		vals  []any
	}{
		{"hooks", pre, "name", []any{"x", "a b", "a-b.c_d", "all-but", "All", "", " ", "\t", "\u00a0", "all", "a,b", "a\nb", "a\x00b"}},
		{"hooks", pre, "phase", []any{"pre", "post", "err", "generic", "", "Pre", "before", 1}},
		{"hooks", pre, "methods", []any{[]any{"*"}, []any{"update_job", "kill_*", "job.?"}, []any{}, []any{""}, "update_job", []any{"a", ""}}},
		{"hooks", pre, "jobs", []any{
			[]any{}, []any{"*"}, []any{"**"}, []any{"*/*/prod/*"}, []any{"west/www-data/prod/hello"}, []any{"a/b/c/d", "x/**"},
			[]any{"**/prod/*"}, []any{"west/**"}, []any{"a/**/b"}, []any{"/a/b/c"}, []any{"a//b/c"}, []any{"?/[ab]/c*/*d"}, []any{"a/b/c/*"},
			[]any{""}, []any{"a"}, []any{"a/b"}, []any{"a/b/c"}, []any{"a/b/c/d/e"}, []any{"a**/b/c/d"}, []any{"a/b/c/d**"},
			[]any{"***"}, []any{"a/***/b"}, []any{"*", "x"}, "*/*/prod/*",
		}},
		{"hooks", pre, "exec", []any{"true", []any{"/bin/true"}, []any{"/bin/echo", "a", ""}, []any{}, []any{""}, []any{"", "x"}, "", map[string]any{}}},
		{"hooks", pre, "http", []any{"https://x.example.com/a"}},
		{"hooks", generic, "http", []any{
			"http://a", "https://ci.example.com:8443/check?x=1", "HTTPS://a/b", "http://u:p@h/", "http://h:80", "http://h#f",
			"ftp://a", "a.example.com/x", "http://", "http:///x", "http://?x", "https:", "http:/a", 5,
		}},
		{"hooks", generic, "exec", []any{"true"}},
		{"hooks", generic, "env", []any{map[string]any{}, map[string]any{"A": "1"}}},
		{"hooks", generic, "run", []any{"central", map[string]any{"agents": []any{"web-1"}}}},
		{"hooks", pre, "timeout", durations},
		{"hooks", pre, "on_timeout", []any{"deny", "allow", "Deny", "never", 1}},
		{"hooks", post, "on_timeout", []any{"deny", "allow"}},
		{"hooks", with(post, "phase", "err"), "on_timeout", []any{"allow"}},
		{"hooks", generic, "on_timeout", []any{"deny"}},
		{"hooks", pre, "scope", []any{"global", "job", "Job", "jobs", 1}},
		{"hooks", pre, "run", []any{
			"central", map[string]any{"agents": []any{"web-*"}}, map[string]any{"agents": []any{"web-1", "db-?"}},
			"agents", "Central", "local", 5, []any{"central"}, map[string]any{}, map[string]any{"agents": []any{}},
			map[string]any{"agents": "web-1"}, map[string]any{"agents": []any{""}}, map[string]any{"agent": []any{"a"}},
			map[string]any{"agents": []any{"a"}, "extra": 1},
		}},
		{"hooks", pre, "env", []any{
			map[string]any{}, map[string]any{"A": "1", "lower_case": "x y"},
			map[string]any{"HERALD_JOB": "x"}, map[string]any{"A=B": "x"}, map[string]any{"A": "a\x00b"}, []any{"A=1"}, "A=1",
		}},
		{"hooks", pre, "description", []any{"text", "multi\nline"}},
		{"hooks", pre, "bogus", []any{"x"}},

		{"handlers", page, "name", []any{"x", "a,b", "all", "", " ", "a\nb", "a\rb"}},
		{"handlers", page, "match", []any{
			map[string]any{}, map[string]any{"watch": "*"}, map[string]any{"watch": "", "host": "", "status": []any{}},
			map[string]any{"host": "web-?"}, map[string]any{"status": []any{"ok", "failed", "timeout", "discarded", "superseded", "error", "halted"}},
			map[string]any{"status": []any{"succeeded"}}, map[string]any{"status": []any{"OK"}}, map[string]any{"status": "failed"},
			map[string]any{"stats": []any{"ok"}}, "git-pull", []any{"git-pull"},
		}},
		{"handlers", page, "when", []any{"", "all_reported", "All_Reported", "each", 1}},
		{"handlers", page, "exec", []any{"true", []any{"/bin/true"}, []any{}, []any{""}, ""}},
		{"handlers", page, "http", []any{"https://x.example.com/a"}},
		{"handlers", with(page, "exec", absent), "http", []any{"http://a", "https://h/p", "ftp://a", "http://", "x"}},
		{"handlers", with(with(page, "exec", absent), "env", absent), "http", []any{"http://a"}},
		{"handlers", with(with(summary, "exec", absent), "workdir", absent), "http", []any{"http://a"}},
		{"handlers", with(with(with(summary, "exec", absent), "workdir", absent), "http", "http://a"), "env", []any{map[string]any{}, map[string]any{"A": "1"}}},
		{"handlers", with(with(with(summary, "exec", absent), "workdir", absent), "http", "http://a"), "workdir", []any{"/x"}},
		{"handlers", with(with(with(summary, "exec", absent), "workdir", absent), "http", "http://a"), "user", []any{"root"}},
		{"handlers", with(with(with(summary, "exec", absent), "workdir", absent), "http", "http://a"), "group", []any{"0"}},
		{"handlers", page, "timeout", durations},
		{"handlers", summary, "wait", append(durations, "12h", "720m", 43200, 43201)},
		{"handlers", page, "wait", []any{"0", "0s", "0.0m", 0, "1s", 1, "-1s"}},
		{"handlers", page, "env", []any{map[string]any{}, map[string]any{"A": "1"}, map[string]any{"HERALD_X": "1"}, map[string]any{"=": "1"}, "A=1"}},
		{"handlers", page, "workdir", []any{"/srv", "srv"}},
		{"handlers", page, "user", []any{"root", "0"}},
		{"handlers", page, "group", []any{"root", "0"}},
		{"handlers", page, "description", []any{"text", "multi\nline"}},
		{"handlers", page, "bogus", []any{"x"}},
	} {
		for _, val := range c.vals {
			t.Run(fmt.Sprintf("%s/%v/%s=%#v", c.list, c.base["name"], c.field, val), func(t *testing.T) {
				checkHookAgree(t, c.list, with(c.base, c.field, val))
			})
		}
	}
	t.Run("top level", func(t *testing.T) {
		for _, doc := range []string{
			"{}\n", "hooks: []\n", "handlers: []\n", "hooks: []\nhandlers: []\n",
			"hook: []\n", "watches: []\n", "hooks: {}\n", "hooks: x\n", "handlers: [x]\n", "hooks: [1]\n", "- a\n", "x\n",
		} {
			t.Run(doc, func(t *testing.T) {
				_, perr := hookfile.Parse("h.yaml", []byte(doc))
				serr := schemas.Validate(schemas.Hooks, toJSONValue(t, []byte(doc)))
				if (perr == nil) != (serr == nil) {
					t.Errorf("hookfile.Parse and the schema disagree on %q\nParse: %v\nschema: %v", doc, perr, serr)
				}
			})
		}
		if got := propertyNames(t, schemaAt(t, schemas.Hooks, "")); !slices.Equal(got, []string{"handlers", "hooks"}) {
			t.Errorf("top-level properties %v, want handlers and hooks", got)
		}
	})
	t.Run("run's mapping has the one key UnmarshalYAML reads", func(t *testing.T) {
		obj := schemaAt(t, schemas.Hooks, "/$defs/run")["oneOf"].([]any)[1].(map[string]any)
		if got := propertyNames(t, obj); !slices.Equal(got, []string{"agents"}) {
			t.Errorf("run properties %v, want [agents]", got)
		}
	})
}

// Where the hook file schema knowingly differs from hookfile.Parse. Each case
// pins the difference so that a change on either side is noticed here.
func TestHooksSchema_KnownDifferences(t *testing.T) {
	hks, hds := sampleHooks(t)
	pre, post, generic := hks[0], hks[1], hks[2]
	page, summary := hds[0], hds[1]
	for _, c := range []struct {
		why          string
		list         string
		item         map[string]any
		parseAccepts bool
	}{
		// Stricter: yaml.v3's lenient scalar conversions, null for a list
		// or mapping, and explicit empty strings that Parse reads as unset.
		{"exec as a number", "hooks", with(pre, "exec", 5), true},
		{"exec argument as a number", "hooks", with(pre, "exec", []any{"/bin/sleep", 1}), true},
		{"methods item as a number", "hooks", with(pre, "methods", []any{5}), true},
		{"env value as a number", "hooks", with(pre, "env", map[string]any{"PORT": 8080}), true},
		{"empty on_timeout means deny", "hooks", with(pre, "on_timeout", ""), true},
		{"empty scope means global", "hooks", with(pre, "scope", ""), true},
		{"empty run means central", "hooks", with(pre, "run", ""), true},
		{"null run means central", "hooks", with(pre, "run", nil), true},
		{"null jobs means every job", "hooks", with(pre, "jobs", nil), true},
		{"empty http beside exec means no http", "hooks", with(pre, "http", ""), true},
		{"null match matches everything", "handlers", with(page, "match", nil), true},
		{"empty user means no user", "handlers", with(page, "user", ""), true},
		{"empty workdir means the dispatcher's", "handlers", with(page, "workdir", ""), true},
		{"user as a number", "handlers", with(page, "user", 0), true},
		// Looser: glob syntax, what depends on the host, unique names and
		// duration arithmetic.
		{"bad method glob", "hooks", with(pre, "methods", []any{"kill_["}), false},
		{"bad jobs glob bracket", "hooks", with(pre, "jobs", []any{"*/*/[/*"}), false},
		{"bad agents glob", "hooks", with(post, "run", map[string]any{"agents": []any{"web-["}}), false},
		{"bad match glob", "handlers", with(page, "match", map[string]any{"watch": "git-["}), false},
		{"user must exist", "handlers", with(page, "user", "no-such-user-herald-test"), false},
		{"group must exist", "handlers", with(page, "group", "no-such-group-herald-test"), false},
		{"wait above 12h as a string", "handlers", with(summary, "wait", "13h"), false},
		{"duration overflows", "hooks", with(generic, "timeout", "3000000h"), false},
	} {
		t.Run(c.why, func(t *testing.T) {
			data, perr, serr := hookVerdicts(t, c.list, c.item)
			if (perr == nil) != c.parseAccepts {
				t.Errorf("hookfile.Parse on\n%s: %v, want accepted = %v", data, perr, c.parseAccepts)
			}
			if (serr == nil) == c.parseAccepts {
				t.Errorf("schema on\n%s: %v, want the opposite of hookfile.Parse (the known difference)", data, serr)
			}
		})
	}
	t.Run("names unique in a file", func(t *testing.T) {
		for list, item := range map[string]map[string]any{"hooks": pre, "handlers": page} {
			data := must(yaml.Marshal(map[string]any{list: []any{item, item}}))
			if _, err := hookfile.Parse("h.yaml", data); err == nil || !strings.Contains(err.Error(), "duplicate") {
				t.Errorf("hookfile.Parse on two %s named alike: %v, want a duplicate name error", list, err)
			}
			mustValid(t, schemas.Hooks, toJSONValue(t, data))
		}
	})
	t.Run("empty file", func(t *testing.T) {
		if _, err := hookfile.Parse("h.yaml", []byte("# nothing yet\n")); err != nil {
			t.Errorf("hookfile.Parse: %v", err)
		}
		mustInvalid(t, schemas.Hooks, []byte("null"))
	})
}

func TestJobsSchema_AgreesWithParse(t *testing.T) {
	sample := toJSONValue(t, must(os.ReadFile(jobsExample))).(map[string]any)
	check := func(t *testing.T, doc map[string]any) {
		t.Helper()
		data := must(yaml.Marshal(doc))
		_, perr := hookfile.ParseJobFile("jobs/web.yaml", data)
		serr := schemas.Validate(schemas.Jobs, toJSONValue(t, data))
		if (perr == nil) != (serr == nil) {
			t.Errorf("hookfile.ParseJobFile and the schema disagree on\n%s\nParse: %v\nschema: %v", data, perr, serr)
		}
	}
	t.Run("each key removed", func(t *testing.T) {
		for k := range sample {
			t.Run(k, func(t *testing.T) { check(t, with(sample, k, absent)) })
		}
	})
	for _, c := range []struct {
		field string
		vals  []any
	}{
		{"enable_hooks", []any{true, false, "true", 1, []any{true}}},
		{"stages", []any{
			map[string]any{}, map[string]any{"prod": map[string]any{}}, map[string]any{"prod": map[string]any{"enable_hooks": false}},
			map[string]any{"": map[string]any{"enable_hooks": true}},
			map[string]any{"prod": true}, map[string]any{"prod": "on"}, map[string]any{"prod": []any{}},
			map[string]any{"prod": map[string]any{"enable_hook": true}}, map[string]any{"prod": map[string]any{"enable_hooks": "x"}},
			[]any{"prod"}, "prod",
		}},
		{"description", []any{"x", ""}},
		{"name", []any{"web"}},
		{"bogus", []any{1}},
	} {
		for _, val := range c.vals {
			t.Run(fmt.Sprintf("%s=%#v", c.field, val), func(t *testing.T) { check(t, with(sample, c.field, val)) })
		}
	}
}

// The deploy format's keys: the schema and the parser agree on each value
// tried over the eightball sample.
func TestJobsSchema_AgreesWithParse_DeployKeys(t *testing.T) {
	sample := toJSONValue(t, must(os.ReadFile(deployExample))).(map[string]any)
	check := func(t *testing.T, doc map[string]any) {
		t.Helper()
		data := must(yaml.Marshal(doc))
		_, perr := hookfile.ParseJobFile("jobs/eightball.yaml", data)
		serr := schemas.Validate(schemas.Jobs, toJSONValue(t, data))
		if (perr == nil) != (serr == nil) {
			t.Errorf("hookfile.ParseJobFile and the schema disagree on\n%s\nParse: %v\nschema: %v", data, perr, serr)
		}
	}
	mustValid(t, schemas.Jobs, sample)
	t.Run("each key removed", func(t *testing.T) {
		for k := range sample {
			if k == "default_stage" || k == "stages" || k == "config" {
				continue // the parser alone rejects them: the templates name config.file, default_stage a stage
			}
			t.Run(k, func(t *testing.T) { check(t, with(sample, k, absent)) })
		}
	})
	cmd := func(argv ...any) map[string]any { return map[string]any{"kill_job": argv} }
	for _, c := range []struct {
		field string
		vals  []any
	}{
		{"job", []any{"eightball", "eight.ball-2", "a/b", ""}},
		{"cluster", []any{"west", "a/b", "a b", ""}},
		{"role", []any{"cbp", "x/y", []any{"r"}}},
		{"build", []any{"eightball", ""}},
		{"default_stage", []any{"prod", 1}},
		{"config", []any{
			map[string]any{"file": "eightball.aurora"}, map[string]any{"file": "f", "x": map[string]any{"deep": []any{1, 2}}},
			map[string]any{"file": "f", "num-instances": 1}, map[string]any{"file": "f", "9lives": 1}, "cpu", []any{"file"},
		}},
		{"commands", []any{
			map[string]any{}, cmd("aurora", "job", "killall", "{{.cluster}}/{{.role}}/{{.stage}}/{{.job}}"), cmd(), cmd("x", []any{"y"}),
			map[string]any{"kill job": []any{"x"}}, map[string]any{"kill_job": "aurora job killall"}, []any{"x"},
		}},
		{"stages", []any{
			map[string]any{"prod": map[string]any{"githash": "abc"}, "devel": map[string]any{}},
			map[string]any{"prod": map[string]any{"config": map[string]any{"cpu": 2}}, "devel": map[string]any{}},
			map[string]any{"prod": map[string]any{"config": "x"}, "devel": map[string]any{}},
			map[string]any{"prod": map[string]any{"config": map[string]any{"bad-key": 1}}, "devel": map[string]any{}},
			map[string]any{"prod": map[string]any{"envs": map[string]any{}}, "devel": map[string]any{}},
			map[string]any{"pr/od": map[string]any{}, "devel": map[string]any{}},
		}},
		{"envs", []any{map[string]any{"prod": map[string]any{"cpu": 1.5}}}},
		{"file", []any{"eightball"}},
	} {
		for _, val := range c.vals {
			t.Run(fmt.Sprintf("%s=%#v", c.field, val), func(t *testing.T) { check(t, with(sample, c.field, val)) })
		}
	}
	t.Run("commands without cluster and role", func(t *testing.T) {
		check(t, with(with(sample, "cluster", absent), "role", absent))
		check(t, with(sample, "role", absent))
	})
}

// Where the job file schema knowingly differs from hookfile.ParseJobFile:
// what the parser alone rejects.
func TestJobsSchema_KnownDifferences_ParserRejects(t *testing.T) {
	for _, c := range []struct{ why, doc string }{
		{"default_stage naming no stage", "default_stage: qa\nstages: {prod: {}}\n"},
		{"a template naming a missing value", "cluster: c\nrole: r\ncommands:\n  kill_job: [\"x\", \"{{.config.file}}\"]\n"},
		{"a template naming a value missing in one stage", "cluster: c\nrole: r\nstages: {prod: {config: {file: f}}, devel: {}}\ncommands:\n  kill_job: [\"x\", \"{{.config.file}}\"]\n"},
		{"a template that does not parse", "cluster: c\nrole: r\ncommands:\n  kill_job: [\"{{.job\"]\n"},
		{"a mapping as an argument", "cluster: c\nrole: r\nconfig: {t: {w: 1}}\ncommands:\n  kill_job: [\"x\", \"{{.config.t}}\"]\n"},
	} {
		t.Run(c.why, func(t *testing.T) {
			if _, err := hookfile.ParseJobFile("jobs/web.yaml", []byte(c.doc)); err == nil {
				t.Errorf("hookfile.ParseJobFile accepts %q", c.doc)
			}
			mustValid(t, schemas.Jobs, toJSONValue(t, []byte(c.doc)))
		})
	}
}

// Where the job file schema knowingly differs from hookfile.ParseJobFile.
func TestJobsSchema_KnownDifferences(t *testing.T) {
	for _, c := range []struct{ why, doc string }{
		{"empty file is enable_hooks: false", "# nothing\n"},
		{"null stages", "stages:\n"},
		{"null enable_hooks in a stage keeps the job's", "stages:\n  prod: {enable_hooks: null}\n"},
		{"yes for a boolean", "enable_hooks: yes\n"},
		{"on for a boolean in a stage", "stages:\n  prod: {enable_hooks: on}\n"},
		{"a number for a text value", "stages:\n  prod: {githash: 1234}\n"},
		{"a number in a command", "cluster: c\nrole: r\ncommands: {kill_job: [x, 1]}\n"},
	} {
		t.Run(c.why, func(t *testing.T) {
			if _, err := hookfile.ParseJobFile("jobs/web.yaml", []byte(c.doc)); err != nil {
				t.Errorf("hookfile.ParseJobFile: %v, want accepted", err)
			}
			var v any
			if err := yaml.Unmarshal([]byte(c.doc), &v); err != nil {
				t.Fatal(err)
			}
			if err := schemas.Validate(schemas.Jobs, v); err == nil {
				t.Errorf("schema accepts %q (the known difference is that it rejects it)", c.doc)
			}
		})
	}
}
