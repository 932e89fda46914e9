package agent_test

import (
	"os"
	"path/filepath"
	"testing"
)

const nestedWatch = `
watches:
  - name: %s
    on: event:test.nested
    exec: ["/bin/true"]
    run_on_load: false
`

func watchNamed(name string) string { return fmtWatch(nestedWatch, name) }

// TestWatchDir_RecursiveAndHotReloadsNewSubdirs: the agent loads nested
// watch files (not hidden ones, not hidden directories), and a
// subdirectory created while it runs, with files written into it at once
// and later, is picked up by the hot reload.
func TestWatchDir_RecursiveAndHotReloadsNewSubdirs(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ra := r.startAgent("nested", map[string]string{
		"top.yaml":             watchNamed("top"),
		"team/a.yaml":          watchNamed("team-a"),
		"team/deep/b.yml":      watchNamed("deep-b"),
		".hidden/x.yaml":       watchNamed("hidden-dir"),
		"team/.swap.yaml":      watchNamed("hidden-file"),
		"team/notes.yaml.orig": watchNamed("not-yaml"),
	})
	// A symlink loop in the tree must not hang the rescans.
	if err := os.Symlink("..", filepath.Join(ra.watches, "team", "loop")); err != nil {
		t.Fatal(err)
	}
	r.publish("test.nested", "/k", "1")
	for _, w := range []string{"top", "team-a", "deep-b"} {
		r.waitOutcomes(w, 1)
	}
	// A new subdirectory with a file in it from the start, then a file
	// added to it later.
	if err := os.MkdirAll(filepath.Join(ra.watches, "later", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	r.writeWatch(ra, "later/sub/c.yaml", watchNamed("later-c"))
	ra.waitLog(t, `"watch":"later-c"`)
	r.writeWatch(ra, "later/sub/d.yaml", watchNamed("later-d"))
	ra.waitLog(t, `"watch":"later-d"`)
	r.publish("test.nested", "/k", "2")
	for _, w := range []string{"top", "team-a", "deep-b"} {
		r.waitOutcomes(w, 2)
	}
	r.waitOutcomes("later-c", 1)
	r.waitOutcomes("later-d", 1)
	for _, w := range []string{"hidden-dir", "hidden-file", "not-yaml"} {
		if n := len(r.outcomes(w)); n != 0 {
			t.Errorf("watch %s of a skipped file decided %d events", w, n)
		}
	}
	// Removing the subdirectory unloads its watches.
	if err := os.RemoveAll(filepath.Join(ra.watches, "later")); err != nil {
		t.Fatal(err)
	}
	ra.waitLog(t, `"watches":["later-d"]`)
	ra.waitLog(t, `"watches":["later-c"]`)
}
