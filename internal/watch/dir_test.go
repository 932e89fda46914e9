package watch_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/watch"
)

func TestReadDir_RecursiveInPathOrder(t *testing.T) {
	root := t.TempDir()
	for _, p := range []string{
		"b.yaml", "a/z.yml", "a/b/c.yaml", "c/d.yaml", "notes.txt",
		".hidden.yaml", ".git/config.yaml", "a/.cache/x.yaml", "a/b/.swp.yaml", "a/b/x.yaml~",
	} {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte("watches: []\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A symlink loop, a link to a sibling directory, a link to a file.
	if err := os.Symlink("..", filepath.Join(root, "a", "b", "loop")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "c"), filepath.Join(root, "linked")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "c", "d.yaml"), filepath.Join(root, "e.yaml")); err != nil {
		t.Fatal(err)
	}
	d, err := watch.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range d.Files {
		rel, _ := filepath.Rel(root, f)
		got = append(got, rel)
	}
	want := []string{"a/b/c.yaml", "a/z.yml", "b.yaml", "c/d.yaml", "e.yaml"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("files %q, want %q", got, want)
	}
	var dirs []string
	for _, p := range d.Dirs {
		rel, _ := filepath.Rel(root, p)
		dirs = append(dirs, rel)
	}
	if want := []string{".", "a", "a/b", "c"}; strings.Join(dirs, " ") != strings.Join(want, " ") {
		t.Errorf("dirs %q, want %q", dirs, want)
	}
}

func TestReadDir_Errors(t *testing.T) {
	if _, err := watch.ReadDir(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing dir: %v", err)
	}
	root := t.TempDir()
	if err := os.Symlink(filepath.Join(root, "nowhere.yaml"), filepath.Join(root, "dangling.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "ok.yaml"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := watch.ReadDir(root)
	if err == nil || !strings.Contains(err.Error(), "dangling.yaml") {
		t.Errorf("dangling link: err = %v, want it named", err)
	}
	if d == nil || len(d.Files) != 1 {
		t.Errorf("the readable file is not returned: %+v", d)
	}
}

// TestDir_Unread: a path is unread when it is an unreadable path or inside
// one, not when it merely shares a prefix with one.
func TestDir_Unread(t *testing.T) {
	d := &watch.Dir{Unreadable: []string{"/w/team", "/w/x.yaml"}}
	for p, want := range map[string]bool{
		"/w/team":         true,
		"/w/team/a.yaml":  true,
		"/w/x.yaml":       true,
		"/w/teams/a.yaml": false,
		"/w/a.yaml":       false,
	} {
		if got := d.Unread(p); got != want {
			t.Errorf("Unread(%s) = %v, want %v", p, got, want)
		}
	}
}
