package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/cli"
)

// TestValidate_ReadsDirectoriesRecursively: herald validate DIR reads what
// the agent reads: nested files too, in path order, hidden files and
// directories skipped, a symlink loop read once; each error names its file.
func TestValidate_ReadsDirectoriesRecursively(t *testing.T) {
	t.Setenv(cli.EnvNATS, "nats://127.0.0.1:1")
	dir := t.TempDir()
	for _, d := range []string{"team-a/deep", "team-b", ".git"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, dir, "top.yaml", strings.Replace(oneWatch, "%s", "top", 1))
	writeFile(t, filepath.Join(dir, "team-a"), "a.yaml", strings.Replace(oneWatch, "%s", "a", 1))
	writeFile(t, filepath.Join(dir, "team-a", "deep"), "d.yml", strings.Replace(oneWatch, "%s", "d", 1))
	writeFile(t, filepath.Join(dir, ".git"), "bad.yaml", badWatches)
	writeFile(t, filepath.Join(dir, "team-b"), ".swap.yaml", badWatches)
	if err := os.Symlink("../..", filepath.Join(dir, "team-a", "deep", "loop")); err != nil {
		t.Fatal(err)
	}
	r := run(t, nil, nil, "validate", dir)
	if r.err != nil || r.out != "ok: 3 watches in 3 files\n" || r.errOut != "" {
		t.Fatalf("exit %d stdout %q stderr %q, want ok: 3 watches in 3 files", r.code(), r.out, r.errOut)
	}

	// A nested bad file and a name defined twice in the tree: both named.
	bad := writeFile(t, filepath.Join(dir, "team-b"), "b.yaml", badWatches)
	dup := writeFile(t, filepath.Join(dir, "team-b"), "dup.yaml", strings.Replace(oneWatch, "%s", "a", 1))
	r = run(t, nil, nil, "validate", dir)
	if r.code() != 1 {
		t.Fatalf("exit %d, want 1; stderr %q", r.code(), r.errOut)
	}
	for _, want := range []string{
		bad + ":6: watches[0].tiemout: unknown field",
		dup + `:2: watches[0].name: duplicate watch name "a" (also at ` + filepath.Join(dir, "team-a", "a.yaml") + ":2)",
	} {
		if !strings.Contains(r.errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.errOut)
		}
	}
}
