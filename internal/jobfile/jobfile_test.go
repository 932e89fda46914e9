package jobfile_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/jobfile"
)

var eightball = filepath.Join("..", "..", "deploy", "examples", "jobs", "eightball.yaml")

func mustSet(t *testing.T, s string) jobfile.Setting {
	t.Helper()
	set, err := jobfile.ParseSetting(s)
	if err != nil {
		t.Fatalf("ParseSetting(%q): %v", s, err)
	}
	return set
}

// The seed's eightball file, in this format, parses; its stages merge over
// the job's config as Chartbeat's did (maps merge, scalars replace), and
// each command renders to one argv element per template.
func TestEightball(t *testing.T) {
	f, err := jobfile.ReadFile(eightball)
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != "eightball" || f.Cluster != "bb" || f.Role != "cbe" || f.Build != "eightball" || f.DefaultStage != "devel" {
		t.Fatalf("parsed %+v", f)
	}
	if !f.Enabled("prod") || f.Enabled("devel") || !f.Matches("bb", "cbe", "eightball") || f.Matches("bb", "cbp", "eightball") {
		t.Fatalf("opt-in: prod %v devel %v", f.Enabled("prod"), f.Enabled("devel"))
	}
	t.Run("prod", func(t *testing.T) {
		v, err := f.Values("prod", nil, "")
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"file": "eightball.aurora", "cpu": 1.5, "num_instances": 12, "ram": 300, "disk": 5000,
			"taskargs": map[string]any{"workers": 34}}
		if !reflect.DeepEqual(v.Config, want) || v.Githash != "60a43FOO363b" || v.Key() != "bb/cbe/prod/eightball" {
			t.Fatalf("prod values %+v", v)
		}
		argv, err := f.Render("create_job", v)
		if err != nil || !slices.Equal(argv, []string{"aurora", "job", "create", "bb/cbe/prod/eightball", "eightball.aurora"}) {
			t.Fatalf("create_job = %q, %v", argv, err)
		}
		args := v.Args()
		if args["githash"] != "60a43FOO363b" || args["cpu"] != "1.5" || args["num_instances"] != "12" || args["file"] != "eightball.aurora" {
			t.Fatalf("args %v", args)
		}
		if _, nested := args["taskargs"]; nested {
			t.Fatalf("a nested value is an arg: %v", args)
		}
	})
	t.Run("default stage, --set and --githash", func(t *testing.T) {
		v, err := f.Values("", []jobfile.Setting{mustSet(t, "taskargs.workers=3"), mustSet(t, "file=other file.aurora"), mustSet(t, "ram=512")}, "abc123")
		if err != nil {
			t.Fatal(err)
		}
		if v.Stage != "devel" || v.Githash != "abc123" || v.Config["cpu"] != 0.25 || v.Config["ram"] != 512 ||
			!reflect.DeepEqual(v.Config["taskargs"], map[string]any{"workers": 3}) {
			t.Fatalf("devel values %+v", v)
		}
		argv, err := f.Render("update_job", v)
		if err != nil || len(argv) != 5 || argv[4] != "other file.aurora" || argv[3] != "bb/cbe/devel/eightball" {
			t.Fatalf("update_job = %q, %v", argv, err)
		}
		// The file's own values are not changed by a merge.
		again, _ := f.Values("devel", nil, "")
		if again.Config["ram"] != 300 || again.Githash != "60a43BARdbdb" {
			t.Fatalf("values changed by an earlier merge: %+v", again)
		}
	})
	t.Run("unknown stage and method", func(t *testing.T) {
		if _, err := f.Values("qa", nil, ""); err == nil || !strings.Contains(err.Error(), `no stage "qa" (stages: devel, prod)`) {
			t.Errorf("Values(qa) = %v", err)
		}
		v, _ := f.Values("prod", nil, "")
		if _, err := f.Render("restart", v); err == nil || !strings.Contains(err.Error(), `no command for method "restart" (commands: create_job, kill_job, update_job)`) {
			t.Errorf("Render(restart) = %v", err)
		}
	})
}

// An argument is one argv element whatever it holds: a value with spaces,
// quotes or shell syntax is passed as it is.
func TestRender_OneArgvElementEach(t *testing.T) {
	f, err := jobfile.Parse("jobs/x.yaml", []byte(`
cluster: c
role: r
config: {msg: "x"}
commands:
  create_job: ["echo", "{{.config.msg}}", "--job={{.cluster}}/{{.role}}/{{.stage}}/{{.job}}"]
`))
	if err != nil {
		t.Fatal(err)
	}
	v, _ := f.Values("prod", []jobfile.Setting{mustSet(t, `msg=a b; rm -rf / "$(id)"`)}, "")
	argv, err := f.Render("create_job", v)
	if err != nil || !slices.Equal(argv, []string{"echo", `a b; rm -rf / "$(id)"`, "--job=c/r/prod/x"}) {
		t.Fatalf("argv %q, %v", argv, err)
	}
}

func TestParseSetting(t *testing.T) {
	for in, want := range map[string]any{"cpu=2": 2, "cpu=1.5": 1.5, "on=true": true, "s=hello": "hello", "s=": "", "s=a: b: c": "a: b: c",
		"l=[a, b]": []any{"a", "b"}} {
		s, err := jobfile.ParseSetting(in)
		if err != nil || !reflect.DeepEqual(s.Value, want) {
			t.Errorf("ParseSetting(%q) = %#v, %v; want %#v", in, s.Value, err, want)
		}
	}
	for _, in := range []string{"cpu", "a..b=1", "=1", "9x=1"} {
		if _, err := jobfile.ParseSetting(in); err == nil {
			t.Errorf("ParseSetting(%q) accepted", in)
		}
	}
}

func TestMerge(t *testing.T) {
	dst := map[string]any{"a": 1, "m": map[string]any{"x": 1, "y": 2}, "l": []any{1, 2}, "s": "str"}
	src := map[string]any{"m": map[string]any{"y": 3, "z": 4}, "l": []any{9}, "s": map[string]any{"now": "a map"}}
	got := jobfile.Merge(dst, src)
	want := map[string]any{"a": 1, "m": map[string]any{"x": 1, "y": 3, "z": 4}, "l": []any{9}, "s": map[string]any{"now": "a map"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Merge = %v, want %v", got, want)
	}
	if dst["m"].(map[string]any)["y"] != 2 {
		t.Fatal("Merge changed dst")
	}
}

// Bad job files: every problem located by file, line and field, before
// anything runs.
func TestParse_Errors(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"seed's keys", "file: eightball\nenvs: {prod: {cpu: 1}}\n", "jobs/x.yaml:1: file: unknown field"},
		{"unknown stage key", "stages:\n  prod:\n    cpu: 1\n", "jobs/x.yaml:3: stages.prod.cpu: unknown field (want enable_hooks, githash or config)"},
		{"default stage not a stage", "default_stage: dev\nstages: {devel: {}, prod: {}}\n", `jobs/x.yaml:1: default_stage: "dev" is not one of the stages (devel, prod)`},
		{"missing config key in one stage", `
cluster: bb
role: cbe
config: {cpu: 1}
stages:
  prod: {config: {file: x.aurora}}
  devel: {}
commands:
  create_job: ["aurora", "job", "create",
    "{{.cluster}}/{{.role}}/{{.stage}}/{{.job}}", "{{.config.file}}"]
`, "jobs/x.yaml:10: commands.create_job[4]: stage devel: no value for .config.file"},
		{"missing nested key", "cluster: c\nrole: r\nconfig: {}\ncommands:\n  kill_job: [\"x\", \"{{.config.taskargs.workers}}\"]\n", "jobs/x.yaml:5: commands.kill_job[1]: any stage: no value for .config.taskargs"},
		{"build missing", "cluster: c\nrole: r\ncommands:\n  kill_job: [\"x\", \"{{.build}}\"]\n", "commands.kill_job[1]: any stage: no value for .build"},
		{"bad template", "cluster: c\nrole: r\ncommands:\n  kill_job: [\"x\", \"{{.job\"]\n", "jobs/x.yaml:4: commands.kill_job[1]: template:"},
		{"commands need cluster and role", "commands:\n  kill_job: [x]\n", "jobs/x.yaml:1: cluster: required with commands"},
		{"empty command", "cluster: c\nrole: r\ncommands:\n  kill_job: []\n", "jobs/x.yaml:4: commands.kill_job: want a non-empty list"},
		{"bad method", "cluster: c\nrole: r\ncommands:\n  kill job: [x]\n", `commands.kill job: method "kill job"`},
		{"job key part", "cluster: a/b\n", `jobs/x.yaml:1: cluster: "a/b": want letters`},
		{"config key", "config: {num-instances: 1}\n", "config.num-instances: a top-level config key must be letters"},
		{"mapping as an argument", "cluster: c\nrole: r\nconfig: {t: {w: 1}}\ncommands:\n  kill_job: [\"x\", \"{{.config.t}}\"]\n", "commands.kill_job[1]: any stage: .config.t is a mapping"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := jobfile.Parse("jobs/x.yaml", []byte(tc.doc))
			var fe *jobfile.FieldError
			if !errors.Is(err, jobfile.ErrInvalid) || !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse = %v\nwant a *FieldError containing %q", err, tc.want)
			}
		})
	}
}

// The job opt-in files of earlier versions stay valid.
func TestParse_OptInFiles(t *testing.T) {
	f, err := jobfile.Parse("jobs/web.yaml", []byte("enable_hooks: false\nstages:\n  prod: {enable_hooks: true}\n  staging: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != "web" || !f.Enabled("prod") || f.Enabled("staging") || !f.Matches("any", "role", "web") {
		t.Fatalf("%+v", f)
	}
}

func TestFind(t *testing.T) {
	dir := t.TempDir()
	write := func(name, doc string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", "cluster: c\n")
	write("other.yml", "job: renamed\n")
	write("broken.yaml", "bogus: 1\n")
	write("dup.yaml", "job: a\n")
	if f, err := jobfile.Find(dir, "a"); err != nil || f.Cluster != "c" {
		t.Fatalf("Find(a) = %+v, %v", f, err)
	}
	if f, err := jobfile.Find(dir, "renamed"); err != nil || f.Name != "renamed" {
		t.Fatalf("Find(renamed) = %+v, %v", f, err)
	}
	if _, err := jobfile.Find(dir, "broken"); err == nil || !strings.Contains(err.Error(), "broken.yaml:1: bogus: unknown field") {
		t.Fatalf("Find(broken) = %v", err)
	}
	if _, err := jobfile.Find(dir, "nope"); err == nil || !strings.Contains(err.Error(), `no job file for job "nope"`) {
		t.Fatalf("Find(nope) = %v", err)
	}
	if _, err := jobfile.Find(dir, "../a"); err == nil {
		t.Fatal("Find(../a) accepted")
	}
	files, bad, err := jobfile.LoadDir(dir)
	if err != nil || len(files) != 2 || len(bad) != 2 || !strings.Contains(bad[filepath.Join(dir, "dup.yaml")].Error(), `job "a" is already defined`) {
		t.Fatalf("LoadDir = %d files, %v, %v", len(files), bad, err)
	}
}
