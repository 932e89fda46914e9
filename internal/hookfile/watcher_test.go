package hookfile_test

import (
	"path/filepath"
	"testing"

	"github.com/fsnotify/fsnotify"
	"github.com/heraldhq/herald/internal/hookfile"
	"github.com/rs/zerolog"
)

// TestWatcher_Relevant: hook files, jobs/ and ".." entries (a ConfigMap
// swap) make the hooks directory rescan; hidden files and other names do not.
func TestWatcher_Relevant(t *testing.T) {
	dir := t.TempDir()
	w := hookfile.Watch(dir, zerolog.Nop())
	defer w.Close()
	for name, want := range map[string]bool{
		"gate.yaml":       true,
		"gate.yml":        true,
		hookfile.JobsDir:  true,
		"..data":          true,
		".gate.yaml":      false,
		"README.md":       false,
		".tmp-gate.yaml":  false,
		"gate.yaml.dpkg~": false,
	} {
		ev := fsnotify.Event{Name: filepath.Join(dir, name), Op: fsnotify.Write}
		if got := w.Relevant(ev); got != want {
			t.Errorf("Relevant(%s) = %v, want %v", name, got, want)
		}
	}
}
