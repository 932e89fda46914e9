package cli_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/cli"
)

const goodWatches = `watches:
  - name: git-pull
    on: event:git.push
    key: /repos/*
    exec: ["git", "pull"]
  - name: conf
    on: zk:/app/**
    exec: "make reload"
    run_mode: discard
`

const oneWatch = `watches:
  - name: %s
    on: kv:config/app.>
    exec: [true]
`

const badWatches = `watches:
  - name: a
    on: event:t
    exec: "x"
    run_mode: fast
    tiemout: 5s
  - name: b
    on: zk:relative
    exec: [x]
`

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMain_RunValidate(t *testing.T) {
	t.Setenv(cli.EnvNATS, "nats://127.0.0.1:1") // validate must not need it

	t.Run("good file and directory", func(t *testing.T) {
		dir := t.TempDir()
		file := writeFile(t, t.TempDir(), "single.yaml", goodWatches)
		writeFile(t, dir, "a.yaml", goodWatches)
		writeFile(t, dir, "b.yml", strings.Replace(oneWatch, "%s", "kv-watch", 1))
		// Not watch files: ignored, even though they are invalid.
		writeFile(t, dir, ".hidden.yaml", badWatches)
		writeFile(t, dir, "README.md", badWatches)
		if err := os.Mkdir(filepath.Join(dir, "sub.yaml"), 0o755); err != nil {
			t.Fatal(err)
		}
		r := run(t, nil, nil, "validate", file, dir)
		if r.err != nil || r.out != "ok: 5 watches in 3 files\n" || r.errOut != "" {
			t.Errorf("exit %d stdout %q stderr %q, want 0 and 'ok: 5 watches in 3 files'", r.code(), r.out, r.errOut)
		}
	})

	t.Run("bad file prints one file:line: field error per line", func(t *testing.T) {
		bad := writeFile(t, t.TempDir(), "bad.yaml", badWatches)
		good := writeFile(t, t.TempDir(), "good.yaml", goodWatches)
		r := run(t, nil, nil, "validate", good, bad)
		if r.code() != cli.ExitFailure || !errors.Is(r.err, cli.ErrInvalidWatchFiles) {
			t.Fatalf("exit %d (%v), want 1", r.code(), r.err)
		}
		if r.out != "" {
			t.Errorf("stdout %q, want nothing", r.out)
		}
		got := lines(r.errOut)
		want := []string{
			bad + ":5: watches[0].run_mode: ",
			bad + ":6: watches[0].tiemout: unknown field",
			bad + ":8: watches[1].on: ",
		}
		if len(got) != len(want)+1 {
			t.Fatalf("stderr lines %q, want %d errors and a summary", got, len(want))
		}
		for _, w := range want {
			found := false
			for _, line := range got {
				found = found || strings.HasPrefix(line, w)
			}
			if !found {
				t.Errorf("no line starting %q in:\n%s", w, r.errOut)
			}
		}
		if !strings.Contains(got[len(got)-1], "3 problems in 1 of 2 files") {
			t.Errorf("summary %q", got[len(got)-1])
		}
	})

	t.Run("names must be unique within a directory", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, "a.yaml", strings.Replace(oneWatch, "%s", "same", 1))
		b := writeFile(t, dir, "b.yaml", strings.Replace(oneWatch, "%s", "same", 1))
		r := run(t, nil, nil, "validate", dir)
		if r.code() != cli.ExitFailure || !strings.HasPrefix(r.errOut, b+":2: watches[0].name: duplicate watch name \"same\" (also at ") {
			t.Errorf("exit %d stderr %q, want 1 and a duplicate name error on %s:2", r.code(), r.errOut, b)
		}
		// The same file named twice is checked once.
		a := filepath.Join(dir, "a.yaml")
		r = run(t, nil, nil, "validate", a, dir+"/./a.yaml")
		if r.err != nil || r.out != "ok: 1 watches in 1 files\n" {
			t.Errorf("exit %d stdout %q stderr %q", r.code(), r.out, r.errOut)
		}
	})

	t.Run("missing path", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "nope.yaml")
		r := run(t, nil, nil, "validate", missing)
		if r.code() != cli.ExitFailure || !strings.Contains(r.errOut, missing) {
			t.Errorf("exit %d stderr %q, want 1 naming %s", r.code(), r.errOut, missing)
		}
	})

	t.Run("empty directory warns but is valid", func(t *testing.T) {
		r := run(t, nil, nil, "validate", t.TempDir())
		if r.err != nil || r.out != "ok: 0 watches in 0 files\n" || !strings.Contains(r.errOut, "no watch files") {
			t.Errorf("exit %d stdout %q stderr %q", r.code(), r.out, r.errOut)
		}
	})

	t.Run("no path is a usage error", func(t *testing.T) {
		r := run(t, nil, nil, "validate")
		if r.code() != cli.ExitUsage {
			t.Errorf("exit %d (%v), want 2", r.code(), r.err)
		}
	})
}
