package hookfile_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/hookfile"
	"github.com/heraldhq/herald/internal/yamlfile"
)

// A key given twice is an error naming file, line and the first line, in
// hooks, handlers and job files alike; phase: given twice is one of them.
func TestParse_DuplicateKeys(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"phase twice", `hooks:
  - name: gate
    phase: post
    methods: ["*"]
    exec: "true"
    phase: pre
`, `h.yaml:6: hooks[0]: duplicate key "phase" (first at line 3)`},
		{"in a handler's match", `handlers:
  - name: page
    match: {status: [failed], watch: a, watch: b}
    exec: "true"
`, `h.yaml:3: handlers[0].match: duplicate key "watch" (first at line 3)`},
		{"in a hook's env", `hooks:
  - name: gate
    phase: pre
    methods: ["*"]
    exec: "true"
    env: {A: "1", A: "2"}
`, `h.yaml:6: hooks[0].env: duplicate key "A" (first at line 6)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := hookfile.Parse("h.yaml", []byte(tc.doc))
			var fe *hookfile.FieldError
			if !errors.Is(err, hookfile.ErrInvalid) || !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse = %v, want a *FieldError %q", err, tc.want)
			}
		})
	}
	t.Run("job file", func(t *testing.T) {
		_, err := hookfile.ParseJobFile("jobs/web.yaml", []byte("enable_hooks: true\nstages:\n  prod: {enable_hooks: true}\n  prod: {enable_hooks: false}\n"))
		want := `jobs/web.yaml:4: stages: duplicate key "prod" (first at line 3)`
		if !errors.Is(err, hookfile.ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseJobFile = %v, want %q", err, want)
		}
	})
}

// A hook file over 1 MiB is not loaded, with an error naming the file, its
// size and the limit.
func TestLoadDir_FileTooBig(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "ok.yaml", `hooks: [{name: x, phase: pre, methods: ["*"], exec: "true"}]`)
	writeFile(t, dir, "big.yaml", `hooks: [{name: y, phase: pre, methods: ["*"], exec: "true"}]`+"\n"+strings.Repeat("# padding\n", yamlfile.MaxFileSize/10))
	set, errs, err := hookfile.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Hooks) != 1 || set.Hooks[0].Name != "x" {
		t.Errorf("hooks %v, want only x", set.Hooks)
	}
	big := filepath.Join(dir, "big.yaml")
	e := errs[big]
	if !errors.Is(e, hookfile.ErrInvalid) || !strings.HasPrefix(e.Error(), big+": file is too big: 1048631 bytes, the limit is 1048576 bytes (1 MiB)") {
		t.Errorf("error for big.yaml: %v", e)
	}
}
